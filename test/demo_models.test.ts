// The shipped demo models against what training recorded: the TS encoder must
// rebuild the Python encoder's rows bit for bit, and onnxruntime-node must
// reproduce the trainers' predictions. Plus the traffic sampler the other
// suites draw requests from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { projectRoot } from '../engine/config.js';
import { FeatureEncoder, type PredictFields } from '../engine/feature_encoder.js';
import { encodedWidth, readManifest } from '../engine/manifest.js';
import { createTrafficSampler, loadTrafficProfile, type DemoRequest, type TrafficShift } from '../bench/lib/traffic_sampler.js';

const ROOT = projectRoot();
const MODELS = ['xgboost', 'logistic'] as const;

interface GoldenCase { request: PredictFields; encoded: number[]; expected: Record<string, number> }
const golden = JSON.parse(readFileSync(resolve(ROOT, 'engine/training/golden_predictions.json'), 'utf8')) as {
  tolerance: number; width: number; cases: GoldenCase[];
};

for (const name of MODELS) {
  test(`${name}: manifest, encoding and ONNX output match the training golden file`, async () => {
    const dir = resolve(ROOT, 'engine/models', name);
    const manifest = readManifest(resolve(dir, 'manifest.json'));
    assert.equal(manifest.name, name);
    assert.equal(manifest.version, '1');
    assert.equal(encodedWidth(manifest), golden.width);

    const encoder = new FeatureEncoder(manifest);
    const batch = new Float32Array(golden.cases.length * encoder.width);
    golden.cases.forEach((c, i) => {
      const row = encoder.encode(c.request);
      // exact: Float32Array of the golden doubles is what Python stored
      assert.deepEqual(row, Float32Array.from(c.encoded), `encoding of case ${i} ${JSON.stringify(c.request)}`);
      batch.set(row, i * encoder.width);
    });

    const session = await ort.InferenceSession.create(resolve(dir, manifest.file), { intraOpNumThreads: 1 });
    try {
      assert.deepEqual(session.inputNames, [manifest.input.name]);
      assert.ok(session.outputNames.includes(manifest.output.name));
      const out = await session.run({ [manifest.input.name]: new ort.Tensor('float32', batch, [golden.cases.length, encoder.width]) });
      const y = out[manifest.output.name];
      assert.deepEqual(y.dims, [golden.cases.length, 1]);
      const data = y.data as Float32Array;
      golden.cases.forEach((c, i) => {
        const want = c.expected[name];
        assert.ok(Math.abs(data[i] - want) <= golden.tolerance, `case ${i}: onnx ${data[i]} vs trainer ${want}`);
        assert.ok(data[i] > 0 && data[i] < 1, 'a probability');
      });
    } finally {
      await session.release();
    }
  });
}

function draw(n: number, seed: number, shift?: TrafficShift): DemoRequest[] {
  const s = createTrafficSampler({ seed, shift });
  const out: DemoRequest[] = [];
  for (let i = 0; i < n; i++) out.push(s.next());
  return out;
}

function shares(reqs: DemoRequest[], key: (r: DemoRequest) => string | number): Map<string | number, number> {
  const m = new Map<string | number, number>();
  for (const r of reqs) m.set(key(r), (m.get(key(r)) ?? 0) + 1);
  for (const [k, v] of m) m.set(k, v / reqs.length);
  return m;
}

const N = 40_000;
// 4 standard errors of the largest share (p = 0.62) at N draws ≈ 0.0097
const TOL = 0.01;

test('traffic sampler is deterministic per seed', () => {
  assert.deepEqual(draw(2000, 42), draw(2000, 42));
  assert.notDeepEqual(draw(200, 42), draw(200, 43));
});

test('traffic sampler marginals match the profile the models were trained on', () => {
  const profile = loadTrafficProfile();
  const reqs = draw(N, 7);
  for (const [field, probs] of [['device', profile.device], ['placement', profile.placement]] as const) {
    const got = shares(reqs, (r) => r[field]);
    for (const [k, p] of Object.entries(probs)) {
      assert.ok(Math.abs((got.get(k) ?? 0) - p) < TOL, `${field} ${k}: ${got.get(k)} vs ${p}`);
    }
    assert.equal(got.size, Object.keys(probs).length);
  }
  const hours = shares(reqs, (r) => r.context.hour);
  profile.hour.forEach((p, h) => assert.ok(Math.abs((hours.get(h) ?? 0) - p) < TOL, `hour ${h}`));
  // Zipf head: rank 1 has share 1 / H(count, exponent)
  for (const [field, pop] of [['user_id', profile.users], ['ad_id', profile.ads]] as const) {
    let h = 0;
    for (let k = 1; k <= pop.count; k++) h += Math.pow(k, -pop.exponent);
    const top = shares(reqs, (r) => r[field]).get(`${pop.prefix}${pop.first_id}`) ?? 0;
    assert.ok(Math.abs(top - 1 / h) < TOL, `${field} head: ${top} vs ${1 / h}`);
  }
  // every sampled request is valid for the shipped models
  const encoder = new FeatureEncoder(readManifest(resolve(ROOT, 'engine/models/xgboost/manifest.json')));
  for (const r of reqs.slice(0, 2000)) encoder.encode(r);
});

test('a shifted sampler changes the mix it was asked to change', () => {
  const base = draw(N, 9);
  const shifted = draw(N, 9, {
    device: { tablet: 0.8 },
    placement: { interstitial: 0.5, smart_banner: 0.1 },
    adPopularityExponent: 2,
    hourOffset: 12,
  });
  const profile = loadTrafficProfile();
  const dev = shares(shifted, (r) => r.device);
  assert.ok(Math.abs(dev.get('tablet')! - 0.8) < TOL);
  // the others keep their relative proportions in the remaining 0.2
  const restBase = profile.device.mobile + profile.device.desktop;
  assert.ok(Math.abs(dev.get('mobile')! - (0.2 * profile.device.mobile) / restBase) < TOL);
  const plc = shares(shifted, (r) => r.placement);
  assert.ok(Math.abs(plc.get('interstitial')! - 0.5) < TOL);
  assert.ok(Math.abs(plc.get('smart_banner')! - 0.1) < TOL, 'a category the profile lacks');
  const topAd = (reqs: DemoRequest[]) => shares(reqs, (r) => r.ad_id).get('ad_1') ?? 0;
  assert.ok(topAd(shifted) > topAd(base) + 0.3, 'steeper ad popularity concentrates on the head');
  const hb = shares(base, (r) => r.context.hour);
  const hs = shares(shifted, (r) => r.context.hour);
  for (let h = 0; h < 24; h++) assert.ok(Math.abs((hs.get((h + 12) % 24) ?? 0) - (hb.get(h) ?? 0)) < TOL, `hour ${h} moved by 12`);

  assert.throws(() => createTrafficSampler({ shift: { device: { tablet: 1.5 } } }), TypeError);
  assert.throws(() => createTrafficSampler({ shift: { hourOffset: 0.5 } }), TypeError);
  assert.throws(() => createTrafficSampler({ shift: { adPopularityExponent: -1 } }), TypeError);
});

test('traffic sampler draws cheaply', () => {
  const s = createTrafficSampler({ seed: 3 });
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (let i = 0; i < 200_000; i++) n += s.next().context.hour;
  const ns = Number(process.hrtime.bigint() - t0) / 200_000;
  assert.ok(n > 0);
  // generous bound for a shared 2-core box; a draw is ~50 ns here
  assert.ok(ns < 2000, `${ns.toFixed(0)} ns per request`);
});
