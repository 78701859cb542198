// `npm start`: reads the configuration, starts the server, prints where it
// listens, and shuts down cleanly on SIGTERM/SIGINT.
//
// FRONT_END chooses the front end: `uws` (default) refuses to start when
// uWebSockets.js cannot load natively; `native-free` serves with node:http
// (native-free-ts/, with the pure-TypeScript evaluator unless
// INFERENCE_BACKEND says otherwise); `auto` tries uWS and onnxruntime-node
// and, for each that cannot load, says so in one loud line and uses its
// native-free counterpart.
import type { ServerConfig } from '../engine/config.js';
import type { RunningServer } from '../engine/engine_core.js';
import { exitOnStartFailure, loadConfigOrExit, serveUntilSignalled } from '../engine/server_main.js';
import { startNativeFreeServer } from '../native-free-ts/start_server.js';
import { startServer } from './start_server.js';
import { loadUws, type LoadedUws } from './uws_loader.js';

type Start = (cfg: ServerConfig) => Promise<RunningServer>;

const oneLine = (err: unknown) => String((err as Error)?.message ?? err).replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ');

/** FRONT_END=auto: the native path where it loads, the native-free one where it does not. */
async function chooseAuto(cfg: ServerConfig): Promise<Start> {
  let start: Start;
  let loaded: LoadedUws | null = null;
  try {
    loaded = loadUws();
  } catch (err) {
    console.error(`ctr-engine: !!! FRONT_END=auto: uWebSockets.js cannot load, serving with the native-free node:http front end (slower, no WS /monitoring/stream): ${oneLine(err)}`);
  }
  if (loaded !== null) {
    const uws = loaded;
    start = (c) => startServer(c, uws);
    cfg.frontEnd = 'uws';
  } else {
    start = startNativeFreeServer;
    cfg.frontEnd = 'native-free';
  }
  if (cfg.inferenceBackend === 'ort') {
    try {
      await import('onnxruntime-node');
    } catch (err) {
      console.error(`ctr-engine: !!! FRONT_END=auto: onnxruntime-node cannot load, inferring with the pure-TypeScript evaluator (INFERENCE_BACKEND=ts): ${oneLine(err)}`);
      cfg.inferenceBackend = 'ts';
    }
  }
  return start;
}

async function main(): Promise<void> {
  let cfg = loadConfigOrExit();
  let start: Start;
  if (cfg.frontEnd === 'native-free') {
    // No native addon unless asked for: the ts backend by default.
    cfg = loadConfigOrExit({ inferenceBackend: 'ts' });
    start = startNativeFreeServer;
  } else if (cfg.frontEnd === 'auto') {
    start = await chooseAuto(cfg);
  } else {
    start = (c) => startServer(c);
  }
  await serveUntilSignalled(cfg, start);
}

main().catch(exitOnStartFailure);
