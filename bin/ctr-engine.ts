#!/usr/bin/env node
// `ctr-engine [serve] [options]` (`npm start`): the composition root. Reads
// the configuration, chooses the front end and the inference backend, starts
// the server (bin/start_server.ts), prints where it listens, and shuts down
// cleanly on SIGTERM/SIGINT. Other subcommands are dispatched to their own
// modules: `import-xgboost` (bin/import_xgboost.ts, `npm run import:xgboost`).
//
// FRONT_END chooses the front end: `uws` (default) refuses to start when
// uWebSockets.js cannot load natively; `native-free` serves with node:http
// (native-free-ts/, with the pure-TypeScript evaluator unless
// INFERENCE_BACKEND says otherwise); `auto` tries uWS and onnxruntime-node
// and, for each that cannot load, says so in one loud line and uses its
// native-free counterpart.
import type { ServerConfig } from '../engine/config.js';
import { loadUws, type LoadedUws } from '../api/uws_loader.js';
import { FLEET_USAGE, runFleet } from './fleet.js';
import { exitOnStartFailure, loadConfigOrExit, serveUntilSignalled } from './serve.js';
import { startServer, type StartOptions } from './start_server.js';
import { IMPORT_USAGE, runImportXgboost } from './import_xgboost.js';

const USAGE = `usage: ctr-engine [serve] [--option value …]   serve predictions (options: README, "Configuration")
       ctr-engine import-xgboost model.json --name NAME --out MODELS_DIR [--version V] [--features F] [--force]
       ctr-engine fleet URL… [--port N]            merge replicas' monitoring into one view (bin/fleet.ts)
       ctr-engine help                            this text

${IMPORT_USAGE}

${FLEET_USAGE}`;

const oneLine = (err: unknown) => String((err as Error)?.message ?? err).replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ');

/** FRONT_END=auto: the native path where it loads, the native-free one where it does not. */
async function resolveAuto(cfg: ServerConfig): Promise<StartOptions> {
  let loaded: LoadedUws | undefined;
  try {
    loaded = loadUws();
  } catch (err) {
    console.error(`ctr-engine: !!! FRONT_END=auto: uWebSockets.js cannot load, serving with the native-free node:http front end (slower, no WS /monitoring/stream): ${oneLine(err)}`);
  }
  cfg.frontEnd = loaded !== undefined ? 'uws' : 'native-free';
  if (loaded === undefined && cfg.acceptors > 1) {
    console.error(`ctr-engine: !!! FRONT_END=auto: ACCEPTORS=${cfg.acceptors} needs uWebSockets.js; the node:http front end accepts on one thread`);
    cfg.acceptors = 1;
  }
  if (cfg.inferenceBackend === 'ort') {
    try {
      await import('onnxruntime-node');
    } catch (err) {
      console.error(`ctr-engine: !!! FRONT_END=auto: onnxruntime-node cannot load, inferring with the pure-TypeScript evaluator (INFERENCE_BACKEND=ts): ${oneLine(err)}`);
      cfg.inferenceBackend = 'ts';
    }
  }
  return { uws: loaded };
}

async function serve(argv: string[]): Promise<void> {
  let cfg = loadConfigOrExit(argv);
  let opts: StartOptions = {};
  if (cfg.frontEnd === 'native-free' && cfg.acceptors > 1) {
    console.error(`ctr-engine: ACCEPTORS=${cfg.acceptors} needs the uWS front end (FRONT_END=uws or auto); the node:http front end accepts on one thread`);
    process.exit(2);
  }
  if (cfg.frontEnd === 'native-free') {
    // No native addon unless asked for: the ts backend by default.
    cfg = loadConfigOrExit(argv, { inferenceBackend: 'ts' });
  } else if (cfg.frontEnd === 'auto') {
    opts = await resolveAuto(cfg);
  }
  await serveUntilSignalled(cfg, (c) => startServer(c, opts));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    case 'serve':
      return serve(rest);
    case 'import-xgboost':
      process.exitCode = runImportXgboost(rest);
      return;
    case 'fleet':
      return runFleet(rest);
    default:
      // No command: serve, with every argument an option (`npm start -- --port 9000`).
      if (command !== undefined && !command.startsWith('-')) {
        console.error(`ctr-engine: unknown command ${JSON.stringify(command)}\n${USAGE}`);
        process.exit(2);
      }
      return serve(argv);
  }
}

main(process.argv.slice(2)).catch(exitOnStartFailure);
