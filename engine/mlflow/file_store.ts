// MLflow's local file store layout (mlflow/store/tracking/file_store.py), so
// that `mlflow ui --backend-store-uri file:…` shows what the server logged.
// One instance per process; every write is atomic for MLflow's reader.
import { randomInt, randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { appendLines, writeFileAtomic } from './atomic_write.js';
import { isDir, listExperiments, listRunDirs, readKeyedFiles, readMeta, TRASH_FOLDER } from './file_reader.js';
import { keyProblem, MAX_KEY_LENGTH } from './keys.js';
import {
  MlflowError, RunStatus, SOURCE_TYPE_LOCAL, type Clock, type CreateRunInput, type FoundRun, type KeyValue,
  type MetricPoint, type Rejection, type RunRef, type RunStatusName, type TrackingStore,
} from './types.js';
import { pythonFloatRepr } from './values.js';
import { emitFlatYaml, type FlatYaml } from './yaml.js';
import { MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH } from './limits.js';

export const DEFAULT_EXPERIMENT_ID = '0';
export const DEFAULT_EXPERIMENT_NAME = 'Default';
export const RUN_NAME_TAG = 'mlflow.runName';

/** `file:./mlruns`, `file:///abs`, a bare path, or nothing (→ ./mlruns) to an absolute folder. */
export function resolveFileStoreRoot(uri?: string, cwd = process.cwd()): string {
  if (!uri) return resolve(cwd, 'mlruns');
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  const path = uri.startsWith('file:') ? uri.slice('file:'.length) : uri;
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/** mlflow.utils.name_utils._generate_unique_integer_id: 18 digits, no leading zero. */
function newExperimentId(): string {
  let id = String(randomInt(1, 10));
  for (let i = 1; i < 18; i++) id += String(randomInt(0, 10));
  return id;
}

/** pathlib.Path(p).as_uri(), as MLflow derives artifact locations. */
function fileUri(p: string): string {
  return pathToFileURL(p).href;
}

const STATUS_BY_NUMBER = Object.fromEntries(Object.entries(RunStatus).map(([k, v]) => [v, k])) as Record<number, RunStatusName>;

export class FileTrackingStore implements TrackingStore {
  readonly kind = 'file' as const;
  private readonly runDirs = new Map<string, string>();

  constructor(readonly root: string, private readonly clock: Clock = { now: () => Date.now() }) {}

  /** FileStore.__init__: a new root gets the Default experiment; .trash always exists. */
  private async ensureRoot(): Promise<void> {
    if (!existsSync(this.root)) {
      await mkdir(this.root, { recursive: true });
      await this.writeExperiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME);
    }
    await mkdir(join(this.root, TRASH_FOLDER), { recursive: true });
  }

  private async writeExperiment(id: string, name: string): Promise<void> {
    const dir = join(this.root, id);
    await mkdir(dir, { recursive: true });
    const now = this.clock.now();
    await writeFileAtomic(join(dir, 'meta.yaml'), emitFlatYaml({
      artifact_location: fileUri(dir),
      creation_time: now,
      experiment_id: id,
      last_update_time: now,
      lifecycle_stage: 'active',
      name,
    }));
  }

  async getOrCreateExperiment(name: string): Promise<string> {
    await this.ensureRoot();
    for (const exp of await listExperiments(this.root, true)) {
      if (exp.meta.name !== name) continue;
      if (exp.meta.lifecycle_stage === 'deleted') {
        throw new MlflowError(`Experiment '${name}' already exists in deleted state. You can restore the ` +
          'experiment, or permanently delete the experiment from the .trash folder (under tracking server\'s ' +
          'root folder) in order to use this experiment name again.', false, 400, 'RESOURCE_ALREADY_EXISTS');
      }
      return String(exp.meta.experiment_id ?? exp.id);
    }
    let id = newExperimentId();
    while (existsSync(join(this.root, id))) id = newExperimentId();
    await this.writeExperiment(id, name);
    return id;
  }

  private runMeta(input: { runId: string; experimentId: string; runName: string; userId: string;
    startTime: number; endTime: number | null; status: RunStatusName; artifactUri: string }): FlatYaml {
    // FileStore._make_persisted_run_info_dict; no deleted_time because setting
    // the mlflow.runName tag at creation rewrites meta.yaml without it.
    return {
      artifact_uri: input.artifactUri,
      end_time: input.endTime,
      entry_point_name: '',
      experiment_id: input.experimentId,
      lifecycle_stage: 'active',
      run_id: input.runId,
      run_name: input.runName,
      run_uuid: input.runId,
      source_name: '',
      source_type: SOURCE_TYPE_LOCAL,
      source_version: '',
      start_time: input.startTime,
      status: RunStatus[input.status],
      tags: [],
      user_id: input.userId,
    };
  }

  async createRun(input: CreateRunInput): Promise<RunRef> {
    await this.ensureRoot();
    const expDir = join(this.root, input.experimentId);
    if (!(await isDir(expDir))) {
      throw new MlflowError(`Could not create run under experiment with ID ${input.experimentId} - no such ` +
        'experiment exists.', false, 404, 'RESOURCE_DOES_NOT_EXIST');
    }
    const runId = randomUUID().replace(/-/g, '');
    const runDir = join(expDir, runId);
    await mkdir(runDir, { recursive: true });
    const artifactDir = join(runDir, 'artifacts');
    await writeFileAtomic(join(runDir, 'meta.yaml'), emitFlatYaml(this.runMeta({
      runId, experimentId: input.experimentId, runName: input.runName, userId: input.userId,
      startTime: input.startTime, endTime: null, status: 'RUNNING', artifactUri: fileUri(artifactDir),
    })));
    await mkdir(join(runDir, 'metrics'), { recursive: true });
    await mkdir(join(runDir, 'params'), { recursive: true });
    await mkdir(artifactDir, { recursive: true });
    const tags = input.tags.some((t) => t.key === RUN_NAME_TAG)
      ? input.tags : [...input.tags, { key: RUN_NAME_TAG, value: input.runName }];
    this.runDirs.set(runId, runDir);
    const rejected = await this.logBatch(runId, [], [], tags);
    if (rejected.length > 0) throw new MlflowError(rejected[0].message, false, 400, 'INVALID_PARAMETER_VALUE');
    return { runId, experimentId: input.experimentId };
  }

  private async runDir(runId: string): Promise<string> {
    const known = this.runDirs.get(runId);
    if (known) return known;
    for (const exp of await listExperiments(this.root, true)) {
      const dir = join(exp.dir, runId);
      if (await readMeta(dir)) { this.runDirs.set(runId, dir); return dir; }
    }
    throw new MlflowError(`Run '${runId}' not found`, false, 404, 'RESOURCE_DOES_NOT_EXIST');
  }

  async logBatch(runId: string, metrics: MetricPoint[], params: KeyValue[], tags: KeyValue[]): Promise<Rejection[]> {
    const dir = await this.runDir(runId);
    const rejected: Rejection[] = [];
    const keyOk = (kind: Rejection['kind'], key: string, what: string): boolean => {
      const problem = keyProblem(key, what) ??
        (key.length > MAX_KEY_LENGTH ? `${what[0].toUpperCase()}${what.slice(1)} name '${key.slice(0, 250)}' had length ${key.length}, which exceeded length limit of ${MAX_KEY_LENGTH}` : null);
      if (problem) rejected.push({ kind, key, message: problem });
      return problem === null;
    };
    for (const p of params) {
      if (!keyOk('param', p.key, 'parameter')) continue;
      const value = p.value.slice(0, MAX_PARAM_VALUE_LENGTH);
      const path = join(dir, 'params', ...p.key.split('/'));
      const current = await readFile(path, 'utf8').catch(() => null);
      if (current !== null && current !== value) {
        rejected.push({ kind: 'param', key: p.key, message: `Changing param values is not allowed. Param with ` +
          `key='${p.key}' was already logged with value='${current}' for run ID='${runId}'. Attempted logging ` +
          `new value '${value}'.` });
        continue;
      }
      if (current === null) await pathConflict(rejected, 'param', p.key, () => writeFileAtomic(path, value, dir));
    }
    // One append per metric file per batch: all of a key's lines in one write.
    const lines = new Map<string, string>();
    for (const m of metrics) {
      if (!keyOk('metric', m.key, 'metric')) continue;
      lines.set(m.key, (lines.get(m.key) ?? '') + `${Math.trunc(m.timestamp)} ${pythonFloatRepr(m.value)} ${Math.trunc(m.step)}\n`);
    }
    for (const [key, text] of lines) {
      await pathConflict(rejected, 'metric', key, () => appendLines(join(dir, 'metrics', ...key.split('/')), text));
    }
    for (const t of tags) {
      if (!keyOk('tag', t.key, 'tag')) continue;
      await pathConflict(rejected, 'tag', t.key,
        () => writeFileAtomic(join(dir, 'tags', ...t.key.split('/')), t.value.slice(0, MAX_TAG_VALUE_LENGTH), dir));
    }
    return rejected;
  }

  async updateRun(runId: string, status: RunStatusName, endTime: number): Promise<void> {
    const dir = await this.runDir(runId);
    const meta = await readMeta(dir);
    if (!meta) throw new MlflowError(`Run '${runId}' metadata is in invalid state.`, false, 500, 'INVALID_STATE');
    if (meta.lifecycle_stage === 'deleted') {
      throw new MlflowError(`The run ${runId} must be in the 'active' state. Current state is deleted.`, false, 400,
        'INVALID_PARAMETER_VALUE');
    }
    await writeFileAtomic(join(dir, 'meta.yaml'), emitFlatYaml(this.runMeta({
      runId,
      experimentId: String(meta.experiment_id),
      runName: String(meta.run_name ?? ''),
      userId: String(meta.user_id ?? ''),
      startTime: Number(meta.start_time),
      endTime,
      status,
      artifactUri: String(meta.artifact_uri),
    })));
  }

  async findRunningRuns(experimentId: string, tags: Record<string, string>): Promise<FoundRun[]> {
    const out: FoundRun[] = [];
    for (const dir of await listRunDirs(join(this.root, experimentId))) {
      const meta = await readMeta(dir);
      if (!meta || meta.status !== RunStatus.RUNNING || meta.lifecycle_stage === 'deleted') continue;
      const runTags = await readKeyedFiles(join(dir, 'tags'));
      if (!Object.entries(tags).every(([k, v]) => runTags[k] === v)) continue;
      out.push({ runId: String(meta.run_id), status: STATUS_BY_NUMBER[Number(meta.status)] ?? 'RUNNING',
        startTime: Number(meta.start_time), tags: runTags });
    }
    return out;
  }

  async close(): Promise<void> {}
}

/** Filesystem errors that mean "this key collides with another key's folder" (e.g. "a" and "a/b"). */
const PATH_CONFLICT_CODES = new Set(['EEXIST', 'EISDIR', 'ENOTDIR']);

/**
 * Runs one key's write; a key that is both a file and a folder of another key
 * (MLflow's file store cannot hold both either) is refused for good, so the
 * rest of the batch still goes instead of the whole batch retrying forever.
 */
async function pathConflict(rejected: Rejection[], kind: Rejection['kind'], key: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code || !PATH_CONFLICT_CODES.has(code)) throw err;
    rejected.push({ kind, key, message: `${kind} key '${key}' conflicts with another key stored as a folder or file in the ` +
      `file store (${code}): a key cannot also be the prefix of another key` });
  }
}
