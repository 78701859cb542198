// Raw-socket HTTP for tests where a client library would hide the bug
// (pipelining, HTTP/1.0, duplicate headers, drain's Connection: close).
import net from 'node:net';

export interface RawResponse {
  version: string;
  status: number;
  /** Header names in lower case; repeated headers joined with ', '. */
  headers: Record<string, string>;
  body: string;
}

export interface RawExchange {
  responses: RawResponse[];
  /** The server closed the connection (FIN or reset) before we did. */
  closedByServer: boolean;
  raw: string;
}

/** Parses the complete Content-Length-delimited responses in `text` (read as latin1). */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd === -1) return out;
    const lines = text.slice(at, headEnd).split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})/.exec(lines[0]);
    if (!m) return out;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      const k = line.slice(0, c).trim().toLowerCase();
      const v = line.slice(c + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const len = Number(headers['content-length'] ?? 0);
    const bodyStart = headEnd + 4;
    // `text` is latin1, one char per byte.
    if (text.length - bodyStart < len) return out;
    const body = text.slice(bodyStart, bodyStart + len);
    out.push({ version: m[1], status: Number(m[2]), headers, body });
    at = bodyStart + body.length;
  }
}

/**
 * Opens a connection, writes `parts` (a number between strings waits that many ms),
 * and collects until `expect` responses arrived or the server closed the connection.
 * Never resolves on a silent hang: the calling test's timeout catches that.
 */
export function rawExchange(port: number, parts: (string | Buffer | number)[], expect: number, host = '127.0.0.1'): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    let raw = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve({ responses: parseResponses(raw), closedByServer, raw });
    };
    const sock = net.connect(port, host, async () => {
      for (const p of parts) {
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else if (!sock.destroyed) sock.write(p);
      }
    });
    sock.on('data', (d) => {
      raw += d.toString('latin1');
      if (parseResponses(raw).length >= expect) finish(false);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else if (!done) reject(err);
    });
    sock.on('close', () => finish(true));
  });
}

/** One JSON POST as raw bytes. */
export function rawPost(path: string, body: string, extraHeaders = '', version = 'HTTP/1.1'): string {
  return `POST ${path} ${version}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`;
}

export function rawGet(path: string, version = 'HTTP/1.1', extraHeaders = ''): string {
  return `GET ${path} ${version}\r\nHost: 127.0.0.1\r\n${extraHeaders}\r\n`;
}
