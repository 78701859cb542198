// What `ctr-engine serve` does around starting a server: read the
// configuration (exit 2 on a bad option), print it once, print where the
// server listens and with what, shut down cleanly on SIGTERM/SIGINT, and exit
// 1 when the models fail to warm up.
import { describeConfig, loadConfig, type ServerConfig } from '../engine/config.js';
import type { RunningServer } from '../engine/engine_core.js';
import { configureLogger, logger } from '../engine/logger.js';

const log = logger();

/** The configuration, with `defaults` replacing built-in defaults; exits 2 naming a bad option. */
export function loadConfigOrExit(argv: string[], defaults: Partial<ServerConfig> = {}): ServerConfig {
  try {
    return loadConfig(process.env, argv, defaults);
  } catch (err) {
    console.error(`ctr-engine: ${(err as Error).message}`);
    process.exit(2);
  }
}

export async function serveUntilSignalled(cfg: ServerConfig, start: (cfg: ServerConfig) => Promise<RunningServer>): Promise<void> {
  configureLogger({ format: cfg.logFormat, level: cfg.logLevel });
  // The table is for people; JSON logs get the configuration as one object.
  if (cfg.logFormat === 'text') log.info(`configuration:\n${describeConfig(cfg)}`);
  else log.info('configuration', { config: describeConfig(cfg).split('\n').map((l) => l.trim()) });
  const server = await start(cfg);
  log.info(`${server.frontEnd}; inference backend ${cfg.inferenceBackend}`);
  log.info(`models ${server.registry.models.map((m) => `${m.name}@${m.version}`).join(', ')}`);
  log.info(`listening on http://${server.host}:${server.port}`, { docs: `http://${server.host}:${server.port}/docs` });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}, shutting down`);
    server.close().then(() => {
      log.info('stopped');
      process.exit(0);
    }, (err) => {
      log.error(`shutdown failed: ${(err as Error).message}`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await server.ready;
    log.info('ready', { dashboard: `http://${server.host}:${server.port}/dashboard` });
  } catch (err) {
    log.error(`models failed to warm up: ${(err as Error).message}`);
    await server.close();
    process.exit(1);
  }
}

/** The entry point's last line: anything thrown while starting exits 1 with its stack. */
export function exitOnStartFailure(err: unknown): never {
  console.error(`ctr-engine: failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
