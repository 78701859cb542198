// Reads a file store back the way MLflow's FileStore does
// (mlflow/store/tracking/file_store.py): meta.yaml mappings, metric lines split
// on spaces into int timestamp, float value, optional int step (default 0),
// params and tags as bare file contents under folders named by key.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { parsePythonFloat } from './values.js';
import { parseFlatYaml, type FlatYaml } from './yaml.js';

export const TRASH_FOLDER = '.trash';
const NON_EXPERIMENT_FOLDERS = new Set([TRASH_FOLDER, 'models']);
const RESERVED_EXPERIMENT_FOLDERS = new Set(['tags', 'datasets', 'traces']);

export interface StoredMetric { timestamp: number; value: number; step: number }

export async function isDir(p: string): Promise<boolean> {
  try { return (await stat(p)).isDirectory(); } catch { return false; }
}

async function subdirs(p: string): Promise<string[]> {
  try {
    const entries = await readdir(p, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch { return []; }
}

/** Every file under `dir`, as '/'-joined keys relative to it (MLflow's os.walk). */
async function listKeys(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    let entries;
    try { entries = await readdir(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  }
  await walk(dir);
  return out.sort();
}

export async function readMeta(dir: string): Promise<FlatYaml | null> {
  try { return parseFlatYaml(await readFile(join(dir, 'meta.yaml'), 'utf8')); } catch { return null; }
}

/** FileStore._get_metric_from_line. */
export function parseMetricLine(line: string): StoredMetric {
  const parts = line.trim().split(' ');
  if (parts.length !== 2 && parts.length !== 3) {
    throw new Error(`persisted metric data contained ${parts.length} fields. Expected 2 or 3 fields.`);
  }
  const ts = Number.parseInt(parts[0], 10);
  const step = parts.length === 3 ? Number.parseInt(parts[2], 10) : 0;
  if (!/^[+-]?\d+$/.test(parts[0]) || (parts.length === 3 && !/^[+-]?\d+$/.test(parts[2]))) {
    throw new Error(`invalid literal for int() in metric line '${line}'`);
  }
  return { timestamp: ts, value: parsePythonFloat(parts[1]), step };
}

export interface ExperimentInfo { id: string; dir: string; meta: FlatYaml }

/** Active experiments (root subfolders) and, with `deleted`, those in .trash. */
export async function listExperiments(root: string, deleted = false): Promise<ExperimentInfo[]> {
  const out: ExperimentInfo[] = [];
  const parents = deleted ? [root, join(root, TRASH_FOLDER)] : [root];
  for (const parent of parents) {
    for (const name of await subdirs(parent)) {
      if (parent === root && NON_EXPERIMENT_FOLDERS.has(name)) continue;
      const dir = join(parent, name);
      const meta = await readMeta(dir);
      if (meta) out.push({ id: name, dir, meta });
    }
  }
  return out;
}

export interface StoredRun {
  dir: string;
  meta: FlatYaml;
  metrics: Record<string, StoredMetric[]>;
  params: Record<string, string>;
  tags: Record<string, string>;
}

/** Run folders of an experiment (FileStore._list_run_infos). */
export async function listRunDirs(experimentDir: string): Promise<string[]> {
  const names = (await subdirs(experimentDir)).filter((n) => !RESERVED_EXPERIMENT_FOLDERS.has(n));
  const out: string[] = [];
  for (const n of names) if (await readMeta(join(experimentDir, n))) out.push(join(experimentDir, n));
  return out;
}

export async function readKeyedFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await listKeys(dir)) out[key] = await readFile(join(dir, ...key.split('/')), 'utf8');
  return out;
}

export async function readRun(runDir: string): Promise<StoredRun> {
  const meta = await readMeta(runDir);
  if (!meta) throw new Error(`no meta.yaml in ${runDir}`);
  const metrics: Record<string, StoredMetric[]> = {};
  for (const [key, text] of Object.entries(await readKeyedFiles(join(runDir, 'metrics')))) {
    // read_file_lines + strip: every complete line is one point.
    metrics[key] = text.split('\n').filter((l) => l.trim() !== '').map(parseMetricLine);
  }
  return {
    dir: runDir,
    meta,
    metrics,
    params: await readKeyedFiles(join(runDir, 'params')),
    tags: await readKeyedFiles(join(runDir, 'tags')),
  };
}
