// A stand-in MLflow tracking server (REST API 2.0) for tests and the fault soak
// (bench/fault_soak.ts). It applies the
// validation MLflow's server does (mlflow/server/handlers.py,
// mlflow/server/validation.py, mlflow/utils/validation.py,
// mlflow/store/tracking/file_store.py) with MLflow's error codes, statuses and
// messages, written independently of the client code it tests. It can be told
// to go down, answer 503 with Retry-After, or stall, and it records every request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface RecordedRequest { method: string; path: string; query: Record<string, string>; headers: IncomingMessage['headers']; body: unknown; raw: string }
export interface FakeMetric { key: string; value: number; timestamp: number; step: number }
export interface FakeRun {
  info: { run_id: string; run_uuid: string; experiment_id: string; run_name: string; user_id: string; status: string;
    start_time: number; end_time?: number; artifact_uri: string; lifecycle_stage: string };
  params: Map<string, string>;
  tags: Map<string, string>;
  metrics: FakeMetric[];
}
export interface FakeExperiment { experiment_id: string; name: string; artifact_location: string; lifecycle_stage: string; creation_time: number; last_update_time: number }

const STATUS_OF: Record<string, number> = {
  INVALID_PARAMETER_VALUE: 400, RESOURCE_ALREADY_EXISTS: 400, BAD_REQUEST: 400, RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404, INTERNAL_ERROR: 500, INVALID_STATE: 500, TEMPORARILY_UNAVAILABLE: 503,
};

class ApiError extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

// mlflow/utils/validation.py, with Python's Unicode \w.
const NAME_RE = /^[/\p{L}\p{N}_.\- :]*$/u;
const RUN_ID_RE = /^[a-zA-Z0-9][\w-]{0,255}$/;
const BAD_CHARS = 'Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).';

function normpath(p: string): string {
  if (p === '') return '.';
  const initial = p.startsWith('//') && !p.startsWith('///') ? 2 : p.startsWith('/') ? 1 : 0;
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c !== '..' || (!initial && !out.length) || (out.length && out[out.length - 1] === '..')) out.push(c);
    else if (out.length) out.pop();
  }
  return '/'.repeat(initial) + out.join('/') || '.';
}

function validateName(kind: string, name: unknown): string {
  if (name === undefined || name === null) throw new ApiError('INVALID_PARAMETER_VALUE', `${kind} name cannot be None. A key name must be provided.`);
  const n = String(name);
  const lower = kind.toLowerCase();
  if (!NAME_RE.test(n)) throw new ApiError('INVALID_PARAMETER_VALUE', `Invalid ${lower} name: '${n}'. ${BAD_CHARS}`);
  const norm = normpath(n);
  if (norm !== n || norm === '.' || norm.startsWith('..') || norm.startsWith('/')) {
    throw new ApiError('INVALID_PARAMETER_VALUE', `Invalid ${lower} name: '${n}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '${norm}'`);
  }
  return n;
}

function lengthLimit(entity: string, limit: number, value: string): void {
  if (value.length > limit) {
    throw new ApiError('INVALID_PARAMETER_VALUE', `${entity} '${value.slice(0, 250)}' had length ${value.length}, which exceeded length limit of ${limit}`);
  }
}

function batchLimit(entity: string, limit: number, n: number): void {
  if (n > limit) {
    throw new ApiError('INVALID_PARAMETER_VALUE', `A batch logging request can contain at most ${limit} ${entity}. Got ${n} ${entity}. Please split up ${entity} across multiple requests and try again.`);
  }
}

const missing = (path: string) => new ApiError('INVALID_PARAMETER_VALUE',
  `Missing value for required parameter '${path}'. See the API docs for more information about request parameters.`);

/** proto3 JSON double: a number or "NaN" / "Infinity" / "-Infinity" (or a numeric string). */
function protoDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

function protoInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

export interface FakeMlflowOptions { auth?: { username: string; password: string } | { token: string } }

