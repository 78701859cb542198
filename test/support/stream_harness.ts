// A uWS app with only the stream and the dashboard, fed by the synthetic
// monitor: the tests' harness, and `node dist/test/support/stream_harness.js [port]`
// to look at the dashboard with no model or load (drift comes and goes).
import { pathToFileURL } from 'node:url';
import { sendError } from '../../api/respond.js';
import { loadUws, type us_listen_socket } from '../../api/uws_loader.js';
import { registerDashboardRoutes } from '../../api/dashboard/routes.js';
import { registerStreamRoutes, type StreamHub } from '../../api/stream/hub.js';
import { DEFAULT_STREAM_OPTIONS, type StreamOptions } from '../../api/stream/options.js';
import { startSyntheticMonitor, type ModelScenario, type SyntheticMonitor } from './synthetic_monitor.js';

export interface StreamHarness {
  port: number;
  url: string;
  monitor: SyntheticMonitor;
  hub: StreamHub;
  close(): Promise<void>;
}

export interface HarnessOptions {
  port?: number;
  tickMs?: number;
  models?: { name: string; version: string }[];
  scenarios?: Record<string, Partial<ModelScenario>>;
  stream?: Partial<StreamOptions>;
  settings?: Record<string, unknown>;
}

export const HARNESS_MODELS = [{ name: 'xgboost', version: '3' }, { name: 'logistic', version: '1' }];

export async function startStreamHarness(o: HarnessOptions = {}): Promise<StreamHarness> {
  const { uws } = loadUws();
  const models = o.models ?? HARNESS_MODELS;
  // Traffic split like the A/B weights below, unless the caller says otherwise.
  const scenarios: Record<string, Partial<ModelScenario>> = {};
  models.forEach((m, i) => { scenarios[m.name] = { rps: i === 0 ? 560 : 240 / (models.length - 1), ...o.scenarios?.[m.name] }; });
  const monitor = startSyntheticMonitor({ models, tickMs: o.tickMs ?? 50, scenarios });
  const app = uws.App();
  const hub = registerStreamRoutes(app, uws, {
    monitor, models,
    settings: o.settings ?? { ab_weights: Object.fromEntries(models.map((m, i) => [m.name, i === 0 ? 0.7 : 0.3 / (models.length - 1)])), tick_ms: o.tickMs ?? 50, synthetic: true },
    opts: { ...DEFAULT_STREAM_OPTIONS, ...o.stream },
  });
  registerDashboardRoutes(app);
  app.any('/*', (res, req) => sendError(res, 'not_found', `no route ${req.getUrl()}`, false));
  const sock = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', o.port ?? 0, (s) => (s ? resolve(s) : reject(new Error(`cannot listen on port ${o.port ?? 0}`))));
  }).catch(async (e: unknown) => {
    hub.close();
    await monitor.close();
    (app as unknown as { close(): void }).close();
    throw e;
  });
  const port = uws.us_socket_local_port(sock as never);
  let closed = false;
  return {
    port, url: `http://127.0.0.1:${port}`, monitor, hub,
    async close() {
      if (closed) return;
      closed = true;
      hub.close();
      await monitor.close();
      uws.us_listen_socket_close(sock);
      (app as unknown as { close(): void }).close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.argv[2] ?? 8010);
  const h = await startStreamHarness({ port, tickMs: 1000 });
  console.log(`stream dev server: ${h.url}/dashboard (synthetic data; drift on xgboost comes and goes)`);
  let n = 0;
  setInterval(() => {
    n++;
    h.monitor.set('xgboost', { drift: n % 3 === 1 ? 'medium' : n % 3 === 2 ? 'high' : 'none' });
    h.monitor.set('logistic', { p99Ms: n % 2 ? 70 : 4.5 });
  }, 20_000).unref();
  process.on('SIGINT', () => void h.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => void h.close().then(() => process.exit(0)));
}
