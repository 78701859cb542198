// Drift end to end on real predictions: the shipped logistic demo model scores
// traffic drawn from its training distribution, the predictions go through the
// shared-memory recorders, and the coordinator (with a fake clock) captures a
// baseline, then judges many one-minute windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { projectRoot } from '../engine/config.js';
import { FeatureEncoder } from '../engine/feature_encoder.js';
import { readManifest } from '../engine/manifest.js';
import { createTrafficSampler, type TrafficShift } from '../bench/lib/traffic_sampler.js';
import { createTelemetry } from '../engine/telemetry/buffers.js';
import { claimWorkerShard, type WorkerRecorder } from '../engine/telemetry/worker_recorder.js';
import { createMainRecorder, type MainRecorder } from '../engine/telemetry/main_recorder.js';
import { Coordinator } from '../engine/coordinator/coordinator.js';

const BATCH = 250;
const dir = resolve(projectRoot(), 'engine/models/logistic');
const manifest = readManifest(resolve(dir, 'manifest.json'));
const encoder = new FeatureEncoder(manifest);

interface Rig { coord: Coordinator; worker: WorkerRecorder; main: MainRecorder; session: ort.InferenceSession; now: number }

async function rig(): Promise<Rig> {
  const buffers = createTelemetry({ models: ['logistic'], workerShards: 1 });
  const session = await ort.InferenceSession.create(resolve(dir, manifest.file), { intraOpNumThreads: 1 });
  const now = 0;
  const coord = new Coordinator({ buffers, models: [{ name: 'logistic', version: manifest.version }], tickMs: 1000, windowsMs: [60_000, 300_000] }, now);
  return { coord, worker: claimWorkerShard(buffers, 99), main: createMainRecorder(buffers), session, now };
}

/** Score n requests from the sampler and record them as served; latencies lognormal around 2 ms (× slow for inference). */
async function serve(r: Rig, sampler: ReturnType<typeof createTrafficSampler>, n: number, slow = 1): Promise<void> {
  const x = new Float32Array(BATCH * encoder.width);
  for (let done = 0; done < n; done += BATCH) {
    for (let i = 0; i < BATCH; i++) x.set(encoder.encode(sampler.next()), i * encoder.width);
    const out = await r.session.run({ [manifest.input.name]: new ort.Tensor('float32', x, [BATCH, encoder.width]) });
    const ctr = out[manifest.output.name].data as Float32Array;
    const inferenceUs = slow * 1500 * Math.exp(0.3 * gauss());
    r.worker.recordBatch(0, BATCH, 300, inferenceUs, ctr);
    for (let i = 0; i < BATCH; i++) {
      r.main.countRequest(0);
      r.main.recordSuccess(0, 300 + inferenceUs + 200 * Math.exp(0.5 * gauss()));
    }
  }
}

function gauss(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

/** Advance the fake clock by a minute and tick: the 1m window is exactly the last minute's traffic. */
function minute(r: Rig) {
  r.now += 60_000;
  return r.coord.tick(r.now);
}

test('traffic from the training distribution: baseline captured, <1 % of 1-minute windows flag drift; shifted mix flags high', async () => {
  const r = await rig();
  try {
    const training = createTrafficSampler({ seed: 7 });
    for (let m = 0; m < 5; m++) { await serve(r, training, 10_000); minute(r); }
    const cap = r.coord.captureBaseline('logistic', '5m', r.now);
    assert.ok(cap.ok, JSON.stringify(cap));
    assert.equal(cap.baseline.prediction_count, 50_000);
    assert.ok(cap.baseline.bins && cap.baseline.bins.edges.length >= 5, 'prediction bins kept for PSI');

    const windows = 120;
    let flagged = 0;
    const why: string[] = [];
    for (let w = 0; w < windows; w++) {
      await serve(r, training, 1000);
      const s = minute(r);
      const d = s.models.logistic.drift;
      assert.equal(d.current.prediction.count, 1000, 'the window holds exactly the last minute');
      if (d.drift_detected) { flagged++; why.push(d.message); }
    }
    assert.ok(flagged / windows < 0.01, `${flagged}/${windows} stationary windows flagged: ${why.join('; ')}`);

    const shift: TrafficShift = { device: { tablet: 0.7 }, placement: { footer: 0.7 }, adPopularityExponent: 0.2 };
    await serve(r, createTrafficSampler({ seed: 8, shift }), 1000);
    const shifted = minute(r).models.logistic.drift;
    assert.equal(shifted.severity, 'high', JSON.stringify(shifted.checks.map((c) => [c.name, c.statistic, c.verdict])));
    assert.equal(shifted.checks.find((c) => c.name === 'latency_anomaly')!.severity, 'none');

    await serve(r, training, 1000, 3);
    const slowed = minute(r).models.logistic.drift;
    const lat = slowed.checks.find((c) => c.name === 'latency_anomaly')!;
    assert.equal(lat.verdict, 'drift', JSON.stringify(lat));
    assert.equal(lat.severity, 'high');
    assert.equal(slowed.checks.find((c) => c.name === 'mean_shift')!.severity, 'none');
  } finally {
    await r.session.release();
  }
});
