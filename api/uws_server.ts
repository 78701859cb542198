// The uWebSockets.js front end over an engine core: every route, the
// WebSocket stream and the dashboard, then listen. The composition root
// (bin/start_server.ts) starts the core and calls this. With ACCEPTORS > 1
// the main thread is acceptor 0 and api/acceptors/ adds the others.
import { configureBodyLimits } from './body_request.js';
import { runParams, type EngineCore, type RunningServer } from '../engine/engine_core.js';
import { monitoringDeps, registerMonitoringRoutes, type MonitoringDeps } from './monitoring_routes.js';
import { registerModelAdminRoutes } from './model_admin_routes.js';
import { registerDashboardRoutes, registerStreamRoutes, streamOptions, streamPrometheusText, type StreamHub } from './stream/index.js';
import { docsOptions, registerDocsRoutes } from './docs/routes.js';
import { appDeps, buildApp, registerCatchAll, registerServingRoutes } from './server.js';
import { drain } from './drain.js';
import { listenError, type RouterLike } from './http_transport.js';
import { registerStreamPlainGet } from './stream/plain_get.js';
import type { LoadedUws, TemplatedApp, us_listen_socket } from './uws_loader.js';
import { AcceptorSet, countingObserver, proveFree } from './acceptors/acceptor_set.js';
import { ForwardedRouter } from './acceptors/forwarded_router.js';

/** Serves `core` with uWS (`loaded` by the caller, who probes it to choose a front end); the caller closes the core if this throws. */
export async function serveWithUws(core: EngineCore, loaded: LoadedUws): Promise<RunningServer> {
  const { uws, source } = loaded;
  const { registry, monitor, cfg } = core;
  const several = (cfg.acceptors ?? 1) > 1;
  let hub: StreamHub | undefined;
  let acceptors: AcceptorSet | null = null;
  const mainRows = { rows: 0 };
  configureBodyLimits(cfg.maxInflightBodyBytes, cfg.discardBodyBytes);
  // Live for each new client's hello: a hot reload changes a version, PUT /ab the weights.
  const settings: Record<string, unknown> = { ...runParams(cfg), ab_weights: Object.fromEntries(core.router.weights), tick_ms: cfg.monitorTickMs };
  core.onAbWeights.push((weights) => {
    settings.ab_weights = weights;
    settings.ab_weights_set_at = new Date().toISOString();
    hub?.settingsChanged();
  });
  const streamText = () => {
    const m = hub!.metrics();
    return streamPrometheusText(acceptors === null ? m : acceptors.streamMetrics(m)) + (acceptors === null ? '' : acceptors.metricsText());
  };
  const monitoring = monitoringDeps(core, streamText);
  // Everything but the stream, written against RouterLike: the uWS app and, with ACCEPTORS > 1, the forwarded requests' router.
  const registerRest = (a: RouterLike, m: MonitoringDeps) => {
    registerStreamPlainGet(a);
    registerDashboardRoutes(a);
    registerDocsRoutes(a, docsOptions(core, `uWebSockets.js from ${source}`, true));
    registerMonitoringRoutes(a, m);
    registerModelAdminRoutes(a, m);
  };
  // One acceptor: the deps as they always were; several: the main thread's predictions counted for the per-acceptor figures.
  const deps = appDeps(core);
  if (several) deps.observer = countingObserver(deps.observer, mainRows);
  const app = buildApp(uws, deps, (a) => {
    hub = registerStreamRoutes(a, uws, {
      monitor,
      models: registry.models.map((m) => ({ name: m.name, get version() { return registry.models[m.index].version; } })),
      settings,
      opts: streamOptions(cfg),
    });
    registerRest(a, monitoring);
  });
  let listenSocket: us_listen_socket;
  if (!several) {
    listenSocket = await listenOn(app, uws, cfg.host, cfg.port, true);
  } else {
    const forwarded = new ForwardedRouter();
    registerServingRoutes(forwarded, deps);
    registerRest(forwarded, monitoring);
    registerCatchAll(forwarded);
    acceptors = await AcceptorSet.start(core, cfg.acceptors, forwarded, settings, mainRows);
    try {
      const port = await proveFree(cfg.host, cfg.port);
      listenSocket = await listenOn(app, uws, cfg.host, port, false);
      try {
        await acceptors.listen(cfg.host, port);
      } catch (err) {
        uws.us_listen_socket_close(listenSocket);
        throw err;
      }
    } catch (err) {
      await acceptors.close();
      (app as unknown as { close(): void }).close();
      throw err;
    }
  }
  const port = uws.us_socket_local_port(listenSocket as never);
  let closed = false;
  let listening = true;
  const stopListening = () => {
    if (!listening) return;
    listening = false;
    uws.us_listen_socket_close(listenSocket);
    acceptors?.stopListening();
  };
  const running: RunningServer = {
    port,
    host: cfg.host,
    registry,
    monitor,
    pool: core.pool,
    frontEnd: `uWebSockets.js from ${source}${acceptors === null ? '' : `, ${acceptors.count} acceptor threads on the port (SO_REUSEPORT)`}`,
    ready: core.ready,
    drain(graceMs, log) {
      const set = acceptors;
      return drain({
        core, stopListening, close: () => running.close(),
        ...(set === null ? {} : { onDraining: () => set.draining(), finishElsewhere: (ms: number) => set.finish(ms) }),
      }, graceMs, log);
    },
    async close() {
      if (closed) return;
      closed = true;
      core.state.ready = false;
      stopListening();
      hub?.close();
      // The acceptors' batches finish before the workers go.
      await acceptors?.close();
      await core.close();
      // close() exists at runtime in uWS v20.30 but is missing from its typings.
      (app as unknown as { close(): void }).close();
    },
  };
  return running;
}

/**
 * Listens on `port`. Alone (`exclusive`), without SO_REUSEPORT: with uWS's
 * default a second server on the same port would start and silently take
 * half the connections. With acceptor threads, SO_REUSEPORT on a port
 * proven free first (api/acceptors/acceptor_set.ts). The (host, port,
 * options, cb) form exists at runtime but not in the typings.
 */
function listenOn(app: TemplatedApp, uws: LoadedUws['uws'], host: string, port: number, exclusive: boolean): Promise<us_listen_socket> {
  return new Promise<us_listen_socket>((resolve, reject) => {
    const listen = app.listen as unknown as (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => void;
    const options = exclusive ? (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1 : 0;
    listen.call(app, host, port, options, (sock) => (sock ? resolve(sock) : reject(listenError(host, port))));
  });
}
