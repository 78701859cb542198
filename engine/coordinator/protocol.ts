// Messages between the main thread (monitor.ts) and the coordinator thread.
import type { BaselineOutcome } from './baseline.js';
import type { CoordinatorOptions } from './coordinator.js';

export type ToThread =
  | { type: 'setBaseline'; id: number; model: string; input: unknown }
  | { type: 'capture'; id: number; model: string; window?: string }
  | { type: 'workers'; alive: number; expected: number }
  | { type: 'close' };

export type FromThread =
  /** A msgpack-encoded Snapshot. */
  | { type: 'snapshot'; bytes: Uint8Array }
  | { type: 'reply'; id: number; result: BaselineOutcome }
  | { type: 'warning'; message: string };

export interface ThreadData { options: CoordinatorOptions }
