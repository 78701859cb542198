// One MLflow REST 2.0 call with MLflow's client behaviour: JSON bodies, auth
// header, per-request timeout, retries on transient statuses and connection
// errors with backoff and Retry-After. Speaks through one undici Pool.
import { Pool } from 'undici';
import { backoffMs, DEFAULT_RETRY_POLICY, isTransientStatus, parseRetryAfterMs, type RetryPolicy } from './retry_policy.js';
import { MlflowError } from './types.js';

export interface RestClientOptions {
  trackingUri: string;
  authHeader?: string;
  policy?: RetryPolicy;
  /** Sockets to the tracking server; the sink sends one request at a time per model. */
  connections?: number;
  insecureTls?: boolean;
  userAgent?: string;
  now?: () => number;
  random?: () => number;
}

const API_PREFIX = '/api/2.0/mlflow/';

/** Carries a non-transient answer past the retry loop's catch. */
class FinalAnswer { constructor(readonly error: MlflowError) {} }

/** Sleeps unless `signal` fires first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return; }
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal.reason); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class MlflowRestClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly policy: RetryPolicy;
  private closing = new AbortController();

  constructor(private readonly opts: RestClientOptions) {
    const url = new URL(opts.trackingUri);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.policy = opts.policy ?? DEFAULT_RETRY_POLICY;
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 2,
      keepAliveTimeout: 10_000,
      headersTimeout: this.policy.timeoutMs,
      bodyTimeout: this.policy.timeoutMs,
      connect: opts.insecureTls ? { rejectUnauthorized: false } : undefined,
    });
  }

  /** Calls `endpoint` (e.g. "runs/log-batch"): GET with query parameters, POST with a JSON body. */
  async call<T>(method: 'GET' | 'POST', endpoint: string, payload: Record<string, unknown>): Promise<T> {
    const now = this.opts.now ?? Date.now;
    let path = this.basePath + API_PREFIX + endpoint;
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'ctr-engine-mlflow' };
    if (this.opts.authHeader) headers.authorization = this.opts.authHeader;
    let body: string | undefined;
    if (method === 'GET') {
      const qs = new URLSearchParams(Object.entries(payload).map(([k, v]) => [k, String(v)])).toString();
      if (qs) path += '?' + qs;
    } else {
      body = JSON.stringify(payload);
      headers['content-type'] = 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      const closing = this.closing.signal;
      if (closing.aborted) throw new MlflowError('MLflow client closed', true);
      let waitMs: number | undefined;
      let failure: MlflowError;
      const timeout = AbortSignal.timeout(this.policy.timeoutMs);
      try {
        const res = await this.pool.request({
          path, method, headers, body, signal: AbortSignal.any([timeout, closing]),
        });
        const text = await res.body.text();
        if (res.statusCode >= 200 && res.statusCode < 300) return (text ? JSON.parse(text) : {}) as T;
        failure = errorFromResponse(res.statusCode, text);
        // Only transient statuses are retried here; the sink decides about the rest.
        if (!isTransientStatus(res.statusCode)) throw new FinalAnswer(failure);
        waitMs = parseRetryAfterMs(res.headers['retry-after'], now());
      } catch (err) {
        if (err instanceof FinalAnswer) throw err.error;
        if (err instanceof MlflowError) failure = err;
        else if (timeout.aborted && !closing.aborted) {
          failure = new MlflowError(`MLflow request ${endpoint} timed out after ${this.policy.timeoutMs} ms`, true);
        } else {
          const e = err as NodeJS.ErrnoException;
          failure = new MlflowError(`MLflow unreachable (${e.code ?? e.name}): ${e.message}`, true);
        }
      }
      if (attempt >= this.policy.maxRetries) throw failure;
      const delay = waitMs !== undefined
        ? Math.min(waitMs, this.policy.retryAfterMaxMs)
        : backoffMs(this.policy, attempt + 1, this.opts.random);
      try { await sleep(delay, this.closing.signal); } catch { throw failure; }
    }
  }

  /** Cancels in-flight requests and backoff sleeps (close deadline); the pool stays usable. */
  abortInFlight(): void {
    this.closing.abort(new MlflowError('MLflow client closed', true));
    this.closing = new AbortController();
  }

  async close(): Promise<void> {
    this.closing.abort(new MlflowError('MLflow client closed', true));
    await this.pool.destroy().catch(() => undefined);
  }
}

/** MLflow answers errors as {"error_code": "...", "message": "..."} (RestException). */
export function errorFromResponse(status: number, text: string): MlflowError {
  let code: string | undefined;
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error_code?: string; message?: string };
    if (parsed && typeof parsed === 'object') {
      code = parsed.error_code;
      if (parsed.message !== undefined) message = parsed.message;
    }
  } catch { /* not JSON: a proxy page, keep the text */ }
  const full = code ? `${code}: ${message}` : `HTTP ${status}: ${message}`;
  return new MlflowError(full, isTransientStatus(status) || status === 401 || status === 403, status, code);
}
