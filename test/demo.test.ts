// `npm run demo`'s short form: it starts its own server, walks through every
// monitoring phase and exits 0 only when each showed what it should (the
// demo checks itself; this test checks that it passes, and says which phase did not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../bench/demo.js', import.meta.url));

test('npm run demo -- --short passes every phase', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, [DEMO, '--short'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 0, out);
  for (const phase of ['steady traffic and stats', 'A/B split', 'baselines', 'traffic shift caught by the drift checks', 'overload', 'MLflow']) {
    assert.match(out, new RegExp(`\\] ${phase}[^\\n]* … ok`), `phase "${phase}" in:\n${out}`);
  }
  assert.match(out, /mlflow ui --backend-store-uri file:/);
  assert.match(out, /dashboard http:\/\/127\.0\.0\.1:\d+\/dashboard/);
  assert.match(out, /demo: every phase showed what it should/);
});
