// Server configuration: one table of options, each readable from an
// environment variable or a CLI flag (the flag wins), validated once at start
// with a message that names the option. Defaults serve the shipped demo models
// with no other setup.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';

/** The project root: the nearest folder above this module (src or dist/) holding package.json. */
export function projectRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(resolve(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('ctr-engine: cannot find the project root (no package.json above the engine)');
    dir = up;
  }
  return dir;
}

export interface ServerConfig {
  port: number;
  host: string;
  workers: number;
  tasksPerWorker: number;
  intraOpThreads: number;
  modelsDir: string;
  /** model name → weight; empty means equal weights over every loaded model. */
  abWeights: Record<string, number>;
  /** Reload a model when its folder under modelsDir changes (hot reload). */
  modelsWatch: boolean;
  /** Quiet time after the last change in a model folder before it is reloaded. */
  modelsWatchDebounceMs: number;
  /** PUT /ab's weights are kept in DATA_DIR/ab_weights.json and override AB_WEIGHTS at the next start. */
  abWeightsPersist: boolean;
  batchMaxSize: number;
  batchMaxDelayMs: number;
  queueBound: number;
  requestDeadlineMs: number;
  maxBodyBytes: number;
  maxBatchRequests: number;
  adminToken: string | undefined;
  dataDir: string;
  mlflowTrackingUri: string | undefined;
  mlflowExperimentName: string;
  /** Fault injection for tests and the bench gate: extra milliseconds per inference batch. */
  injectInferenceDelayMs: number;
  /** A batch whose measured cost is at most this many µs runs on the request thread, not in a worker (engine/inline_inference.ts); 0 = never. */
  inlineMaxUs: number;
  /** Inline runs pause while the request thread's event loop is busier than this (0–1); 1 = never. */
  inlineMaxLoopUtilization: number;
  /** Threads accepting connections on the port (uWS only): 1 = the main thread alone; N > 1 adds N-1 acceptor threads (api/acceptors/). */
  acceptors: number;
  /** Fault injection: SIGUSR2 terminates an inference worker (bin/serve.ts). */
  injectWorkerKill: boolean;
  /** false skips every telemetry write (the overhead benchmark's baseline); endpoints still answer. */
  monitoring: boolean;
  monitorTickMs: number;
  /** Recent windows, seconds (named "1m", "5m", …). */
  monitorWindowsS: number[];
  driftZMedium: number;
  driftZHigh: number;
  driftMinSamples: number;
  latencyObjectiveMs: number;
  latencyMinRequests: number;
  errorRateDegraded: number;
  errorRateUnhealthy: number;
  unknownRateDegraded: number;
  mlflowFlushIntervalMs: number;
  /** Pending flushes kept per model while MLflow is unreachable; 0 → an hour's worth. */
  mlflowBufferLimit: number;
  /** How long a graceful shutdown waits for the final MLflow flush. */
  shutdownDeadlineMs: number;
  /** SIGTERM: /ready answers 503 and serving goes on this long before the listener closes (api/drain.ts). */
  drainGraceMs: number;
  /** A node:http port answering GET /health and /ready, HTTP/1.0 included; undefined → none. */
  probePort: number | undefined;
  /** Open WS /monitoring/stream connections, at most (503 past it). */
  streamMaxConnections: number;
  /** Request bodies being read, bytes summed over every request, at most (503 past it). */
  maxInflightBodyBytes: number;
  /** After a 413, up to this many more body bytes are read and dropped so the client sees the answer. */
  discardBodyBytes: number;
  /** WS /monitoring/stream: interval for a connection that names none. */
  streamIntervalMs: number;
  /** Bytes queued for a stream client beyond which its frames are skipped. */
  streamMaxBackpressureBytes: number;
  /** Consecutive skipped frames after which a stuck stream client is closed. */
  streamSlowCloseAfterSkips: number;
  /** Who runs the models in the workers: onnxruntime-node, or the pure-TypeScript evaluator (native-free-ts/). */
  inferenceBackend: InferenceBackend;
  /** Predictions held for click feedback at once (the label ring); 0 turns POST /feedback and quality figures off. */
  labelCapacity: number;
  /** How long after a prediction its click still counts; afterwards it is a non-click (or dropped) and a click is late. */
  labelWindowS: number;
  /** An impression with no click by the end of its window counts as a non-click. */
  labelImplicitNonclicks: boolean;
  /** Labels a model version needs in the calibration window before the check judges it. */
  calibrationMinLabels: number;
  /** The calibration check warns when observed/predicted CTR is off by more than this (0.25: outside 0.8–1.25) and its 95 % interval excludes 1. */
  calibrationTolerance: number;
  /** Look at one request row in this many for per-field drift (0: feature watching off). */
  featureWatchSample: number;
  /** uWebSockets.js, the node:http front end (native-free-ts/), or uWS with a fallback when a native addon cannot load. */
  frontEnd: FrontEnd;
  /** text: "ctr-engine: …" lines; json: one JSON object per line. */
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** Alerts raised/cleared and health changes are POSTed here (engine/alert_webhook.ts); unset → off. */
  alertWebhookUrl: string | undefined;
}

