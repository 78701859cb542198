// deploy/: the alert rules and scrape config pass promtool (check rules,
// check config, and the rules' unit tests in alert_rules.test.yml) when
// promtool is installed (Debian's `prometheus` package); every ctr_* metric
// the rules and the Grafana dashboard name is one the real server exports at
// GET /metrics; the Dockerfile copies files that exist and the systemd unit
// starts the entry point the build makes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../engine/config.js';
import { startServerProcess, type ServerProcess } from './support/server_process.js';
import { TestClient } from './support/http_client.js';

const root = projectRoot();
const deploy = (f: string) => join(root, 'deploy', f);
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const noPromtool = promtool.error ? 'promtool is not installed (apt-get install -y prometheus); the rules were not checked' : false;

/** ctr_* metric names in a text, with histogram suffixes kept (they are sample names in /metrics too). */
const metricNames = (text: string): Set<string> => new Set(text.match(/\bctr_[a-z0-9_]+/g) ?? []);

function runPromtool(args: string[]): string {
  const r = spawnSync('promtool', args, { cwd: join(root, 'deploy'), encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

describe('deploy kit: promtool', () => {
  test('promtool check rules deploy/alert_rules.yml', { skip: noPromtool }, () => {
    assert.match(runPromtool(['check', 'rules', 'alert_rules.yml']), /SUCCESS: \d+ rules found/);
  });
  test('promtool check config deploy/prometheus.yml', { skip: noPromtool }, () => {
    assert.match(runPromtool(['check', 'config', 'prometheus.yml']), /is valid prometheus config/);
  });
  test('promtool test rules deploy/alert_rules.test.yml: the rules fire on the series they are for', { skip: noPromtool }, () => {
    assert.match(runPromtool(['test', 'rules', 'alert_rules.test.yml']), /SUCCESS/);
  });
  test('the rules cover error rate, p99, drift, MLflow down, worker restarts, calibration and unknown category values', () => {
    const rules = readFileSync(deploy('alert_rules.yml'), 'utf8');
    for (const name of ['CtrErrorRateHigh', 'CtrLatencyP99High', 'CtrPredictionDriftHigh', 'CtrMlflowDown', 'CtrWorkerRestarts', 'CtrWorkersMissing', 'CtrEngineDown', 'CtrCalibrationOff', 'CtrUnknownCategoryValues']) {
      assert.match(rules, new RegExp(`alert: ${name}\\n`), name);
    }
  });
});

describe('deploy kit: metric names against the real server', () => {
  let server: ServerProcess;
  let client: TestClient;
  before(async () => {
    server = await startServerProcess({}, 60_000);
    client = new TestClient(server.url, 1);
  });
  after(async () => {
    await client?.pool.close();
    await server?.stop();
  });

  test('every ctr_* metric in the alert rules and the Grafana dashboard is exported at GET /metrics', async () => {
    // Some families exist only once there is traffic (the watched fields' rates).
    const rows = Array.from({ length: 16 }, (_, i) => ({ user_id: `u${i}`, ad_id: 'ad_1', device: 'mobile', placement: 'header' }));
    for (const model of ['xgboost', 'logistic']) assert.equal((await client.postJson('/predict_ctr/batch', { requests: rows.map((q) => ({ ...q, model })) })).status, 200);
    await client.freshStats();
    const r = await client.get('/metrics');
    assert.equal(r.status, 200);
    const exported = new Set((r.body as string).split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
    assert.ok(exported.has('ctr_requests_total'));
    const used = new Set([...metricNames(readFileSync(deploy('alert_rules.yml'), 'utf8')), ...metricNames(readFileSync(deploy('grafana-dashboard.json'), 'utf8'))]);
    assert.ok(used.size >= 15, `only ${used.size} metrics used`);
    const missing = [...used].filter((m) => !exported.has(m));
    assert.deepEqual(missing, [], 'named in deploy/ but not exported');
  });
});

describe('deploy kit: Grafana, Docker, systemd', () => {
  test('the Grafana dashboard is importable JSON: a datasource input, unique panel ids, every target a query', () => {
    const d = JSON.parse(readFileSync(deploy('grafana-dashboard.json'), 'utf8'));
    assert.equal(d.__inputs[0].pluginId, 'prometheus');
    const ids = d.panels.map((p: { id: number }) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const p of d.panels) {
      assert.ok(p.targets.length > 0, p.title);
      for (const t of p.targets) assert.match(t.expr, /ctr_/, p.title);
    }
    // p50 and p99 are told apart by more than colour.
    const latency = d.panels.find((p: { title: string }) => p.title.startsWith('End-to-end latency'));
    assert.ok(JSON.stringify(latency.fieldConfig.overrides).includes('"dash"'));
  });

  test('the Dockerfile copies only files that exist, and runs the built entry point', () => {
    const file = readFileSync(deploy('Dockerfile'), 'utf8');
    for (const m of file.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1].split(/\s+/)) assert.ok(existsSync(join(root, src)), `COPY ${src}`);
    }
    for (const m of file.matchAll(/^COPY --from=build \/src\/(\S+) /gm)) {
      if (m[1] === 'node_modules' || m[1] === 'dist') continue;
      assert.ok(existsSync(join(root, m[1])), `COPY --from=build ${m[1]}`);
    }
    assert.match(file, /dist\/bin\/ctr-engine\.js/);
    assert.ok(existsSync(join(root, 'dist', 'bin', 'ctr-engine.js')));
  });

  test('the systemd unit starts the entry point, stops with SIGTERM after the shutdown deadline, keeps state in its state directory', () => {
    const unit = readFileSync(deploy('ctr-engine.service'), 'utf8');
    assert.match(unit, /^ExecStart=\S*node \/opt\/ctr-engine\/dist\/bin\/ctr-engine\.js$/m);
    assert.match(unit, /^KillSignal=SIGTERM$/m);
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    assert.ok(stop * 1000 > 5000 + 2000, 'longer than SHUTDOWN_DEADLINE_MS plus the webhook bound');
    assert.match(unit, /^StateDirectory=ctr-engine$/m);
    assert.match(unit, /^RestartPreventExitStatus=2$/m);
  });
});
