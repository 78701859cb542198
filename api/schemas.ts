// JSON Schemas (2020-12, the dialect of OpenAPI 3.1) of the bodies the API
// answers with: the spec's error body and the monitoring bodies. One module,
// so /openapi.json and anything else that describes a body read the same
// shapes; test/openapi.test.ts checks real answers against them.
//
// The prediction request schemas are not here: they depend on the loaded
// models, and are built from the manifests by api/request_schema.ts.
import { BASELINE_FIELDS } from '../engine/coordinator/baseline.js';
import { ERROR_STATUS } from '../engine/error_codes.js';

export type JsonSchema = Record<string, unknown>;

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const num: JsonSchema = { type: 'number' };
const int: JsonSchema = { type: 'integer', minimum: 0 };
const str: JsonSchema = { type: 'string' };
const nullable = (s: JsonSchema): JsonSchema => ({ anyOf: [s, { type: 'null' }] });
const obj = (properties: Record<string, JsonSchema>, required: string[] = Object.keys(properties)): JsonSchema =>
  ({ type: 'object', properties, required });
const mapOf = (s: JsonSchema): JsonSchema => ({ type: 'object', additionalProperties: s });

/** Every error code the server answers with, and its status. */
export const ERROR_CODE_LIST = Object.keys(ERROR_STATUS) as (keyof typeof ERROR_STATUS)[];

const latency = obj(Object.fromEntries(['count', 'avg', 'p50', 'p95', 'p99', 'p999', 'min', 'max'].map((k) => [k, num])));
const statsBlock = obj({
  total_requests: int, successful_requests: int, error_count: int,
  error_rate: { type: 'number', minimum: 0, maximum: 1 },
  errors: mapOf(int),
  latency_ms: ref('Latency'),
  stages: obj({ queue_wait: ref('Latency'), inference: ref('Latency'), end_to_end: ref('Latency') }),
  requests_per_minute: num,
  prediction: obj({ count: int, mean: num, std: num, min: nullable(num), max: nullable(num) }),
  last_updated: nullable(str),
}, ['total_requests', 'successful_requests', 'error_count', 'error_rate', 'latency_ms', 'requests_per_minute', 'prediction', 'last_updated']);

const healthStatus: JsonSchema = { type: 'string', enum: ['healthy', 'degraded', 'unhealthy'] };
const severity: JsonSchema = { type: 'string', enum: ['none', 'medium', 'high'] };
const healthCheck = obj({
  name: { type: 'string', enum: ['error_rate', 'latency_p99', 'drift', 'workers', 'mlflow', 'calibration', 'unknown_values'] },
  status: { type: 'string', enum: ['pass', 'warn', 'fail'] },
  value: { type: ['number', 'string', 'null'] },
  threshold: { type: 'object' },
  detail: str,
});
const alert = obj({
  model: { type: 'string', description: '"" for process-wide checks (mlflow)' },
  kind: { type: 'string', enum: ['error_rate', 'latency_p99', 'drift', 'workers', 'mlflow', 'calibration', 'unknown_values'] },
  severity: { type: 'string', enum: ['warning', 'critical'] },
  since: str,
  message: str,
});
const baselineInputProps = Object.fromEntries(BASELINE_FIELDS.map((f) => [f, f.startsWith('std_')
  ? { type: 'number', exclusiveMinimum: 0, description: 'finite, > 0' }
  : { type: 'number', minimum: 0, description: 'finite, ≥ 0' }]));

