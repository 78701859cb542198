// `npm start`: reads the configuration, starts the server, prints where it
// listens, and shuts down cleanly on SIGTERM/SIGINT.
import { describeConfig, loadConfig } from '../engine/config.js';
import { startServer } from './start_server.js';

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    console.error(`ctr-engine: ${(err as Error).message}`);
    process.exit(2);
  }
  console.log(`ctr-engine configuration:\n${describeConfig(cfg)}`);
  const server = await startServer(cfg);
  console.log(`ctr-engine: uWebSockets.js from ${server.uwsSource}`);
  console.log(`ctr-engine: models ${server.registry.models.map((m) => `${m.name}@${m.version}`).join(', ')}`);
  console.log(`ctr-engine: listening on http://${server.host}:${server.port}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`ctr-engine: ${signal}, shutting down`);
    server.close().then(() => process.exit(0), (err) => {
      console.error(`ctr-engine: shutdown failed: ${(err as Error).message}`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await server.ready;
    console.log('ctr-engine: ready');
  } catch (err) {
    console.error(`ctr-engine: models failed to warm up: ${(err as Error).message}`);
    await server.close();
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(`ctr-engine: failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
