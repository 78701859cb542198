// Shapes shared by the MLflow stores and the sink.

/** MLflow's RunStatus enum (mlflow/protos/service.proto); the file store persists the integer. */
export const RunStatus = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 } as const;
export type RunStatusName = keyof typeof RunStatus;

/** SourceType.LOCAL, which the file store always persists. */
export const SOURCE_TYPE_LOCAL = 4;

export interface MetricPoint { key: string; value: number; timestamp: number; step: number }
export interface KeyValue { key: string; value: string }

export interface RunRef { runId: string; experimentId: string }

export interface FoundRun { runId: string; status: RunStatusName; startTime: number; tags: Record<string, string> }

export interface CreateRunInput {
  experimentId: string;
  runName: string;
  startTime: number;
  userId: string;
  tags: KeyValue[];
}

/** One entity MLflow refused for good (a 4xx retrying cannot fix). */
export interface Rejection { kind: 'metric' | 'param' | 'tag' | 'batch'; key: string; message: string }

/**
 * What the sink needs from a tracking backend. Methods throw on failure; an
 * error with `retryable: true` means "try again later", anything else is final.
 */
export interface TrackingStore {
  readonly kind: 'file' | 'rest';
  getOrCreateExperiment(name: string): Promise<string>;
  createRun(input: CreateRunInput): Promise<RunRef>;
  /** Logs everything it can; entities refused for good are returned, not thrown. */
  logBatch(runId: string, metrics: MetricPoint[], params: KeyValue[], tags: KeyValue[]): Promise<Rejection[]>;
  updateRun(runId: string, status: RunStatusName, endTime: number): Promise<void>;
  /** Runs still RUNNING whose tags include all of `tags`. */
  findRunningRuns(experimentId: string, tags: Record<string, string>): Promise<FoundRun[]>;
  /** Cancels requests in flight (a shutdown deadline); optional for stores that cannot. */
  abortInFlight?(): void;
  close(): Promise<void>;
}

export interface MlflowLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface Clock { now(): number }

/** A store failure; `retryable` tells the sink to keep the data and try later. */
export class MlflowError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}
