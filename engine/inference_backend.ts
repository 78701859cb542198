// The contract between an inference worker and whatever runs the models in
// it. The engine owns this interface; the composition root (bin/) chooses the
// implementation and hands its module URL to the pool, which each worker
// imports: onnxruntime-node (engine/ort_backend.ts) or the pure-TypeScript
// evaluator (native-free-ts/evaluator/backend.ts). So the engine never
// imports a front end or the native-free folder, and a worker loads only the
// backend it was given (the ts backend never loads the native addon).

/** What a backend needs to open one model. */
export interface BackendModelSpec {
  readonly name: string;
  readonly onnxPath: string;
  /** The graph to open instead of the file at onnxPath, when the registry rewrote it at load (a ZipMap dropped). */
  readonly onnxBytes?: Uint8Array;
  readonly inputName: string;
  /** Input columns: a batch is rows × width float32, row-major. */
  readonly width: number;
  readonly outputName: string;
}

export interface BackendOptions {
  /** Threads one model run may use inside this worker (ORT's intra-op pool). */
  readonly intraOpThreads: number;
}

/** A model's outputs by name; only `data` is read. */
export type Outputs = Record<string, { readonly data: unknown }>;

/** Runs one opened model on `input` (rows × width floats). */
export type ModelRunner = (input: Float32Array, rows: number) => Promise<Outputs> | Outputs;

/** What a backend module exports. */
export interface InferenceBackendModule {
  /**
   * false when `input` must not be a view on a SharedArrayBuffer (the worker
   * then copies each batch into plain memory first).
   */
  readonly readsSharedMemory: boolean;
  /** Opens one model; rejects with a message naming what is wrong with the file. */
  openModel(spec: BackendModelSpec, opts: BackendOptions): Promise<ModelRunner>;
}

/** Given by the composition root: a name for logs and params, and the module that implements it. */
export interface InferenceBackendRef {
  readonly name: string;
  /** file: URL of a module whose exports satisfy InferenceBackendModule. */
  readonly moduleUrl: string;
}
