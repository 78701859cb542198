// Picks the tracking backend from MLFLOW_TRACKING_URI the way MLflow does:
// unset, a bare path or file: → the local file store; http(s):// → REST.
import { authHeaderFromEnv } from './auth.js';
import { FileTrackingStore, resolveFileStoreRoot } from './file_store.js';
import { RestTrackingStore } from './rest_store.js';
import { DEFAULT_RETRY_POLICY, retryPolicyFromEnv, type RetryPolicy } from './retry_policy.js';
import type { Clock, TrackingStore } from './types.js';

export interface StoreFactoryOptions {
  trackingUri?: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  retryPolicy?: Partial<RetryPolicy>;
  userAgent?: string;
}

export function isRestUri(uri: string | undefined): boolean {
  return !!uri && /^https?:\/\//i.test(uri);
}

export function createTrackingStore(opts: StoreFactoryOptions): TrackingStore {
  const env = opts.env ?? process.env;
  const uri = opts.trackingUri?.trim() || undefined;
  if (isRestUri(uri)) {
    return new RestTrackingStore({
      trackingUri: uri as string,
      authHeader: authHeaderFromEnv(env),
      policy: { ...retryPolicyFromEnv(env, DEFAULT_RETRY_POLICY), ...opts.retryPolicy },
      insecureTls: env.MLFLOW_TRACKING_INSECURE_TLS === 'true',
      userAgent: opts.userAgent,
      now: opts.clock ? () => opts.clock!.now() : undefined,
    });
  }
  if (uri && /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith('file:')) {
    throw new Error(`MLFLOW_TRACKING_URI scheme not supported here: ${uri} (use http(s):// or file:)`);
  }
  return new FileTrackingStore(resolveFileStoreRoot(uri), opts.clock);
}
