// Hot reload against the real server (uWS, real ORT, two workers): client
// loops keep predicting while the logistic model's folder gets a new version
// (POST /models/logistic/reload), then another ONNX (the xgboost graph under
// the logistic name, picked up by the folder watcher), then broken files.
// Every request must succeed, each loop must see versions only move forward,
// and stats, /models and the MLflow file store must name the new versions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { loadConfig } from '../engine/config.js';
import { startServer } from '../bin/start_server.js';

const MODELS = fileURLToPath(new URL('../../engine/models', import.meta.url));
const ROW = { user_id: 'user_7', ad_id: 'ad_12', device: 'mobile', placement: 'feed', model: 'logistic' };
const ADMIN = { 'content-type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setVersion(dir: string, version: string, fromFolder = 'logistic'): void {
  const m = JSON.parse(readFileSync(join(MODELS, fromFolder, 'manifest.json'), 'utf8'));
  m.name = 'logistic';
  m.version = version;
  // The ONNX first, then the manifest that names it: the watcher's quiet period covers both writes.
  cpSync(join(MODELS, fromFolder, 'model.onnx'), join(dir, 'logistic', 'model.onnx'));
  writeFileSync(join(dir, 'logistic', 'manifest.json'), JSON.stringify(m, null, 2));
}

