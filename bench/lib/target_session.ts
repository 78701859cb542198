// Runs a callback against a target: a server this process starts (and always
// stops), or one already listening at --url.
import { startServer } from './server_proc.js';
import { targetSpec, type TargetName, type TargetOptions } from './targets.js';
import type { Endpoint } from './measure.js';

export async function withTarget<T>(
  target: TargetName, url: URL | undefined, opts: TargetOptions, fn: (ep: Endpoint) => Promise<T>,
): Promise<T> {
  if (url !== undefined) return fn({ host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname, port: Number(url.port || 80) });
  // server_proc stops the server if this process is interrupted.
  const server = await startServer(targetSpec(target, opts));
  try {
    return await fn({ host: server.host, port: server.port, pid: server.pid });
  } finally {
    await server.stop();
  }
}
