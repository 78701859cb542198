// The onnxruntime-node backend (INFERENCE_BACKEND=ort): one InferenceSession
// per model per worker, sequential execution, intra-op threads as configured.
// Loaded by the inference worker through engine/inference_backend.ts.
import type * as Ort from 'onnxruntime-node';
import type { BackendModelSpec, BackendOptions, ModelRunner } from './inference_backend.js';

// onnxruntime-node 1.30 accepts a tensor on a SharedArrayBuffer, but its run()
// then fails with "Invalid argument".
export const readsSharedMemory = false;

let ort: typeof Ort | undefined;

export async function openModel(spec: BackendModelSpec, opts: BackendOptions): Promise<ModelRunner> {
  ort ??= (await import('onnxruntime-node')) as typeof Ort;
  const rt = ort;
  const options: Ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const session = spec.onnxBytes !== undefined
    ? await rt.InferenceSession.create(spec.onnxBytes, options)
    : await rt.InferenceSession.create(spec.onnxPath, options);
  const fetches = [spec.outputName];
  // Returns ORT's own promise: no extra async frame per batch.
  return (input, rows) => session.run({ [spec.inputName]: new rt.Tensor('float32', input, [rows, spec.width]) }, fetches);
}
