// The OpenAPI 3.1 document of this server, built once at start from what it
// actually serves: the loaded models' request schemas (api/request_schema.ts,
// from the manifests), the shared bodies (api/schemas.ts), the limits from the
// configuration, and the front end's abilities (a WebSocket stream or not).
//
// Examples carry two extensions test/openapi.test.ts acts on:
//   x-status   the status the server answers that example with;
//   x-invalid  true when the example is meant to break the schema (and so
//              must also fail the schema, proving the schema as strict as
//              the validator).
import type { ModelRegistry } from '../engine/model_registry.js';
import { exampleRequest, predictRequestSchema } from './request_schema.js';
import { errorExample, sharedSchemas, type JsonSchema } from './schemas.js';

export interface OpenApiOptions {
  registry: ModelRegistry;
  version: string;
  maxBodyBytes: number;
  maxBatchRequests: number;
  /** Admin endpoints need a bearer token. */
  adminTokenSet: boolean;
  /** The front end serves WS /monitoring/stream and the dashboard (uWS), or answers 404 (node:http). */
  stream: boolean;
  frontEnd: string;
  /** Window names ("1m", "5m"). */
  windows: string[];
}

type Example = { summary: string; value: unknown; 'x-status': number; 'x-invalid'?: boolean };

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema, examples?: Record<string, { summary: string; value: unknown }>) =>
  ({ 'application/json': examples ? { schema, examples } : { schema } });
const errorResponse = (description: string, examples: Record<string, { summary: string; value: unknown }>) =>
  ({ description, content: json(ref('Error'), examples) });
const one = (summary: string, value: unknown) => ({ x: { summary, value } });

export const DOC_PATHS = { root: '/', docs: '/docs', openapi: '/openapi.json' } as const;

