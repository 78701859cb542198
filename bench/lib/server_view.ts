// The server's own view of a measured window: the engine's (and the
// native-free server's) GET /metrics histograms of its stage latencies,
// scraped when the window opens and when it closes, and subtracted. A client
// p99 far above the server's end-to-end p99 means the time went outside the
// server's request handling (the kernel, the scheduler, the generator, or the
// event loop being blocked before the request was read); close to it means
// the server spent it. Prometheus buckets are coarse (… 0.5, 1, 2.5, 5 ms …),
// so percentiles are interpolated inside a bucket and marked "≈"; the share
// within 1 ms is exact, 1 ms being a bucket edge.
//
// /metrics serves the coordinator's last merged snapshot, up to one tick old
// (MONITOR_TICK_MS, 1 s by default). The opening read comes just after the
// window opens, and holds a snapshot from the tick before: up to one tick of
// the (steady, same-rate) warm-up may count. The closing read waits a tick
// and a little, so it holds everything up to the window's end. The server's
// window is thus the client's, moved earlier by up to one tick at its start.

const STAGE_BUCKET = /^ctr_stage_latency_seconds_bucket\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/;
const LABEL = /(\w+)="([^"]*)"/g;

/** Cumulative counts per stage per upper bound (seconds), summed over models. */
export type StageBuckets = Map<string, Map<number, number>>;

export interface StageView {
  count: number;
  /** Interpolated from bucket edges, ms. */
  p50: number;
  p99: number;
  p999: number;
  /** Share of the window's requests the server finished within 1 ms. */
  within1ms: number;
}

export interface ServerView {
  source: string;
  stages: Record<string, StageView>;
}

/** Parses the stage-latency histograms out of a Prometheus text exposition. */
export function parseStageBuckets(text: string): StageBuckets {
  const out: StageBuckets = new Map();
  for (const line of text.split('\n')) {
    const m = STAGE_BUCKET.exec(line);
    if (m === null) continue;
    let stage = '', le = NaN;
    for (const [, k, v] of m[1].matchAll(LABEL)) {
      if (k === 'stage') stage = v;
      else if (k === 'le') le = v === '+Inf' ? Infinity : Number(v);
    }
    if (stage === '' || Number.isNaN(le)) continue;
    let byLe = out.get(stage);
    if (byLe === undefined) out.set(stage, (byLe = new Map()));
    byLe.set(le, (byLe.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

/** GET /metrics from a loopback server; null when it has none (a peer) or does not answer in time. */
export async function scrapeStageBuckets(host: string, port: number, timeoutMs = 1000): Promise<StageBuckets | null> {
  try {
    const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    const buckets = parseStageBuckets(await res.text());
    return buckets.size > 0 ? buckets : null;
  } catch {
    return null;
  }
}

/** The q-quantile (0..1) of a bucketed distribution, linear inside its bucket; ms. */
function quantileMs(edges: number[], counts: number[], q: number): number {
  const total = counts[counts.length - 1];
  if (total <= 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < edges.length; i++) {
    if (counts[i] < rank) continue;
    const lo = i === 0 ? 0 : edges[i - 1];
    const below = i === 0 ? 0 : counts[i - 1];
    const inBucket = counts[i] - below;
    // Above the last finite edge nothing is known but "more than it".
    if (!Number.isFinite(edges[i])) return lo * 1000;
    return (lo + ((edges[i] - lo) * (rank - below)) / Math.max(1, inBucket)) * 1000;
  }
  return NaN;
}

/** What the server recorded between two scrapes. */
export function windowView(before: StageBuckets, after: StageBuckets): Record<string, StageView> {
  const stages: Record<string, StageView> = {};
  for (const [stage, end] of after) {
    const start = before.get(stage);
    const edges = [...end.keys()].sort((a, b) => a - b);
    const counts = edges.map((le) => (end.get(le) ?? 0) - (start?.get(le) ?? 0));
    const count = counts[counts.length - 1] ?? 0;
    const oneMs = edges.indexOf(0.001);
    stages[stage] = {
      count,
      p50: quantileMs(edges, counts, 0.5),
      p99: quantileMs(edges, counts, 0.99),
      p999: quantileMs(edges, counts, 0.999),
      within1ms: count > 0 && oneMs >= 0 ? counts[oneMs] / count : NaN,
    };
  }
  return stages;
}

/**
 * Scrapes at `openAt` and a tick after `closeAt` (performance.now() ms); resolves with the
 * window's view, or null when the server has no stage histograms.
 */
export function watchWindow(host: string, port: number, openAt: number, closeAt: number, tickMs = 1000): Promise<ServerView | null> {
  const at = (t: number) => new Promise<StageBuckets | null>((resolve) => {
    setTimeout(() => resolve(scrapeStageBuckets(host, port)), Math.max(0, t - performance.now()));
  });
  return at(openAt).then(async (before) => {
    if (before === null) return null;
    const after = await at(closeAt + tickMs + 150);
    return after === null ? null : { source: `GET /metrics ctr_stage_latency_seconds at the measured window's edges (its start up to one ${tickMs} ms tick early)`, stages: windowView(before, after) };
  });
}
