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
  warnIfAdminOpen(cfg);
  const server = await start(cfg);
  log.info(`${server.frontEnd}; inference backend ${cfg.inferenceBackend}`);
  log.info(`models ${server.registry.models.map((m) => `${m.name}@${m.version}`).join(', ')}`);
  // A model that did not load is reported, not fatal: the others serve.
  for (const f of server.registry.failed) log.error(`model ${f.name} (folder ${f.folder}) failed to load: ${f.reason}`);
  log.info(`listening on http://${server.host}:${server.port}`, { docs: `http://${server.host}:${server.port}/docs` });
  if (server.probePort !== undefined) log.info(`probe port (GET /health, /ready; HTTP/1.0 too) on http://${server.host}:${server.probePort}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal: skip what is left of the grace period.
      log.info(`${signal} again, closing now`);
      server.close().then(() => process.exit(0), () => process.exit(1));
      return;
    }
    stopping = true;
    log.info(`${signal}, draining`);
    server.drain(cfg.drainGraceMs, (line) => log.info(line)).then(() => {
      log.info('exiting');
      process.exit(0);
    }, (err) => {
      log.error(`shutdown failed: ${(err as Error).message}`);
      process.exit(1);
    });
  };
  if (cfg.injectWorkerKill) killWorkerOnSigusr2(server);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await server.ready;
    for (const m of server.registry.models) if (m.failure !== undefined) log.error(`model ${m.name} failed: ${m.failure}`);
    log.info('ready', { dashboard: `http://${server.host}:${server.port}/dashboard` });
  } catch (err) {
    log.error(`models failed to warm up: ${(err as Error).message}`);
    await server.close();
    process.exit(1);
  }
}

/**
 * INJECT_WORKER_KILL (off by default): SIGUSR2 terminates one inference worker
 * thread, the workers taken in turn, exactly as a crash would end it; the
 * fault soak (bench/fault_soak.ts) kills the server's workers this way from outside.
 */
function killWorkerOnSigusr2(server: RunningServer): void {
  let next = 0;
  log.warn('fault injection on: SIGUSR2 terminates an inference worker');
  process.on('SIGUSR2', () => {
    const threads = server.pool.piscina.threads;
    const victim = threads[next++ % Math.max(1, threads.length)];
    if (victim === undefined) return;
    log.warn(`fault injection: terminating inference worker thread ${victim.threadId}`);
    void victim.terminate();
  });
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/** Admin endpoints with no token on a reachable address: anyone on the network may set baselines. */
export function warnIfAdminOpen(cfg: ServerConfig): void {
  if (cfg.adminToken !== undefined || LOOPBACK.test(cfg.host)) return;
  log.warn(`!!! WARNING: HOST=${cfg.host} is reachable from other machines and ADMIN_TOKEN is unset: anyone who can reach this port can change baselines (POST /monitoring/baseline). Set ADMIN_TOKEN.`);
}

/** The entry point's last line: anything thrown while starting exits 1 with its stack. */
export function exitOnStartFailure(err: unknown): never {
  // A taken port is the operator's to fix, not a bug: the message alone.
  if ((err as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
    console.error(`ctr-engine: failed to start: ${(err as Error).message}`);
    process.exit(1);
  }
  console.error(`ctr-engine: failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
