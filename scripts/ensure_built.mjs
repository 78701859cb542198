// Compiles the TypeScript (tsc -p .) only when dist/ is missing or older than
// a source, so `npm start` after the first build serves in about a second
// rather than recompiling (~14 s) every time. Plain JavaScript: it must run
// before anything is compiled. `npm install` runs it too (the "prepare" script).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const SOURCES = ['api', 'bench', 'bin', 'engine', 'native-free-ts', 'test'];
const STAMP = join(root, 'dist', 'bin', 'ctr-engine.js');

/** Newest modification time of the .ts files under `dir` (and its name). */
function newest(dir) {
  let best = { t: 0, f: '' };
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules') continue;
      const n = newest(p);
      if (n.t > best.t) best = n;
    } else if (e.name.endsWith('.ts')) {
      const t = statSync(p).mtimeMs;
      if (t > best.t) best = { t, f: p };
    }
  }
  return best;
}

let src = { t: statSync(join(root, 'tsconfig.json')).mtimeMs, f: 'tsconfig.json' };
for (const d of SOURCES) {
  if (!existsSync(join(root, d))) continue;
  const n = newest(join(root, d));
  if (n.t > src.t) src = n;
}
const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
if (built >= src.t) process.exit(0);

console.error(built === 0 ? 'ctr-engine: building (tsc), once' : `ctr-engine: ${src.f.slice(root.length + 1)} changed; rebuilding (tsc)`);
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('ctr-engine: typescript is not installed; run `npm install` (with dev dependencies) first');
  process.exit(1);
}
const r = spawnSync(process.execPath, [tsc, '-p', root], { stdio: 'inherit' });
process.exit(r.status ?? 1);
