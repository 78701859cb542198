// Pure pieces of the MLflow sink: keys, value formatting, meta.yaml, chunking, retry policy, auth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isValidKey, keyProblem, posixNormpath, sanitizeKey, toMetricKey } from '../engine/mlflow/keys.js';
import { parsePythonFloat, pythonFloatRepr, restDouble } from '../engine/mlflow/values.js';
import { emitFlatYaml, parseFlatYaml, yamlScalar } from '../engine/mlflow/yaml.js';
import { chunkBatch, splitChunk } from '../engine/mlflow/chunk.js';
import { backoffMs, DEFAULT_RETRY_POLICY, isTransientStatus, parseRetryAfterMs, retryPolicyFromEnv } from '../engine/mlflow/retry_policy.js';
import { authHeaderFromEnv } from '../engine/mlflow/auth.js';
import { BoundedQueue } from '../engine/mlflow/pending_queue.js';
import { runName } from '../engine/mlflow/run_identity.js';

test('posixNormpath matches Python posixpath.normpath', () => {
  const cases: Array<[string, string]> = [
    ['', '.'], ['a/b', 'a/b'], ['a//b', 'a/b'], ['a/./b', 'a/b'], ['a/../b', 'b'], ['../a', '../a'],
    ['/a/../..', '/'], ['//a', '//a'], ['///a', '/a'], ['a/', 'a'], ['.', '.'], ['a/..', '.'],
  ];
  for (const [p, want] of cases) assert.equal(posixNormpath(p), want, p);
});

test('keyProblem follows MLflow validation (chars, normpath, leading ..)', () => {
  for (const ok of ['latency_ms/end_to_end/p99', 'a b', 'x:y', 'a-b.c', 'a/..b']) assert.equal(keyProblem(ok), null, ok);
  for (const bad of ['a//b', '/a', 'a/', './a', '../a', 'a/../b', 'a?b', 'a#b', '.', '..x', '...']) assert.notEqual(keyProblem(bad), null, bad);
  assert.match(keyProblem('a?b') ?? '', /^Invalid metric name: 'a\?b'\. Names may only contain/);
});

test('sanitizeKey always yields a key MLflow accepts, and is idempotent', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (raw) => {
    const k = sanitizeKey(raw);
    assert.ok(isValidKey(k), `${JSON.stringify(raw)} -> ${JSON.stringify(k)}`);
    assert.ok(!k.includes(':'), 'no colon: older servers reject it');
    assert.equal(sanitizeKey(k), k);
  }), { numRuns: 2000 });
  assert.equal(sanitizeKey('latency ms/p99'), 'latency ms/p99');
  assert.equal(sanitizeKey('a:b/../c'), 'a_b/__/c');
  assert.equal(sanitizeKey('x'.repeat(300)).length, 250);
});

test('toMetricKey joins levels and keeps a part from adding one', () => {
  assert.equal(toMetricKey(['latency_ms', 'end_to_end', 'p99']), 'latency_ms/end_to_end/p99');
  assert.equal(toMetricKey(['requests', 'window_1m']), 'requests/window_1m');
  assert.equal(toMetricKey(['drift', 'a/b', 'z']), 'drift/a_b/z');
  assert.equal(toMetricKey(['p', 99.9]), 'p/99.9');
});

test('pythonFloatRepr prints like Python repr(float)', () => {
  const cases: Array<[number, string]> = [
    [0.1, '0.1'], [1e-5, '1e-05'], [0.0001, '0.0001'], [NaN, 'nan'], [Infinity, 'inf'], [-Infinity, '-inf'],
    [3, '3.0'], [0, '0.0'], [-0, '-0.0'], [1e16, '1e+16'], [1e15, '1000000000000000.0'], [123456789012345680, '1.2345678901234568e+17'],
    [1.5e300, '1.5e+300'], [5e-324, '5e-324'], [-2.5, '-2.5'], [0.30000000000000004, '0.30000000000000004'],
    [1234.5, '1234.5'], [1e-4, '0.0001'], [9.999e-5, '9.999e-05'], [1e21, '1e+21'], [2 ** 53, '9007199254740992.0'],
  ];
  for (const [x, want] of cases) assert.equal(pythonFloatRepr(x), want, String(x));
});

test('pythonFloatRepr round-trips through the reader for every double', () => {
  fc.assert(fc.property(fc.double(), (x) => {
    const back = parsePythonFloat(pythonFloatRepr(x));
    assert.ok(Object.is(back, x) || (Number.isNaN(x) && Number.isNaN(back)));
  }), { numRuns: 5000 });
});

test('restDouble sends non-finite values as proto3 JSON strings', () => {
  assert.deepEqual([NaN, Infinity, -Infinity, 1.5].map(restDouble), ['NaN', 'Infinity', '-Infinity', 1.5]);
  assert.equal(JSON.stringify({ v: restDouble(NaN) }), '{"v":"NaN"}');
});

test('yaml scalars are quoted exactly where PyYAML quotes them', () => {
  const cases: Array<[string | number | null, string]> = [
    ['0', "'0'"], ['123456789012345678', "'123456789012345678'"], ['', "''"], ['active', 'active'], ['yes', "'yes'"],
    ['null', "'null'"], ['1.5', "'1.5'"], ['1e5', '1e5'], ['2024-01-02', "'2024-01-02'"], ['a: b', "'a: b'"],
    ['a:b', 'a:b'], ['-x', '-x'], ['- x', "'- x'"], ["it's", "it's"], ['#x', "'#x'"], ['x #y', "'x #y'"],
    ['file:///tmp/mlruns/0', 'file:///tmp/mlruns/0'], [' lead', "' lead'"], ['@x', "'@x'"], [null, 'null'], [42, '42'],
    ['xgboost-v1@host-20250102T030405Z', 'xgboost-v1@host-20250102T030405Z'], ['~', "'~'"], ['0x1F', "'0x1F'"],
  ];
  for (const [v, want] of cases) assert.equal(yamlScalar(v), want, String(v));
});

