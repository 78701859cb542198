// WS /monitoring/stream and GET /dashboard on the real server (child process,
// real models, the coordinator's snapshots): hello with the loaded models and
// settings, frames that follow prediction traffic, msgpack = JSON on real
// snapshots, an alert frame when drift is induced, the stream's /metrics lines.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpack } from 'msgpackr';
import { createTrafficSampler } from '../bench/lib/traffic_sampler.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { WsClient, type WsMessage } from '../bench/lib/ws_client.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ctr-stream-'));
let server: ServerProcess;
let client: TestClient;
const json = (m: WsMessage): any => (m.binary ? unpack(m.data) : JSON.parse(m.data.toString('utf8')));
const ws = (q: string) => WsClient.connect(`ws://127.0.0.1:${server.port}/monitoring/stream?${q}`);

async function nextOf(c: WsClient, type: string, pred: (f: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = json(await c.next(Math.max(1, deadline - Date.now())));
    if (f.type === type && pred(f)) return f;
  }
}

async function drive(n: number, model: string, seed = 1): Promise<void> {
  const sampler = createTrafficSampler({ seed });
  for (let done = 0; done < n; done += 50) {
    const rs = await Promise.all(Array.from({ length: 50 }, () => client.postJson('/predict_ctr', { ...sampler.next(), model })));
    for (const r of rs) assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

before(async () => {
  server = await startServerProcess({
    DATA_DIR: dataDir, MLFLOW_TRACKING_URI: `file:${join(dataDir, 'mlruns')}`, WORKERS: '1',
    MONITOR_TICK_MS: '200', MONITOR_WINDOWS_S: '5,60', DRIFT_MIN_SAMPLES: '100',
  });
  client = new TestClient(server.url, 16);
});
after(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('real server: hello lists the loaded models and settings; frames follow the traffic; msgpack = JSON', async () => {
  const models = (await client.get('/models')).body.models as { name: string; version: string }[];
  const j = await ws('interval=200');
  const m = await ws('interval=200&format=msgpack');
  const hello = json(await j.next());
  assert.equal(hello.type, 'hello');
  assert.deepEqual(hello.models, models.map((x) => ({ name: x.name, version: x.version })));
  assert.equal(hello.stream.tick_ms, 200);
  assert.equal(typeof hello.settings.ab_weights, 'object');
  const first = await nextOf(j, 'snapshot');
  const name = models[0].name;
  const before = first.models[name].lifetime.total_requests;
  await drive(200, name);
  const later = await nextOf(j, 'snapshot', (f) => f.models[name].lifetime.total_requests >= before + 200);
  assert.ok(later.models[name].windows['5s'].requests_per_minute > 0);
  assert.ok(later.models[name].lifetime.stages.end_to_end.p99 > 0);

  // msgpack and JSON frames of the same tick carry the same data.
  const seen = new Map<number, any>();
  for (const x of j.messages) { const f = json(x); if (f.type === 'snapshot') seen.set(f.seq, f); }
  let compared = 0;
  for (let i = 0; i < 8; i++) {
    const f = await nextOf(m, 'snapshot');
    for (const x of j.messages) { const g = json(x); if (g.type === 'snapshot') seen.set(g.seq, g); }
    const twin = seen.get(f.seq) ?? await nextOf(j, 'snapshot', (g) => g.seq === f.seq, 2000).catch(() => null);
    if (!twin || twin.ticks !== f.ticks) continue;
    assert.deepEqual(JSON.parse(JSON.stringify(f)), twin);
    compared++;
  }
  assert.ok(compared >= 3, `compared ${compared} real frames`);
  await j.close();
  await m.close();
});

test('real server: induced drift raises an alert frame; /metrics has the stream lines; /dashboard is served', async () => {
  const c = await ws('interval=1000&models=logistic');
  assert.deepEqual(json(await c.next()).stream.models, ['logistic']);
  // A baseline far from what the model predicts: drift once the window has enough samples.
  const set = await client.postJson('/monitoring/baseline', { model_name: 'logistic', mean_prediction: 0.5, std_prediction: 0.05, mean_latency_ms: 50, std_latency_ms: 10 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  await drive(300, 'logistic', 7);
  const a = await nextOf(c, 'alert', (f) => f.changes.some((x: any) => x.what === 'drift'));
  const change = a.changes.find((x: any) => x.what === 'drift');
  assert.equal(change.model, 'logistic');
  assert.equal(change.from, 'none');
  assert.notEqual(change.to, 'none');
  assert.ok(a.events.some((e: any) => e.event === 'raised' && e.alert.kind === 'drift'));
  assert.ok(a.health.alerts.some((x: any) => x.model === 'logistic' && x.kind === 'drift'));

  const metrics = (await client.get('/metrics')).body as string;
  assert.match(metrics, /^ctr_stream_connections 1$/m);
  assert.match(metrics, /^ctr_stream_frames_sent_total \d+$/m);
  assert.match(metrics, /^ctr_stream_frames_skipped_total 0$/m);
  assert.match(metrics, /^# TYPE ctr_stream_slow_closed_total counter$/m);
  await c.close();

  const page = await client.get('/dashboard');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(page.body, /uplot\.iife\.min\.js/);
  const lib = await client.get('/dashboard/uplot.iife.min.js');
  assert.equal(lib.status, 200);
  assert.ok(lib.raw.length > 20_000);
});
