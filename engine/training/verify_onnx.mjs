// Runs each exported model.onnx in onnxruntime-node on the holdout rows the
// trainer wrote and compares with the trainer's own predictions: the check
// that the hand-written exporters (base score, split direction, leaf values)
// are right. Plain JS so it runs before (and without) a tsc build.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const TOLERANCE = 1e-5;
const [verifyDir, modelsDir] = process.argv.slice(2);
const meta = JSON.parse(readFileSync(join(verifyDir, 'meta.json'), 'utf8'));
const f32 = (file) => {
  const b = readFileSync(join(verifyDir, file));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const features = f32('features.f32');
const chunk = 20000;
let failed = false;
for (const name of meta.models) {
  const expected = f32(`${name}.f32`);
  const session = await ort.InferenceSession.create(join(modelsDir, name, 'model.onnx'), { intraOpNumThreads: 1 });
  let worst = 0;
  for (let r = 0; r < meta.rows; r += chunk) {
    const n = Math.min(chunk, meta.rows - r);
    const x = new ort.Tensor('float32', features.subarray(r * meta.width, (r + n) * meta.width), [n, meta.width]);
    const out = (await session.run({ [session.inputNames[0]]: x }))[session.outputNames[0]].data;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i] - expected[r + i]));
  }
  const ok = worst <= TOLERANCE;
  failed ||= !ok;
  console.log(`${name}: ${meta.rows} holdout rows, max |onnx - trainer| = ${worst.toExponential(2)} ${ok ? 'ok' : 'FAIL'}`);
}
process.exit(failed ? 1 : 0);