export class FakeMlflowServer {
  readonly requests: RecordedRequest[] = [];
  readonly experiments = new Map<string, FakeExperiment>();
  readonly runs = new Map<string, FakeRun>();
  private server: Server;
  private sockets = new Set<Socket>();
  private port = 0;
  private nextExperimentId = 1;
  private faults: Array<{ status: number; retryAfter?: string; body?: string }> = [];
  private stalled: Array<() => void> | null = null;
  private hidden = new Set<string>();
  isUp = false;

  private constructor(private readonly opts: FakeMlflowOptions) {
    this.server = this.makeServer();
    this.experiments.set('0', { experiment_id: '0', name: 'Default', artifact_location: 'mlflow-artifacts:/0', lifecycle_stage: 'active', creation_time: 0, last_update_time: 0 });
  }

  static async start(opts: FakeMlflowOptions = {}): Promise<FakeMlflowServer> {
    const s = new FakeMlflowServer(opts);
    await s.up();
    return s;
  }

  get url(): string { return `http://127.0.0.1:${this.port}`; }

  private makeServer(): Server {
    const server = createServer((req, res) => { void this.handle(req, res); });
    server.on('connection', (sock) => { this.sockets.add(sock); sock.on('close', () => this.sockets.delete(sock)); });
    return server;
  }

  /** Listens (again) on the same port. */
  async up(): Promise<void> {
    if (this.isUp) return;
    this.server = this.makeServer();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.isUp = true;
  }