export const INFERENCE_BACKENDS = ['ort', 'ts'] as const;
export type InferenceBackend = (typeof INFERENCE_BACKENDS)[number];
export const FRONT_ENDS = ['uws', 'native-free', 'auto'] as const;
export type FrontEnd = (typeof FRONT_ENDS)[number];

type Kind = 'int' | 'number' | 'string' | 'weights' | 'path' | 'bool' | 'list' | 'choice';
interface OptionSpec {
  key: keyof ServerConfig;
  env: string;
  flag: string;
  kind: Kind;
  min?: number;
  max?: number;
  help: string;
  /** The accepted values of a 'choice' option. */
  choices?: readonly string[];
  secret?: boolean;
  default: () => unknown;
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'port', env: 'PORT', flag: '--port', kind: 'int', min: 0, max: 65535, help: 'TCP port', default: () => 8000 },
  { key: 'host', env: 'HOST', flag: '--host', kind: 'string', help: 'address to bind', default: () => '127.0.0.1' },
  { key: 'workers', env: 'WORKERS', flag: '--workers', kind: 'int', min: 1, max: 256, help: 'inference worker threads', default: () => Math.max(1, availableParallelism()) },
  { key: 'acceptors', env: 'ACCEPTORS', flag: '--acceptors', kind: 'int', min: 1, max: 64, help: 'threads accepting connections on the port, each parsing, batching and dispatching its own predictions (uWS only; for boxes where the main thread is the ceiling)', default: () => 1 },
  { key: 'tasksPerWorker', env: 'TASKS_PER_WORKER', flag: '--tasks-per-worker', kind: 'int', min: 1, max: 16, help: 'batches in flight per worker', default: () => 1 },
  { key: 'intraOpThreads', env: 'ORT_INTRA_OP_THREADS', flag: '--ort-intra-op-threads', kind: 'int', min: 1, max: 64, help: 'onnxruntime intra-op threads per worker', default: () => 1 },
  { key: 'modelsDir', env: 'MODELS_DIR', flag: '--models-dir', kind: 'path', help: 'folder of model folders (manifest.json + ONNX)', default: () => resolve(projectRoot(), 'engine/models') },
  { key: 'modelsWatch', env: 'MODELS_WATCH', flag: '--models-watch', kind: 'bool', help: 'reload a model when its folder under MODELS_DIR changes', default: () => true },
  { key: 'modelsWatchDebounceMs', env: 'MODELS_WATCH_DEBOUNCE_MS', flag: '--models-watch-debounce-ms', kind: 'int', min: 10, max: 60_000, help: 'quiet time after the last change in a model folder before reloading it', default: () => 500 },
  { key: 'abWeightsPersist', env: 'AB_WEIGHTS_PERSIST', flag: '--ab-weights-persist', kind: 'bool', help: 'keep PUT /ab weights in DATA_DIR/ab_weights.json; they override AB_WEIGHTS at the next start', default: () => false },
  { key: 'abWeights', env: 'AB_WEIGHTS', flag: '--ab-weights', kind: 'weights', help: 'A/B traffic weights, e.g. xgboost=70,logistic=30', default: () => ({}) },
  { key: 'batchMaxSize', env: 'BATCH_MAX_SIZE', flag: '--batch-max-size', kind: 'int', min: 1, max: 65536, help: 'rows per inference batch, at most', default: () => 256 },
  { key: 'batchMaxDelayMs', env: 'BATCH_MAX_DELAY_MS', flag: '--batch-max-delay-ms', kind: 'number', min: 0, max: 10_000, help: 'a batch waiting for a worker closes after this long', default: () => 2 },
  { key: 'queueBound', env: 'QUEUE_BOUND', flag: '--queue-bound', kind: 'int', min: 1, max: 10_000_000, help: 'rows waiting per model before shedding with 503', default: () => 8192 },
  { key: 'requestDeadlineMs', env: 'REQUEST_DEADLINE_MS', flag: '--request-deadline-ms', kind: 'number', min: 1, max: 600_000, help: 'a request unanswered after this long gets 504', default: () => 1000 },
  { key: 'maxBodyBytes', env: 'MAX_BODY_BYTES', flag: '--max-body-bytes', kind: 'int', min: 64, max: 1 << 30, help: 'request body limit (413 above)', default: () => 1 << 20 },
  { key: 'maxBatchRequests', env: 'MAX_BATCH_REQUESTS', flag: '--max-batch-requests', kind: 'int', min: 1, max: 100_000, help: 'candidates per /predict_ctr/batch call', default: () => 1000 },
  { key: 'adminToken', env: 'ADMIN_TOKEN', flag: '--admin-token', kind: 'string', secret: true, help: 'bearer token for admin endpoints', default: () => undefined },
  { key: 'dataDir', env: 'DATA_DIR', flag: '--data-dir', kind: 'path', help: 'where baselines and state are kept', default: () => resolve(process.cwd(), 'data') },
  { key: 'mlflowTrackingUri', env: 'MLFLOW_TRACKING_URI', flag: '--mlflow-tracking-uri', kind: 'string', help: 'unset → ./mlruns file store', default: () => undefined },
  { key: 'mlflowExperimentName', env: 'MLFLOW_EXPERIMENT_NAME', flag: '--mlflow-experiment-name', kind: 'string', help: 'MLflow experiment', default: () => 'ctr_prediction_production' },
  { key: 'inlineMaxUs', env: 'INLINE_MAX_US', flag: '--inline-max-us', kind: 'number', min: 0, max: 10_000, help: 'run a small batch on the request thread when its measured cost is within this many µs (0 = always in a worker)', default: () => 0 },
  { key: 'inlineMaxLoopUtilization', env: 'INLINE_MAX_LOOP_UTILIZATION', flag: '--inline-max-loop-utilization', kind: 'number', min: 0.01, max: 1, help: 'inline runs pause while the request thread is busier than this (event-loop utilization, 0–1; 1 = never pause)', default: () => 0.5 },
  { key: 'injectInferenceDelayMs', env: 'INJECT_INFERENCE_DELAY_MS', flag: '--inject-inference-delay-ms', kind: 'number', min: 0, max: 60_000, help: 'fault injection: extra ms per batch (tests, bench)', default: () => 0 },
  { key: 'injectWorkerKill', env: 'INJECT_WORKER_KILL', flag: '--inject-worker-kill', kind: 'bool', help: 'fault injection: SIGUSR2 terminates one inference worker, as a crash would (soak, tests)', default: () => false },
  { key: 'monitoring', env: 'MONITORING', flag: '--monitoring', kind: 'bool', help: 'record telemetry (off only to measure its cost)', default: () => true },
  { key: 'monitorTickMs', env: 'MONITOR_TICK_MS', flag: '--monitor-tick-ms', kind: 'int', min: 50, max: 60_000, help: 'coordinator tick', default: () => 1000 },
  { key: 'monitorWindowsS', env: 'MONITOR_WINDOWS_S', flag: '--monitor-windows-s', kind: 'list', min: 5, max: 86_400, help: 'recent windows in seconds', default: () => [60, 300] },
  { key: 'driftZMedium', env: 'DRIFT_Z_MEDIUM', flag: '--drift-z-medium', kind: 'number', min: 0, max: 100, help: 'z at which drift is medium', default: () => 2.0 },
  { key: 'driftZHigh', env: 'DRIFT_Z_HIGH', flag: '--drift-z-high', kind: 'number', min: 0, max: 100, help: 'z above which drift is high', default: () => 3.0 },
  { key: 'driftMinSamples', env: 'DRIFT_MIN_SAMPLES', flag: '--drift-min-samples', kind: 'int', min: 1, max: 1e9, help: 'predictions a window needs before drift is judged', default: () => 500 },
  { key: 'latencyObjectiveMs', env: 'LATENCY_OBJECTIVE_MS', flag: '--latency-objective-ms', kind: 'number', min: 0.01, max: 600_000, help: 'p99 end-to-end objective (health)', default: () => 50 },
  { key: 'latencyMinRequests', env: 'LATENCY_MIN_REQUESTS', flag: '--latency-min-requests', kind: 'int', min: 1, max: 1e9, help: 'requests a window needs before its p99 can degrade health', default: () => 100 },
  { key: 'errorRateDegraded', env: 'ERROR_RATE_DEGRADED', flag: '--error-rate-degraded', kind: 'number', min: 0, max: 1, help: 'error rate that makes a model degraded', default: () => 0.01 },
  { key: 'errorRateUnhealthy', env: 'ERROR_RATE_UNHEALTHY', flag: '--error-rate-unhealthy', kind: 'number', min: 0, max: 1, help: 'error rate that makes a model unhealthy', default: () => 0.05 },
  { key: 'unknownRateDegraded', env: 'UNKNOWN_RATE_DEGRADED', flag: '--unknown-rate-degraded', kind: 'number', min: 0, max: 1, help: "share of a category field's sampled values outside its manifest's categories that makes a model degraded (needs FEATURE_WATCH_SAMPLE > 0)", default: () => 0.01 },
  { key: 'mlflowFlushIntervalMs', env: 'MLFLOW_FLUSH_INTERVAL_MS', flag: '--mlflow-flush-interval-ms', kind: 'int', min: 100, max: 3_600_000, help: 'metrics to MLflow every', default: () => 10_000 },
  { key: 'mlflowBufferLimit', env: 'MLFLOW_BUFFER_LIMIT', flag: '--mlflow-buffer-limit', kind: 'int', min: 0, max: 10_000_000, help: 'flushes kept per model during an outage (0: an hour)', default: () => 0 },
  { key: 'streamIntervalMs', env: 'STREAM_INTERVAL_MS', flag: '--stream-interval-ms', kind: 'int', min: 100, max: 600_000, help: 'live stream default interval', default: () => 1000 },
  { key: 'streamMaxBackpressureBytes', env: 'STREAM_MAX_BACKPRESSURE_BYTES', flag: '--stream-max-backpressure-bytes', kind: 'int', min: 1024, max: 1 << 30, help: 'stream bytes queued per client before frames are skipped', default: () => 256 * 1024 },
  { key: 'streamSlowCloseAfterSkips', env: 'STREAM_SLOW_CLOSE_AFTER_SKIPS', flag: '--stream-slow-close-after-skips', kind: 'int', min: 1, max: 1_000_000, help: 'skipped frames in a row before a stuck client is closed', default: () => 10 },
  { key: 'inferenceBackend', env: 'INFERENCE_BACKEND', flag: '--inference-backend', kind: 'choice', choices: INFERENCE_BACKENDS, help: 'ort (onnxruntime-node) or ts (pure TypeScript evaluator)', default: () => 'ort' },
  { key: 'frontEnd', env: 'FRONT_END', flag: '--front-end', kind: 'choice', choices: FRONT_ENDS, help: 'uws, native-free (node:http) or auto (uws, falling back when a native addon cannot load)', default: () => 'uws' },
  { key: 'drainGraceMs', env: 'DRAIN_GRACE_MS', flag: '--drain-grace-ms', kind: 'int', min: 0, max: 600_000, help: 'on SIGTERM, /ready 503 and keep serving this long before closing (longer than a health-check interval)', default: () => 5000 },
  { key: 'probePort', env: 'PROBE_PORT', flag: '--probe-port', kind: 'int', min: 0, max: 65535, help: 'extra node:http port for GET /health and /ready, HTTP/1.0 too (unset: none)', default: () => undefined },
  { key: 'streamMaxConnections', env: 'STREAM_MAX_CONNECTIONS', flag: '--stream-max-connections', kind: 'int', min: 1, max: 1_000_000, help: 'open WS /monitoring/stream connections, at most (503 past it)', default: () => 256 },
  { key: 'maxInflightBodyBytes', env: 'MAX_INFLIGHT_BODY_BYTES', flag: '--max-inflight-body-bytes', kind: 'int', min: 1024, max: 2 ** 40, help: 'request body bytes being buffered, all requests together, at most (503 past it)', default: () => 256 * 1024 * 1024 },
  { key: 'discardBodyBytes', env: 'DISCARD_BODY_BYTES', flag: '--discard-body-bytes', kind: 'int', min: 0, max: 2 ** 40, help: 'after a 413, read and drop up to this many body bytes so the client sees the 413', default: () => 64 * 1024 * 1024 },
  { key: 'logFormat', env: 'LOG_FORMAT', flag: '--log-format', kind: 'choice', choices: LOG_FORMATS, help: 'text ("ctr-engine: …" lines) or json (one object per line)', default: () => 'text' },
  { key: 'logLevel', env: 'LOG_LEVEL', flag: '--log-level', kind: 'choice', choices: LOG_LEVELS, help: 'least severe level logged', default: () => 'info' },
  { key: 'alertWebhookUrl', env: 'ALERT_WEBHOOK_URL', flag: '--alert-webhook-url', kind: 'string', secret: true, help: 'POST alerts and health changes here (Slack/Alertmanager JSON)', default: () => undefined },
  { key: 'labelCapacity', env: 'LABEL_CAPACITY', flag: '--label-capacity', kind: 'int', min: 0, max: 1 << 27, help: 'predictions held for click feedback (≥ peak predictions/s × LABEL_WINDOW_S; 32 bytes each); 0: feedback off', default: () => 1 << 20 },
  { key: 'labelWindowS', env: 'LABEL_WINDOW_S', flag: '--label-window-s', kind: 'number', min: 0.01, max: 7 * 86_400, help: 'seconds after a prediction within which its click counts', default: () => 300 },
  { key: 'labelImplicitNonclicks', env: 'LABEL_IMPLICIT_NONCLICKS', flag: '--label-implicit-nonclicks', kind: 'bool', help: 'no click by the end of the label window counts as a non-click', default: () => true },
  { key: 'calibrationMinLabels', env: 'CALIBRATION_MIN_LABELS', flag: '--calibration-min-labels', kind: 'int', min: 1, max: 1e9, help: 'labels a model version needs before the calibration check judges it', default: () => 1000 },
  { key: 'calibrationTolerance', env: 'CALIBRATION_TOLERANCE', flag: '--calibration-tolerance', kind: 'number', min: 0, max: 100, help: 'calibration check warns when observed/predicted CTR is off by more than this factor', default: () => 0.25 },
  { key: 'featureWatchSample', env: 'FEATURE_WATCH_SAMPLE', flag: '--feature-watch-sample', kind: 'int', min: 0, max: 1_000_000, help: 'watch the request fields of one row in this many (per-field drift); 0: off', default: () => 4 },
  { key: 'shutdownDeadlineMs', env: 'SHUTDOWN_DEADLINE_MS', flag: '--shutdown-deadline-ms', kind: 'int', min: 0, max: 600_000, help: 'graceful shutdown waits this long for the final flush', default: () => 5000 },
];

