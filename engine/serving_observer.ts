// What a front end tells telemetry about each answered request. Model index -1
// stands for requests that failed before a model was known (bad JSON, …).
import type { ErrorCode } from './error_codes.js';

export interface ServingObserver {
  /** `rows` predictions for one model answered after `e2eMs` end to end. */
  rowsServed(model: number, rows: number, e2eMs: number): void;
  /** A request (or `rows` rows of one) answered with an error. */
  requestFailed(model: number, code: ErrorCode, rows: number): void;
}
