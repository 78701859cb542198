// Issue 14 item 11: request smuggling and stuck parses, over raw sockets.
// - Two Content-Length headers: uWS framed the body by the first (a proxy
//   may use the last: smuggling). Now 400 on both front ends.
// - `OPTIONS *`, authority-form (CONNECT host:port) and absolute-form
//   targets, and requests with very many headers: node:http answers each at
//   once. uWS v20.30 never hands them to JavaScript (they wait for its 10 s
//   idle timeout; more than ~50 headers too), so on uWS nothing can answer
//   them: README, "Known limitations". What is tested there is that such a
//   request holds only its own connection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { rawExchange, rawPost } from './support/raw_http.js';
import { GOOD } from './support/request_errors.js';

const body = JSON.stringify(GOOD);
const twoLengths = (second: number) =>
  `POST /predict_ctr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: ${second}\r\n\r\n${body}`;
const manyHeaders = (n: number) => `GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`;

for (const entry of ['api', 'native-free'] as const) {
  describe(`HTTP edges (${entry === 'api' ? 'uWS' : 'node:http'})`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess({ WORKERS: '1' }, 60_000, { entry });
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    test('two Content-Length headers, differing or equal: 400 invalid_request, connection closed, server still serving', async () => {
      for (const second of [5, body.length]) {
        const ex = await rawExchange(server.port, [twoLengths(second)], 1);
        assert.equal(ex.responses[0]?.status, 400, ex.raw);
        assert.equal(JSON.parse(ex.responses[0].body).error.code, 'invalid_request');
        assert.match(JSON.parse(ex.responses[0].body).error.message, /Content-Length/i);
      }
      const ok = await rawExchange(server.port, [rawPost('/predict_ctr', body)], 1);
      assert.equal(ok.responses[0].status, 200);
    });

    if (entry === 'native-free') {
      test('OPTIONS *, CONNECT host:port, absolute-form and 120 headers are answered at once', async () => {
        const star = await rawExchange(server.port, ['OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'], 1);
        assert.equal(star.responses[0].status, 404, star.raw);
        const connect = await rawExchange(server.port, ['CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n'], 1);
        assert.equal(connect.responses[0]?.status, 400, connect.raw);
        assert.equal(JSON.parse(connect.responses[0].body).error.code, 'invalid_request');
        const absolute = await rawExchange(server.port, ['GET http://x/health HTTP/1.1\r\nHost: x\r\n\r\n'], 1);
        assert.equal(absolute.responses[0].status, 200, absolute.raw);
        const many = await rawExchange(server.port, [manyHeaders(120)], 1);
        assert.equal(many.responses[0].status, 200, many.raw);
      });
    } else {
      test('a target uWS holds (OPTIONS *, CONNECT, absolute-form, 120 headers) holds only its own connection', async () => {
        const net = await import('node:net');
        const held = ['OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', 'CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n', 'GET http://x/health HTTP/1.1\r\nHost: x\r\n\r\n', manyHeaders(120)]
          .map((payload) => {
            const s = net.connect(server.port, '127.0.0.1', () => s.write(payload));
            s.on('error', () => {});
            return s;
          });
        try {
          for (let i = 0; i < 3; i++) {
            const ok = await rawExchange(server.port, [rawPost('/predict_ctr', body)], 1);
            assert.equal(ok.responses[0].status, 200);
          }
        } finally {
          for (const s of held) s.destroy();
        }
      });
    }
  });
}
