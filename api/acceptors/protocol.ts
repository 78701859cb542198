// The messages between the main thread and an acceptor thread (ACCEPTORS > 1),
// over one control MessagePort per acceptor. Batches never cross it: an
// acceptor has links of its own to every inference worker (engine/worker_links.ts).
import type { MessagePort } from 'node:worker_threads';
import type { ServerConfig } from '../../engine/config.js';
import type { Snapshot } from '../../engine/coordinator/snapshot.js';
import type { InferenceBackendRef } from '../../engine/inference_backend.js';
import type { TelemetryBuffers } from '../../engine/telemetry/index.js';
import type { StreamMetrics } from '../stream/index.js';

/** What an acceptor thread starts from (workerData). */
export interface AcceptorInit {
  /** 1..ACCEPTORS-1 (0 is the main thread); also its telemetry main shard. */
  index: number;
  cfg: ServerConfig;
  /** The inference backend the workers run, for this thread's inline inference. */
  backend: InferenceBackendRef;
  telemetry: TelemetryBuffers;
  control: MessagePort;
  /** The main registry's models by index: the acceptor loads the same folders and checks the names agree. */
  models: { name: string; folder: string; generation: number; failure?: string }[];
  /** The A/B weights as configured now (PUT /ab may have changed them). */
  abWeights: Record<string, number>;
  /** The stream's hello settings (run parameters, A/B split). */
  settings: Record<string, unknown>;
  snapshot: Snapshot;
}

/** A request an acceptor does not serve itself, forwarded whole to the main thread's routes. */
export interface ForwardedRequest {
  id: number;
  /** Lower case, as uWS reports it. */
  method: string;
  url: string;
  query: string;
  /** Every header in order, names lower case: [name, value, name, value, …]. */
  headers: string[];
  body: Uint8Array | null;
}

export interface ForwardedResponse {
  id: number;
  /** e.g. '200 OK' ('' : 200). */
  status: string;
  headers: string[];
  body: string | Uint8Array;
  close: boolean;
}

/** Main → acceptor. */
export type ToAcceptor =
  | { kind: 'link'; threadId: number; port: MessagePort }
  | { kind: 'listen'; port: number }
  | { kind: 'snapshot'; snapshot: Snapshot }
  | { kind: 'ab'; weights: Record<string, number>; split: Record<string, number> }
  | { kind: 'reload'; index: number; folder: string; generation: number }
  | { kind: 'response'; response: ForwardedResponse }
  | { kind: 'draining' }
  | { kind: 'stopListening' }
  | { kind: 'finish'; deadlineMs: number }
  | { kind: 'close' };

/** What an acceptor counts, sent back with each snapshot (and when asked). */
export interface AcceptorCounters {
  /** Prediction rows answered 200 by this thread. */
  rowsServed: number;
  /** Rows whose inference ran on this thread (inline inference; 0 when off). */
  inlineRows: number;
  /** Requests this thread forwarded to the main thread. */
  forwarded: number;
  /** Inference workers this thread has a link to now (a crashed worker's replacement is linked again). */
  links: number;
  stream: StreamMetrics;
}

/** Acceptor → main. */
export type FromAcceptor =
  | { kind: 'started' }
  | { kind: 'listening' }
  | { kind: 'listenFailed' }
  | { kind: 'forward'; request: ForwardedRequest }
  | { kind: 'aborted'; id: number }
  /** Predictions to hold for click feedback: ids, model, variant, CTR, absolute time (performance.timeOrigin + now). */
  | { kind: 'labels'; ids: string[]; models: Int32Array; variants: Uint8Array; ctrs: Float64Array; times: Float64Array }
  | { kind: 'counters'; counters: AcceptorCounters }
  | { kind: 'finished'; pending: number }
  | { kind: 'closed' }
  | { kind: 'failed'; message: string };
