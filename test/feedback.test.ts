// POST /feedback through the real server: demo traffic with its ground-truth
// clicks is predicted, the clicks are posted back by request id, and the
// online figures in /monitoring/stats must equal an offline computation over
// the same joined rows; unknown, duplicate and late feedback is counted; a
// version that predicts twice the CTR is flagged by the calibration check.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';
import { loadLabelledImpressions, offlineQuality } from './support/labelled_traffic.js';

const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

async function statsWhen(client: TestClient, ok: (s: any) => boolean, what: string, timeoutMs = 20_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  let s: any;
  while (Date.now() < until) {
    s = await client.freshStats();
    if (ok(s)) return s;
  }
  assert.fail(`${what}: not reached; last feedback ${JSON.stringify(s?.feedback?.counters)}`);
}

interface Row { id: string; model: string; ctr: number; variant: 'ab' | 'explicit'; click: boolean }

describe('feedback joined to predictions (LABEL_WINDOW_S=600)', () => {
  let srv: ServerProcess;
  let client: TestClient;
  const rows: Row[] = [];
  const impressions = loadLabelledImpressions();

  before(async () => {
    srv = await startServerProcess({ WORKERS: '1', LABEL_WINDOW_S: '600', MONITOR_TICK_MS: '100', CALIBRATION_MIN_LABELS: '1000', LABEL_CAPACITY: '65536' });
    client = new TestClient(srv.url, 4);
    // Every fourth row names logistic, every fourth xgboost, the rest are A/B-routed.
    const req = (i: number) => ({ ...impressions[i].request, ...(i % 4 === 0 ? { model: 'logistic' } : i % 4 === 1 ? { model: 'xgboost' } : {}) });
    const variant = (i: number): Row['variant'] => (i % 4 < 2 ? 'explicit' : 'ab');
    // The first 100 one by one (their response id is the key), the rest in batches (each row has its own id).
    for (let i = 0; i < 100; i++) {
      const r = await client.postJson('/predict_ctr', req(i));
      assert.equal(r.status, 200);
      rows.push({ id: r.body.request_id, model: r.body.model, ctr: r.body.ctr, variant: variant(i), click: impressions[i].click });
    }
    for (let start = 100, k = 0; start < impressions.length; start += 300, k++) {
      const idx = Array.from({ length: Math.min(300, impressions.length - start) }, (_, j) => start + j);
      const body = { requests: idx.map(req) };
      const r = k % 2 === 0 ? await client.postJson('/predict_ctr/batch', body) : await client.postMsgpack('/predict_ctr/batch', body, { accept: 'application/msgpack' });
      assert.equal(r.status, 200);
      const ids = new Set<string>();
      r.body.predictions.forEach((p: any, j: number) => {
        assert.equal(p.request_id, `${r.body.request_id}.${j}`, 'a batch row carries the request id and its position');
        ids.add(p.request_id);
        rows.push({ id: p.request_id, model: p.model, ctr: p.ctr, variant: variant(idx[j]), click: impressions[idx[j]].click });
      });
      assert.equal(ids.size, idx.length);
    }
  });

  after(async () => {
    await client?.close();
    await srv?.stop();
  });

  test('a batch response keeps its shape, with an id per row', async () => {
    const r = await client.postJson('/predict_ctr/batch', { requests: [impressions[0].request, impressions[1].request] });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['latency_ms', 'predictions', 'request_id']);
    for (const p of r.body.predictions) assert.deepEqual(Object.keys(p).sort(), ['ctr', 'model', 'model_version', 'request_id']);
  });

  test('online calibration, log loss and Brier equal the offline figures over the joined rows; AUC within its bucket resolution', async () => {
    // Clicks back, in batches, JSON and msgpack in turn.
    let accepted = 0;
    for (let start = 0, k = 0; start < rows.length; start += 500, k++) {
      const feedback = rows.slice(start, start + 500).map((r) => ({ request_id: r.id, clicked: r.click }));
      const res = k % 2 === 0 ? await client.postJson('/feedback', { feedback }) : await client.postMsgpack('/feedback', { feedback }, { accept: 'application/msgpack' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.received, feedback.length);
      accepted += res.body.accepted;
    }
    assert.equal(accepted, rows.length);
    const s = await statsWhen(client, (x) => x.feedback.counters.joined >= rows.length && x.models.xgboost.quality.windows['1m'].labelled + x.models.logistic.quality.windows['1m'].labelled >= rows.length, 'every label joined');
    assert.equal(s.feedback.counters.recorded, rows.length + 2);
    assert.equal(s.feedback.counters.unknown, 0);

    for (const model of ['xgboost', 'logistic']) {
      const mine = rows.filter((r) => r.model === model);
      const off = offlineQuality(mine.map((r) => ({ p: r.ctr, y: r.click })));
      const q = s.models[model].quality.lifetime;
      assert.equal(q.labelled, off.n, `${model} labelled`);
      assert.equal(q.clicks, off.clicks);
      assert.ok(close(q.mean_predicted_ctr, off.meanPredicted), `${model} mean predicted ${q.mean_predicted_ctr} vs ${off.meanPredicted}`);
      assert.ok(close(q.calibration_ratio, off.observed / off.meanPredicted), `${model} calibration ratio`);
      assert.ok(close(q.log_loss, off.logLoss), `${model} log loss ${q.log_loss} vs ${off.logLoss}`);
      assert.ok(close(q.brier, off.brier), `${model} Brier ${q.brier} vs ${off.brier}`);
      assert.ok(q.auc_max_error < 0.02, `bucket resolution ${q.auc_max_error}`);
      assert.ok(Math.abs(q.auc - off.auc) <= q.auc_max_error + 1e-12, `${model} AUC ${q.auc} vs exact ${off.auc} (bound ${q.auc_max_error})`);
      assert.ok(q.auc > 0.6, `${model} ranks clicks above non-clicks: AUC ${q.auc}`);
      const [lo, hi] = q.calibration_ratio_ci95;
      assert.ok(lo < q.calibration_ratio && q.calibration_ratio < hi);
      // Reliability groups partition the rows; ECE is their weighted gap.
      const bins = q.reliability as any[];
      assert.ok(bins.length >= 5 && bins.length <= 11, `${bins.length} reliability bins`);
      assert.equal(bins.reduce((a, b) => a + b.count, 0), off.n);
      assert.ok(close(bins.reduce((a, b) => a + b.count * b.mean_predicted, 0), off.meanPredicted * off.n, 1e-9));
      const ece = bins.reduce((a, b) => a + (b.count / off.n) * Math.abs(b.observed_ctr - b.mean_predicted), 0);
      assert.ok(close(q.ece, ece, 1e-9));
      // Per variant and per version: the same rows split.
      for (const v of ['ab', 'explicit'] as const) {
        const part = offlineQuality(mine.filter((r) => r.variant === v).map((r) => ({ p: r.ctr, y: r.click })));
        assert.equal(q.by_variant[v].labelled, part.n, `${model} ${v}`);
        assert.ok(close(q.by_variant[v].log_loss, part.logLoss));
      }
      assert.equal(q.by_variant.by_value.labelled, 0);
      assert.equal(q.by_version['1'].labelled, off.n);
      assert.equal(s.models[model].quality.windows['1m'].labelled, off.n, 'the window holds the labels joined in it');
    }
    const health = (await client.get('/monitoring/health')).body;
    for (const model of ['xgboost', 'logistic']) {
      const c = health.models[model].checks.find((x: any) => x.name === 'calibration');
      assert.ok(c, 'a calibration check');
      assert.equal(c.status, 'pass', c.detail);
      assert.equal(c.threshold.min_labels, 1000);
    }
    const metrics = (await client.get('/metrics')).body as string;
    assert.match(metrics, /ctr_quality_log_loss\{model="xgboost",version="1",variant="",window="lifetime"\} [0-9.]+/);
    assert.match(metrics, new RegExp(`ctr_feedback_total\\{outcome="joined"\\} ${rows.length}`));
  });

  test('unknown and duplicate ids are counted, not errors, and change no figure', async () => {
    const before = await client.freshStats();
    const unknown = Array.from({ length: 300 }, (_, i) => ({ request_id: `nobody-${i}`, clicked: i % 2 === 0 }));
    const dup = rows.slice(0, 10).map((r) => ({ request_id: r.id, clicked: true }));
    const res = await client.postJson('/feedback', { feedback: [...unknown, ...dup] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: 310, accepted: 0, unknown: 300, duplicate: 10, expired: 0, unattributed: 0 });
    const one = await client.postJson('/feedback', { request_id: 'never-seen', clicked: true });
    assert.equal(one.status, 200);
    assert.equal(one.body.unknown, 1);
    const s = await statsWhen(client, (x) => x.feedback.counters.unknown >= before.feedback.counters.unknown + 301, 'unknown counted');
    assert.equal(s.feedback.counters.duplicate, before.feedback.counters.duplicate + 10);
    assert.equal(s.models.xgboost.quality.lifetime.labelled, before.models.xgboost.quality.lifetime.labelled);
    assert.equal(s.models.xgboost.quality.lifetime.log_loss, before.models.xgboost.quality.lifetime.log_loss);
  });

  test('a flood of feedback for unknown ids leaves the label ring as it was and the server\'s RSS about flat', async () => {
    const rssOf = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))![1]) * 1024;
    const post = async (from: number, posts: number) => {
      for (let k = from; k < from + posts; k++) {
        const feedback = Array.from({ length: 1000 }, (_, i) => ({ request_id: `flood-${k}-${i}`, clicked: (i & 1) === 0 }));
        const r = await client.postJson('/feedback', { feedback });
        assert.equal(r.body.unknown, 1000);
      }
    };
    const s0 = await client.freshStats();
    await post(0, 50); // warm-up: V8 sizes its heaps for the request garbage
    const rss0 = rssOf();
    await post(50, 250);
    const s1 = await statsWhen(client, (x) => x.feedback.counters.unknown >= s0.feedback.counters.unknown + 300_000, 'flood counted');
    for (const k of ['capacity', 'ring_bytes', 'shared_bytes'] as const) assert.equal(s1.feedback[k], s0.feedback[k], k);
    assert.equal(s1.feedback.capacity, 65536);
    const grown = rssOf() - rss0;
    assert.ok(grown < 24 * 1024 * 1024, `server RSS grew ${(grown / 1048576).toFixed(1)} MB over 250 000 unknown ids`);
  });

  test('malformed feedback is a 400 naming the field, and nothing of it is counted', async () => {
    const before = await client.freshStats();
    for (const [body, field] of [
      [{ feedback: [{ request_id: rows[20].id, clicked: true }, { request_id: 'x', clicked: 'yes' }] }, 'feedback[1].clicked'],
      [{ clicked: true }, 'request_id'],
      [{ model: 'xgboost', model_version: '1', ctr: 1.5, clicked: true }, 'ctr'],
      [{ feedback: [] }, 'feedback'],
      [[1, 2], 'body'],
    ] as const) {
      const r = await client.postJson('/feedback', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.field, field);
    }
    const bad = await client.request('POST', '/feedback', { body: '{"request_id":', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    const s = await client.freshStats();
    assert.equal(s.feedback.counters.received, before.feedback.counters.received);
    // rows[20] was in the refused batch: it can still be labelled (as a duplicate, since the first test labelled it).
    const again = await client.postJson('/feedback', { request_id: rows[20].id, clicked: true });
    assert.equal(again.body.duplicate, 1);
  });

  test('a version predicting twice the CTR (model/model_version/ctr feedback) is flagged by the calibration check', async () => {
    const feedback = rows.map((r) => ({ model: 'xgboost', model_version: '2', ctr: Math.min(1, r.ctr * 2), clicked: r.click }));
    for (let start = 0; start < feedback.length; start += 1000) {
      const r = await client.postMsgpack('/feedback', { feedback: feedback.slice(start, start + 1000) });
      assert.equal(r.status, 200);
      assert.equal(r.body.accepted, Math.min(1000, feedback.length - start));
    }
    const s = await statsWhen(client, (x) => (x.models.xgboost.quality.windows['5m'].by_version['2']?.labelled ?? 0) >= rows.length, 'version 2 labelled');
    const v2 = s.models.xgboost.quality.lifetime.by_version['2'];
    const off = offlineQuality(feedback.map((f) => ({ p: f.ctr, y: f.clicked })));
    assert.ok(close(v2.log_loss, off.logLoss));
    assert.ok(v2.calibration_ratio < 0.65 && v2.calibration_ratio_ci95[1] < 1, `ratio ${v2.calibration_ratio} ${v2.calibration_ratio_ci95}`);
    assert.equal(s.models.xgboost.quality.lifetime.by_variant.by_value.labelled, rows.length);
    const health = (await client.get('/monitoring/health')).body;
    const c = health.models.xgboost.checks.find((x: any) => x.name === 'calibration');
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /version 2/);
    assert.doesNotMatch(c.detail, /version 1:/);
    assert.ok(health.alerts.some((a: any) => a.model === 'xgboost' && a.kind === 'calibration'));
    assert.equal(health.models.logistic.checks.find((x: any) => x.name === 'calibration').status, 'pass');
    // A fifth version name has no slot: counted as unattributed, no error.
    for (const v of ['3', '4', '5']) await client.postJson('/feedback', { model: 'xgboost', model_version: v, ctr: 0.02, clicked: false });
    const r = await client.postJson('/feedback', { model: 'nope', model_version: '1', ctr: 0.02, clicked: false });
    assert.equal(r.body.unattributed, 1);
    const s2 = await statsWhen(client, (x) => x.feedback.counters.unattributed >= 2, 'unattributed counted');
    assert.deepEqual(Object.keys(s2.models.xgboost.quality.lifetime.by_version), ['1', '2', '3', '4']);
  });
});

