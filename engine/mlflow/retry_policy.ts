// MLflow's client retry policy (mlflow/utils/request_utils.py and
// environment_variables.py): transient statuses 408, 429, 500, 502, 503, 504,
// retried for every method including POST; urllib3 exponential backoff
// backoff_factor * 2^(n-1) plus uniform jitter; Retry-After honoured.

export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface RetryPolicy {
  /** MLFLOW_HTTP_REQUEST_MAX_RETRIES (MLflow: 7; older 5). */
  maxRetries: number;
  /** MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR in ms (MLflow: 2 s). */
  backoffFactorMs: number;
  /** MLFLOW_HTTP_REQUEST_BACKOFF_JITTER in ms (MLflow: 1 s). */
  backoffJitterMs: number;
  /** urllib3's backoff cap (120 s). */
  backoffMaxMs: number;
  /** MLFLOW_HTTP_REQUEST_TIMEOUT in ms (MLflow: 120 s). */
  timeoutMs: number;
  /** Longest Retry-After we will sleep for inside one attempt. */
  retryAfterMaxMs: number;
}

/**
 * Defaults for a background sink: fewer in-request retries than MLflow's
 * client (the sink itself keeps retrying across flushes) and a shorter timeout
 * so a stalled server cannot hold a batch for minutes.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  backoffFactorMs: 2000,
  backoffJitterMs: 1000,
  backoffMaxMs: 120_000,
  timeoutMs: 30_000,
  retryAfterMaxMs: 120_000,
};

/** Reads MLflow's own environment variables over the defaults. */
export function retryPolicyFromEnv(env: NodeJS.ProcessEnv, base: RetryPolicy = DEFAULT_RETRY_POLICY): RetryPolicy {
  const num = (name: string) => {
    const v = env[name];
    return v !== undefined && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;
  };
  return {
    ...base,
    maxRetries: num('MLFLOW_HTTP_REQUEST_MAX_RETRIES') ?? base.maxRetries,
    backoffFactorMs: (num('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR') ?? base.backoffFactorMs / 1000) * 1000,
    backoffJitterMs: (num('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER') ?? base.backoffJitterMs / 1000) * 1000,
    timeoutMs: (num('MLFLOW_HTTP_REQUEST_TIMEOUT') ?? base.timeoutMs / 1000) * 1000,
  };
}

export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status);
}

/** Delay before retry number `attempt` (1-based), as urllib3 + MLflow's JitteredRetry compute it. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.backoffMaxMs, policy.backoffFactorMs * 2 ** Math.max(0, attempt - 1));
  return base + random() * policy.backoffJitterMs;
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
