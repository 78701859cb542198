// The part of uWebSockets.js's HTTP interface the route handlers use. uWS's
// own HttpRequest, HttpResponse and TemplatedApp satisfy these as they are
// (no wrapper on the uWS path); native-free-ts/transport/node_http_app.ts implements
// them over node:http, so both front ends run the same handlers.

/** Valid only inside the route handler, as in uWS. */
export interface HttpRequestLike {
  /** The header's value, '' when absent; the name in lower case. */
  getHeader(lowerCaseKey: string): string;
  /** The path, without the query string. */
  getUrl(): string;
  /** The method in lower case. */
  getMethod(): string;
  /** The route's `:name` parameters, by position. */
  getParameter(index: number): string | undefined;
  /** The query string without '?', '' or undefined when there is none. */
  getQuery(): string | undefined;
  /** Every header in order, names in lower case, repeats included (getHeader returns only the first). */
  forEach(cb: (key: string, value: string) => void): void;
}

/** Valid until the response ends or onAborted runs, as in uWS. */
export interface HttpResponseLike {
  onAborted(handler: () => void): unknown;
  /** Body chunks; `chunk` is only valid during the call. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): unknown;
  cork(cb: () => void): unknown;
  /** e.g. '404 Not Found'. */
  writeStatus(status: string): unknown;
  writeHeader(key: string, value: string): unknown;
  end(body?: string | Uint8Array, closeConnection?: boolean): unknown;
}

export type RouteHandler = (res: HttpResponseLike, req: HttpRequestLike) => void;

/** Route registration; patterns are exact paths, `:name` segments, or '/*'. */
export interface RouterLike {
  get(pattern: string, handler: RouteHandler): unknown;
  post(pattern: string, handler: RouteHandler): unknown;
  put(pattern: string, handler: RouteHandler): unknown;
  any(pattern: string, handler: RouteHandler): unknown;
}

/**
 * The routes of a front end that is not uWS, ranked as uWS ranks them: an
 * exact path (for the method, then any()) beats a `:name` pattern, which
 * beats the '/*' catch-all (the only wildcard the routes use). One table for
 * the node:http front end and for requests forwarded from acceptor threads.
 */
export class RouteTable {
  /** `${method} ${path}` → handler; method 'any' for any method. */
  readonly #exact = new Map<string, RouteHandler>();
  readonly #patterns: { method: string; segments: string[]; handler: RouteHandler }[] = [];
  #catchAll: RouteHandler | null = null;

  /** `method`: lower case, or 'any'. */
  add(method: string, pattern: string, handler: RouteHandler): void {
    if (pattern === '/*') {
      if (method !== 'any') throw new Error(`RouteTable: '/*' is supported with any() only`);
      this.#catchAll = handler;
    } else if (pattern.includes('/:')) {
      this.#patterns.push({ method, segments: pattern.split('/'), handler });
    } else {
      this.#exact.set(`${method} ${pattern}`, handler);
    }
  }

  /** The handler for `method` (lower case) and `path` (no query), with its `:name` values; null when nothing matches. */
  find(method: string, path: string): { handler: RouteHandler; params: string[] } | null {
    const exact = this.#exact.get(`${method} ${path}`) ?? this.#exact.get(`any ${path}`);
    if (exact !== undefined) return { handler: exact, params: [] };
    const segments = path.split('/');
    for (const route of this.#patterns) {
      if (route.method !== method && route.method !== 'any') continue;
      const params = matchSegments(route.segments, segments);
      if (params !== null) return { handler: route.handler, params };
    }
    return this.#catchAll === null ? null : { handler: this.#catchAll, params: [] };
  }
}

/** The `:name` segments' values when `path` matches `pattern`, else null (an empty segment matches no `:name`). */
function matchSegments(pattern: readonly string[], path: readonly string[]): string[] | null {
  if (pattern.length !== path.length) return null;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p.startsWith(':')) {
      if (path[i] === '') return null;
      params.push(path[i]);
    } else if (p !== path[i]) return null;
  }
  return params;
}

/**
 * Why listening failed, said so an operator can act: the usual cause is
 * another process on the port (both front ends listen exclusively).
 * `code` is EADDRINUSE so the entry point prints it without a stack.
 */
export function listenError(host: string, port: number, cause?: string): Error {
  const err = new Error(`cannot listen on ${host}:${port}: the port is already in use (another ctr-engine?) or the address cannot be bound${cause ? ` (${cause})` : ''}`);
  return Object.assign(err, { code: 'EADDRINUSE' });
}