/** components.schemas of the document: bodies shared by every front end. */
export function sharedSchemas(): Record<string, JsonSchema> {
  return {
    Error: {
      ...obj({
        error: obj({
          code: { type: 'string', enum: ERROR_CODE_LIST },
          message: { type: 'string', description: 'what was wrong, naming the field and the allowed values or range' },
          field: { type: 'string', description: 'the offending field, e.g. "context.hour" or "requests[3].device"' },
        }, ['code', 'message']),
      }),
      description: 'The spec\'s error body. Statuses: ' + ERROR_CODE_LIST.map((c) => `${c} ${ERROR_STATUS[c]}`).join(', ') + '.',
    },
    Latency: latency,
    StatsBlock: statsBlock,
    Stats: obj({
      models: mapOf({ allOf: [ref('StatsBlock'), obj({ model_version: str, windows: mapOf(ref('StatsBlock')) })] }),
      unrouted: obj({ total_requests: int, error_count: int, errors: mapOf(int) }),
      workers: obj({ alive: int, expected: int }),
      generated_at: str,
      uptime_s: num,
      monitoring_enabled: { type: 'boolean' },
    }),
    HealthCheck: healthCheck,
    Alert: alert,
    Health: obj({
      status: healthStatus,
      serving_status: healthStatus,
      models: mapOf(obj({ status: healthStatus, checks: { type: 'array', items: ref('HealthCheck') } })),
      checks: obj({ mlflow: ref('HealthCheck') }, []),
      alerts: { type: 'array', items: ref('Alert') },
      workers: obj({ alive: int, expected: int }),
      mlflow: { type: ['object', 'null'] },
      generated_at: str,
    }),
    Baseline: obj({
      ...Object.fromEntries(BASELINE_FIELDS.map((f) => [f, num])),
      source: { type: 'string', enum: ['manual', 'captured'] },
      set_at: str,
      model_version: str,
      window: str,
      prediction_count: int,
      latency_count: int,
    }, [...BASELINE_FIELDS, 'source', 'set_at', 'model_version']),
    BaselineInput: obj({ model_name: { type: 'string', minLength: 1 }, ...baselineInputProps }),
    BaselineSet: obj({ model_name: str, baseline: ref('Baseline') }),
    Drift: obj({
      model: str,
      drift_detected: { type: 'boolean' },
      severity,
      window: str,
      baseline: nullable(ref('Baseline')),
      message: str,
      current: obj({
        prediction: obj({ count: int, mean: num, std: num }),
        latency_ms: obj({ stage: str, count: int, mean: num, std: num }),
      }),
      checks: {
        type: 'array',
        items: obj({
          name: str,
          statistic: nullable(num),
          threshold: obj({ medium: num, high: num }),
          verdict: { type: 'string', enum: ['ok', 'drift', 'below_min_effect', 'insufficient_data'] },
          severity,
          samples: int,
          detail: str,
        }),
      },
      evaluated_at: str,
    }),
    Models: obj({
      models: {
        type: 'array',
        items: obj({
          name: str, version: str, description: nullable(str),
          status: { type: 'string', enum: ['ready', 'loading', 'failed'] },
          ab_weight: num,
          reload: ref('ReloadStatus'),
          input: obj({ name: str, dtype: str, shape: { type: 'array', items: { type: 'integer' } } }),
          output: obj({ name: str, kind: { type: 'string', enum: ['probability', 'logit'] } }),
          inline: nullable(obj({
            max_rows: { type: 'integer', description: 'batches of up to this many rows run on the main thread (INLINE_MAX_US); 0 = always in a worker' },
            active: { type: 'boolean', description: 'false while inline runs pause because the main thread is busy (INLINE_MAX_LOOP_UTILIZATION)' },
            loop_utilization: num,
            one_row_us: num, per_row_us: num,
            batches: { type: 'integer', description: 'batches run on the main thread since start' },
            rows: { type: 'integer' },
          })),
        }, ['name', 'version', 'status', 'ab_weight']),
      },
    }),
    FeedbackItem: {
      oneOf: [
        obj({ request_id: { type: 'string', minLength: 1, maxLength: 256, description: 'a request_id from /predict_ctr or a row of /predict_ctr/batch' }, clicked: { type: 'boolean' } }),
        obj({
          model: { type: 'string', minLength: 1 }, model_version: { type: ['string', 'number'] },
          ctr: { type: 'number', minimum: 0, maximum: 1, description: 'the CTR the caller was served' }, clicked: { type: 'boolean' },
        }),
      ],
    },
    FeedbackResult: obj({
      received: int, accepted: int,
      unknown: { ...int, description: 'no prediction with this id in the label window' },
      duplicate: { ...int, description: 'this id was labelled already' },
      expired: { ...int, description: 'the label window had closed (counted as late)' },
      unattributed: { ...int, description: 'model/model_version form naming no loaded model' },
    }),
    ReloadStatus: obj({
      status: { type: 'string', enum: ['loading', 'ok', 'failed', 'unchanged'] },
      reason: str,
      at: { type: 'string', format: 'date-time' },
      version: str,
      duration_ms: num,
      trigger: { type: 'string', enum: ['api', 'watch'] },
    }, ['status', 'at', 'version', 'trigger']),
    Reload: obj({ model: str, reload: ref('ReloadStatus') }),
    AbWeightsInput: obj({ weights: { type: 'object', additionalProperties: { type: 'number', minimum: 0 } } }),
    AbWeights: obj({
      weights: mapOf(num),
      configured: mapOf(num),
      routing_key: str,
    }),
    Liveness: obj({ status: { const: 'ok' }, uptime_s: int }),
    Ready: obj({ ready: { const: true }, models: int, workers: int }),
  };
}

/** An example error body for `code`. */
export function errorExample(code: keyof typeof ERROR_STATUS, message: string, field?: string): { error: Record<string, string> } {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}
