// The composition root's wiring: the engine core with the inference backend
// the configuration names, and the front end in front of it. The only module
// that knows every layer (engine/, api/, native-free-ts/); the entry point
// (bin/ctr-engine.ts) and the tests that need the real server in-process
// start servers through it.
import type { InferenceBackend, ServerConfig } from '../engine/config.js';
import { startEngineCore, type RunningServer } from '../engine/engine_core.js';
import type { InferenceBackendRef } from '../engine/inference_backend.js';
import { serveWithUws } from '../api/uws_server.js';
import { loadUws, type LoadedUws } from '../api/uws_loader.js';
import { serveWithNodeHttp } from './node_http_server.js';
import { startProbeServer, type ProbeServer } from './probe_server.js';

/** INFERENCE_BACKEND → the module each inference worker imports (engine/inference_backend.ts). */
export const BACKENDS: Readonly<Record<InferenceBackend, InferenceBackendRef>> = {
  ort: { name: 'ort', moduleUrl: new URL('../engine/ort_backend.js', import.meta.url).href },
  ts: { name: 'ts', moduleUrl: new URL('../native-free-ts/evaluator/backend.js', import.meta.url).href },
};

export interface StartOptions {
  /** uWS already loaded (bin/ctr-engine.ts probes it for FRONT_END=auto); loaded here otherwise. */
  uws?: LoadedUws;
}

/** Starts the engine core and cfg.frontEnd ('uws' or 'native-free') over it, listening. */
export async function startServer(cfg: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  if (cfg.frontEnd === 'auto') throw new Error("startServer: FRONT_END=auto is resolved by the entry point first ('uws' or 'native-free')");
  if ((cfg.acceptors ?? 1) > 1 && cfg.frontEnd !== 'uws') throw new Error(`ACCEPTORS=${cfg.acceptors} needs the uWS front end (FRONT_END=uws); the node:http front end has one acceptor`);
  // uWS first: a front end that cannot load fails before any worker starts.
  const uws = cfg.frontEnd === 'uws' ? (opts.uws ?? loadUws()) : undefined;
  const core = await startEngineCore(cfg, BACKENDS[cfg.inferenceBackend]);
  let server: RunningServer;
  try {
    server = uws !== undefined ? await serveWithUws(core, uws) : await serveWithNodeHttp(core);
  } catch (err) {
    await core.close({ failed: true });
    throw err;
  }
  if (cfg.probePort === undefined) return server;
  let probe: ProbeServer;
  try {
    probe = await startProbeServer(core, cfg.host, cfg.probePort);
  } catch (err) {
    await server.close();
    throw err;
  }
  // The probe port answers until the very end, so a probe sees /ready 503 throughout the drain.
  const close = server.close.bind(server);
  server.probePort = probe.port;
  server.close = async () => {
    await close();
    probe.close();
  };
  return server;
}
