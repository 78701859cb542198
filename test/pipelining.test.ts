// Issue 14 item 4: several requests in one packet. node:http answers each in
// order. uWS v20.30 cannot answer a pipelined request from a later tick
// (uWebSockets.js#1301, and every prediction is answered so), so there the
// client must see the connection closed at once, never a silent hang: each
// exchange below resolves on "all answers" or "closed by the server", and a
// hang would trip the test's timeout. README, "Running behind a proxy".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { rawExchange, rawGet, rawPost } from './support/raw_http.js';
import { GOOD } from './support/request_errors.js';

const body = JSON.stringify(GOOD);
const post = (id: string) => rawPost('/predict_ctr', body, `X-Request-Id: ${id}\r\n`);

const PATTERNS: [string, (string | number)[], number][] = [
  ['two POSTs in one packet', [post('a') + post('b')], 2],
  ['three POSTs in one packet', [post('a') + post('b') + post('c')], 3],
  ['a POST then a GET in one packet', [post('a') + rawGet('/health')], 2],
  ['a GET then two POSTs in one packet', [rawGet('/health') + post('a') + post('b')], 3],
  ['a POST, then another before the first is answered', [post('a'), 1, post('b')], 2],
  ['a POST and half of the next, then the rest', [post('a') + post('b').slice(0, 40), 5, post('b').slice(40)], 2],
];

for (const entry of ['api', 'native-free'] as const) {
  describe(`pipelined requests (${entry === 'api' ? 'uWS' : 'node:http'})`, () => {
    let server: ServerProcess;
    before(async () => {
      // Slow inference, so a pipelined request always arrives while the one before it is unanswered.
      server = await startServerProcess({ WORKERS: '1', INJECT_INFERENCE_DELAY_MS: '50', REQUEST_DEADLINE_MS: '10000' }, 60_000, { entry });
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    for (const [name, parts, n] of PATTERNS) {
      test(`${name}: ${entry === 'api' ? 'every answer in order, or the connection closed at once' : 'every answer, in order'}`, { timeout: 8_000 }, async () => {
        const ex = await rawExchange(server.port, parts, n);
        if (ex.responses.length === n) {
          // Answered: each in order, each the right one.
          const ids = ex.responses.map((r) => (r.body.includes('"request_id"') ? JSON.parse(r.body).request_id : 'health'));
          // The order the requests were written in.
          const sent = parts.filter((p): p is string => typeof p === 'string').join('');
          const want = [...sent.matchAll(/X-Request-Id: (\w+)|GET \/health/g)].map((m) => m[1] ?? 'health');
          assert.deepEqual(ids, want);
          for (const r of ex.responses) assert.equal(r.status, 200, r.body);
        } else {
          assert.equal(entry, 'api', `node:http must answer every pipelined request; got ${ex.responses.length} of ${n}:\n${ex.raw}`);
          assert.ok(ex.closedByServer, `neither answered nor closed:\n${ex.raw}`);
          // Whatever was answered before the close is whole and correct.
          for (const r of ex.responses) assert.equal(r.status, 200, r.body);
        }
        // And the server serves the next connection as usual.
        const next = await rawExchange(server.port, [post('next')], 1);
        assert.equal(next.responses[0].status, 200);
      });
    }
  });
}