export function buildOpenApi(o: OpenApiOptions): Record<string, unknown> {
  const models = o.registry.models;
  const first = models[0];
  const schemas: Record<string, JsonSchema> = sharedSchemas();
  const perModel: JsonSchema[] = [];
  for (const m of models) {
    schemas[`PredictRequest_${m.name}`] = predictRequestSchema(m);
    perModel.push(ref(`PredictRequest_${m.name}`));
  }
  schemas.PredictRequest = { anyOf: perModel, description: 'the fields of the model the request names (or is routed to)' };
  schemas.PredictResponse = {
    type: 'object',
    required: ['ctr', 'model', 'model_version', 'request_id', 'latency_ms'],
    properties: {
      ctr: { type: 'number', minimum: 0, maximum: 1 }, model: { type: 'string', enum: models.map((m) => m.name) },
      model_version: { type: 'string' }, request_id: { type: 'string' }, latency_ms: { type: 'number', minimum: 0 },
    },
  };
  schemas.BatchRequest = {
    type: 'object', required: ['requests'],
    properties: { requests: { type: 'array', minItems: 1, maxItems: o.maxBatchRequests, items: ref('PredictRequest') } },
  };
  schemas.BatchResponse = {
    type: 'object', required: ['predictions', 'request_id', 'latency_ms'],
    properties: {
      predictions: {
        type: 'array',
        items: { type: 'object', required: ['ctr', 'model', 'model_version'], properties: { ctr: { type: 'number', minimum: 0, maximum: 1 }, model: { type: 'string' }, model_version: { type: 'string' } } },
      },
      request_id: { type: 'string' }, latency_ms: { type: 'number', minimum: 0 },
    },
  };

  const predictExamples: Record<string, Example> = {};
  for (const m of models) predictExamples[m.name] = { summary: `a request for ${m.name}`, value: exampleRequest(m), 'x-status': 200 };
  const routed = { ...exampleRequest(first) };
  delete routed.model;
  predictExamples.ab_routed = { summary: 'no model named: the A/B router picks one, sticky per user', value: routed, 'x-status': 200 };
  predictExamples.unknown_model = { summary: 'a model that is not loaded', value: { ...exampleRequest(first), model: 'no_such_model' }, 'x-status': 404 };
  const missing = { ...exampleRequest(first) };
  const requiredField = ((predictRequestSchema(first).required as string[]) ?? [])[0];
  if (requiredField !== undefined) {
    delete missing[requiredField];
    predictExamples.missing_field = { summary: `without the required field ${requiredField}`, value: missing, 'x-status': 400, 'x-invalid': true };
  }
  const ranged = outOfRange(first);
  if (ranged) predictExamples.out_of_range = { summary: `${ranged.field} outside its range`, value: ranged.value, 'x-status': 400, 'x-invalid': true };

  const predictErrors = {
    '400': errorResponse('a field is missing, of the wrong type or out of range; `field` names it and the message states what is allowed', one('out of range', errorExample('invalid_request', "field 'context.hour' must be a number in [0, 23]", 'context.hour'))),
    '404': errorResponse('the named model is not loaded', one('unknown model', errorExample('model_not_found', "field 'model': no model named \"no_such_model\" is loaded", 'model'))),
    '413': errorResponse(`the body exceeds MAX_BODY_BYTES (${o.maxBodyBytes} bytes here), or a batch holds more than MAX_BATCH_REQUESTS (${o.maxBatchRequests})`, one('too big', errorExample('payload_too_large', `the body exceeds ${o.maxBodyBytes} bytes (MAX_BODY_BYTES)`))),
    '415': errorResponse('a Content-Type that is neither JSON nor msgpack, with a body that is not JSON', one('unsupported', errorExample('unsupported_media_type', 'send application/json or application/msgpack'))),
    '503': errorResponse('too many rows waiting for the model (QUEUE_BOUND) or not ready; comes with Retry-After', one('shed', errorExample('overloaded', 'model xgboost has too many requests waiting'))),
    '504': errorResponse('not answered within REQUEST_DEADLINE_MS', one('late', errorExample('deadline_exceeded', 'the request deadline (1000 ms, REQUEST_DEADLINE_MS) passed while it waited for a worker'))),
    '500': errorResponse('inference failed in a worker', one('failed', errorExample('inference_failed', 'inference failed'))),
  };

  const admin = o.adminTokenSet ? { security: [{ bearer: [] }] } : {};
  const adminErrors = o.adminTokenSet
    ? { '401': errorResponse('no or wrong Authorization: Bearer <ADMIN_TOKEN>', one('no token', errorExample('unauthorized', 'this endpoint needs Authorization: Bearer <ADMIN_TOKEN>'))) }
    : {};
  const modelParam = (examples: Record<string, Example>) => ({
    name: 'model_name', in: 'path', required: true, schema: { type: 'string', enum: models.map((m) => m.name) }, examples,
  });
  const modelExamples = (status: number): Record<string, Example> => ({
    ...Object.fromEntries(models.map((m) => [m.name, { summary: m.name, value: m.name, 'x-status': status }])),
    unknown: { summary: 'a model that is not loaded', value: 'no_such_model', 'x-status': 404, 'x-invalid': true },
  });
  const baselineExample = { mean_prediction: 0.025, std_prediction: 0.015, mean_latency_ms: 5, std_latency_ms: 2 };
  const baselineOut = {
    model_name: first.name,
    baseline: { ...baselineExample, source: 'manual', set_at: '2026-01-01T00:00:00.000Z', model_version: first.version },
  };
  const text = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: 'string' } } } });

  const paths: Record<string, unknown> = {
    [DOC_PATHS.root]: { get: { tags: ['docs'], summary: 'What this server is, with links to the docs, dashboard and health', responses: { '200': text('text/html', 'an HTML page') } } },
    [DOC_PATHS.docs]: { get: { tags: ['docs'], summary: 'This document, readable (no CDN: the page renders /openapi.json itself)', responses: { '200': text('text/html', 'an HTML page') } } },
    [DOC_PATHS.openapi]: { get: { tags: ['docs'], summary: 'This document (OpenAPI 3.1)', responses: { '200': { description: 'the document', content: json({ type: 'object', required: ['openapi', 'paths'] }) } } } },
    '/predict_ctr': {
      post: {
        tags: ['predictions'], summary: 'Predict the click-through rate of one ad impression',
        description: 'JSON (Content-Type application/json, or none, or text/plain or a form type when the body is JSON) or msgpack (application/msgpack, application/x-msgpack). ' +
          'Answers msgpack when Accept names msgpack. Send X-Request-Id to have it echoed back.',
        requestBody: { required: true, content: { ...json(ref('PredictRequest'), predictExamples), 'application/msgpack': { schema: ref('PredictRequest') } } },
        responses: { '200': { description: 'the prediction', content: json(ref('PredictResponse'), one('ok', { ctr: 0.0213, model: first.name, model_version: first.version, request_id: 'k2x9-1', latency_ms: 0.41 })) }, ...predictErrors },
      },
    },
    '/predict_ctr/batch': {
      post: {
        tags: ['predictions'], summary: `Score up to ${o.maxBatchRequests} impressions in one call (answers in request order)`,
        requestBody: {
          required: true,
          content: json(ref('BatchRequest'), {
            page: { summary: 'one request per model', value: { requests: models.map((m) => exampleRequest(m)) }, 'x-status': 200 } as Example,
            empty: { summary: 'no requests', value: { requests: [] }, 'x-status': 400, 'x-invalid': true } as Example,
          }),
        },
        responses: {
          '200': { description: 'one prediction per request, in order', content: json(ref('BatchResponse'), one('ok', { predictions: models.map((m) => ({ ctr: 0.02, model: m.name, model_version: m.version })), request_id: 'k2x9-2', latency_ms: 0.8 })) },
          ...predictErrors,
        },
      },
    },
    '/feedback': {
      post: {
        tags: ['predictions'], summary: 'Click labels for earlier predictions: calibration, log loss and AUC per model, version and A/B variant',
        description: 'One item, or {"feedback": [items]} (at most MAX_BATCH_REQUESTS). Unknown, duplicate and expired ids are counted in the answer, not errors. 404 when labels are off (LABEL_CAPACITY=0).',
        requestBody: {
          required: true,
          content: json({ anyOf: [ref('FeedbackItem'), { type: 'object', properties: { feedback: { type: 'array', minItems: 1, items: ref('FeedbackItem') } }, required: ['feedback'] }] }, {
            by_id: { summary: 'the label for a prediction id', value: { request_id: 'k2x9-1', clicked: true }, 'x-status': 200 } as Example,
            by_prediction: { summary: 'for callers that keep the prediction, not our id', value: { model: first.name, model_version: first.version, ctr: 0.021, clicked: false }, 'x-status': 200 } as Example,
            batch: { summary: 'several labels', value: { feedback: [{ request_id: 'k2x9-1', clicked: false }, { request_id: 'k2x9-2.0', clicked: true }] }, 'x-status': 200 } as Example,
            not_boolean: { summary: 'clicked must be true or false', value: { request_id: 'k2x9-1', clicked: 'yes' }, 'x-status': 400, 'x-invalid': true } as Example,
          }),
        },
        responses: {
          '200': { description: 'what became of each item', content: json(ref('FeedbackResult'), one('counted', { received: 1, accepted: 0, unknown: 1, duplicate: 0, expired: 0, unattributed: 0 })) },
          '400': errorResponse('an item is malformed (nothing of the batch is counted)', one('bad', errorExample('invalid_request', "field 'clicked' must be true or false", 'clicked'))),
        },
      },
    },
    '/models': { get: { tags: ['models'], summary: 'The loaded models: version, input signature, A/B weight, status', responses: { '200': { description: 'the models', content: json(ref('Models')) } } } },
    '/models/{model_name}/reload': {
      post: {
        tags: ['models'], summary: 'Hot reload: load the model\'s folder again and switch every worker to it while traffic flows', ...admin,
        description: 'Reads MODELS_DIR/<folder>/manifest.json and the ONNX file again, checks them (manifest, ONNX contract, same input width), ' +
          'has every worker open and warm up the new session beside the old one, then switches: responses, /monitoring/stats, /metrics and a new MLflow run carry the new model_version. ' +
          'Batches already encoded finish on the old session; no request fails because of it. A broken version answers 422 and the old one keeps serving; GET /models shows `reload` with the reason. ' +
          'With MODELS_WATCH on (default) a change in the folder does the same by itself. Send Content-Type application/json (no body needed).',
        parameters: [modelParam(modelExamples(200))],
        responses: {
          '200': { description: 'the new files serve', content: json(ref('Reload'), one('switched', { model: first.name, reload: { status: 'ok', reason: `version 2 serves (was ${first.version})`, at: '2026-01-01T00:00:00.000Z', version: '2', duration_ms: 48.2, trigger: 'api' } })) },
          '404': errorResponse('no such model (or it failed to load at start: restart to add it)', one('unknown', errorExample('model_not_found', 'no model named "no_such_model" is loaded', 'name'))),
          '422': errorResponse('the new files cannot serve; the old version keeps serving', one('broken', errorExample('reload_failed', `model ${first.name}: the reload failed and version ${first.version} keeps serving: model file model.onnx is not a readable ONNX model`))),
          '415': errorResponse('no JSON or msgpack Content-Type', one('no type', errorExample('unsupported_media_type', 'admin endpoints need Content-Type: application/json or application/msgpack'))),
          ...adminErrors,
        },
      },
    },
    '/ab': {
      get: { tags: ['models'], summary: 'The A/B split: each model\'s share of requests that name no model, and the weights as configured', responses: { '200': { description: 'the split', content: json(ref('AbWeights')) } } },
      put: {
        tags: ['models'], summary: 'Change the A/B weights at run time (sticky routing by the routing key follows the new split)', ...admin,
        description: 'Weights are relative (they need not add up to 1); a model left out gets 0 (reachable only by naming it). Each weight must be a finite number ≥ 0 for a loaded model, and the serving models\' weights must add up to more than 0. ' +
          'GET /models (ab_weight), GET /ab and the stream\'s hello settings show the new split. Kept across restarts only with AB_WEIGHTS_PERSIST=on (DATA_DIR/ab_weights.json).',
        requestBody: {
          required: true,
          content: json(ref('AbWeightsInput'), {
            split: { summary: 'a split over the loaded models', value: { weights: Object.fromEntries(models.map((m, i) => [m.name, i === 0 ? 0.7 : 0.3 / Math.max(1, models.length - 1)])) }, 'x-status': 200 } as Example,
            negative: { summary: 'a negative weight', value: { weights: { [first.name]: -1 } }, 'x-status': 400, 'x-invalid': true } as Example,
            unknown_model: { summary: 'a model that is not loaded', value: { weights: { no_such_model: 1 } }, 'x-status': 400 } as Example,
          }),
        },
        responses: {
          '200': { description: 'the split now in force', content: json(ref('AbWeights'), one('set', { weights: Object.fromEntries(models.map((m, i) => [m.name, i === 0 ? 0.7 : 0.3 / Math.max(1, models.length - 1)])), configured: { [first.name]: 0.7 }, routing_key: 'user_id' })) },
          '400': errorResponse('`weights` missing or not an object, a weight not a finite number ≥ 0, an unknown model, or all weights 0; `field` names it', one('bad', errorExample('invalid_request', `weights.${first.name}: expected a finite number ≥ 0, got -1`, `weights.${first.name}`))),
          '415': errorResponse('no JSON or msgpack Content-Type', one('no type', errorExample('unsupported_media_type', 'admin endpoints need Content-Type: application/json or application/msgpack'))),
          ...adminErrors,
        },
      },
    },
    '/health': { get: { tags: ['health'], summary: 'Liveness', responses: { '200': { description: 'the process is up', content: json(ref('Liveness'), one('up', { status: 'ok', uptime_s: 12 })) } } } },
    '/ready': {
      get: {
        tags: ['health'], summary: 'Readiness: 200 once models and workers are up',
        responses: {
          '200': { description: 'ready', content: json(ref('Ready'), one('ready', { ready: true, models: models.length, workers: 2 })) },
          '503': errorResponse('still loading, or no worker alive', one('loading', errorExample('not_ready', 'models and workers are still loading'))),
        },
      },
    },
    '/monitoring/stats': { get: { tags: ['monitoring'], summary: `Per model: counts, error rate, latency percentiles by stage, predictions; lifetime and windows ${o.windows.join(', ')}`, responses: { '200': { description: 'the latest snapshot', content: json(ref('Stats')) } } } },
    '/monitoring/health': { get: { tags: ['monitoring'], summary: 'Health: per-model status with the checks behind it, and the active alerts', responses: { '200': { description: 'the latest snapshot', content: json(ref('Health')) } } } },
    '/monitoring/drift/{model_name}': {
      get: {
        tags: ['monitoring'], summary: 'Drift of a model against its baseline (mean shift, variance change, latency anomaly, PSI)',
        parameters: [modelParam(modelExamples(200))],
        responses: { '200': { description: 'the drift report', content: json(ref('Drift')) }, '404': errorResponse('no such model', one('unknown', errorExample('model_not_found', 'no model named "no_such_model" is loaded', 'model_name'))) },
      },
    },
    '/monitoring/baseline': {
      post: {
        tags: ['monitoring'], summary: 'Set a model\'s drift baseline by hand', ...admin,
        requestBody: {
          required: true,
          content: json(ref('BaselineInput'), {
            manual: { summary: 'a baseline', value: { model_name: first.name, ...baselineExample }, 'x-status': 200 } as Example,
            unknown_model: { summary: 'a model that is not loaded', value: { model_name: 'no_such_model', ...baselineExample }, 'x-status': 404 } as Example,
            zero_std: { summary: 'a standard deviation that is not > 0', value: { model_name: first.name, ...baselineExample, std_prediction: 0 }, 'x-status': 400, 'x-invalid': true } as Example,
          }),
        },
        responses: {
          '200': { description: 'the baseline in force', content: json(ref('BaselineSet'), one('set', baselineOut)) },
          '400': errorResponse('a field is not a finite number, a std is not > 0 or a mean is < 0', one('bad', errorExample('invalid_request', 'std_prediction must be > 0', 'std_prediction'))),
          '404': errorResponse('no such model', one('unknown', errorExample('model_not_found', 'unknown model "no_such_model"', 'model_name'))),
          ...adminErrors,
        },
      },
    },
    '/monitoring/baseline/{model_name}/capture': {
      post: {
        tags: ['monitoring'], summary: 'Capture a model\'s baseline from a window of live traffic (needs DRIFT_MIN_SAMPLES predictions in it)', ...admin,
        description: 'No body; like every admin POST it needs Content-Type: application/json (or msgpack), which a cross-site page cannot send without a CORS preflight.',
        parameters: [
          modelParam({ unknown: { summary: 'a model that is not loaded', value: 'no_such_model', 'x-status': 404, 'x-invalid': true } }),
          { name: 'window', in: 'query', required: false, schema: { type: 'string', enum: [...o.windows, 'lifetime'] }, description: 'default: the drift window' },
        ],
        responses: {
          '200': { description: 'the captured baseline', content: json(ref('BaselineSet'), one('captured', { ...baselineOut, baseline: { ...baselineOut.baseline, source: 'captured', window: o.windows[0], prediction_count: 5000, latency_count: 5000 } })) },
          '400': errorResponse('unknown window, or too few predictions in it', one('too few', errorExample('invalid_request', `window ${o.windows[0]} holds 12 predictions; a baseline needs at least 500`, 'window'))),
          '404': errorResponse('no such model', one('unknown', errorExample('model_not_found', 'unknown model "no_such_model"', 'model_name'))),
          ...adminErrors,
        },
      },
    },
    '/metrics': { get: { tags: ['monitoring'], summary: 'Prometheus text exposition (deploy/prometheus.yml scrapes it)', responses: { '200': text('text/plain', 'Prometheus text format 0.0.4') } } },
    '/monitoring/stream': {
      get: o.stream
        ? {
          tags: ['monitoring'], summary: 'WebSocket: live snapshots and alert events (query: interval (ms), format=json|msgpack, models=a,b)',
          description: 'Connect with a WebSocket client (ws://host:port/monitoring/stream). A plain GET answers 426.',
          responses: {
            '101': { description: 'switched to WebSocket' },
            '426': errorResponse('a plain GET, not a WebSocket upgrade', one('plain GET', errorExample('upgrade_required', 'GET /monitoring/stream is a WebSocket; connect with a WebSocket client'))),
          },
        }
        : {
          tags: ['monitoring'], summary: `Not served by ${o.frontEnd} (no WebSocket server); poll /monitoring/stats instead`,
          responses: { '404': errorResponse('no WebSocket server on this front end', one('none', errorExample('not_found', 'WS /monitoring/stream needs a WebSocket server'))) },
        },
    },
    '/dashboard': {
      get: o.stream
        ? { tags: ['monitoring'], summary: 'A live dashboard over the stream', responses: { '200': text('text/html', 'an HTML page') } }
        : { tags: ['monitoring'], summary: `Not served by ${o.frontEnd} (the dashboard runs over the WebSocket stream)`, responses: { '404': errorResponse('no WebSocket server on this front end', one('none', errorExample('not_found', 'the dashboard runs over WS /monitoring/stream'))) } },
    },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'ctr-engine',
      version: o.version,
      description: 'Real-time click-through-rate prediction with monitoring in the hot path. ' +
        `Models loaded: ${models.map((m) => `${m.name}@${m.version}`).join(', ')}. Front end: ${o.frontEnd}. ` +
        'Every error is {"error": {"code", "message"[, "field"]}}.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [
      { name: 'predictions' }, { name: 'models' }, { name: 'health' }, { name: 'monitoring' }, { name: 'docs' },
    ],
    paths,
    components: {
      schemas,
      ...(o.adminTokenSet ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } } } : {}),
    },
  };
}

/** A request for `m` with a numeric field just past its maximum, when the schema has one. */
function outOfRange(m: Parameters<typeof predictRequestSchema>[0]): { field: string; value: Record<string, unknown> } | null {
  const value = exampleRequest(m);
  const walk = (schema: JsonSchema, target: Record<string, unknown>, prefix: string): string | null => {
    for (const [key, s] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
      if (s.type === 'object' && typeof target[key] === 'object' && target[key] !== null) {
        const hit = walk(s, target[key] as Record<string, unknown>, `${prefix}${key}.`);
        if (hit) return hit;
      } else if (typeof s.maximum === 'number') {
        target[key] = s.maximum + 1;
        return prefix + key;
      }
    }
    return null;
  };
  const field = walk(predictRequestSchema(m), value, '');
  return field ? { field, value } : null;
}
