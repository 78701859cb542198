// Health per model from its checks; alerts keep their `since` while active.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertTracker, DEFAULT_HEALTH, modelHealth, unknownValuesCheck, worstStatus, type HealthConfig } from '../engine/coordinator/health.js';
import type { FeatureDriftReport, FieldDrift } from '../engine/coordinator/feature_drift.js';
import { statsOf } from '../engine/coordinator/stats.js';
import { emptyTotals, V_E2E_HIST, V_E2E_SUM_US, V_ERRORS, V_REQUESTS, V_SUCCESSES } from '../engine/coordinator/totals.js';
import type { DriftReport, StatsBlock } from '../engine/coordinator/snapshot.js';
import { hdrOver } from '../engine/telemetry/hdr.js';
import { LATENCY_CELLS, LATENCY_HIGHEST_US } from '../engine/telemetry/layout.js';

const cfg: HealthConfig = { ...DEFAULT_HEALTH, window: '1m' };

function window(requests: number, errors: number, latencyMs: number): StatsBlock {
  const t = emptyTotals();
  t.vec[V_REQUESTS] = requests;
  t.vec[V_SUCCESSES] = requests - errors;
  t.vec[V_ERRORS] = errors;
  const h = hdrOver(t.vec.subarray(V_E2E_HIST, V_E2E_HIST + LATENCY_CELLS), LATENCY_HIGHEST_US);
  h.recordValueWithCount(latencyMs * 1000, requests - errors);
  t.vec[V_E2E_SUM_US] = latencyMs * 1000 * (requests - errors);
  return statsOf(t, 60, null);
}

const noDrift = { severity: 'none', message: 'no drift', window: '1m' } as DriftReport;
const drift = { severity: 'high', message: 'drift: mean_shift', window: '1m' } as DriftReport;
const allWorkers = { alive: 2, expected: 2 };

function check(h: ReturnType<typeof modelHealth>, name: string) {
  return h.checks.find((c) => c.name === name)!;
}

test('healthy when every check passes; values and thresholds reported', () => {
  const h = modelHealth(window(1000, 0, 3), noDrift, allWorkers, cfg);
  assert.equal(h.status, 'healthy');
  assert.deepEqual(h.checks.map((c) => c.name), ['error_rate', 'latency_p99', 'drift', 'workers']);
  assert.equal(check(h, 'latency_p99').threshold.degraded_ms, 50);
  assert.ok(Math.abs((check(h, 'latency_p99').value as number) - 3) < 0.01);
});

test('error rate: ≥1 % degraded, ≥5 % unhealthy, too few requests pass', () => {
  assert.equal(modelHealth(window(1000, 20, 3), noDrift, allWorkers, cfg).status, 'degraded');
  assert.equal(modelHealth(window(1000, 60, 3), noDrift, allWorkers, cfg).status, 'unhealthy');
  assert.equal(modelHealth(window(5, 5, 3), noDrift, allWorkers, cfg).status, 'healthy');
});

test('p99 over the objective degrades, over twice it is unhealthy', () => {
  assert.equal(modelHealth(window(100, 0, 70), noDrift, allWorkers, cfg).status, 'degraded');
  assert.equal(modelHealth(window(100, 0, 150), noDrift, allWorkers, cfg).status, 'unhealthy');
  assert.equal(modelHealth(window(100, 0, 70), noDrift, allWorkers, { ...cfg, p99ObjectiveMs: 100 }).status, 'healthy');
});

test('p99 needs latencyMinRequests requests in the window before it can degrade (a handful of slow first requests is not a p99)', () => {
  assert.equal(DEFAULT_HEALTH.latencyMinRequests, 100);
  const few = modelHealth(window(10, 0, 150), noDrift, allWorkers, cfg);
  assert.equal(few.status, 'healthy');
  assert.equal(check(few, 'latency_p99').status, 'pass');
  assert.match(check(few, 'latency_p99').detail, /too few to judge/);
  assert.equal(check(few, 'latency_p99').threshold.min_requests, 100);
  assert.equal(modelHealth(window(99, 0, 70), noDrift, allWorkers, cfg).status, 'healthy');
  assert.equal(modelHealth(window(100, 0, 70), noDrift, allWorkers, cfg).status, 'degraded');
  assert.equal(modelHealth(window(10, 0, 70), noDrift, allWorkers, { ...cfg, latencyMinRequests: 5 }).status, 'degraded');
});