describe('label window: impressions with no click become non-clicks, later clicks are late', () => {
  let srv: ServerProcess;
  let client: TestClient;
  before(async () => {
    srv = await startServerProcess({ WORKERS: '1', LABEL_WINDOW_S: '0.5', MONITOR_TICK_MS: '100' });
    client = new TestClient(srv.url, 2);
  });
  after(async () => {
    await client?.close();
    await srv?.stop();
  });

  test('30 impressions, 5 clicked in time, 5 clicked late: 30 labelled, 5 clicks, 25 implicit non-clicks, 5 late', async () => {
    const imp = loadLabelledImpressions().slice(0, 30);
    const r = await client.postJson('/predict_ctr/batch', { requests: imp.map((i) => ({ ...i.request, model: 'xgboost' })) });
    assert.equal(r.status, 200);
    const ids: string[] = r.body.predictions.map((p: any) => p.request_id);
    const early = await client.postJson('/feedback', { feedback: ids.slice(0, 5).map((id) => ({ request_id: id, clicked: true })) });
    assert.equal(early.body.accepted, 5);
    await new Promise((res) => setTimeout(res, 1200));
    const late = await client.postJson('/feedback', { feedback: ids.slice(5, 10).map((id) => ({ request_id: id, clicked: true })) });
    assert.deepEqual(late.body, { received: 5, accepted: 0, unknown: 0, duplicate: 0, expired: 5, unattributed: 0 });
    const s = await statsWhen(client, (x) => x.feedback.counters.late_clicks >= 5, 'late clicks counted');
    assert.equal(s.feedback.counters.implicit_nonclicks, 25);
    assert.equal(s.feedback.counters.expired, 5);
    const q = s.models.xgboost.quality.lifetime;
    assert.equal(q.labelled, 30);
    assert.equal(q.clicks, 5);
    assert.equal(q.late_clicks, 5);
    assert.equal(q.implicit_nonclicks, 25);
    assert.equal(s.feedback.label_window_s, 0.5);
  });
});
