// The README's curl commands, run as written against a real server (the
// address swapped for the test server's): each exits 0, and when the README
// shows the answer in a comment below (`# {...}`), the real answer has the
// same keys. So a command a newcomer copies from the README works.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../engine/config.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';

interface Command { line: number; text: string; expected: Record<string, unknown> | null }

/** curl commands in ```sh blocks (continuation lines joined), each with the JSON shown after it, if any. */
function readmeCommands(): Command[] {
  const lines = readFileSync(join(projectRoot(), 'README.md'), 'utf8').split('\n');
  const out: Command[] = [];
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (/^```/.test(l)) { inSh = !inSh && /^```(sh|bash|shell)\s*$/.test(l); continue; }
    if (!inSh || !/^(curl|node -e)\s/.test(l)) continue;
    const start = i;
    let text = l;
    while (text.endsWith('\\')) text = text.slice(0, -1) + ' ' + lines[++i].trim();
    let expected: Record<string, unknown> | null = null;
    const next = lines[i + 1] ?? '';
    if (next.startsWith('# {')) {
      // The README elides values with …: keep the keys.
      try {
        expected = JSON.parse(next.slice(2).replace(/…/g, '0').replace(/"0"/g, '""'));
      } catch (err) {
        throw new Error(`README.md:${i + 2}: the answer shown is not JSON once … is filled in: ${(err as Error).message}`);
      }
    }
    out.push({ line: start + 1, text, expected });
  }
  return out;
}

let server: ServerProcess;
before(async () => { server = await startServerProcess({ REQUEST_DEADLINE_MS: '10000' }, 60_000); });
after(async () => { await server?.stop(); });

test('every curl (and node -e) command in the README works as written', () => {
  const commands = readmeCommands();
  assert.ok(commands.length >= 1, 'no curl command found in README.md');
  assert.ok(commands.some((c) => c.expected !== null), 'no answer shown in README.md to compare with');
  for (const c of commands) {
    const cmd = c.text.replace(/(https?:\/\/)?(localhost|127\.0\.0\.1):8000/g, `127.0.0.1:${server.port}`);
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 30_000, cwd: projectRoot() });
    assert.equal(r.status, 0, `README.md:${c.line}: ${cmd}\n${r.stderr}`);
    assert.ok(r.stdout.trim().length > 0, `README.md:${c.line}: no output`);
    if (c.expected) {
      const got = JSON.parse(r.stdout);
      for (const key of Object.keys(c.expected)) assert.ok(key in got, `README.md:${c.line}: the answer lacks "${key}": ${r.stdout}`);
    }
  }
});
