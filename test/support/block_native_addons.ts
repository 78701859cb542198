// Preloaded with `node --import <this file>` to play a platform where native
// addons do not load: every `.node` file whose path contains one of the
// comma-separated substrings in CTR_TEST_BLOCK_ADDONS fails to load the way a
// missing or incompatible binary does (an Error from require). Lets the tests
// check FRONT_END=auto's fallbacks on a machine where both addons work.
import { createRequire } from 'node:module';

const blocked = (process.env.CTR_TEST_BLOCK_ADDONS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const Module = createRequire(import.meta.url)('node:module') as { _extensions: Record<string, (module: unknown, filename: string) => void> };
const loadNative = Module._extensions['.node'];
Module._extensions['.node'] = (module, filename) => {
  const hit = blocked.find((b) => filename.includes(b));
  if (hit !== undefined) throw new Error(`${filename}: cannot open shared object file (blocked by the test: CTR_TEST_BLOCK_ADDONS contains ${JSON.stringify(hit)})`);
  loadNative(module, filename);
};
