// MLflow's rules for metric, param and tag keys (mlflow/utils/validation.py):
// characters in ^[/\w.\- :]*$ (older servers: no ':'), at most 250 chars, and
// unchanged by posixpath.normpath because the file store uses keys as paths.
// We sanitise to the strictest form so every server version accepts our keys.

export const MAX_KEY_LENGTH = 250;

/** The newest servers' character rule; used to validate, not to produce keys. */
const VALID_KEY_CHARS = /^[/\p{L}\p{N}_.\- :]*$/u;
/** What we produce: ASCII, and no ':' so pre-2.9 servers accept it too. */
const UNSAFE_CHAR = /[^/A-Za-z0-9_.\- ]/g;

/** Python's posixpath.normpath, for the "unchanged by normalisation" rule. */
export function posixNormpath(path: string): string {
  if (path === '') return '.';
  const initial = path.startsWith('/') ? (path.startsWith('//') && !path.startsWith('///') ? 2 : 1) : 0;
  const out: string[] = [];
  for (const comp of path.split('/')) {
    if (comp === '' || comp === '.') continue;
    if (comp !== '..' || (initial === 0 && out.length === 0) || (out.length > 0 && out[out.length - 1] === '..')) {
      out.push(comp);
    } else if (out.length > 0) {
      out.pop();
    }
  }
  const joined = '/'.repeat(initial) + out.join('/');
  return joined || '.';
}

/** MLflow's path_not_unique(). */
export function pathNotUnique(name: string): boolean {
  const norm = posixNormpath(name);
  return norm !== name || norm === '.' || norm.startsWith('..') || norm.startsWith('/');
}

/** Why MLflow would refuse `key`, or null if it accepts it. Messages follow MLflow's. */
export function keyProblem(key: string, what = 'metric'): string | null {
  if (!VALID_KEY_CHARS.test(key)) {
    return `Invalid ${what} name: '${key}'. Names may only contain alphanumerics, underscores (_), ` +
      'dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).';
  }
  if (pathNotUnique(key)) {
    return `Invalid ${what} name: '${key}'. Names may be treated as files in certain cases, and must ` +
      `not resolve to other names when treated as such. This name would resolve to '${posixNormpath(key)}'`;
  }
  return null;
}

export function isValidKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH && keyProblem(key) === null;
}

function cleanSegments(s: string): string {
  const segs = s.split('/').filter((seg) => seg !== '' && seg !== '.').map((seg) => (seg === '..' ? '__' : seg));
  // normpath keeps "...x" but MLflow rejects any key whose normal form starts with "..".
  if (segs.length > 0 && segs[0].startsWith('..')) segs[0] = '_' + segs[0];
  return segs.join('/');
}

/** Turns any string into a key every MLflow version accepts; stable for the same input. */
export function sanitizeKey(raw: string): string {
  let key = cleanSegments(String(raw).replace(UNSAFE_CHAR, '_'));
  if (key.length > MAX_KEY_LENGTH) key = cleanSegments(key.slice(0, MAX_KEY_LENGTH));
  return key === '' ? '_' : key;
}

/**
 * Joins figure names into one hierarchical metric key, e.g.
 * toMetricKey(['latency_ms', 'end_to_end', 'p99']) → "latency_ms/end_to_end/p99".
 * Each part is sanitised on its own, so a '/' inside a part cannot add a level.
 */
export function toMetricKey(parts: ReadonlyArray<string | number>): string {
  return sanitizeKey(parts.map((p) => sanitizeKey(String(p).replace(/\//g, '_'))).join('/'));
}