  /** Stops listening and cuts open connections: clients see connection refused/reset. */
  async down(): Promise<void> {
    if (!this.isUp) return;
    this.isUp = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** The next `count` requests get `status` (e.g. 503 with Retry-After seconds). */
  failNext(count: number, status: number, retryAfter?: number | string, body?: string): void {
    for (let i = 0; i < count; i++) this.faults.push({ status, retryAfter: retryAfter === undefined ? undefined : String(retryAfter), body });
  }

  /** Holds every request until unstall(). */
  stall(): void { if (!this.stalled) this.stalled = []; }
  unstall(): void { const s = this.stalled; this.stalled = null; s?.forEach((f) => f()); }

  /** get-by-name answers 404 once for `name` even if it exists: a create race from the client's view. */
  hideExperimentOnce(name: string): void { this.hidden.add(name); }

  async close(): Promise<void> { this.unstall(); await this.down(); }

  runsOf(experimentName: string): FakeRun[] {
    const exp = [...this.experiments.values()].find((e) => e.name === experimentName);
    return [...this.runs.values()].filter((r) => exp && r.info.experiment_id === exp.experiment_id);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    let body: unknown = raw;
    try { body = raw ? JSON.parse(raw) : {}; } catch { /* recorded as text */ }
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body, raw });
    if (this.stalled) await new Promise<void>((resolve) => this.stalled?.push(resolve));
    if (res.destroyed || req.socket.destroyed) return;
    const fault = this.faults.shift();
    if (fault) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      res.writeHead(fault.status, headers).end(fault.body ?? JSON.stringify({ error_code: 'TEMPORARILY_UNAVAILABLE', message: 'injected fault' }));
      return;
    }
    if (this.opts.auth && !this.authorized(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="mlflow"' })
        .end('You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.');
      return;
    }
    try {
      const out = this.route(req, url, raw);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', String(err));
      res.writeHead(STATUS_OF[e.code] ?? 500, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error_code: e.code, message: e.message }));
    }
  }

  private authorized(header: string | undefined): boolean {
    const a = this.opts.auth;
    if (!a) return true;
    if ('token' in a) return header === `Bearer ${a.token}`;
    return header === 'Basic ' + Buffer.from(`${a.username}:${a.password}`).toString('base64');
  }

  private json(req: IncomingMessage, raw: string): Record<string, unknown> {
    // mlflow/server/validation.py: _validate_content_type for POST and PUT.
    const ct = req.headers['content-type'];
    if (ct === undefined) throw new ApiError('INVALID_PARAMETER_VALUE', 'Bad Request. Content-Type header is missing.');
    if (ct.split(';')[0].trim() !== 'application/json') {
      throw new ApiError('INVALID_PARAMETER_VALUE', "Bad Request. Content-Type must be one of ['application/json'].");
    }
    try {
      const v = raw ? JSON.parse(raw) : {};
      return v && typeof v === 'object' ? v : {};
    } catch { throw new ApiError('BAD_REQUEST', 'Malformed JSON body'); }
  }

  private route(req: IncomingMessage, url: URL, raw: string): unknown {
    const path = url.pathname.replace(/^\/(ajax-)?api\/2\.0\/mlflow\//, '');
    const key = `${req.method} ${path}`;
    switch (key) {
      case 'GET experiments/get-by-name': return this.getByName(url.searchParams.get('experiment_name'));
      case 'POST experiments/create': return this.createExperiment(this.json(req, raw));
      case 'POST runs/create': return this.createRun(this.json(req, raw));
      case 'POST runs/log-batch': return this.logBatch(raw, this.json(req, raw));
      case 'POST runs/update': return this.updateRun(this.json(req, raw));
      case 'POST runs/search': return this.searchRuns(this.json(req, raw));
      case 'GET runs/get': return { run: this.runToJson(this.getRun(url.searchParams.get('run_id') ?? '')) };
      default: throw new ApiError('ENDPOINT_NOT_FOUND', `No API route for ${key}`);
    }
  }

  private getByName(name: string | null): unknown {
    if (!name) throw missing('experiment_name');
    const exp = [...this.experiments.values()].find((e) => e.name === name);
    if (!exp || this.hidden.delete(name)) {
      throw new ApiError('RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${name}'`);
    }
    return { experiment: exp };
  }

  private createExperiment(body: Record<string, unknown>): unknown {
    const name = body.name;
    if (typeof name !== 'string' || name === '') throw missing('name');
    if (name.length > 500) throw new ApiError('INVALID_PARAMETER_VALUE', 'Experiment name exceeds the maximum length of 500 characters');
    if ([...this.experiments.values()].some((e) => e.name === name)) {
      throw new ApiError('RESOURCE_ALREADY_EXISTS', `Experiment '${name}' already exists.`);
    }
    const id = String(this.nextExperimentId++);
    const now = Date.now();
    this.experiments.set(id, { experiment_id: id, name, artifact_location: `mlflow-artifacts:/${id}`, lifecycle_stage: 'active', creation_time: now, last_update_time: now });
    return { experiment_id: id };
  }

  private createRun(body: Record<string, unknown>): unknown {
    const expId = String(body.experiment_id ?? '0');
    const exp = this.experiments.get(expId);
    if (!exp) throw new ApiError('RESOURCE_DOES_NOT_EXIST', `Could not find experiment with ID ${expId}`);
    const tags = Array.isArray(body.tags) ? body.tags as Array<{ key: string; value: string }> : [];
    const tagRunName = tags.find((t) => t.key === 'mlflow.runName')?.value;
    const runName = typeof body.run_name === 'string' && body.run_name ? body.run_name : tagRunName;
    if (body.run_name && tagRunName && body.run_name !== tagRunName) {
      throw new ApiError('INVALID_PARAMETER_VALUE', `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${body.run_name}', mlflow.runName='${tagRunName}').`);
    }
    const id = randomUUID().replace(/-/g, '');
    const run: FakeRun = {
      info: { run_id: id, run_uuid: id, experiment_id: expId, run_name: runName ?? 'fake-run', user_id: String(body.user_id ?? ''),
        status: 'RUNNING', start_time: Number(body.start_time ?? Date.now()), artifact_uri: `mlflow-artifacts:/${expId}/${id}/artifacts`, lifecycle_stage: 'active' },
      params: new Map(), tags: new Map(), metrics: [],
    };
    for (const t of tags) { validateName('Tag', t.key); run.tags.set(t.key, String(t.value ?? '')); }
    if (!run.tags.has('mlflow.runName')) run.tags.set('mlflow.runName', run.info.run_name);
    this.runs.set(id, run);
    return { run: this.runToJson(run) };
  }

  private getRun(runId: string): FakeRun {
    if (!RUN_ID_RE.test(runId)) throw new ApiError('INVALID_PARAMETER_VALUE', `Invalid run ID: '${runId}'`);
    const run = this.runs.get(runId);
    if (!run) throw new ApiError('RESOURCE_DOES_NOT_EXIST', `Run '${runId}' not found`);
    return run;
  }

  private logBatch(raw: string, body: Record<string, unknown>): unknown {
    // handlers._log_batch: request size, then the schema, then the store's checks in FileStore.log_batch order.
    if (raw.length > 1_000_000) {
      throw new ApiError('INVALID_PARAMETER_VALUE', `Batched logging API requests must be at most 1000000 bytes, got a request of size ${raw.length}.`);
    }
    const runId = body.run_id ?? body.run_uuid;
    if (typeof runId !== 'string' || runId === '') throw missing('run_id');
    const metrics = (body.metrics ?? []) as Array<Record<string, unknown>>;
    const params = (body.params ?? []) as Array<Record<string, unknown>>;
    const tags = (body.tags ?? []) as Array<Record<string, unknown>>;
    for (const [name, arr] of [['metrics', metrics], ['params', params], ['tags', tags]] as const) {
      if (!Array.isArray(arr)) throw new ApiError('INVALID_PARAMETER_VALUE', `Invalid value ${JSON.stringify(arr)} for parameter '${name}' supplied. See the API docs for more information about request parameters.`);
    }
    metrics.forEach((m, i) => {
      for (const f of ['key', 'value', 'timestamp']) if (m[f] === undefined || m[f] === null || m[f] === '') throw missing(`metrics[${i}].${f}`);
    });
    params.forEach((p, i) => { if (p.key === undefined || p.key === null || p.key === '') throw missing(`params[${i}].key`); });
    tags.forEach((t, i) => { if (t.key === undefined || t.key === null || t.key === '') throw missing(`tags[${i}].key`); });
    if (!RUN_ID_RE.test(runId)) throw new ApiError('INVALID_PARAMETER_VALUE', `Invalid run ID: '${runId}'`);
    const parsed: FakeMetric[] = metrics.map((m) => {
      const key = validateName('Metric', m.key);
      const value = protoDouble(m.value);
      const timestamp = protoInt(m.timestamp);
      const step = m.step === undefined ? 0 : protoInt(m.step);
      if (value === undefined) throw new ApiError('INVALID_PARAMETER_VALUE', `Got invalid value ${String(m.value)} for metric '${key}' (timestamp=${String(m.timestamp)}). Please specify value as a valid double (64-bit floating point)`);
      if (timestamp === undefined || timestamp < 0) throw new ApiError('INVALID_PARAMETER_VALUE', `Got invalid timestamp ${String(m.timestamp)} for metric '${key}' (value=${String(m.value)}). Timestamp must be a nonnegative long (64-bit integer) `);
      if (step === undefined) throw new ApiError('INVALID_PARAMETER_VALUE', `Got invalid step ${String(m.step)} for metric '${key}' (value=${String(m.value)}). Step must be a valid long (64-bit integer).`);
      lengthLimit('Metric name', 250, key);
      return { key, value, timestamp, step };
    });
    const ps = params.map((p) => {
      const key = validateName('Parameter', p.key);
      lengthLimit('Param key', 250, key);
      const value = String(p.value ?? '');
      lengthLimit('Param value', 6000, value);
      return { key, value };
    });
    const ts = tags.map((t) => {
      const key = validateName('Tag', t.key);
      lengthLimit('Tag key', 250, key);
      const value = String(t.value ?? '');
      lengthLimit('Tag value', 5000, value);
      return { key, value };
    });
    batchLimit('metrics', 1000, parsed.length);
    batchLimit('params', 100, ps.length);
    batchLimit('tags', 100, ts.length);
    batchLimit('metrics, params, and tags', 1000, parsed.length + ps.length + ts.length);
    const seen = new Set<string>(); const dupes: string[] = [];
    for (const p of ps) { if (seen.has(p.key)) dupes.push(p.key); seen.add(p.key); }
    if (dupes.length) throw new ApiError('INVALID_PARAMETER_VALUE', `Duplicate parameter keys have been submitted: [${dupes.map((d) => `'${d}'`).join(', ')}]. Please ensure the request contains only one param value per param key.`);
    const run = this.getRun(runId);
    if (run.info.lifecycle_stage !== 'active') {
      throw new ApiError('INVALID_PARAMETER_VALUE', `The run ${runId} must be in the 'active' state. Current state is ${run.info.lifecycle_stage}.`);
    }
    for (const p of ps) {
      const current = run.params.get(p.key);
      if (current !== undefined && current !== p.value) {
        throw new ApiError('INVALID_PARAMETER_VALUE', `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${current}' for run ID='${runId}'. Attempted logging new value '${p.value}'.`);
      }
    }
    for (const p of ps) run.params.set(p.key, p.value);
    run.metrics.push(...parsed);
    for (const t of ts) run.tags.set(t.key, t.value);
    return {};
  }

  private updateRun(body: Record<string, unknown>): unknown {
    const runId = String(body.run_id ?? body.run_uuid ?? '');
    if (!runId) throw missing('run_id');
    const run = this.getRun(runId);
    if (run.info.lifecycle_stage !== 'active') {
      throw new ApiError('INVALID_PARAMETER_VALUE', `The run ${runId} must be in the 'active' state. Current state is ${run.info.lifecycle_stage}.`);
    }
    if (typeof body.status === 'string') run.info.status = body.status;
    if (body.end_time !== undefined) run.info.end_time = Number(body.end_time);
    if (typeof body.run_name === 'string' && body.run_name) { run.info.run_name = body.run_name; run.tags.set('mlflow.runName', body.run_name); }
    return { run_info: run.info };
  }

  /** The filter subset clients use: `attributes.status = '…'` and `tags.k = '…'` joined by `and`. */
  private searchRuns(body: Record<string, unknown>): unknown {
    const ids = (body.experiment_ids ?? []) as string[];
    const filter = String(body.filter ?? '').trim();
    const clauses = filter ? filter.split(/\s+and\s+/i) : [];
    const preds = clauses.map((c) => {
      const m = /^(attributes|tags|tag)\.(`[^`]+`|[\w.]+)\s*=\s*'((?:[^'\\]|\\.)*)'$/.exec(c.trim());
      if (!m) throw new ApiError('INVALID_PARAMETER_VALUE', `Invalid filter '${filter}'`);
      const key = m[2].replace(/^`|`$/g, '');
      const value = m[3].replace(/\\'/g, "'");
      return (r: FakeRun) => (m[1] === 'attributes' ? String((r.info as Record<string, unknown>)[key]) === value : r.tags.get(key) === value);
    });
    const runs = [...this.runs.values()].filter((r) => ids.includes(r.info.experiment_id) && r.info.lifecycle_stage === 'active' && preds.every((p) => p(r)));
    return { runs: runs.slice(0, Number(body.max_results ?? 1000)).map((r) => this.runToJson(r)) };
  }

  private runToJson(r: FakeRun): unknown {
    const dbl = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);
    const latest = new Map<string, FakeMetric>();
    for (const m of r.metrics) latest.set(m.key, m);
    return {
      info: r.info,
      data: {
        metrics: [...latest.values()].map((m) => ({ ...m, value: dbl(m.value) })),
        params: [...r.params].map(([key, value]) => ({ key, value })),
        tags: [...r.tags].map(([key, value]) => ({ key, value })),
      },
    };
  }
}
