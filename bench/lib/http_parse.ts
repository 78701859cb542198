// Incremental HTTP/1.1 response framing for the load generator: finds where
// each response ends (Content-Length or chunked) without building header
// objects, because the generator must stay cheaper than the server it drives.

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*chunked/i;
const CLOSE = /\r\nconnection:[ \t]*close/i;

export interface ResponseSink {
  /** One complete response; the body is buf[bodyStart, bodyEnd) (raw chunked framing for chunked bodies). */
  (status: number, close: boolean, buf: Buffer, bodyStart: number, bodyEnd: number): void;
}

/** Thrown for bytes that cannot be an HTTP/1.1 response. */
export class HttpParseError extends Error {}

/** End offset of a chunked body starting at `pos`, or -1 when more bytes are needed. */
function chunkedEnd(buf: Buffer, pos: number): number {
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
    if (lineEnd < 0) return -1;
    const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
    if (!Number.isFinite(size) || size < 0) throw new HttpParseError('bad chunk size');
    if (size === 0) {
      // Trailers (usually none) end with an empty line.
      const end = buf.indexOf(HEAD_END, lineEnd);
      if (lineEnd + 4 <= buf.length && buf[lineEnd + 2] === 13 && buf[lineEnd + 3] === 10) return lineEnd + 4;
      return end < 0 ? -1 : end + 4;
    }
    const next = lineEnd + 2 + size + 2;
    if (next > buf.length) return -1;
    pos = next;
  }
}

/**
 * Delivers every complete response in `buf` to `sink` and returns how many
 * bytes they took; the caller keeps the rest for the next read.
 */
export function parseResponses(buf: Buffer, sink: ResponseSink): number {
  let pos = 0;
  while (pos < buf.length) {
    const headEnd = buf.indexOf(HEAD_END, pos);
    if (headEnd < 0) break;
    if (buf[pos] !== 0x48 /* H */ || buf[pos + 8] !== 0x20) throw new HttpParseError('not an HTTP/1.x status line');
    const status = (buf[pos + 9] - 48) * 100 + (buf[pos + 10] - 48) * 10 + (buf[pos + 11] - 48);
    const head = buf.toString('latin1', pos, headEnd);
    const bodyStart = headEnd + 4;
    let bodyEnd: number;
    const cl = CONTENT_LENGTH.exec(head);
    if (cl !== null) {
      bodyEnd = bodyStart + Number(cl[1]);
      if (bodyEnd > buf.length) break;
    } else if (CHUNKED.test(head)) {
      bodyEnd = chunkedEnd(buf, bodyStart);
      if (bodyEnd < 0) break;
    } else {
      // No framing: only a body-less response can be delimited on a keep-alive connection.
      bodyEnd = bodyStart;
    }
    sink(status, CLOSE.test(head), buf, bodyStart, bodyEnd);
    pos = bodyEnd;
  }
  return pos;
}
