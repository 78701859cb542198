// deploy/k8s/ goes through kubectl itself (`create --dry-run=client
// --validate=false`, as the issue asks), against a discovery-only API server
// on loopback; then the objects kubectl built are checked for what a rolling
// update needs: readiness on /ready, a preStop pause longer than nothing, a
// grace period above it, a PDB and an HPA aimed at the Deployment.
// Skipped, saying so, where kubectl is not installed (Debian: kubernetes-client).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startK8sDiscovery } from './support/k8s_discovery.js';

const K8S = fileURLToPath(new URL('../../deploy/k8s/', import.meta.url));
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const SKIP = hasKubectl ? false : 'kubectl is not installed (apt-get install kubernetes-client): deploy/k8s/ not checked';

interface K8sObject { kind: string; apiVersion: string; metadata: { name: string }; spec: Record<string, any> }

/** Asynchronous: the discovery server runs in this process's event loop. */
function kubectlCreate(server: string, path: string): Promise<{ status: number; out: string; err: string }> {
  // A fresh HOME: no kubeconfig or discovery cache of the machine's own is used.
  const home = mkdtempSync(join(tmpdir(), 'ctr-kubectl-'));
  const args = ['--server', server, 'create', '--dry-run=client', '--validate=false', '-f', path, '-o', 'json'];
  return new Promise((resolve) => {
    execFile('kubectl', args, { env: { ...process.env, HOME: home, KUBECONFIG: join(home, 'none') }, timeout: 60_000 }, (err, out, errOut) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, out, err: errOut });
    });
  });
}

test('deploy/k8s: kubectl accepts every manifest; probes, drain and disruption settings hold together', { skip: SKIP }, async () => {
  const api = await startK8sDiscovery();
  try {
    // The whole folder at once, as an operator applies it; then each file, whose JSON comes back alone.
    const all = await kubectlCreate(api.url, K8S);
    assert.equal(all.status, 0, all.err);
    const objects: K8sObject[] = [];
    for (const f of readdirSync(K8S).filter((n) => n.endsWith('.yaml'))) {
      const r = await kubectlCreate(api.url, join(K8S, f));
      assert.equal(r.status, 0, `${f}: ${r.err}`);
      objects.push(JSON.parse(r.out) as K8sObject);
    }
    const byKind = new Map(objects.map((o) => [o.kind, o]));
    assert.deepEqual([...byKind.keys()].sort(), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);

    const dep = byKind.get('Deployment')!;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(c.readinessProbe.httpGet.path, '/ready');
    assert.equal(c.livenessProbe.httpGet.path, '/health');
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    assert.ok(preStop > 0 && pod.terminationGracePeriodSeconds > preStop + 10, 'the grace period covers the preStop pause and the drain after it');
    assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);
    const port = c.ports.find((p: { name: string }) => p.name === 'http');
    assert.equal(String(port.containerPort), c.env.find((e: { name: string }) => e.name === 'PORT').value);
    assert.equal(c.env.find((e: { name: string }) => e.name === 'HOST').value, '0.0.0.0', 'a pod must listen beyond loopback');

    const labels = dep.spec.selector.matchLabels;
    assert.deepEqual(byKind.get('Service')!.spec.selector, labels);
    assert.deepEqual(byKind.get('PodDisruptionBudget')!.spec.selector.matchLabels, labels);
    assert.equal(byKind.get('Service')!.spec.ports[0].targetPort, 'http');
    const hpa = byKind.get('HorizontalPodAutoscaler')!.spec;
    assert.deepEqual(hpa.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name });
    assert.ok(hpa.minReplicas >= 2, 'one replica down for a drain must leave one serving');
  } finally {
    await api.close();
  }
});

test('deploy/k8s check fails a manifest a cluster would refuse (unknown kind)', { skip: SKIP }, async () => {
  const api = await startK8sDiscovery();
  try {
    const bad = join(mkdtempSync(join(tmpdir(), 'ctr-k8s-bad-')), 'bad.yaml');
    writeFileSync(bad, 'apiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: x\nspec: {}\n');
    const r = await kubectlCreate(api.url, bad);
    assert.notEqual(r.status, 0);
    assert.match(r.err, /Deploymnet/);
  } finally {
    await api.close();
  }
});
