// Page-Hinkley change detection (engine/coordinator/change_detector.ts),
// measured: predictions bootstrapped from the demo traffic's CTR distribution
// (test/fixtures/labels/), one tick a second. Stationary traffic: false alarms
// over 10 simulated hours; a shifted prediction mean (×1.2, ×2) or error rate
// (1 % → 5 %): ticks from the shift to the alarm. Deterministic seeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelChangeDetector } from '../engine/coordinator/change_detector.js';
import { mulberry32 } from '../bench/lib/traffic_sampler.js';
import { loadLabelledImpressions } from './support/labelled_traffic.js';

const probs = loadLabelledImpressions().map((r) => r.prob);

/** Feeds `ticks` ticks of `perTick` predictions; `factor(t)` scales predictions, `errRate(t)` draws errors. */
function run(seed: number, perTick: number, ticks: number, factor: (t: number) => number, errRate: (t: number) => number, baseline: boolean,
  stopAfter = -1): { predAlarms: number[]; errAlarms: number[] } {
  const rnd = mulberry32(seed);
  const d = new ModelChangeDetector();
  let n = 0, mean = 0, m2 = 0, req = 0, err = 0;
  const predAlarms: number[] = [], errAlarms: number[] = [];
  const ref = { mean: probs.reduce((a, b) => a + b, 0) / probs.length, std: 0 };
  ref.std = Math.sqrt(probs.reduce((a, b) => a + (b - ref.mean) ** 2, 0) / probs.length);
  for (let t = 0; t < ticks; t++) {
    const f = factor(t), e = errRate(t);
    for (let i = 0; i < perTick; i++) {
      const x = probs[Math.floor(rnd() * probs.length)] * f;
      n++;
      const dx = x - mean;
      mean += dx / n;
      m2 += dx * (x - mean);
      req++;
      if (rnd() < e) err++;
    }
    const pa = d.pred.alarms, ea = d.err.alarms;
    d.update(n, mean * n, m2, req, err, baseline ? ref : null, t * 1000);
    if (d.pred.alarms > pa) predAlarms.push(t);
    if (d.err.alarms > ea) errAlarms.push(t);
    if (stopAfter >= 0 && t >= stopAfter && (predAlarms.some((a) => a >= stopAfter) || errAlarms.some((a) => a >= stopAfter))) break;
  }
  return { predAlarms, errAlarms };
}

const SHIFT_AT = 120;
function delays(perTick: number, shift: { factor?: number; err?: number }, baseline: boolean): { median: number; p95: number; early: number } {
  const out: number[] = [];
  let early = 0;
  for (let trial = 0; trial < 60; trial++) {
    const r = run(1000 + trial, perTick, SHIFT_AT + 300, (t) => (t >= SHIFT_AT ? shift.factor ?? 1 : 1), (t) => (t >= SHIFT_AT ? shift.err ?? 0.01 : 0.01), baseline, SHIFT_AT);
    const alarms = shift.err !== undefined ? r.errAlarms : r.predAlarms;
    if (alarms.some((a) => a < SHIFT_AT)) early++;
    const first = alarms.find((a) => a >= SHIFT_AT);
    out.push(first === undefined ? Infinity : first - SHIFT_AT + 1);
  }
  out.sort((a, b) => a - b);
  return { median: out[30], p95: out[56], early };
}

// p95 delay bounds in ticks per rate: fewer rows a tick, more noise, a higher λ, a longer wait.
const BOUNDS: Record<number, { x2: number; x12: number; err: number }> = { 50: { x2: 10, x12: 60, err: 40 }, 200: { x2: 3, x12: 20, err: 10 }, 1000: { x2: 2, x12: 8, err: 4 } };

for (const perTick of [50, 200, 1000]) {
  test(`${perTick} predictions a tick: no more than one false alarm in 10 stationary hours; shifts flagged within seconds`, () => {
    const s = run(7, perTick, 36_000, () => 1, () => 0.01, true);
    const sNoBase = run(8, perTick, 36_000, () => 1, () => 0.01, false);
    const x2 = delays(perTick, { factor: 2 }, true);
    const x12 = delays(perTick, { factor: 1.2 }, true);
    const x12NoBase = delays(perTick, { factor: 1.2 }, false);
    const err = delays(perTick, { err: 0.05 }, false);
    const figures = { perTick, falseAlarms10h: { prediction: s.predAlarms.length, prediction_no_baseline: sNoBase.predAlarms.length, error_rate: s.errAlarms.length }, x2, x12, x12NoBase, err };
    console.log(`# ${JSON.stringify(figures)}`);
    assert.ok(s.predAlarms.length <= 1 && sNoBase.predAlarms.length <= 1, JSON.stringify(figures));
    assert.ok(s.errAlarms.length <= 1, JSON.stringify(figures));
    const b = BOUNDS[perTick];
    assert.ok(x2.p95 <= b.x2, `×2: ${JSON.stringify(x2)}`);
    assert.ok(x12.p95 <= b.x12, `×1.2: ${JSON.stringify(x12)}`);
    assert.ok(err.p95 <= b.err, `errors 1 → 5 %: ${JSON.stringify(err)}`);
    assert.equal(x2.early + x12.early, 0, 'no alarm before the shift');
  });
}
