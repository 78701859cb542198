// The tracking store over MLflow's REST API 2.0 (mlflow/protos/service.proto).
import { splitChunk, chunkSize, type BatchChunk } from './chunk.js';
import { MlflowRestClient, type RestClientOptions } from './rest_client.js';
import {
  MlflowError, type CreateRunInput, type FoundRun, type KeyValue, type MetricPoint, type Rejection, type RunRef,
  type RunStatusName, type TrackingStore,
} from './types.js';
import { restDouble } from './values.js';

interface ApiRun {
  info: { run_id?: string; run_uuid?: string; experiment_id: string; status?: RunStatusName; start_time?: number | string };
  data?: { tags?: KeyValue[] };
}

const toBody = (runId: string, c: BatchChunk) => ({
  run_id: runId,
  metrics: c.metrics.map((m) => ({ key: m.key, value: restDouble(m.value), timestamp: m.timestamp, step: m.step })),
  params: c.params,
  tags: c.tags,
});

export class RestTrackingStore implements TrackingStore {
  readonly kind = 'rest' as const;
  readonly client: MlflowRestClient;

  constructor(opts: RestClientOptions) {
    this.client = new MlflowRestClient(opts);
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    // get-by-name → 404 → create; a concurrent create answers RESOURCE_ALREADY_EXISTS, so look again.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const got = await this.client.call<{ experiment: { experiment_id: string; lifecycle_stage?: string } }>(
          'GET', 'experiments/get-by-name', { experiment_name: name });
        if (got.experiment.lifecycle_stage === 'deleted') {
          throw new MlflowError(`Experiment '${name}' is deleted; restore it or choose another MLFLOW_EXPERIMENT_NAME`,
            false, 400, 'INVALID_STATE');
        }
        return got.experiment.experiment_id;
      } catch (err) {
        if (!(err instanceof MlflowError) || err.errorCode !== 'RESOURCE_DOES_NOT_EXIST') throw err;
      }
      try {
        const created = await this.client.call<{ experiment_id: string }>('POST', 'experiments/create', { name });
        return created.experiment_id;
      } catch (err) {
        if (!(err instanceof MlflowError) || err.errorCode !== 'RESOURCE_ALREADY_EXISTS') throw err;
      }
    }
    throw new MlflowError(`Experiment '${name}' keeps appearing and disappearing`, true);
  }

  async createRun(input: CreateRunInput): Promise<RunRef> {
    const res = await this.client.call<{ run: ApiRun }>('POST', 'runs/create', {
      experiment_id: input.experimentId,
      user_id: input.userId,
      start_time: input.startTime,
      run_name: input.runName,
      tags: input.tags,
    });
    return { runId: res.run.info.run_id ?? res.run.info.run_uuid ?? '', experimentId: res.run.info.experiment_id };
  }

  /**
   * Sends one chunk (the sink chunks within limits). A 4xx on a chunk is
   * narrowed by halving until the refused entities are found, so everything
   * else still goes. If both halves fail exactly like their parent, the fault
   * is the run's, not an entity's, and the chunk is reported once.
   */
  async logBatch(runId: string, metrics: MetricPoint[], params: KeyValue[], tags: KeyValue[]): Promise<Rejection[]> {
    const rejected: Rejection[] = [];
    const chunk = { metrics, params, tags };
    const err = await this.trySend(runId, chunk);
    if (err) await this.narrow(runId, chunk, err, rejected);
    return rejected;
  }

  /** undefined when accepted; the refusal when it is final; throws when retrying may help. */
  private async trySend(runId: string, chunk: BatchChunk): Promise<MlflowError | undefined> {
    if (chunkSize(chunk) === 0) return undefined;
    try {
      await this.client.call('POST', 'runs/log-batch', toBody(runId, chunk));
      return undefined;
    } catch (err) {
      if (!(err instanceof MlflowError) || err.retryable || err.errorCode === 'RESOURCE_DOES_NOT_EXIST') throw err;
      return err;
    }
  }

  private async narrow(runId: string, chunk: BatchChunk, err: MlflowError, out: Rejection[]): Promise<void> {
    if (chunkSize(chunk) === 1) {
      const [kind, key] = chunk.metrics[0] ? ['metric', chunk.metrics[0].key] as const
        : chunk.params[0] ? ['param', chunk.params[0].key] as const : ['tag', chunk.tags[0].key] as const;
      out.push({ kind, key, message: err.message });
      return;
    }
    const [a, b] = splitChunk(chunk);
    const ea = await this.trySend(runId, a);
    const eb = await this.trySend(runId, b);
    if (ea && eb && ea.message === err.message && eb.message === err.message) {
      out.push({ kind: 'batch', key: `${chunkSize(chunk)} entities`, message: err.message });
      return;
    }
    if (ea) await this.narrow(runId, a, ea, out);
    if (eb) await this.narrow(runId, b, eb, out);
  }

  async updateRun(runId: string, status: RunStatusName, endTime: number): Promise<void> {
    await this.client.call('POST', 'runs/update', { run_id: runId, run_uuid: runId, status, end_time: endTime });
  }

  async findRunningRuns(experimentId: string, tags: Record<string, string>): Promise<FoundRun[]> {
    const clauses = ["attributes.status = 'RUNNING'",
      ...Object.entries(tags).map(([k, v]) => `tags.\`${k}\` = '${v.replace(/'/g, "\\'")}'`)];
    const res = await this.client.call<{ runs?: ApiRun[] }>('POST', 'runs/search', {
      experiment_ids: [experimentId], filter: clauses.join(' and '), run_view_type: 'ACTIVE_ONLY', max_results: 100,
    });
    return (res.runs ?? []).map((r) => ({
      runId: r.info.run_id ?? r.info.run_uuid ?? '',
      status: r.info.status ?? 'RUNNING',
      startTime: Number(r.info.start_time ?? 0),
      tags: Object.fromEntries((r.data?.tags ?? []).map((t) => [t.key, t.value])),
    }));
  }

  abortInFlight(): void {
    this.client.abortInFlight();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
