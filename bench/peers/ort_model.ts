// A model as a plain Node user would load it: the manifest, the project's
// FeatureEncoder, and one onnxruntime-node session in the calling thread.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { FeatureEncoder, type PredictFields } from '../../engine/feature_encoder.js';
import { readManifest, type ModelManifest } from '../../engine/manifest.js';

export interface LoadedModel {
  manifest: ModelManifest;
  encoder: FeatureEncoder;
  session: ort.InferenceSession;
  /** Encodes `rows` requests into a fresh input tensor. Throws RangeError naming an invalid field. */
  encode(reqs: readonly PredictFields[]): ort.Tensor;
  /** Runs the session on an encoded tensor and returns the CTR per row. */
  run(input: ort.Tensor, rows: number): Promise<Float32Array>;
}

export async function loadModel(modelsDir: string, name: string, options?: ort.InferenceSession.SessionOptions): Promise<LoadedModel> {
  const dir = join(modelsDir, name);
  const manifest = readManifest(join(dir, 'manifest.json'));
  const encoder = new FeatureEncoder(manifest);
  const session = await ort.InferenceSession.create(join(dir, manifest.file), options ?? {});
  const width = encoder.width;
  const column = manifest.output.column ?? 0;
  const logit = manifest.output.kind === 'logit';
  return {
    manifest, encoder, session,
    encode(reqs) {
      const data = new Float32Array(reqs.length * width);
      for (let i = 0; i < reqs.length; i++) {
        const bad = encoder.encodeInto(reqs[i], data, i);
        if (bad !== null) throw new RangeError(`invalid ${bad}`);
      }
      return new ort.Tensor('float32', data, [reqs.length, width]);
    },
    async run(input, rows) {
      const out = await session.run({ [manifest.input.name]: input });
      const data = out[manifest.output.name].data as ArrayLike<number>;
      const cols = rows === 0 ? 1 : data.length / rows;
      const ctr = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        const v = Number(data[r * cols + column]);
        ctr[r] = logit ? 1 / (1 + Math.exp(-v)) : v;
      }
      return ctr;
    },
  };
}
