// Seeded request generator drawing from the same distributions the demo
// models were trained on (engine/training/traffic_profile.json, written by
// engine/training/train.py). Tests, the bench and the drift tests use it, so
// it is deterministic per seed and cheap per call: every distribution is an
// alias table built once, ids are prebuilt strings, and a draw is a few PRNG
// steps plus one small object.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot } from '../../engine/config.js';

export interface DemoRequest {
  user_id: string;
  ad_id: string;
  device: string;
  placement: string;
  context: { hour: number };
}

/** Zipf-like id population: ids prefix + first_id … prefix + (first_id + count - 1), P(rank k) ∝ k^-exponent. */
export interface IdPopulation { prefix: string; count: number; first_id: number; exponent: number }

export interface TrafficProfile {
  users: IdPopulation;
  ads: IdPopulation;
  device: Record<string, number>;
  placement: Record<string, number>;
  /** 24 probabilities, hour 0 first. */
  hour: number[];
}

/**
 * A change of traffic mix, for drift tests. `device` / `placement` set the
 * probability of the categories they name (new categories allowed, e.g. an
 * unknown device); the other categories share what is left in their profile
 * proportions. `*PopularityExponent` replaces the Zipf exponent; `hourOffset`
 * (an integer) moves every sampled hour forward, modulo 24.
 */
export interface TrafficShift {
  device?: Record<string, number>;
  placement?: Record<string, number>;
  userPopularityExponent?: number;
  adPopularityExponent?: number;
  hourOffset?: number;
}

export interface TrafficSampler { next(): DemoRequest }

export function trafficProfilePath(): string {
  return resolve(projectRoot(), 'engine/training/traffic_profile.json');
}

function bad(msg: string): never {
  throw new TypeError(`traffic profile: ${msg}`);
}

function checkProbs(where: string, probs: unknown): void {
  if (typeof probs !== 'object' || probs === null) bad(`"${where}" must be an object or array of probabilities`);
  const values = Object.values(probs);
  if (values.length === 0 || !values.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0)) {
    bad(`"${where}" must hold finite non-negative probabilities`);
  }
  const sum = (values as number[]).reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) bad(`"${where}" sums to ${sum}, not 1`);
}

function checkPopulation(where: string, p: unknown): void {
  const o = p as Partial<IdPopulation> | null;
  if (typeof o !== 'object' || o === null || typeof o.prefix !== 'string') bad(`"${where}.prefix" must be a string`);
  if (!Number.isInteger(o.count) || o.count! < 1) bad(`"${where}.count" must be a positive integer`);
  if (!Number.isInteger(o.first_id) || o.first_id! < 0) bad(`"${where}.first_id" must be a non-negative integer`);
  if (typeof o.exponent !== 'number' || !Number.isFinite(o.exponent) || o.exponent < 0) bad(`"${where}.exponent" must be >= 0`);
}

/** Reads and validates a profile (default: the shipped one). */
export function loadTrafficProfile(path = trafficProfilePath()): TrafficProfile {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as TrafficProfile;
  checkPopulation('users', raw.users);
  checkPopulation('ads', raw.ads);
  checkProbs('device', raw.device);
  checkProbs('placement', raw.placement);
  if (!Array.isArray(raw.hour) || raw.hour.length !== 24) bad('"hour" must list 24 probabilities');
  checkProbs('hour', raw.hour);
  return raw;
}

/** mulberry32: tiny, fast, good enough for traffic; returns a uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Walker/Vose alias table: O(1) draws from a discrete distribution with one
 * uniform (its integer part picks a column, its fraction the column's side).
 */
