// The project's own import graph, read from the TypeScript sources: every
// static `import … from`, `export … from`, side-effect `import '…'` and
// `import('…')` with a literal specifier, `import type` included (a type-only
// cycle still ties two modules' meaning together). Used by
// test/import_layers.test.ts and runnable on its own:
//   node dist/test/support/import_graph.js     (exit 1 on a cycle or a layer breach)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Top-level folders of TypeScript sources, bottom layer first. */
export const ROOMS = ['engine', 'api', 'native-free-ts', 'bin', 'bench', 'test'] as const;

/** module path (relative to the root, '/'-separated, .ts) → the project modules it imports. */
export type ImportGraph = Map<string, string[]>;

const SPECIFIER = /(?:\bimport|\bexport)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourcesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourcesUnder(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Strips comments so that an import written in a comment is not an edge. */
function withoutComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function readImportGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const rel = (p: string) => relative(root, p).split(sep).join('/');
  for (const room of ROOMS) {
    let files: string[];
    try {
      files = sourcesUnder(join(root, room));
    } catch {
      continue;
    }
    for (const file of files) {
      const edges: string[] = [];
      for (const m of withoutComments(readFileSync(file, 'utf8')).matchAll(SPECIFIER)) {
        const spec = m[1] ?? m[2];
        if (!spec.startsWith('.')) continue; // a package or node: builtin
        edges.push(rel(resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
      }
      graph.set(rel(file), [...new Set(edges)]);
    }
  }
  return graph;
}

/** Every import cycle, each as the modules of one strongly connected component (Tarjan). */
export function findCycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>(), stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/**
 * Which room may import which (the layers, bottom up; README "Architecture"):
 * engine/ imports nothing of ours outside itself; api/ (the HTTP layer: routes,
 * the transport contract, uWS) builds on engine/; native-free-ts/ builds on
 * engine/ and implements api/'s transport contract (api/http_transport.ts, its
 * only door into api/); bin/ (the composition root) wires them all; bench/ and
 * test/ sit on top, and nothing in the product imports them.
 */
const MAY_IMPORT: Record<string, (target: string) => boolean> = {
  engine: (t) => t.startsWith('engine/'),
  api: (t) => t.startsWith('engine/') || t.startsWith('api/'),
  'native-free-ts': (t) => t.startsWith('engine/') || t.startsWith('native-free-ts/') || t === 'api/http_transport.ts',
  bin: (t) => !t.startsWith('bench/') && !t.startsWith('test/'),
  bench: (t) => !t.startsWith('test/'),
  test: () => true,
};

/** Imports that cross the layers the wrong way, as "from → to". */
export function layerBreaches(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const allowed = MAY_IMPORT[from.split('/')[0]];
    for (const to of targets) if (!allowed(to)) out.push(`${from} → ${to}`);
  }
  return out;
}

/** Imports of modules that do not exist (a moved file, a stale path). */
export function danglingImports(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) for (const to of targets) if (!graph.has(to) && !to.endsWith('.json')) out.push(`${from} → ${to}`);
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // dist/test/support/ → the project root holds the sources.
  const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');
  const graph = readImportGraph(root);
  const problems = [
    ...findCycles(graph).map((c) => `cycle: ${c.join(' ↔ ')}`),
    ...layerBreaches(graph).map((b) => `layer breach: ${b}`),
    ...danglingImports(graph).map((d) => `missing module: ${d}`),
  ];
  console.log(`${graph.size} modules, ${[...graph.values()].reduce((n, e) => n + e.length, 0)} imports`);
  for (const p of problems) console.log(p);
  process.exit(problems.length === 0 ? 0 : 1);
}
