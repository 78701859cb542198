// The main thread's routes for requests an acceptor thread forwarded
// (ACCEPTORS > 1): a RouterLike that records the routes every front end
// registers (api/server.ts, monitoring, admin, docs, dashboard) and runs a
// forwarded request through them with an in-memory request and response. So
// a GET /monitoring/stats, a PUT /ab or a POST /feedback that lands on an
// acceptor's connection is answered by exactly the code, and the state, that
// answers it on the main thread's own connections.
//
// Matching follows uWS (RouteTable, shared with the node:http front end).
import { RouteTable, type HttpRequestLike, type HttpResponseLike, type RouteHandler, type RouterLike } from '../http_transport.js';
import type { ForwardedRequest, ForwardedResponse } from './protocol.js';
import { sendError } from '../respond.js';

class ForwardedHttpRequest implements HttpRequestLike {
  constructor(private readonly r: ForwardedRequest, private readonly params: string[]) {}
  getHeader(key: string): string {
    const h = this.r.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === key) return h[i + 1];
    return '';
  }
  getUrl(): string {
    return this.r.url;
  }
  getMethod(): string {
    return this.r.method;
  }
  getParameter(index: number): string | undefined {
    return this.params[index];
  }
  getQuery(): string | undefined {
    return this.r.query;
  }
  forEach(cb: (key: string, value: string) => void): void {
    const h = this.r.headers;
    for (let i = 0; i < h.length; i += 2) cb(h[i], h[i + 1]);
  }
}

class ForwardedHttpResponse implements HttpResponseLike {
  status = '';
  readonly headers: string[] = [];
  aborted: (() => void) | null = null;
  data: ((chunk: ArrayBuffer, isLast: boolean) => void) | null = null;
  private ended = false;
  constructor(private readonly id: number, private readonly reply: (r: ForwardedResponse) => void) {}
  onAborted(handler: () => void): this {
    this.aborted = handler;
    return this;
  }
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.data = handler;
    return this;
  }
  cork(cb: () => void): this {
    cb();
    return this;
  }
  writeStatus(status: string): this {
    this.status = status;
    return this;
  }
  writeHeader(key: string, value: string): this {
    this.headers.push(key, value);
    return this;
  }
  end(body: string | Uint8Array = '', closeConnection = false): this {
    if (this.ended) return this;
    this.ended = true;
    // A view into a buffer the handler may reuse: copy it out before it crosses threads.
    const out = typeof body === 'string' ? body : new Uint8Array(body);
    this.reply({ id: this.id, status: this.status, headers: this.headers, body: out, close: closeConnection });
    return this;
  }
}

export class ForwardedRouter implements RouterLike {
  private readonly routes = new RouteTable();
  /** Requests whose handler has not answered yet, by id (an abort from the acceptor reaches them). */
  private readonly open = new Map<number, ForwardedHttpResponse>();

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

  /** Runs `r` through the routes; `reply` is called once with the response (unless the request is aborted first). */
  dispatch(r: ForwardedRequest, reply: (response: ForwardedResponse) => void): void {
    const best = this.routes.find(r.method, r.url);
    const res = new ForwardedHttpResponse(r.id, (response) => {
      this.open.delete(r.id);
      reply(response);
    });
    if (best === null) {
      sendError(res, 'not_found', `no route ${r.url}`, false);
      return;
    }
    this.open.set(r.id, res);
    try {
      best.handler(res, new ForwardedHttpRequest(r, best.params));
      // The body, whole, as uWS would hand it in its last chunk.
      if (res.data !== null && this.open.has(r.id)) {
        const body = r.body ?? new Uint8Array(0);
        res.data(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer, true);
      }
    } catch (err) {
      // A handler that throws would take a uWS thread down; here the client gets the spec's 500 body.
      sendError(res, 'inference_failed', `the server failed on ${r.url}: ${(err as Error).message}`, false);
    }
  }

  /** The acceptor's client went away before the answer. */
  abort(id: number): void {
    const res = this.open.get(id);
    if (res === undefined) return;
    this.open.delete(id);
    res.aborted?.();
  }
}
