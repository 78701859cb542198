// A/B routing: a request without an explicit model goes to one chosen by the
// configured weights, sticky per routing key (the manifests' `routing_key`,
// default user_id) through a stable hash, so a user sees one model for the
// life of the configuration. A request without the key (or with a key that is
// neither a string nor a number) is routed at random by the same weights: no
// stickiness is possible, and hashing "nothing" would send all of them to one
// model and skew the split.
import { fnv1a32 } from './feature_hash.js';
import { DEFAULT_ROUTING_KEY, fieldPath, fieldValue } from './manifest.js';
import type { LoadedModel } from './model_registry.js';

// A seed distinct from the feature buckets' so routing is independent of them.
const ROUTING_SEED = 0x5eed_ab01;
const RESOLUTION = 10_000;

/** murmur3's finaliser: FNV's low bits are weak for near-identical ids like user_1, user_2. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class AbRouter {
  /** Cumulative thresholds in [0, RESOLUTION); models with weight 0 are reachable only explicitly. */
  private thresholds: Int32Array;
  private targets: LoadedModel[];
  weights: ReadonlyMap<string, number>;
  /** The request field hashed for stickiness: the first A/B target's routing_key (they should agree). */
  readonly routingKey: string;
  private readonly keyParent: string | null;
  private readonly keyName: string;
  private configured: Record<string, number>;

  constructor(models: readonly LoadedModel[], configured: Record<string, number>) {
    const names = Object.keys(configured);
    for (const n of names) {
      if (!models.some((m) => m.name === n)) throw new TypeError(`AB_WEIGHTS names unknown model ${JSON.stringify(n)} (loaded: ${models.map((m) => m.name).join(', ')})`);
    }
    this.configured = configured;
    this.thresholds = new Int32Array(0);
    this.targets = [];
    this.weights = new Map();
    this.split(models);
    this.routingKey = this.targets[0]?.manifest.routing_key ?? DEFAULT_ROUTING_KEY;
    [this.keyParent, this.keyName] = fieldPath(this.routingKey);
  }

  /** (Re)computes the split over `models`; a model left out (failed) gets weight 0. */
  private split(models: readonly LoadedModel[]): void {
    const names = Object.keys(this.configured);
    const weightOf = (m: LoadedModel) => (names.length === 0 ? 1 : this.configured[m.name] ?? 0);
    const total = models.reduce((s, m) => s + weightOf(m), 0);
    if (!(total > 0)) throw new TypeError('AB_WEIGHTS: the weights must add up to more than 0');
    const targets = models.filter((m) => weightOf(m) > 0);
    const thresholds = new Int32Array(targets.length);
    let acc = 0;
    targets.forEach((m, i) => {
      acc += weightOf(m);
      thresholds[i] = i === targets.length - 1 ? RESOLUTION : Math.round((acc / total) * RESOLUTION);
    });
    this.targets = targets;
    this.thresholds = thresholds;
    this.weights = new Map(models.map((m) => [m.name, weightOf(m) / total]));
  }

  /**
   * Stops routing to `model` (it failed after loading); the others share its
   * weight. False when no weighted model would be left (the split stays).
   */
  exclude(model: LoadedModel, all: readonly LoadedModel[]): boolean {
    const left = all.filter((m) => m !== model && m.failure === undefined);
    try {
      this.split(left);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Recomputes the split over the models that serve now: after a hot reload
   * put a new generation in a slot (targets hold the model objects), or when
   * a model failed. False when no weighted model would serve (the split stays).
   */
  refresh(all: readonly LoadedModel[]): boolean {
    try {
      this.split(all.filter((m) => m.failure === undefined));
      return true;
    } catch {
      return false;
    }
  }

  /** The configured weights (as given, before normalising), for persisting them. */
  get configuredWeights(): Readonly<Record<string, number>> {
    return this.configured;
  }

  /**
   * PUT /ab: new weights at run time. Throws a TypeError naming the bad
   * entry (unknown model, not a finite number ≥ 0, all zero among serving
   * models); the split is unchanged then.
   */
  setWeights(weights: Record<string, number>, all: readonly LoadedModel[]): void {
    const names = Object.keys(weights);
    if (names.length === 0) throw new TypeError('weights: name at least one model');
    for (const n of names) {
      if (!all.some((m) => m.name === n)) throw new TypeError(`weights.${n}: no model ${JSON.stringify(n)} (loaded: ${all.map((m) => m.name).join(', ')})`);
      const w = weights[n];
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new TypeError(`weights.${n}: expected a finite number ≥ 0, got ${JSON.stringify(w)}`);
    }
    const before = this.configured;
    this.configured = { ...weights };
    try {
      this.split(all.filter((m) => m.failure === undefined));
    } catch {
      this.configured = before;
      throw new TypeError('weights: the weights of the serving models must add up to more than 0');
    }
  }

  /** The model for a request body without an explicit model. */
  routeRequest(body: Readonly<Record<string, unknown>>): LoadedModel {
    const key = fieldValue(body, this.keyParent, this.keyName);
    if (typeof key === 'string') return this.route(key);
    if (typeof key === 'number') return this.route(String(key));
    return this.pick(Math.floor(Math.random() * RESOLUTION));
  }

  /** The model a routing-key value is sticky to. */
  route(key: string): LoadedModel {
    return this.pick(fmix32(fnv1a32(key, ROUTING_SEED)) % RESOLUTION);
  }

  private pick(slot: number): LoadedModel {
    const t = this.thresholds;
    for (let i = 0; i < t.length; i++) if (slot < t[i]) return this.targets[i];
    return this.targets[this.targets.length - 1];
  }
}
