// What identifies one server process's run for one model: a readable run name
// and the tags that let a later process find a run this one left RUNNING.
import type { KeyValue } from './types.js';
import { MAX_TAG_VALUE_LENGTH } from './limits.js';

/** Tag keys written on every run; `host` + `model` select runs for crash recovery. */
export const RUN_TAG = {
  model: 'model',
  version: 'model_version',
  host: 'host',
  engineVersion: 'engine_version',
  pid: 'pid',
  instance: 'instance_id',
  endReason: 'end_reason',
} as const;

export interface RunIdentityInput {
  model: string;
  version: string;
  host: string;
  startTime: number;
  engineVersion: string;
  pid: number;
  instanceId: string;
  userId: string;
}

/** e.g. "xgboost-v1@web-3-20250102T030405Z": no spaces, so YAML never wraps it. */
export function runName(i: Pick<RunIdentityInput, 'model' | 'version' | 'host' | 'startTime'>): string {
  const stamp = new Date(i.startTime).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${i.model}-v${i.version}@${i.host}-${stamp}`.replace(/\s+/g, '_');
}

/** Our tags plus the system tags MLflow's own client sets on a new run. */
export function runTags(i: RunIdentityInput, extra: Record<string, string>): KeyValue[] {
  const tags: Record<string, string> = {
    ...extra,
    [RUN_TAG.model]: i.model,
    [RUN_TAG.version]: i.version,
    [RUN_TAG.host]: i.host,
    [RUN_TAG.engineVersion]: i.engineVersion,
    [RUN_TAG.pid]: String(i.pid),
    [RUN_TAG.instance]: i.instanceId,
    'mlflow.runName': runName(i),
    'mlflow.user': i.userId,
    'mlflow.source.name': 'ctr-engine',
    'mlflow.source.type': 'LOCAL',
  };
  return Object.entries(tags).map(([key, value]) => ({ key, value: value.slice(0, MAX_TAG_VALUE_LENGTH) }));
}

/** Whether a process with this pid exists on this host (EPERM: it does, as another user). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}