test('emitFlatYaml sorts keys, wraps long plain scalars at 80 columns, and parses back', () => {
  const data = { name: 'ctr', experiment_id: '0', tags: [] as [], end_time: null, start_time: 1700000000000 };
  assert.equal(emitFlatYaml(data), "end_time: null\nexperiment_id: '0'\nname: ctr\nstart_time: 1700000000000\ntags: []\n");
  const long = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
  const text = emitFlatYaml({ name: long });
  assert.ok(text.split('\n').every((l) => l.length <= 90));
  assert.match(text, /\n {2}word/);
  assert.deepEqual(parseFlatYaml(text), { name: long });
  fc.assert(fc.property(fc.string({ maxLength: 200 }).filter((s) => !/[\u0000-\u001f\u007f\n\r\u0085\u2028\u2029]/.test(s) && !/ {2}/.test(s)), (s) => {
    assert.deepEqual(parseFlatYaml(emitFlatYaml({ k: s })), { k: s });
  }), { numRuns: 1000 });
});

test('chunkBatch respects every MLflow batch limit and keeps order', () => {
  const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: `m${i}`, value: i, timestamp: 1, step: 0 }));
  const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
  const tags = Array.from({ length: 130 }, (_, i) => ({ key: `t${i}`, value: 'v' }));
  const chunks = chunkBatch(metrics, params, tags);
  for (const c of chunks) {
    assert.ok(c.metrics.length <= 1000 && c.params.length <= 100 && c.tags.length <= 100);
    assert.ok(c.metrics.length + c.params.length + c.tags.length <= 1000);
  }
  assert.deepEqual(chunks.flatMap((c) => c.metrics), metrics);
  assert.deepEqual(chunks.flatMap((c) => c.params), params);
  assert.deepEqual(chunks.flatMap((c) => c.tags), tags);
  const big = Array.from({ length: 900 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(5000) }));
  for (const c of chunkBatch([], [], big)) assert.ok(JSON.stringify(c).length < 1_000_000);
  const [a, b] = splitChunk(chunks[0]);
  assert.equal(a.metrics.length + a.params.length + a.tags.length + b.metrics.length + b.params.length + b.tags.length, 1000);
});

test('retry policy: MLflow transient statuses, urllib3 backoff with jitter, Retry-After', () => {
  for (const s of [408, 429, 500, 502, 503, 504]) assert.ok(isTransientStatus(s));
  for (const s of [400, 401, 403, 404, 409, 501]) assert.ok(!isTransientStatus(s));
  const p = { ...DEFAULT_RETRY_POLICY, backoffFactorMs: 2000, backoffJitterMs: 1000 };
  assert.equal(backoffMs(p, 1, () => 0), 2000);
  assert.equal(backoffMs(p, 3, () => 0.5), 8500);
  assert.equal(backoffMs(p, 20, () => 0), 120_000);
  assert.equal(parseRetryAfterMs('3', 0), 3000);
  assert.equal(parseRetryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfterMs('soon', 0), undefined);
  const env = retryPolicyFromEnv({ MLFLOW_HTTP_REQUEST_MAX_RETRIES: '7', MLFLOW_HTTP_REQUEST_TIMEOUT: '120' });
  assert.equal(env.maxRetries, 7);
  assert.equal(env.timeoutMs, 120_000);
});

test('auth header as MLflow clients send it', () => {
  assert.equal(authHeaderFromEnv({ MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p', MLFLOW_TRACKING_TOKEN: 't' }),
    'Basic ' + Buffer.from('u:p').toString('base64'));
  assert.equal(authHeaderFromEnv({ MLFLOW_TRACKING_TOKEN: 't' }), 'Bearer t');
  assert.equal(authHeaderFromEnv({ MLFLOW_TRACKING_USERNAME: 'u' }), undefined);
});

test('BoundedQueue drops the oldest and counts it', () => {
  const q = new BoundedQueue<number>(3);
  for (let i = 0; i < 200; i++) q.push(i);
  assert.equal(q.length, 3);
  assert.equal(q.dropped, 197);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [197, 198, 199, undefined]);
});

test('run name shows model, version, host and start time without spaces', () => {
  assert.equal(runName({ model: 'xgboost', version: '1', host: 'web 3', startTime: Date.UTC(2025, 0, 2, 3, 4, 5) }),
    'xgboost-v1@web_3-20250102T030405Z');
});

test('flattenMetrics turns nested figures into hierarchical keys', async () => {
  const { flattenMetrics, HEALTH_VALUE } = await import('../engine/mlflow/metric_keys.js');
  assert.deepEqual(flattenMetrics({ latency_ms: { end_to_end: { p99: 4.2 } }, requests: { window_1m: 120 }, drift: { detected: true },
    last_updated: '2025-01-01', health: HEALTH_VALUE.degraded }),
  { 'latency_ms/end_to_end/p99': 4.2, 'requests/window_1m': 120, 'drift/detected': 1, health: 1 });
});