/** Client loops posting predictions until stopped: every status and, per loop, the versions in order. */
class Traffic {
  readonly statuses = new Map<number, number>();
  readonly failures: string[] = [];
  readonly versionsByLoop: string[][] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  constructor(private readonly client: TestClient, loops: number) {
    for (let i = 0; i < loops; i++) {
      const seen: string[] = [];
      this.versionsByLoop.push(seen);
      this.loops.push(this.run(seen));
    }
  }
  private async run(seen: string[]): Promise<void> {
    while (this.running) {
      const r = await this.client.postJson('/predict_ctr', ROW);
      this.statuses.set(r.status, (this.statuses.get(r.status) ?? 0) + 1);
      if (r.status !== 200) { this.failures.push(JSON.stringify(r.body)); continue; }
      if (seen[seen.length - 1] !== r.body.model_version) seen.push(r.body.model_version);
    }
  }
  get total(): number { return [...this.statuses.values()].reduce((a, b) => a + b, 0); }
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** model → versions of its runs in the MLflow file store. */
function mlflowRuns(mlruns: string): Map<string, { version: string; status: string }[]> {
  const out = new Map<string, { version: string; status: string }[]>();
  for (const exp of readdirSync(mlruns)) {
    const expDir = join(mlruns, exp);
    if (!existsSync(join(expDir, 'meta.yaml'))) continue;
    for (const run of readdirSync(expDir)) {
      const tags = join(expDir, run, 'tags');
      if (!existsSync(join(tags, 'model'))) continue;
      const model = readFileSync(join(tags, 'model'), 'utf8');
      const version = readFileSync(join(tags, 'model_version'), 'utf8');
      const status = /status: (\S+)/.exec(readFileSync(join(expDir, run, 'meta.yaml'), 'utf8'))?.[1] ?? '?';
      out.set(model, [...(out.get(model) ?? []), { version, status }]);
    }
  }
  return out;
}

describe('hot reload under load', () => {
  let dir: string;
  let scratch: string;
  let server: ServerProcess;
  let client: TestClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ctr-reload-models-'));
    scratch = mkdtempSync(join(tmpdir(), 'ctr-reload-data-'));
    cpSync(MODELS, dir, { recursive: true });
    server = await startServerProcess({
      MODELS_DIR: dir, MODELS_WATCH: 'on', MODELS_WATCH_DEBOUNCE_MS: '150', DATA_DIR: scratch,
      MLFLOW_TRACKING_URI: `file:${join(scratch, 'mlruns')}`, MLFLOW_FLUSH_INTERVAL_MS: '200', MONITOR_TICK_MS: '100',
    });
    client = new TestClient(server.url, 8);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('switches to a new version by POST and by the watcher with zero failed requests; a broken version leaves the old one serving', async () => {
    const traffic = new Traffic(client, 6);
    await sleep(300);

    // 1. POST /models/logistic/reload after the folder gained version 2 (same ONNX).
    setVersion(dir, '2');
    const r = await client.request('POST', '/models/logistic/reload', { headers: ADMIN });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.reload.status, 'ok');
    assert.equal(r.body.reload.version, '2');
    const postMs = r.body.reload.duration_ms as number;
    await sleep(300);
    // The watcher also saw the write and may reload it again (same version): wait until it has settled.
    for (let i = 0; i < 50 && (await client.get('/models')).body.models.find((m: any) => m.name === 'logistic').reload.status === 'loading'; i++) await sleep(50);

    // 2. The watcher: a different ONNX (the xgboost graph and encoding under the logistic name), version 3.
    setVersion(dir, '3', 'xgboost');
    let watched: any;
    for (let i = 0; i < 100; i++) {
      watched = (await client.get('/models')).body.models.find((m: any) => m.name === 'logistic');
      if (watched.version === '3' && watched.reload?.status === 'ok') break;
      await sleep(50);
    }
    assert.equal(watched.version, '3', JSON.stringify(watched));
    assert.equal(watched.reload.trigger, 'watch');
    await sleep(300);

    // 2b. The folder replaced whole (a deploy that renames a fresh folder into place): version 4, then 4 again is a no-op switch.
    cpSync(join(dir, 'logistic'), join(dir, 'logistic.next'), { recursive: true });
    const next = JSON.parse(readFileSync(join(dir, 'logistic.next', 'manifest.json'), 'utf8'));
    next.version = '4';
    writeFileSync(join(dir, 'logistic.next', 'manifest.json'), JSON.stringify(next));
    renameSync(join(dir, 'logistic'), join(dir, 'logistic.old'));
    renameSync(join(dir, 'logistic.next'), join(dir, 'logistic'));
    for (let i = 0; i < 100; i++) {
      watched = (await client.get('/models')).body.models.find((m: any) => m.name === 'logistic');
      if (watched.version === '4' && watched.reload?.status === 'ok') break;
      await sleep(50);
    }
    assert.equal(watched.version, '4', JSON.stringify(watched));
    rmSync(join(dir, 'logistic.old'), { recursive: true, force: true });
    // Later edits inside the new folder are still seen.
    next.version = '5';
    writeFileSync(join(dir, 'logistic', 'manifest.json'), JSON.stringify(next));
    for (let i = 0; i < 100; i++) {
      watched = (await client.get('/models')).body.models.find((m: any) => m.name === 'logistic');
      if (watched.version === '5' && watched.reload?.status === 'ok') break;
      await sleep(50);
    }
    assert.equal(watched.version, '5', JSON.stringify(watched));
    await sleep(200);

    // 3. Broken versions: the old one keeps serving and /models says why.
    const good = readFileSync(join(dir, 'logistic', 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'logistic', 'manifest.json'), '{"name": "logistic", "version": ');
    const bad = await client.request('POST', '/models/logistic/reload', { headers: ADMIN });
    assert.equal(bad.status, 422, JSON.stringify(bad.body));
    assert.equal(bad.body.error.code, 'reload_failed');
    assert.match(bad.body.error.message, /version 5 keeps serving/);
    let listed = (await client.get('/models')).body.models.find((m: any) => m.name === 'logistic');
    assert.equal(listed.version, '5');
    assert.equal(listed.reload.status, 'failed');
    assert.match(listed.reload.reason, /manifest/);
    // A width the batch slots were not laid out for.
    const wide = JSON.parse(good);
    wide.version = '4';
    wide.input.shape = [-1, 142];
    writeFileSync(join(dir, 'logistic', 'manifest.json'), JSON.stringify(wide));
    const badWidth = await client.request('POST', '/models/logistic/reload', { headers: ADMIN });
    assert.equal(badWidth.status, 422);
    // An ONNX file that is not one.
    writeFileSync(join(dir, 'logistic', 'manifest.json'), good.replace('"version":"5"', '"version":"6"'));
    writeFileSync(join(dir, 'logistic', 'model.onnx'), 'not an onnx model');
    const badOnnx = await client.request('POST', '/models/logistic/reload', { headers: ADMIN });
    assert.equal(badOnnx.status, 422);
    assert.match(badOnnx.body.error.message, /ONNX/);
    listed = (await client.get('/models')).body.models.find((m: any) => m.name === 'logistic');
    assert.equal(listed.version, '5');
    assert.match(listed.reload.reason, /model\.onnx/);
    await sleep(400); // the watcher's own attempts at the broken files fail the same way
    await traffic.stop();

    assert.deepEqual([...traffic.statuses.keys()], [200], `failed requests: ${traffic.failures.slice(0, 3).join('; ')}`);
    assert.ok(traffic.total > 100, `only ${traffic.total} requests`);
    for (const seen of traffic.versionsByLoop) {
      assert.deepEqual(seen, ['1', '2', '3', '4', '5'], 'each loop sees the versions in order, never going back');
    }
    const stats = await client.freshStats();
    assert.equal(stats.models.logistic.model_version, '5');
    const metrics = (await client.get('/metrics')).body as string;
    assert.match(metrics, /^ctr_model_info\{model="logistic",version="5"\} 1$/m);
    console.log(`reload with traffic on (6 client loops, 2 workers): POST ${postMs} ms, watcher ${watched.reload.duration_ms} ms, ${traffic.total} requests, all 200`);

    await server.stop();
    const runs = mlflowRuns(join(scratch, 'mlruns')).get('logistic') ?? [];
    assert.deepEqual(runs.map((x) => x.version).sort(), ['1', '2', '3', '4', '5'], JSON.stringify(runs));
    assert.ok(runs.every((x) => x.status === 'FINISHED' || x.status === '3'), JSON.stringify(runs));
  });

  it('404 for a model that is not loaded', async () => {
    const s = await startServerProcess({ MODELS_WATCH: 'off' });
    const c = new TestClient(s.url, 2);
    try {
      const r = await c.request('POST', '/models/nope/reload', { headers: ADMIN });
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'model_not_found');
      const ok = await c.postJson('/predict_ctr', ROW);
      assert.equal(ok.status, 200);
    } finally {
      await c.close();
      await s.stop();
    }
  });
});

