// The layout is the architecture: no import cycle anywhere, and every import
// points down the layers (engine ← api ← native-free-ts's transport ← bin;
// bench and test on top). Read from the sources, so it holds for every file
// a later change adds (test/support/import_graph.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { danglingImports, findCycles, layerBreaches, readImportGraph, type ImportGraph } from './support/import_graph.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const graph = readImportGraph(ROOT);

test('the graph is read from the sources: every room, static, type-only and dynamic imports', () => {
  for (const room of ['engine/', 'api/', 'native-free-ts/', 'bin/', 'bench/', 'test/']) {
    assert.ok([...graph.keys()].some((k) => k.startsWith(room)), `no module under ${room}`);
  }
  assert.ok(graph.get('bin/ctr-engine.ts')!.includes('bin/start_server.ts'), 'a static import');
  assert.ok(graph.get('engine/coordinator/mlflow_metrics.ts')!.includes('engine/coordinator/snapshot.ts'), 'an import type');
  assert.ok(graph.get('engine/telemetry/index.ts')!.length > 0, 'export … from');
  assert.deepEqual(danglingImports(graph), [], 'every relative import names a module that exists');
});

test('no import cycle anywhere', () => {
  assert.deepEqual(findCycles(graph).map((c) => c.join(' ↔ ')), []);
});

test('imports point down the layers: engine/ imports no front end, native-free-ts/ or bench/', () => {
  assert.deepEqual(layerBreaches(graph), []);
  const engineOut = [...graph].filter(([f]) => f.startsWith('engine/')).flatMap(([, t]) => t).filter((t) => !t.startsWith('engine/'));
  assert.deepEqual(engineOut, []);
});

test('the checker catches what it is for: a two-module cycle, a self-import, and an upward import', () => {
  const g: ImportGraph = new Map([
    ['engine/a.ts', ['engine/b.ts']],
    ['engine/b.ts', ['engine/a.ts', 'api/server.ts']],
    ['engine/c.ts', ['engine/c.ts']],
    ['api/server.ts', ['native-free-ts/transport/node_http_app.ts']],
    ['native-free-ts/transport/node_http_app.ts', ['api/http_transport.ts', 'api/respond.ts']],
    ['api/http_transport.ts', []],
    ['api/respond.ts', []],
  ]);
  assert.deepEqual(findCycles(g).map((c) => c.join(' ↔ ')).sort(), ['engine/a.ts ↔ engine/b.ts', 'engine/c.ts']);
  assert.deepEqual(layerBreaches(g).sort(), [
    'api/server.ts → native-free-ts/transport/node_http_app.ts',
    'engine/b.ts → api/server.ts',
    'native-free-ts/transport/node_http_app.ts → api/respond.ts',
  ]);
});
