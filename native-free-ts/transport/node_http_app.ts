// A node:http server that serves api/'s route handlers unchanged: it
// implements the small part of uWebSockets.js's interface they are written
// against (api/http_transport.ts): route registration with exact paths,
// `:name` segments and a '/*' catch-all; a request with lower-case headers,
// path, method, parameters and query; a response with onAborted, onData
// (chunk, isLast), cork, writeStatus, writeHeader and end(body, close).
// So the endpoints, payloads, status codes and error bodies are the same code
// on both front ends, and only this file knows node:http.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { listenError, RouteTable, type HttpRequestLike, type HttpResponseLike, type RouteHandler, type RouterLike } from '../../api/http_transport.js';
import { ERROR_STATUS } from '../../engine/error_codes.js';

const EMPTY = new ArrayBuffer(0);

/** The bytes of `b` as an ArrayBuffer of their own (socket reads are views into a larger buffer). */
function ownArrayBuffer(b: Buffer): ArrayBuffer {
  const ab = b.buffer as ArrayBuffer;
  return b.byteOffset === 0 && b.byteLength === ab.byteLength ? ab : ab.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

class NodeRequest implements HttpRequestLike {
  constructor(
    private readonly msg: IncomingMessage,
    private readonly path: string,
    private readonly query: string | undefined,
    private readonly params: readonly string[],
  ) {}

  getHeader(lowerCaseKey: string): string {
    const v = this.msg.headers[lowerCaseKey];
    return v === undefined ? '' : typeof v === 'string' ? v : v[0] ?? '';
  }

  getUrl(): string {
    return this.path;
  }

  getMethod(): string {
    return (this.msg.method ?? 'GET').toLowerCase();
  }

  getParameter(index: number): string | undefined {
    return this.params[index];
  }

  getQuery(): string | undefined {
    return this.query;
  }

  forEach(cb: (key: string, value: string) => void): void {
    const raw = this.msg.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) cb(raw[i].toLowerCase(), raw[i + 1]);
  }
}

class NodeResponse implements HttpResponseLike {
  private status = 200;
  /** Name, value, name, value…: what writeHead takes. */
  private readonly headers: string[] = [];
  ended = false;

  constructor(private readonly msg: IncomingMessage, private readonly res: ServerResponse) {}

  onAborted(handler: () => void): this {
    // 'close' also follows a normal end; only a close before it is an abort.
    this.res.once('close', () => {
      if (!this.ended) handler();
    });
    return this;
  }

  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    // Hold each chunk back one event, so the last one goes out with isLast
    // and a body that arrives whole is one call (parsed in place upstream).
    let held: Buffer | null = null;
    this.msg.on('data', (chunk: Buffer) => {
      if (held !== null) handler(ownArrayBuffer(held), false);
      held = chunk;
    });
    this.msg.once('end', () => {
      const last = held;
      held = null;
      handler(last === null ? EMPTY : ownArrayBuffer(last), true);
    });
    return this;
  }

  cork(cb: () => void): this {
    // writeHead + end(body) below is one write already.
    cb();
    return this;
  }

  writeStatus(status: string): this {
    this.status = parseInt(status, 10);
    return this;
  }

  writeHeader(key: string, value: string): this {
    this.headers.push(key, value);
    return this;
  }

  end(body: string | Uint8Array = '', closeConnection = false): this {
    if (this.ended) return this;
    this.ended = true;
    const res = this.res;
    if (res.destroyed) return this;
    const headers = this.headers;
    headers.push('Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength));
    if (closeConnection) {
      headers.push('Connection', 'close');
      // The unread rest of the body is discarded, so closing sends FIN, not RST.
      if (!this.msg.complete) this.msg.resume();
    }
    res.writeHead(this.status, headers);
    res.end(body);
    return this;
  }
}

/** The spec's error body for what node:http refuses before a route sees it (malformed HTTP). */
function clientErrorResponse(err: NodeJS.ErrnoException, message = `the request is not valid HTTP/1.1 (${err.code ?? err.message})`): string {
  const body = JSON.stringify({ error: { code: 'invalid_request', message } });
  return `HTTP/1.1 ${ERROR_STATUS.invalid_request} Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export interface NodeHttpAppOptions {
  /** Idle keep-alive connections close after this long (uWS closes idle HTTP connections after 10 s). */
  keepAliveTimeoutMs?: number;
}

export class NodeHttpApp implements RouterLike {
  readonly server: http.Server;
  private readonly routes = new RouteTable();

  constructor(opts: NodeHttpAppOptions = {}) {
    this.server = http.createServer({ requireHostHeader: false, noDelay: true }, (msg, res) => this.dispatch(msg, res));
    this.server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 10_000;
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) socket.destroy();
      else if (err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH') socket.end(clientErrorResponse(err, 'more than one Content-Length header, or one with Transfer-Encoding'));
      else socket.end(clientErrorResponse(err));
    });
    // CONNECT (an authority-form target) is no request this server serves: say so at once rather than drop the socket.
    this.server.on('connect', (_msg: IncomingMessage, socket: Socket) => {
      socket.end(clientErrorResponse(new Error('CONNECT'), 'CONNECT (an authority-form target) is not served here'));
    });
  }

  get(pattern: string, handler: RouteHandler): this {
    return this.add('get', pattern, handler);
  }

  post(pattern: string, handler: RouteHandler): this {
    return this.add('post', pattern, handler);
  }

  put(pattern: string, handler: RouteHandler): this {
    return this.add('put', pattern, handler);
  }

  any(pattern: string, handler: RouteHandler): this {
    return this.add('any', pattern, handler);
  }

  private add(method: string, pattern: string, handler: RouteHandler): this {
    this.routes.add(method, pattern, handler);
    return this;
  }

  /** Routes ranked as uWS ranks them (api/http_transport.ts, RouteTable). */
  private dispatch(msg: IncomingMessage, raw: ServerResponse): void {
    let url = msg.url ?? '/';
    // Absolute-form (`GET http://host/path`), which servers must accept (RFC 9112 §3.2.2): route by its path.
    if (url.charCodeAt(0) !== 47 /* '/' */ && /^https?:\/\//i.test(url)) {
      const slash = url.indexOf('/', url.indexOf('//') + 2);
      url = slash === -1 ? '/' : url.slice(slash);
    }
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? undefined : url.slice(q + 1);
    const method = (msg.method ?? 'GET').toLowerCase();
    const found = this.routes.find(method, path);
    const res = new NodeResponse(msg, raw);
    try {
      if (found === null) throw new Error(`no route for ${method.toUpperCase()} ${path} and no catch-all`);
      found.handler(res, new NodeRequest(msg, path, query, found.params));
    } catch (err) {
      // A handler bug must not take the process down with it: answer 500 in the spec's shape.
      console.error(`ctr-engine: ${method.toUpperCase()} ${path} failed: ${(err as Error).stack ?? err}`);
      if (!res.ended) {
        res.writeStatus('500 Internal Server Error');
        res.writeHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ error: { code: 'inference_failed', message: 'the server failed to handle this request' } }), true);
      }
    }
  }

  /** Listens; resolves with the bound port (0 picks a free one). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      // node:http never sets SO_REUSEPORT, so a taken port fails here (EADDRINUSE).
      const onError = (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? listenError(host, port, err.code) : new Error(`cannot listen on ${host}:${port}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting connections and closes the idle ones; in-flight requests may still finish. */
  stopListening(): void {
    this.server.close();
    this.server.closeIdleConnections();
  }

  /** Closes every connection that is left. */
  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}

