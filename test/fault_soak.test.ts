// The fault soak's short form (issue 14): the real server as a child process,
// worker kills through INJECT_WORKER_KILL, MLflow outages on the fake MLflow
// server, SIGTERM at the end; every check the soak prints passes, and a check
// that fails makes it exit non-zero. A fixed low rate (--capacity) keeps the
// shared machine usable; speed is bench/'s business, not this test's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOAK = fileURLToPath(new URL('../bench/fault_soak.js', import.meta.url));

interface SoakResult {
  counts: { sent: number; answered: number; ok: number; expected: number; unexpected: number; statuses: Record<string, number> };
  checks: { name: string; pass: boolean; detail: string }[];
  events: { t: number; what: string }[];
  mlflow: { model: string; status: string; total: number; health: number; alive: number; expected: number }[];
}

function runSoak(args: string[]): Promise<{ code: number | null; out: string; result: SoakResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'ctr-fault-soak-'));
  const file = join(dir, 'result.json');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SOAK, ...args, '--out', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out = (out + b.toString()).slice(-20_000); });
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve({ code, out, result: JSON.parse(readFileSync(file, 'utf8')) as SoakResult });
      } catch (err) {
        reject(new Error(`no result (${(err as Error).message}); exit ${code}:\n${out}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

// Short windows so the last MLflow point is judged on traffic after the last
// kill; a loose latency objective and RSS bound, since a 40 s run on a shared
// machine says nothing about speed or long-run memory (the 10-minute soak does).
// 16 connections, not the generator's 256: at 400 req/s most of 256 keep-alive
// connections sit idle past uWS's ~10 s idle timeout, and a request written
// just as the server closes one is lost on the wire ("closed"): most likely the
// keep-alive race clients retry (not proven); one such loss failed a CI-like run. Busy
// connections never idle out, so what this checks is the server's own faults.
const SHORT = ['--capacity', '800', '--duration', '40', '--fault-every', '15', '--warmup', '3', '--sample', '1', '--workers', '2', '--open-connections', '16',
  '--server-env', 'MONITOR_WINDOWS_S=5,30', '--server-env', 'LATENCY_OBJECTIVE_MS=2000', '--server-env', 'INJECT_INFERENCE_DELAY_MS=2'];

test('fault soak, short form: kills and MLflow outages cost only the killed rows, counters reconcile, the last MLflow point is healthy', async () => {
  const { code, out, result } = await runSoak([...SHORT, '--max-growth', '0.5']);
  for (const c of result.checks) assert.ok(c.pass, `${c.name}: ${c.detail}\n${out}`);
  assert.equal(code, 0, out);
  assert.deepEqual(result.events.map((e) => e.what), ['MLflow down', 'MLflow up', 'worker killed', 'MLflow down', 'MLflow up', 'worker killed']);
  assert.equal(result.counts.unexpected, 0);
  assert.equal(result.counts.sent, result.counts.answered);
  assert.equal(result.counts.ok + result.counts.expected, result.counts.answered);
  assert.ok(result.counts.sent > 10_000, `load was offered (${result.counts.sent})`);
  assert.equal(result.mlflow.length, 2, 'one MLflow run per model');
  for (const r of result.mlflow) assert.deepEqual([r.status, r.health, r.alive, r.expected], ['FINISHED', 0, 2, 2]);
});

test('fault soak exits non-zero when a check fails', async () => {
  // An RSS bound below zero cannot hold: the RSS check fails, the others still run.
  const { code, out, result } = await runSoak(['--capacity', '200', '--duration', '4', '--fault-every', '3', '--warmup', '0', '--sample', '0.5', '--max-growth=-1']);
  assert.equal(code, 1, out);
  assert.match(out, /FAIL {2}RSS within -100 %/);
  assert.equal(result.checks.filter((c) => !c.pass).map((c) => c.name).join(), 'RSS within -100 %');
});
