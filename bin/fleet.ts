// `ctr-engine fleet URL…`: one view of several replicas. Fetches every
// replica's GET /monitoring/histograms, merges them (engine/fleet/merge.ts)
// into the /monitoring/stats shape and prints it as JSON; with --port, serves
// the merged view at GET /monitoring/stats (fetched afresh per request) on
// loopback (or --host), for a dashboard or a scraper.
import { createServer, type Server } from 'node:http';
import type { HistogramsBody } from '../engine/coordinator/histograms.js';
import { mergeFleet, type FleetStatsBody, type ReplicaResult } from '../engine/fleet/merge.js';

export const FLEET_USAGE = `usage: ctr-engine fleet [--port N] [--host H] [--timeout-ms MS] URL…
  Merges the replicas' GET /monitoring/histograms into the /monitoring/stats shape
  (exact merged percentiles, summed counts, pooled moments, drift on the merged window).
  Without --port: prints the merged view once. With --port: serves it at GET /monitoring/stats.`;

export interface FleetOptions { urls: string[]; port?: number; host: string; timeoutMs: number }

export function parseFleetArgs(argv: string[]): FleetOptions {
  const o: FleetOptions = { urls: [], host: '127.0.0.1', timeoutMs: 5000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (v: string): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} must be a non-negative integer, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === '--port') o.port = int(value());
    else if (a === '--host') o.host = value();
    else if (a === '--timeout-ms') o.timeoutMs = int(value());
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else {
      const u = new URL(a); // throws on a malformed URL
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`replica URL must be http(s): ${a}`);
      o.urls.push(a.replace(/\/+$/, ''));
    }
  }
  if (o.urls.length === 0) throw new Error('name at least one replica URL');
  return o;
}

/** One replica's histograms; a replica that is down or answers badly becomes an error entry, not a failure. */
export async function fetchHistograms(url: string, timeoutMs = 5000): Promise<ReplicaResult> {
  try {
    const res = await fetch(`${url}/monitoring/histograms`, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) return { url, error: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}` };
    const body = (await res.json()) as HistogramsBody;
    if (typeof body !== 'object' || body === null || typeof body.models !== 'object') return { url, error: 'not a /monitoring/histograms body' };
    return { url, body };
  } catch (err) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
    const cause = (err as Error & { cause?: Error & { code?: string } }).cause;
    return { url, error: cause ? `${(err as Error).message}: ${cause.code ?? cause.message}` : (err as Error).message };
  }
}

/** Fetch every replica at once and merge. A replica whose body cannot be merged is reported, the rest merged. */
export async function fleetView(urls: string[], timeoutMs = 5000): Promise<FleetStatsBody> {
  const results = await Promise.all(urls.map((u) => fetchHistograms(u, timeoutMs)));
  try {
    return mergeFleet(results);
  } catch (err) {
    // Find the culprit by merging each alone; drop it and say why.
    for (const r of results) {
      if (!r.body) continue;
      try { mergeFleet([r]); } catch (e) { r.error = `cannot merge: ${(e as Error).message}`; r.body = undefined; }
    }
    return mergeFleet(results);
  }
}

/** Serves the merged view at GET /monitoring/stats; resolves once listening. */
export function serveFleet(o: FleetOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/monitoring/stats' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'the fleet view serves GET /monitoring/stats' } }));
      return;
    }
    fleetView(o.urls, o.timeoutMs).then(
      (body) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: (err as Error).message } }));
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}

/** The subcommand: exit 2 on bad arguments, 1 when no replica answered. */
export async function runFleet(argv: string[]): Promise<void> {
  let o: FleetOptions;
  try {
    o = parseFleetArgs(argv);
  } catch (err) {
    console.error(`ctr-engine fleet: ${(err as Error).message}\n${FLEET_USAGE}`);
    process.exit(2);
  }
  if (o.port === undefined) {
    const view = await fleetView(o.urls, o.timeoutMs);
    console.log(JSON.stringify(view, null, 2));
    if (view.fleet.replicas_ok === 0) process.exit(1);
    return;
  }
  const server = await serveFleet(o);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  console.log(`ctr-engine fleet: ${o.urls.length} replicas; serving http://${o.host}:${port}/monitoring/stats`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
