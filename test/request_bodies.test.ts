// Issue 14 items 13 and 8: request bodies.
// - 13: a body over MAX_BODY_BYTES gets 413, and the server reads and drops
//   the rest (up to DISCARD_BODY_BYTES) before closing, so a client still
//   sending sees the 413 instead of EPIPE. Past that bound it answers at once.
// - 8: bodies being buffered are bounded all together
//   (MAX_INFLIGHT_BODY_BYTES, 503 overloaded past it), and a body in many
//   small chunks is gathered in one buffer (sized by Content-Length, else
//   doubling), not one copy per chunk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { rawExchange, rawGet } from './support/raw_http.js';
import { GOOD } from './support/request_errors.js';
import { BodyRequest, bodyBufferStats } from '../api/body_request.js';
import type { HttpRequestLike, HttpResponseLike } from '../api/http_transport.js';

for (const entry of ['api', 'native-free'] as const) {
  const name = entry === 'api' ? 'uWS' : 'node:http';
  describe(`oversized bodies (${name})`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess({ WORKERS: '1' }, 60_000, { entry });
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    test('fetch POSTing 15 MB sees the 413 (not EPIPE), every time', async () => {
      const big = Buffer.alloc(15 * 1024 * 1024, 0x20);
      for (let i = 0; i < 5; i++) {
        const r = await fetch(`${server.url}/predict_ctr`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 413);
        assert.equal((await r.json()).error.code, 'payload_too_large');
      }
      const ok = await fetch(`${server.url}/predict_ctr`, { method: 'POST', body: JSON.stringify(GOOD), headers: { 'content-type': 'application/json' } });
      assert.equal(ok.status, 200);
    });
  });

  describe(`bounds on buffered bodies (${name})`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess({ WORKERS: '1', MAX_BODY_BYTES: '65536', MAX_INFLIGHT_BODY_BYTES: '65536', DISCARD_BODY_BYTES: '0' }, 60_000, { entry });
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    test('past DISCARD_BODY_BYTES the 413 comes at once, before the body', async () => {
      const ex = await rawExchange(server.port, [`POST /predict_ctr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${15 * 1024 * 1024}\r\n\r\n`], 1);
      assert.equal(ex.responses[0]?.status, 413, ex.raw);
      assert.equal(ex.responses[0].headers.connection, 'close');
    });

    test('MAX_INFLIGHT_BODY_BYTES: a body that would go past what others hold gets 503 overloaded; once they finish, room again', async () => {
      const body = JSON.stringify(GOOD).padEnd(40_000, ' ');
      const head = `POST /predict_ctr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      const net = await import('node:net');
      // A slow upload holding 40,000 of the 65,536 bytes.
      const slow = net.connect(server.port, '127.0.0.1');
      slow.on('error', () => {});
      let slowRaw = '';
      slow.on('data', (d) => (slowRaw += d.toString('latin1')));
      await new Promise<void>((r) => slow.once('connect', () => r()));
      slow.write(head + body.slice(0, 100));
      // A round trip on another connection: the slow one's bytes, sent first, have been read by then.
      assert.equal((await rawExchange(server.port, [rawGet('/health')], 1)).responses[0].status, 200);
      const refused = await rawExchange(server.port, [head + body.slice(0, 100), 50, body.slice(100)], 1);
      assert.equal(refused.responses[0]?.status, 503, refused.raw);
      assert.equal(JSON.parse(refused.responses[0].body).error.code, 'overloaded');
      assert.match(JSON.parse(refused.responses[0].body).error.message, /MAX_INFLIGHT_BODY_BYTES/);
      assert.equal(refused.responses[0].headers['retry-after'], '1');
      slow.write(body.slice(100));
      while (!slowRaw.includes('\r\n\r\n{')) await new Promise((r) => setTimeout(r, 10));
      assert.match(slowRaw, /^HTTP\/1\.1 200/);
      slow.destroy();
      const after = await rawExchange(server.port, [head + body.slice(0, 100), 50, body.slice(100)], 1);
      assert.equal(after.responses[0]?.status, 200, after.raw);
    });
  });
}

/** A BodyRequest over a fake response, fed chunk by chunk. */
class Capture extends BodyRequest {
  value: unknown = undefined;
  protected handleValue(value: unknown): void {
    this.value = value;
    this.done = true;
  }
}

function feed(contentLength: string, chunks: Buffer[]): Capture {
  let onData: ((c: ArrayBuffer, last: boolean) => void) | null = null;
  const res = {
    onAborted: () => res, onData: (h: (c: ArrayBuffer, last: boolean) => void) => ((onData = h), res),
    cork: (cb: () => void) => (cb(), res), writeStatus: () => res, writeHeader: () => res, end: () => res,
  } as unknown as HttpResponseLike;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': contentLength };
  const req: HttpRequestLike = {
    getHeader: (k) => headers[k] ?? '', getUrl: () => '/', getMethod: () => 'post', getParameter: () => undefined, getQuery: () => undefined,
    forEach: (cb) => Object.entries(headers).forEach(([k, v]) => v !== '' && cb(k, v)),
  };
  const r = new Capture(res, req, 1 << 20);
  r.start(contentLength);
  chunks.forEach((c, i) => onData!(c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength) as ArrayBuffer, i === chunks.length - 1));
  return r;
}

test('a body in 1-byte chunks is gathered in one buffer (Content-Length) or a few doublings (chunked), and released', () => {
  const text = JSON.stringify({ ...GOOD, pad: 'x'.repeat(100_000) });
  const bytes = Buffer.from(text);
  const ones = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  const before = bodyBufferStats().allocations;
  const sized = feed(String(bytes.length), ones);
  assert.deepEqual(sized.value, JSON.parse(text));
  assert.equal(bodyBufferStats().allocations - before, 1, 'one buffer of Content-Length bytes');
  const mid = bodyBufferStats().allocations;
  const chunked = feed('', ones);
  assert.deepEqual(chunked.value, JSON.parse(text));
  const grown = bodyBufferStats().allocations - mid;
  assert.ok(grown >= 1 && grown <= Math.ceil(Math.log2(bytes.length / 16_384)) + 1, `${grown} buffers for ${bytes.length} bytes`);
  assert.equal(bodyBufferStats().inflightBytes, 0, 'every reservation released');
});
