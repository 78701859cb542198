// The onnxruntime-node backend (INFERENCE_BACKEND=ort): one session per model
// per worker, sequential execution, intra-op threads as configured. Loaded by
// the inference worker through engine/inference_backend.ts.
//
// Batches run on the addon's own session object, synchronously. The public
// InferenceSession.run wraps that same call in two async frames, a promise
// and a setImmediate (onnxruntime-node 1.30, dist/backend.js), re-validates
// the feeds and fetches and copies the result record: per batch, one more
// event-loop turn (an extra epoll_pwait) and a few hundred bytes of garbage
// in a worker that exists to run the call. The worker already runs one batch
// at a time, so nothing is lost by not yielding.
import type * as Ort from 'onnxruntime-node';
import type { BackendModelSpec, BackendOptions, ModelRunner, Outputs } from './inference_backend.js';

// onnxruntime-node 1.30 accepts a tensor on a SharedArrayBuffer, but its run()
// then fails with "Invalid argument".
export const readsSharedMemory = false;

/** The addon as onnxruntime-node's own session handler uses it (dist/binding.d.ts). */
interface Binding {
  InferenceSession: new () => {
    loadModel(path: string, options: Ort.InferenceSession.SessionOptions): void;
    run(feeds: Record<string, Ort.Tensor>, fetches: Record<string, null>, options: Ort.InferenceSession.RunOptions): Outputs;
  };
}

let ort: typeof Ort | undefined;
let addon: Binding | undefined;

export async function openModel(spec: BackendModelSpec, opts: BackendOptions): Promise<ModelRunner> {
  ort ??= (await import('onnxruntime-node')) as typeof Ort;
  if (addon === undefined) {
    const b = (await import('onnxruntime-node/dist/binding.js')) as unknown as { binding: Binding; initOrt: () => void; default?: { binding: Binding; initOrt: () => void } };
    const mod = b.default ?? b;
    mod.initOrt(); // once per thread: registers the Tensor class the addon builds outputs with
    addon = mod.binding;
  }
  const rt = ort;
  const session = new addon.InferenceSession();
  session.loadModel(spec.onnxPath, {
    intraOpNumThreads: opts.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  // Built once per model: the run only swaps the input tensor.
  const feeds: Record<string, Ort.Tensor> = {};
  const fetches: Record<string, null> = { [spec.outputName]: null };
  const runOptions: Ort.InferenceSession.RunOptions = {};
  const name = spec.inputName, width = spec.width;
  return (input, rows) => {
    feeds[name] = new rt.Tensor('float32', input, [rows, width]);
    return session.run(feeds, fetches, runOptions);
  };
}
