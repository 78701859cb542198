// Starts a server under test as a child process on a free loopback port, waits
// for GET /ready, and stops it again; keeps the tail of its output for errors.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

export interface ServerSpec {
  name: string;
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  readyTimeoutMs?: number;
}

export interface ServerHandle {
  name: string;
  host: string;
  port: number;
  pid: number;
  output(): string;
  /** null while running, else the exit code (128 when killed by a signal). */
  exitCode(): number | null;
  stop(): Promise<void>;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function httpStatus(host: string, port: number, path: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => { req.destroy(); resolve(0); });
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Servers this process started: never left running when the bench is interrupted or crashes.
const live = new Set<ChildProcess>();
let hooked = false;
function reapOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { for (const c of live) c.kill('SIGTERM'); process.exit(130); });
  }
}

export async function startServer(spec: ServerSpec): Promise<ServerHandle> {
  const host = spec.host ?? '127.0.0.1';
  const port = spec.port && spec.port > 0 ? spec.port : await freePort(host);
  const [cmd, ...args] = spec.command;
  const child: ChildProcess = spawn(cmd, args, {
    cwd: spec.cwd,
    // No drain grace: stop() means now (a bench run is not behind a balancer).
    env: { ...process.env, DRAIN_GRACE_MS: '0', ...spec.env, PORT: String(port), HOST: host },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => { out = (out + b.toString('utf8')).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: number | null = null;
  live.add(child);
  reapOnExit();
  child.once('exit', (code, signal) => { exited = code ?? (signal ? 128 : 1); live.delete(child); });

  const stop = async () => {
    if (exited !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  };

  const deadline = Date.now() + (spec.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== null) throw new Error(`${spec.name} exited (${exited}) before it was ready:\n${out}`);
    if ((await httpStatus(host, port, '/ready', 500)) === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${spec.name} not ready on ${host}:${port} after ${spec.readyTimeoutMs ?? 60_000} ms:\n${out}`);
    }
    await sleep(100);
  }
  return { name: spec.name, host, port, pid: child.pid!, output: () => out, exitCode: () => exited, stop };
}
