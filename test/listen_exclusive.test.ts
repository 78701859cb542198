// Issue 14 item 2: a second server on a port in use must not start (uWS's
// default SO_REUSEPORT let it start and take half the connections); it exits
// 1 with a message that says the port is taken, and the first keeps serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

for (const first of ['api', 'native-free'] as const) {
  describe(`a port held by a ${first === 'api' ? 'uWS' : 'node:http'} server`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServerProcess({ WORKERS: '1' }, 60_000, { entry: first });
    });
    after(async () => {
      assert.equal(await server.stop(), 0);
    });

    for (const second of ['api', 'native-free'] as const) {
      test(`a second ${second === 'api' ? 'uWS' : 'node:http'} server on it exits 1 saying the port is in use`, async () => {
        const err = await startServerProcess({ WORKERS: '1', PORT: String(server.port) }, 60_000, { entry: second }).then(
          async (s) => {
            await s.stop();
            return null;
          },
          (e: Error) => e,
        );
        assert.ok(err !== null, 'the second server started on a port in use');
        assert.match(err.message, /exited with 1 before ready/);
        assert.match(err.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.port}: the port is already in use`));
        assert.doesNotMatch(err.message, /\n\s+at /, 'a clear message, not a stack trace');
        const client = new TestClient(server.url, 1);
        try {
          assert.equal((await client.get('/ready')).status, 200);
        } finally {
          await client.close();
        }
      });
    }
  });
}
