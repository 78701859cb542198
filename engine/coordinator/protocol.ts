// Messages between the main thread (monitor.ts) and the coordinator thread.
import type { BaselineOutcome } from './baseline.js';
import type { CoordinatorOptions } from './coordinator.js';
import type { HistogramsBody } from './histograms.js';
import type { MlflowMonitorOptions } from './mlflow_flusher.js';
import type { MlflowStatus } from './mlflow_metrics.js';

export type ToThread =
  | { type: 'setBaseline'; id: number; model: string; input: unknown }
  | { type: 'capture'; id: number; model: string; window?: string }
  | { type: 'workers'; alive: number; expected: number }
  /** The last tick's figures as portable HDR histograms (encoded on request, not every tick). */
  | { type: 'histograms'; id: number }
  /** Feedback named a new model version: its label slot. */
  | { type: 'labelVersion'; model: number; slot: number; version: string }
  /** Hot reload switched model `model` (index) to a new version: a final point to the old version's MLflow run, then a new run. */
  | { type: 'modelVersion'; model: number; version: string }
  /** Final tick, final MLflow flush, runs FINISHED within deadlineMs; then 'closed' and the thread ends. */
  | { type: 'close'; deadlineMs: number; status?: 'FINISHED' | 'FAILED' };

export type FromThread =
  /** A msgpack-encoded Snapshot. */
  | { type: 'snapshot'; bytes: Uint8Array }
  | { type: 'reply'; id: number; result: BaselineOutcome }
  | { type: 'histograms'; id: number; body: HistogramsBody | null; error?: string }
  | { type: 'warning'; message: string }
  | { type: 'info'; message: string }
  /** Shutdown done (the last snapshot was posted before it); the thread exits next. */
  | { type: 'closed'; mlflow: MlflowStatus | null };

export interface ThreadData {
  options: CoordinatorOptions;
  /** MLflow logging from this thread; null → off. */
  mlflow: MlflowMonitorOptions | null;
}
