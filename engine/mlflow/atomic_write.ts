// Writes that MLflow's reader can never catch half done: whole files go to a
// temp name in a folder MLflow does not scan as entities, then rename(2) over
// the target; metric lines go in one append(2) call each.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Replaces `target` atomically; the temp file lives in `tempDir` (same filesystem). */
export async function writeFileAtomic(target: string, data: string, tempDir = dirname(target)): Promise<void> {
  const tmp = join(tempDir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data, 'utf8');
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Appends complete lines with a single write on an O_APPEND descriptor. */
export async function appendLines(target: string, lines: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  await appendFile(target, lines, { encoding: 'utf8', flag: 'a' });
}