class AliasTable {
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;
  readonly n: number;

  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i];
    if (!(total > 0)) throw new TypeError('traffic sampler: a distribution has no mass');
    const prob = new Float64Array(n);
    const alias = new Int32Array(n);
    const scaled = new Float64Array(n);
    const small: number[] = [];
    const large: number[] = [];
    for (let i = 0; i < n; i++) {
      scaled[i] = (weights[i] * n) / total;
      (scaled[i] < 1 ? small : large).push(i);
    }
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large.pop()!;
      prob[s] = scaled[s];
      alias[s] = l;
      scaled[l] = scaled[l] + scaled[s] - 1;
      (scaled[l] < 1 ? small : large).push(l);
    }
    // leftovers are 1 up to rounding
    for (const i of large) prob[i] = 1;
    for (const i of small) prob[i] = 1;
    this.prob = prob;
    this.alias = alias;
    this.n = n;
  }

  sample(u: number): number {
    const x = u * this.n;
    const i = x | 0;
    return x - i < this.prob[i] ? i : this.alias[i];
  }
}

/** Profile probabilities with the shift's overrides; the rest rescaled to fill 1. */
function shiftedMix(where: string, base: Record<string, number>, override: Record<string, number> | undefined): [string[], number[]] {
  if (override === undefined) return [Object.keys(base), Object.values(base)];
  let fixed = 0;
  for (const [k, p] of Object.entries(override)) {
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) throw new TypeError(`traffic shift: "${where}.${k}" must be a non-negative number`);
    fixed += p;
  }
  if (fixed > 1 + 1e-9) throw new TypeError(`traffic shift: "${where}" probabilities sum to ${fixed} > 1`);
  let restBase = 0;
  for (const k of Object.keys(base)) if (!(k in override)) restBase += base[k];
  const names: string[] = [];
  const probs: number[] = [];
  for (const k of Object.keys(base)) {
    if (k in override) continue;
    names.push(k);
    probs.push(restBase > 0 ? ((1 - fixed) * base[k]) / restBase : 0);
  }
  for (const [k, p] of Object.entries(override)) {
    names.push(k);
    probs.push(p);
  }
  return [names, probs];
}

function idPopulation(pop: IdPopulation, exponent: number): [string[], AliasTable] {
  const ids = new Array<string>(pop.count);
  const weights = new Float64Array(pop.count);
  for (let k = 0; k < pop.count; k++) {
    ids[k] = pop.prefix + (pop.first_id + k);
    weights[k] = Math.pow(k + 1, -exponent);
  }
  return [ids, new AliasTable(weights)];
}

function exponentOf(where: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`traffic shift: "${where}" must be a finite number >= 0`);
  return v;
}

export function createTrafficSampler(opts: { seed?: number; shift?: TrafficShift; profile?: TrafficProfile } = {}): TrafficSampler {
  const profile = opts.profile ?? loadTrafficProfile();
  const shift = opts.shift ?? {};
  const hourOffset = shift.hourOffset ?? 0;
  if (!Number.isInteger(hourOffset)) throw new TypeError('traffic shift: "hourOffset" must be an integer');

  const [users, userTable] = idPopulation(profile.users, exponentOf('userPopularityExponent', shift.userPopularityExponent, profile.users.exponent));
  const [ads, adTable] = idPopulation(profile.ads, exponentOf('adPopularityExponent', shift.adPopularityExponent, profile.ads.exponent));
  const [devices, deviceProbs] = shiftedMix('device', profile.device, shift.device);
  const [placements, placementProbs] = shiftedMix('placement', profile.placement, shift.placement);
  const deviceTable = new AliasTable(deviceProbs);
  const placementTable = new AliasTable(placementProbs);
  const hourTable = new AliasTable(profile.hour);
  const hourShift = ((hourOffset % 24) + 24) % 24;
  const rand = mulberry32(opts.seed ?? 1);

  return {
    next(): DemoRequest {
      return {
        user_id: users[userTable.sample(rand())],
        ad_id: ads[adTable.sample(rand())],
        device: devices[deviceTable.sample(rand())],
        placement: placements[placementTable.sample(rand())],
        context: { hour: (hourTable.sample(rand()) + hourShift) % 24 },
      };
    },
  };
}
