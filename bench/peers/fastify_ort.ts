// What a Node user would write: Fastify, JSON in and out, and the same ONNX
// model run with onnxruntime-node in the main thread, one request per run.
// Env: PORT, HOST, BENCH_MODEL (xgboost), MODELS_DIR (engine/models).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PredictFields } from '../../engine/feature_encoder.js';
import { loadModel } from './ort_model.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const modelName = process.env.BENCH_MODEL ?? 'xgboost';
const modelsDir = process.env.MODELS_DIR ?? join(root, 'engine/models');

let fastifyFactory: (opts: object) => any;
try {
  // fastify is a devDependency used by this peer only; the rest of the bench works without it.
  const name = 'fastify';
  fastifyFactory = ((await import(name)) as { default: (opts: object) => any }).default;
} catch {
  console.error('fastify peer: the "fastify" package is not installed (npm install --save-dev fastify@5)');
  process.exit(3);
}

const model = await loadModel(modelsDir, modelName);
const version = model.manifest.version;
const app = fastifyFactory({ logger: false });

function fields(body: any): PredictFields {
  if (typeof body !== 'object' || body === null) throw new RangeError('invalid body');
  for (const f of ['user_id', 'ad_id', 'device', 'placement'] as const) {
    if (typeof body[f] !== 'string') throw new RangeError(`invalid ${f}`);
  }
  return body as PredictFields;
}

function invalid(reply: any, err: unknown) {
  return reply.code(400).send({ error: { code: 'invalid_request', message: (err as Error).message } });
}

app.post('/predict_ctr', async (request: any, reply: any) => {
  const t0 = performance.now();
  let input;
  try { input = model.encode([fields(request.body)]); } catch (err) { return invalid(reply, err); }
  const ctr = await model.run(input, 1);
  return { ctr: ctr[0], model: modelName, model_version: version, request_id: randomUUID(), latency_ms: performance.now() - t0 };
});

app.post('/predict_ctr/batch', async (request: any, reply: any) => {
  const t0 = performance.now();
  const reqs = request.body?.requests;
  if (!Array.isArray(reqs) || reqs.length === 0) return invalid(reply, new RangeError('invalid requests'));
  let input;
  try { input = model.encode(reqs.map(fields)); } catch (err) { return invalid(reply, err); }
  const ctr = await model.run(input, reqs.length);
  return { predictions: Array.from(ctr, (c) => ({ ctr: c, model: modelName, model_version: version })), latency_ms: performance.now() - t0 };
});

app.get('/ready', async () => ({ ready: true }));
app.get('/health', async () => ({ status: 'ok' }));

await app.listen({ port: Number(process.env.PORT ?? 8000), host: process.env.HOST ?? '127.0.0.1' });
console.log(`fastify+ort peer (${modelName}) listening on ${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 8000}`);
