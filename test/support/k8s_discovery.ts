// A Kubernetes API server's discovery documents and nothing else, on a
// loopback port: `kubectl create --dry-run=client` needs discovery to map a
// manifest's kinds to resources even though it sends no object, and this
// machine has no cluster. Only the kinds deploy/k8s/ uses are served, so an
// unknown kind or API version still fails the way a real cluster would.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const GROUPS: Record<string, { version: string; resources: [string, string][] }> = {
  apps: { version: 'v1', resources: [['deployments', 'Deployment']] },
  autoscaling: { version: 'v2', resources: [['horizontalpodautoscalers', 'HorizontalPodAutoscaler']] },
  policy: { version: 'v1', resources: [['poddisruptionbudgets', 'PodDisruptionBudget']] },
};
const CORE: [string, string][] = [['services', 'Service'], ['configmaps', 'ConfigMap'], ['secrets', 'Secret']];

const resourceList = (groupVersion: string, resources: [string, string][]) => ({
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion,
  resources: resources.map(([name, kind]) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['create', 'get', 'list'] })),
});

function discovery(path: string): unknown {
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  if (path === '/api/v1') return resourceList('v1', CORE);
  if (path === '/apis') {
    return {
      kind: 'APIGroupList', apiVersion: 'v1',
      groups: Object.entries(GROUPS).map(([name, g]) => {
        const gv = { groupVersion: `${name}/${g.version}`, version: g.version };
        return { name, versions: [gv], preferredVersion: gv };
      }),
    };
  }
  const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
  const g = m ? GROUPS[m[1]] : undefined;
  return g !== undefined && g.version === m![2] ? resourceList(`${m![1]}/${m![2]}`, g.resources) : undefined;
}

export async function startK8sDiscovery(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const body = discovery((req.url ?? '/').split('?')[0]);
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