describe('a worker replaced after a reload', () => {
  it('opens the version in force, not the one the pool started with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctr-reload-crash-'));
    cpSync(MODELS, join(dir, 'models'), { recursive: true });
    const cfg = loadConfig({
      PORT: '0', WORKERS: '2', DATA_DIR: dir, MODELS_DIR: join(dir, 'models'), MODELS_WATCH: 'off', MONITOR_TICK_MS: '100',
      MLFLOW_TRACKING_URI: `file:${join(dir, 'mlruns')}`,
    }, []);
    const server = await startServer(cfg);
    await server.ready;
    const client = new TestClient(`http://127.0.0.1:${server.port}`, 8);
    try {
      const v1 = await client.postJson('/predict_ctr', ROW);
      assert.equal(v1.body.model_version, '1');
      setVersion(join(dir, 'models'), '2', 'xgboost');
      const r = await client.request('POST', '/models/logistic/reload', { headers: ADMIN });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const v2 = await client.postJson('/predict_ctr', ROW);
      assert.equal(v2.body.model_version, '2');
      assert.notEqual(v2.body.ctr, v1.body.ctr, 'another graph answers');

      // Each of the pool's first workers in turn; the next only once the replacement has attached.
      for (const id of server.pool.piscina.threads.map((t) => t.threadId)) {
        await server.pool.piscina.threads.find((t) => t.threadId === id)!.terminate();
        for (let i = 0; i < 100 && server.pool.threadsAlive === 2; i++) await sleep(20);
        for (let i = 0; i < 200 && server.pool.threadsAlive < 2; i++) await sleep(50);
        assert.equal(server.pool.threadsAlive, 2, 'a replacement worker attached');
      }
      // Both workers are replacements now: every answer comes from version 2's session.
      const replies = await Promise.all(Array.from({ length: 40 }, () => client.postJson('/predict_ctr', ROW)));
      for (const x of replies) {
        assert.equal(x.status, 200, JSON.stringify(x.body));
        assert.equal(x.body.model_version, '2');
        assert.equal(x.body.ctr, v2.body.ctr);
      }
      // Click labels for predictions after the switch are filed under version 2, those before under 1.
      const fb = await client.postJson('/feedback', { feedback: [{ request_id: v1.body.request_id, clicked: true }, ...replies.slice(0, 5).map((x) => ({ request_id: x.body.request_id, clicked: false }))] });
      assert.equal(fb.status, 200, JSON.stringify(fb.body));
      assert.equal(fb.body.accepted, 6);
      let q: any;
      for (let i = 0; i < 50; i++) {
        q = (await client.freshStats()).models.logistic.quality.lifetime.by_version;
        if ((q['2']?.labelled ?? 0) >= 5) break;
      }
      assert.equal(q['1'].labelled, 1, JSON.stringify(q));
      assert.equal(q['2'].labelled, 5, JSON.stringify(q));
    } finally {
      await client.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
