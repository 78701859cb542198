// A/B routing: a request without an explicit model goes to one chosen by the
// configured weights, sticky per user_id through a stable hash, so a user sees
// one model for the life of the configuration.
import { fnv1a32 } from './feature_hash.js';
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
  private readonly thresholds: Int32Array;
  private readonly targets: LoadedModel[];
  readonly weights: ReadonlyMap<string, number>;

  constructor(models: readonly LoadedModel[], configured: Record<string, number>) {
    const names = Object.keys(configured);
    for (const n of names) {
      if (!models.some((m) => m.name === n)) throw new TypeError(`AB_WEIGHTS names unknown model ${JSON.stringify(n)} (loaded: ${models.map((m) => m.name).join(', ')})`);
    }
    const weightOf = (m: LoadedModel) => (names.length === 0 ? 1 : configured[m.name] ?? 0);
    const total = models.reduce((s, m) => s + weightOf(m), 0);
    if (!(total > 0)) throw new TypeError('AB_WEIGHTS: the weights must add up to more than 0');
    this.targets = models.filter((m) => weightOf(m) > 0);
    this.thresholds = new Int32Array(this.targets.length);
    let acc = 0;
    this.targets.forEach((m, i) => {
      acc += weightOf(m);
      this.thresholds[i] = i === this.targets.length - 1 ? RESOLUTION : Math.round((acc / total) * RESOLUTION);
    });
    this.weights = new Map(models.map((m) => [m.name, weightOf(m) / total]));
  }

  route(userId: string): LoadedModel {
    const slot = fmix32(fnv1a32(userId, ROUTING_SEED)) % RESOLUTION;
    const t = this.thresholds;
    for (let i = 0; i < t.length; i++) if (slot < t[i]) return this.targets[i];
    return this.targets[this.targets.length - 1];
  }
}
