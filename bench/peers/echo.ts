// The HTTP ceiling: a bare uWebSockets.js server that reads and parses each
// prediction body (JSON or msgpack) and answers a prediction-shaped object,
// with no model behind it. Nothing built on uWS in Node can answer faster.
import { pathToFileURL } from 'node:url';
import { pack, unpack } from 'msgpackr';
import { loadUws, type UWS } from '../lib/uws.js';

export interface RunningPeer { port: number; close(): void }

function isMsgpack(ct: string): boolean {
  return ct === 'application/msgpack' || ct === 'application/x-msgpack';
}

function collect(res: UWS.HttpResponse, done: (body: Buffer) => void): void {
  let parts: Buffer[] | null = null;
  res.onAborted(() => { res.aborted = true; });
  res.onData((chunk, isLast) => {
    // The chunk's memory is only valid during this callback: a one-chunk body
    // is used in place, anything kept across chunks is copied.
    if (isLast && parts === null) { done(Buffer.from(chunk)); return; }
    (parts ??= []).push(Buffer.from(new Uint8Array(chunk).slice()));
    if (isLast) done(Buffer.concat(parts));
  });
}

function answer(res: UWS.HttpResponse, accept: string, value: unknown): void {
  if (res.aborted) return;
  res.cork(() => {
    if (isMsgpack(accept)) res.writeHeader('Content-Type', 'application/msgpack').end(pack(value));
    else res.writeHeader('Content-Type', 'application/json').end(JSON.stringify(value));
  });
}

let counter = 0;
function fakePrediction(req: { model?: unknown }): Record<string, unknown> {
  return { ctr: 0.0213, model: typeof req?.model === 'string' ? req.model : 'echo', model_version: '0', request_id: String(++counter) };
}

export function startEcho(port: number, host = '127.0.0.1'): Promise<RunningPeer> {
  const uws = loadUws();
  const app = uws.App();
  const handler = (batch: boolean) => (res: UWS.HttpResponse, req: UWS.HttpRequest) => {
    const ct = req.getHeader('content-type');
    const accept = req.getHeader('accept');
    collect(res, (body) => {
      const t0 = performance.now();
      let parsed: any;
      try {
        parsed = isMsgpack(ct) ? unpack(body) : JSON.parse(body.toString('utf8'));
      } catch {
        if (!res.aborted) res.cork(() => res.writeStatus('400 Bad Request').end('{"error":{"code":"invalid_request","message":"bad body"}}'));
        return;
      }
      const value = batch
        ? { predictions: (Array.isArray(parsed?.requests) ? parsed.requests : []).map(fakePrediction), latency_ms: performance.now() - t0 }
        : { ...fakePrediction(parsed), latency_ms: performance.now() - t0 };
      answer(res, accept, value);
    });
  };
  app.post('/predict_ctr', handler(false));
  app.post('/predict_ctr/batch', handler(true));
  app.get('/ready', (res) => { res.end('{"ready":true}'); });
  app.get('/health', (res) => { res.end('{"status":"ok"}'); });
  return new Promise((resolve, reject) => {
    app.listen(host, port, (ls) => {
      if (ls === false) { reject(new Error(`echo peer: cannot listen on ${host}:${port}`)); return; }
      resolve({ port: uws.us_socket_local_port(ls as unknown as UWS.us_socket), close: () => uws.us_listen_socket_close(ls) });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const peer = await startEcho(Number(process.env.PORT ?? 8000), process.env.HOST ?? '127.0.0.1');
  console.log(`echo peer listening on ${process.env.HOST ?? '127.0.0.1'}:${peer.port}`);
}