test('drift degrades; missing workers degrade, none alive is unhealthy', () => {
  assert.equal(modelHealth(window(100, 0, 3), drift, allWorkers, cfg).status, 'degraded');
  assert.equal(modelHealth(window(100, 0, 3), noDrift, { alive: 1, expected: 2 }, cfg).status, 'degraded');
  assert.equal(modelHealth(window(100, 0, 3), noDrift, { alive: 0, expected: 2 }, cfg).status, 'unhealthy');
  assert.equal(worstStatus(['healthy', 'unhealthy', 'degraded']), 'unhealthy');
  assert.equal(worstStatus([]), 'healthy');
});

test('alerts: raised once, since kept while active, resolved when the check passes', () => {
  const tracker = new AlertTracker();
  const bad = { m: modelHealth(window(1000, 20, 3), noDrift, allWorkers, cfg) };
  const good = { m: modelHealth(window(1000, 0, 3), noDrift, allWorkers, cfg) };
  const t1 = new Date(1000), t2 = new Date(2000), t3 = new Date(3000);
  const a = tracker.update(bad, t1);
  assert.equal(a.alerts.length, 1);
  assert.deepEqual({ ...a.alerts[0], message: '' }, { model: 'm', kind: 'error_rate', severity: 'warning', since: t1.toISOString(), message: '' });
  assert.deepEqual(a.events.map((e) => e.event), ['raised']);
  const b = tracker.update(bad, t2);
  assert.equal(b.alerts[0].since, t1.toISOString());
  assert.equal(b.events.length, 0);
  const c = tracker.update(good, t3);
  assert.equal(c.alerts.length, 0);
  assert.deepEqual(c.events.map((e) => e.event), ['resolved']);
});

test('unknown values: a category field past 1 % of sampled values outside its categories degrades, naming the field; too few samples or ids are not judged', () => {
  const field = (name: string, kind: FieldDrift['kind'], samples: number, unknown?: number): FieldDrift => ({
    field: name, kind, psi: null, test: 'chi_square', statistic: null, p_value: null, severity: 'none', samples,
    missing_rate: 0, baseline_missing_rate: null, top_changes: [], ...(unknown === undefined ? {} : { unknown_rate: unknown }),
  });
  const report = (fields: FieldDrift[]): FeatureDriftReport => ({ window: '1m', has_baseline: false, sampled_rows: 500, drift_detected: false, fields });
  const ok = unknownValuesCheck(report([field('device', 'category', 500, 0.004), field('user_id', 'id', 500)]), cfg);
  assert.equal(ok.status, 'pass');
  assert.equal(ok.value, 0.004);
  const bad = unknownValuesCheck(report([field('device', 'category', 500, 0.2), field('placement', 'category', 500, 0)]), cfg);
  assert.equal(bad.status, 'warn');
  assert.equal(bad.value, 0.2);
  assert.match(bad.detail, /device 20\.0 % of 500 sampled values/);
  assert.doesNotMatch(bad.detail, /placement/);
  const few = unknownValuesCheck(report([field('device', 'category', 20, 1)]), cfg);
  assert.equal(few.status, 'pass');
  assert.equal(few.value, null);
  assert.match(few.detail, /too few to judge/);
  // As an extra check it degrades the model and raises an alert like the others.
  const h = modelHealth(window(1000, 0, 1), noDrift, allWorkers, cfg, [bad]);
  assert.equal(h.status, 'degraded');
  const { alerts } = new AlertTracker().update({ xgboost: h }, new Date());
  assert.deepEqual(alerts.map((a) => [a.model, a.kind, a.severity]), [['xgboost', 'unknown_values', 'warning']]);
});
