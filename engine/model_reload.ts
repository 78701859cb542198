// Hot reload: a model's folder is loaded again while traffic flows, on
// POST /models/{name}/reload or when the folder changes (MODELS_WATCH).
//
// The registry slot (index, width, shared batch slots, telemetry shard) stays;
// what changes is the generation. The new manifest and ONNX are loaded and
// checked on this (main) thread; every worker then opens the new session
// beside the old one and runs a row through it; only when all have confirmed
// does the switch happen, synchronously, between two requests: the registry,
// the batcher's open batch, the A/B split and the coordinator (stats,
// /metrics, a new MLflow run for a new version) move to the new generation.
// Batches encoded before the switch name the old generation and finish on the
// old session. Any failure before the switch leaves the old version serving
// and is kept in registry.reloads (GET /models) and logged.
//
// A width change is refused: the shared task slots are laid out per model
// width at start (engine/batch_slots.ts); a restart takes the new width.
import { watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { AbRouter } from './ab_router.js';
import type { Batcher } from './batcher.js';
import type { Monitor } from './coordinator/index.js';
import type { InferencePool } from './inference_pool.js';
import { logger } from './logger.js';
import { loadModel, workerSpec, type LoadedModel, type ModelRegistry, type ReloadStatus } from './model_registry.js';

const log = logger('reload');
const OPEN_TIMEOUT_MS = 60_000;

export interface ReloadDeps {
  modelsDir: string;
  registry: ModelRegistry;
  router: AbRouter;
  batcher: Batcher;
  pool: Pick<InferencePool<unknown>, 'openEverywhere'>;
  monitor: Pick<Monitor, 'setModelVersion'>;
  /** Click labels: predictions after the switch are filed under the new version. */
  labels: { setServingVersion(model: number, version: string): void } | null;
}

export class ModelReloader {
  private nextGeneration = 1;
  /** Reloads run one at a time (each waits for every worker). */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly watchers = new Set<FSWatcher>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;
  /** Told of each switch, right after it (ACCEPTORS > 1: the acceptor threads switch to the same generation). */
  onSwitch: ((fresh: LoadedModel) => void) | null = null;

  constructor(private readonly deps: ReloadDeps) {}

  /**
   * Loads model `name`'s folder again and switches to it once every worker
   * can run it. Resolves with the outcome (also in registry.reloads); never
   * rejects. Undefined for a model the registry does not serve from a slot.
   */
  reload(name: string, trigger: ReloadStatus['trigger']): Promise<ReloadStatus> | undefined {
    if (this.deps.registry.get(name) === undefined) return undefined;
    const run = this.chain.then(() => this.attempt(name, trigger));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async attempt(name: string, trigger: ReloadStatus['trigger']): Promise<ReloadStatus> {
    const { registry, pool } = this.deps;
    const started = performance.now();
    const old = registry.get(name)!;
    const finish = (status: ReloadStatus['status'], reason: string, version: string): ReloadStatus => {
      const s: ReloadStatus = { status, reason, at: new Date().toISOString(), version, duration_ms: Math.round((performance.now() - started) * 10) / 10, trigger };
      registry.reloads.set(name, s);
      if (status === 'failed') log.warn(`model ${name}: reload failed, version ${old.version} keeps serving: ${reason}`, { model: name, trigger });
      else log.info(`model ${name}: ${reason}`, { model: name, version, trigger, duration_ms: s.duration_ms });
      return s;
    };
    registry.reloads.set(name, { status: 'loading', at: new Date().toISOString(), version: old.version, trigger });
    const generation = this.nextGeneration++;
    let fresh;
    try {
      fresh = loadModel(resolve(this.deps.modelsDir), old.folder, old.index, generation);
    } catch (err) {
      return finish('failed', (err as Error).message, old.version);
    }
    if (fresh.name !== old.name) {
      return finish('failed', `the manifest in ${old.folder} now names ${JSON.stringify(fresh.name)}; a reload keeps the name (${JSON.stringify(old.name)}), restart to rename`, old.version);
    }
    if (fresh.width !== old.width) {
      return finish('failed', `the new manifest encodes ${fresh.width} columns, the serving version ${old.width}: a reload keeps the input width (the shared batch slots are laid out for it); restart the server to change it`, old.version);
    }
    // A worker that never answers must not hold every later reload: give up, the old version serves.
    let timer: NodeJS.Timeout | undefined;
    const refused = await Promise.race([
      pool.openEverywhere(workerSpec(fresh), old.generation),
      new Promise<string>((r) => { timer = setTimeout(() => r(`the workers did not confirm the new session within ${OPEN_TIMEOUT_MS / 1000} s`), OPEN_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    if (refused !== null) return finish('failed', refused, old.version);
    if (this.closed) return finish('failed', 'the server is stopping', old.version);
    // The switch: synchronous, so no request sees half of it.
    const current = registry.get(name)!;
    registry.replace(fresh);
    this.deps.batcher.switchModel(fresh);
    this.deps.router.refresh(registry.models);
    if (fresh.version !== current.version) {
      this.deps.monitor.setModelVersion(fresh.index, fresh.version);
      this.deps.labels?.setServingVersion(fresh.index, fresh.version);
    }
    this.onSwitch?.(fresh);
    const what = fresh.version === current.version ? `reloaded (version ${fresh.version} again)` : `version ${fresh.version} serves (was ${current.version})`;
    return finish('ok', what, fresh.version);
  }

  /**
   * Watches each served model's folder (and MODELS_DIR, for a folder replaced
   * by a rename); a change reloads that model after `debounceMs` of quiet.
   */
  watch(debounceMs: number): void {
    const dir = resolve(this.deps.modelsDir);
    const byFolder = new Map(this.deps.registry.models.map((m) => [m.folder, m.name]));
    const schedule = (name: string) => {
      if (this.closed) return;
      clearTimeout(this.timers.get(name));
      const t = setTimeout(() => {
        this.timers.delete(name);
        void this.reload(name, 'watch');
      }, debounceMs);
      t.unref();
      this.timers.set(name, t);
    };
    const add = (path: string, onChange: (file: string | null) => void): FSWatcher | null => {
      try {
        const w = watch(path, { persistent: false }, (_event, file) => onChange(file === null ? null : String(file)));
        w.on('error', (err) => log.warn(`cannot watch ${path} any more: ${err.message}`));
        this.watchers.add(w);
        return w;
      } catch (err) {
        log.warn(`cannot watch ${path}: ${(err as Error).message}`);
        return null;
      }
    };
    const folderWatchers = new Map<string, FSWatcher | null>();
    const watchFolder = (folder: string, name: string) => {
      const old = folderWatchers.get(folder);
      if (old) { old.close(); this.watchers.delete(old); }
      folderWatchers.set(folder, add(resolve(dir, folder), () => schedule(name)));
    };
    add(dir, (file) => {
      const name = file === null ? undefined : byFolder.get(file);
      if (name === undefined) return;
      // The folder itself was replaced (a new one renamed over it): watch the new one.
      watchFolder(file!, name);
      schedule(name);
    });
    for (const [folder, name] of byFolder) watchFolder(folder, name);
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