function parseWeights(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (text.trim() === '') return out;
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*[=:]\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(part);
    if (!m) throw new TypeError(`${name}: expected name=weight[,name=weight…], got ${JSON.stringify(part)}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function parseValue(spec: OptionSpec, raw: string, name: string): unknown {
  switch (spec.kind) {
    case 'string': return raw;
    case 'choice': {
      const v = raw.trim().toLowerCase();
      if (!spec.choices!.includes(v)) throw new TypeError(`${name}: expected one of ${spec.choices!.join(', ')}, got ${JSON.stringify(raw)}`);
      return v;
    }
    case 'path': return resolve(raw);
    case 'weights': return parseWeights(raw, name);
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'on', 'yes'].includes(v)) return true;
      if (['0', 'false', 'off', 'no'].includes(v)) return false;
      throw new TypeError(`${name}: expected on/off, got ${JSON.stringify(raw)}`);
    }
    case 'list': {
      const items = raw.split(',').map((x) => Number(x.trim()));
      if (items.length === 0 || items.some((v) => !Number.isInteger(v) || v < spec.min! || v > spec.max!)) {
        throw new TypeError(`${name}: expected integers in [${spec.min}, ${spec.max}] separated by commas, got ${JSON.stringify(raw)}`);
      }
      return items;
    }
    case 'int':
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v) || (spec.kind === 'int' && !Number.isInteger(v))) {
        throw new TypeError(`${name}: expected ${spec.kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
      }
      if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
        throw new RangeError(`${name}: ${v} is outside [${spec.min}, ${spec.max}]`);
      }
      return v;
    }
  }
}

