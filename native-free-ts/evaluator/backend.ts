// The pure-TypeScript evaluator as the engine's inference backend
// (INFERENCE_BACKEND=ts): implements engine/inference_backend.ts, so the
// inference worker runs it without importing this folder by name.
import type { BackendModelSpec, BackendOptions, ModelRunner } from '../../engine/inference_backend.js';
import { TsInferenceSession } from './session.js';

// The evaluator reads typed arrays only: a shared view is as good as a plain one.
export const readsSharedMemory = true;

export async function openModel(spec: BackendModelSpec, _opts: BackendOptions): Promise<ModelRunner> {
  const session = await TsInferenceSession.create(spec.onnxBytes ?? spec.onnxPath);
  const fetches = [spec.outputName];
  return (input, rows) => session.runSync({ [spec.inputName]: { data: input, dims: [rows, spec.width] } }, fetches);
}
