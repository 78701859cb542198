// PUT /ab's weights kept across restarts, only when AB_WEIGHTS_PERSIST is on:
// DATA_DIR/ab_weights.json, written to a temp file and renamed over the old
// one (a crash leaves the old or the new file, never half of one). At start a
// saved file overrides AB_WEIGHTS; one that names a model no longer loaded
// is reported and ignored rather than stopping the server.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const AB_WEIGHTS_FILE = 'ab_weights.json';

export function abWeightsPath(dataDir: string): string {
  return join(dataDir, AB_WEIGHTS_FILE);
}

/** The saved weights, null when there is no file; throws naming the file when it is not a weights object. */
export function readAbWeights(path: string): Record<string, number> | null {
  if (!existsSync(path)) return null;
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { weights?: unknown };
  const w = raw?.weights;
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new Error(`${path}: expected {"weights": {"model": weight, …}}`);
  for (const [k, v] of Object.entries(w)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${path}: weights.${k} is not a finite number ≥ 0`);
  }
  return w as Record<string, number>;
}

export async function writeAbWeights(path: string, dataDir: string, weights: Record<string, number>): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const tmp = join(dataDir, `.ab_weights.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify({ weights, saved_at: new Date().toISOString() }, null, 2) + '\n', 'utf8');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