/**
 * Reads the configuration from the environment and argv; throws a TypeError/RangeError naming the option.
 * `defaults` replaces built-in defaults (an entry point with other defaults, e.g. the native-free server's ts backend).
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv.slice(2), defaults: Partial<ServerConfig> = {},
): ServerConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new TypeError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (!OPTIONS.some((o) => o.flag === flag)) throw new TypeError(`unknown flag ${flag} (known: ${OPTIONS.map((o) => o.flag).join(' ')})`);
    if (eq !== -1) flags.set(flag, arg.slice(eq + 1));
    else if (i + 1 < argv.length) flags.set(flag, argv[++i]);
    else throw new TypeError(`${flag} needs a value`);
  }
  const cfg: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const fromFlag = flags.get(spec.flag);
    const fromEnv = env[spec.env];
    if (fromFlag !== undefined) cfg[spec.key] = parseValue(spec, fromFlag, spec.flag);
    else if (fromEnv !== undefined && fromEnv !== '') cfg[spec.key] = parseValue(spec, fromEnv, spec.env);
    else cfg[spec.key] = spec.key in defaults ? defaults[spec.key] : spec.default();
  }
  return cfg as unknown as ServerConfig;
}

/** The value as the start-up table shows it: secrets masked, URLs without credentials. */
function shownValue(o: OptionSpec, v: unknown): string {
  if (v === undefined) return '(unset)';
  if (o.key === 'alertWebhookUrl' && typeof v === 'string') {
    // A webhook URL is a credential (Slack's path is the secret): show where it goes, not the path.
    try {
      const u = new URL(v);
      return `${u.protocol}//${u.host}/… (set)`;
    } catch {
      return '(set)';
    }
  }
  if (o.secret) return '(set)';
  // MLflow URIs may carry credentials (https://user:pass@host)
  if (o.key === 'mlflowTrackingUri' && typeof v === 'string') return v.replace(/\/\/[^/@]*@/, '//***@');
  if (o.kind === 'weights') {
    const entries = Object.entries(v as Record<string, number>);
    return entries.length === 0 ? '(equal over the loaded models)' : entries.map(([k, w]) => `${k}=${w}`).join(',');
  }
  if (Array.isArray(v)) return v.join(',');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** One line per option, aligned: name, value, what it does; secrets masked. Printed once at start-up. */
export function describeConfig(cfg: ServerConfig): string {
  const rows = OPTIONS.map((o) => [o.env, shownValue(o, cfg[o.key]), o.help]);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.min(40, Math.max(...rows.map((r) => r[1].length)));
  return rows.map(([env, value, help]) => `  ${env.padEnd(w0)}  ${value.padEnd(w1)}  ${help}`).join('\n');
}
