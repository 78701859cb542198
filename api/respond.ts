// Writing responses: every write is corked (one syscall for status, headers
// and body), and the cork callback is one module-level function fed through
// module-level slots, so a response costs no closure.
import { ERROR_STATUS, type ErrorCode } from '../engine/error_codes.js';
import { packr } from './http_codec.js';
import type { HttpResponseLike as HttpResponse } from './http_transport.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed',
  413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 426: '426 Upgrade Required', 500: '500 Internal Server Error',
  503: '503 Service Unavailable', 504: '504 Gateway Timeout',
};

export const JSON_TYPE = 'application/json';
export const MSGPACK_TYPE = 'application/msgpack';

let slotRes: HttpResponse | null = null;
let slotStatus = 200;
let slotType = JSON_TYPE;
let slotBody: string | Uint8Array = '';
let slotHeaderName = '';
let slotHeaderValue = '';
let slotClose = false;
/** While draining, every response closes its connection (one flag per process: a process serves one server). */
let closeAll = false;

/** From api/drain.ts: from now on every response says Connection: close. */
export function closeEveryConnection(on: boolean): void {
  closeAll = on;
}

function writeCorked(): void {
  const res = slotRes!;
  if (slotStatus !== 200) res.writeStatus(STATUS_TEXT[slotStatus] ?? String(slotStatus));
  res.writeHeader('Content-Type', slotType);
  if (slotHeaderName !== '') res.writeHeader(slotHeaderName, slotHeaderValue);
  res.end(slotBody, slotClose);
}

/** Writes a whole response. The caller guarantees the response was not aborted. */
export function send(res: HttpResponse, status: number, type: string, body: string | Uint8Array, headerName = '', headerValue = '', close = false): void {
  slotRes = res;
  slotStatus = status;
  slotType = type;
  slotBody = body;
  slotHeaderName = headerName;
  slotHeaderValue = headerValue;
  slotClose = close || closeAll;
  res.cork(writeCorked);
  slotRes = null;
  slotBody = '';
}

export function sendJson(res: HttpResponse, status: number, value: unknown, msgpack: boolean): void {
  if (msgpack) send(res, status, MSGPACK_TYPE, packr.pack(value));
  else send(res, status, JSON_TYPE, JSON.stringify(value));
}

/** The spec's error body, {"error": {"code", "message"[, "field"]}}, with its status. */
export function sendError(
  res: HttpResponse, code: ErrorCode, message: string, msgpack: boolean,
  field?: string, close = false, headerName = '', headerValue = '',
): void {
  const status = ERROR_STATUS[code];
  const error: Record<string, string> = { code, message };
  if (field !== undefined) error.field = field;
  // A shed or not-ready 503 tells the client when to come back.
  if (status === 503 && headerName === '') {
    headerName = 'Retry-After';
    headerValue = '1';
  }
  const body = msgpack ? packr.pack({ error }) : JSON.stringify({ error });
  send(res, status, msgpack ? MSGPACK_TYPE : JSON_TYPE, body, headerName, headerValue, close);
}
