// Drift maths on synthetic traffic from a small CTR model over device,
// placement and ad: stationary traffic rarely flags, a shifted mix flags high
// in one window, slowed latency fires the latency check, trivial shifts under
// heavy traffic do not flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDrift, DEFAULT_DRIFT, quantileGroups, type DriftConfig, type DriftInput } from '../engine/coordinator/drift.js';
import type { Baseline } from '../engine/coordinator/snapshot.js';
import { PRED_BINS, PRED_BIN_SCHEME, predBin } from '../engine/telemetry/layout.js';
import { momentsOf, stdDev } from '../engine/telemetry/welford.js';

const cfg: DriftConfig = { ...DEFAULT_DRIFT, window: '1m' };
const now = new Date(0);

/** xorshift32: seeded, tiny; good enough for synthetic traffic. */
function rng(seed: number): () => number {
  // Scramble the seed: small seeds would otherwise start with small outputs.
  let x = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0x27d4eb2f || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

interface Mix { device: number[]; placement: number[]; adSkew: number }
const TRAINING: Mix = { device: [0.6, 0.3, 0.1], placement: [0.5, 0.3, 0.2], adSkew: 0 };
// Tablet-heavy, footer-heavy, favouring the high-CTR ads.
const SHIFTED: Mix = { device: [0.05, 0.15, 0.8], placement: [0.05, 0.15, 0.8], adSkew: 3 };
const DEVICE = [0, -0.4, 0.5], PLACEMENT = [0.3, -0.2, -0.6];
const ADS = Array.from({ length: 50 }, (_, i) => -0.5 + i / 50);

function pick(r: () => number, w: number[]): number {
  let u = r();
  for (let i = 0; i < w.length; i++) { if ((u -= w[i]) < 0) return i; }
  return w.length - 1;
}

/** n predictions of the toy model under a traffic mix, plus n latencies (ms, lognormal). */
function traffic(r: () => number, n: number, mix: Mix, latencyScale = 1): { ctr: Float32Array; latency: Float64Array } {
  const ctr = new Float32Array(n), latency = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ad = Math.min(49, Math.floor(50 * Math.pow(r(), 1 / (1 + mix.adSkew))));
    const z = -3.7 + DEVICE[pick(r, mix.device)] + PLACEMENT[pick(r, mix.placement)] + ADS[ad] + 0.3 * gauss(r);
    ctr[i] = 1 / (1 + Math.exp(-z));
    latency[i] = latencyScale * 2 * Math.exp(0.4 * gauss(r));
  }
  return { ctr, latency };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

function windowOf(t: { ctr: Float32Array; latency: Float64Array }): DriftInput {
  const bins = new Float64Array(PRED_BINS);
  for (const p of t.ctr) bins[predBin(p)]++;
  const lat = momentsOf(t.latency);
  return { pred: momentsOf(t.ctr), bins, latency: { stage: 'end_to_end', count: lat.n, meanMs: lat.mean, stdMs: stdDev(lat) } };
}

/** A baseline captured from a large sample of training traffic (with bins, so PSI runs). */
function capturedBaseline(r: () => number, n = 200_000): Baseline {
  const w = windowOf(traffic(r, n, TRAINING));
  const g = quantileGroups(w.bins, cfg.psiGroups);
  return {
    mean_prediction: w.pred.mean, std_prediction: stdDev(w.pred),
    mean_latency_ms: w.latency.meanMs, std_latency_ms: w.latency.stdMs,
    source: 'captured', set_at: now.toISOString(), model_version: '1', window: '5m',
    prediction_count: n, latency_count: n, bins: { scheme: PRED_BIN_SCHEME, ...g },
  };
}

test('stationary traffic flags drift in fewer than 1 % of windows', () => {
  const r = rng(1);
  const captured = capturedBaseline(r);
  const manual: Baseline = { ...captured, source: 'manual', prediction_count: undefined, latency_count: undefined, bins: undefined };
  for (const [name, baseline] of [['captured', captured], ['manual', manual]] as const) {
    for (const n of [500, 2000]) {
      const windows = n === 500 ? 1200 : 400;
      const flaggedBy: Record<string, number> = {};
      let flagged = 0;
      for (let i = 0; i < windows; i++) {
        const rep = computeDrift('m', windowOf(traffic(r, n, TRAINING)), baseline, cfg, now);
        if (rep.drift_detected) flagged++;
        for (const c of rep.checks) if (c.severity !== 'none') flaggedBy[c.name] = (flaggedBy[c.name] ?? 0) + 1;
      }
      assert.ok(flagged / windows < 0.01, `${name} baseline, n=${n}: ${flagged}/${windows} windows flagged ${JSON.stringify(flaggedBy)}`);
    }
  }
});

test('a shifted device/placement/ad mix is flagged high within one window', () => {
  const r = rng(2);
  const baseline = capturedBaseline(r);
  for (let i = 0; i < 20; i++) {
    const rep = computeDrift('m', windowOf(traffic(r, 1000, SHIFTED)), baseline, cfg, now);
    assert.equal(rep.severity, 'high', JSON.stringify(rep.checks.map((c) => [c.name, c.statistic, c.verdict])));
    assert.equal(rep.drift_detected, true);
    const byName = Object.fromEntries(rep.checks.map((c) => [c.name, c]));
    assert.equal(byName.mean_shift.severity, 'high');
    // PSI moves too (stationary windows of this size sit near 9·(1/n) ≈ 0.02), though this mix may stay under its 0.1 band.
    assert.ok(byName.psi.statistic! > 0.05, `psi ${byName.psi.statistic}`);
    assert.equal(byName.latency_anomaly.severity, 'none', 'latency did not change');
  }
});

test('slowed inference fires the latency check, and only it', () => {
  const r = rng(3);
  const baseline = capturedBaseline(r);
  const rep = computeDrift('m', windowOf(traffic(r, 1000, TRAINING, 2)), baseline, cfg, now);
  const byName = Object.fromEntries(rep.checks.map((c) => [c.name, c]));
  assert.equal(byName.latency_anomaly.severity, 'high');
  assert.equal(byName.latency_anomaly.verdict, 'drift');
  assert.equal(byName.mean_shift.severity, 'none');
  assert.equal(rep.severity, 'high');
  const faster = computeDrift('m', windowOf(traffic(r, 1000, TRAINING, 0.5)), baseline, cfg, now);
  assert.equal(faster.checks.find((c) => c.name === 'latency_anomaly')!.severity, 'none', 'faster is not an anomaly');
});

test('heavy traffic does not flag a trivial shift (minimum-effect guard)', () => {
  const r = rng(4);
  const t = traffic(r, 200_000, TRAINING);
  const w = windowOf(t);
  // A baseline 5 % of a std away: z is large at n = 200 000, the effect is not.
  const sd = stdDev(w.pred);
  const baseline: Baseline = {
    mean_prediction: w.pred.mean + 0.05 * sd, std_prediction: sd * 1.05, mean_latency_ms: w.latency.meanMs / 1.1,
    std_latency_ms: w.latency.stdMs, source: 'manual', set_at: now.toISOString(), model_version: '1',
  };
  const rep = computeDrift('m', w, baseline, cfg, now);
  for (const c of rep.checks) {
    assert.ok(c.statistic! >= cfg.zMedium, `${c.name}: z ${c.statistic} is significant`);
    assert.equal(c.verdict, 'below_min_effect', c.name);
  }
  assert.equal(rep.drift_detected, false);
});

test('without a baseline: says so and detects nothing; too little data: no verdict', () => {
  const r = rng(5);
  const none = computeDrift('m', windowOf(traffic(r, 1000, SHIFTED)), null, cfg, now);
  assert.equal(none.drift_detected, false);
  assert.equal(none.severity, 'none');
  assert.equal(none.baseline, null);
  assert.match(none.message, /no baseline/);
  assert.deepEqual(none.checks, []);
  const small = computeDrift('m', windowOf(traffic(r, 50, SHIFTED)), capturedBaseline(r, 20_000), cfg, now);
  assert.equal(small.drift_detected, false);
  assert.ok(small.checks.every((c) => c.verdict === 'insufficient_data'));
});

test('thresholds are configurable', () => {
  const r = rng(6);
  const baseline = capturedBaseline(r);
  const w = windowOf(traffic(r, 1000, TRAINING, 2));
  const strict = computeDrift('m', w, baseline, { ...cfg, zMedium: 1e6, zHigh: 2e6 }, now);
  assert.equal(strict.checks.find((c) => c.name === 'latency_anomaly')!.severity, 'none');
  const loose = computeDrift('m', w, baseline, { ...cfg, latencyMinEffect: 2 }, now);
  assert.equal(loose.checks.find((c) => c.name === 'latency_anomaly')!.verdict, 'below_min_effect');
});
