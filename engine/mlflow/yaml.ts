// The flat meta.yaml files of MLflow's file store. MLflow writes them with
// yaml.safe_dump(data, default_flow_style=False, allow_unicode=True,
// sort_keys=True); we emit the same bytes for the scalar mappings it uses and
// read back plain, quoted and wrapped scalars.

export type YamlScalar = string | number | null | [];
export type FlatYaml = Record<string, YamlScalar>;

// PyYAML's implicit resolvers (YAML 1.1): a plain string matching one of these
// would load as another type, so the dumper quotes it.
const IMPLICIT_NON_STRING = [
  /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  /^(?:~|null|Null|NULL|)$/,
  /^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/,
  /^(?:<<|=)$/,
];

/** Whether PyYAML's emitter may write `s` as a plain block scalar (analyze_scalar). */
function plainAllowed(s: string): boolean {
  if (s === '' || IMPLICIT_NON_STRING.some((re) => re.test(s))) return false;
  if (/^[\s]|[\s]$/.test(s) || /[\n\r\u0085\u2028\u2029]/.test(s)) return false;
  if (/^[#,[\]{}&*!|>'"%@`]/.test(s)) return false;
  if (/^[-?:](\s|$)/.test(s)) return false;
  if (/:(\s|$)/.test(s) || /\s#/.test(s)) return false;
  if (/^(---|\.\.\.)(\s|$)/.test(s)) return false;
  // Non-printable characters force double quotes in PyYAML; we never write them.
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s);
}

// PyYAML's emitter breaks plain and single-quoted scalars at a lone space once
// the column passes best_width (80), continuing at the value's indent (2).
const BEST_WIDTH = 80;
const CONTINUATION = '\n  ';

function wrapAtSpaces(text: string, column: number, quoted: boolean): string {
  let out = '';
  let col = column;
  let i = 0;
  while (i < text.length) {
    let j = i;
    while (j < text.length && text[j] !== ' ') j++;
    out += text.slice(i, j);
    col += j - i;
    if (j >= text.length) break;
    let k = j;
    while (k < text.length && text[k] === ' ') k++;
    const lone = k === j + 1;
    if (lone && col > BEST_WIDTH && !(quoted && (j === 0 || k === text.length))) {
      out += CONTINUATION;
      col = 2;
    } else {
      out += text.slice(j, k);
      col += k - j;
    }
    i = k;
  }
  return out;
}

export function yamlScalar(v: YamlScalar, column = 0): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[]';
  if (typeof v === 'number') return String(v);
  if (plainAllowed(v)) return wrapAtSpaces(v, column, false);
  return `'${wrapAtSpaces(v.replace(/'/g, "''"), column + 1, true)}'`;
}

/** The text safe_dump writes for a flat mapping, keys sorted. */
export function emitFlatYaml(data: FlatYaml): string {
  return Object.keys(data).sort().map((k) => `${k}: ${yamlScalar(data[k], k.length + 2)}\n`).join('');
}

function parseScalar(raw: string): YamlScalar {
  const t = raw.trim();
  if (t.startsWith("'") && t.endsWith("'") && t.length >= 2) return t.slice(1, -1).replace(/''/g, "'");
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) return JSON.parse(t) as string;
  if (t === '[]') return [];
  if (/^(?:~|null|Null|NULL|)$/.test(t)) return null;
  if (/^[-+]?(?:0|[1-9][0-9]*)$/.test(t)) return Number(t);
  return t;
}

/**
 * Reads the flat mappings MLflow writes. Continuation lines (PyYAML wraps long
 * scalars at 80 columns) are folded back with a single space.
 */
export function parseFlatYaml(text: string): FlatYaml {
  const out: FlatYaml = {};
  let key: string | null = null;
  let buf = '';
  const flush = () => { if (key !== null) out[key] = parseScalar(buf); };
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const m = /^([^\s:][^:]*):(?:\s+(.*)|)$/.exec(line);
    if (m && !/^\s/.test(line)) {
      flush();
      key = m[1];
      buf = m[2] ?? '';
    } else if (key !== null) {
      buf += ' ' + line.trim();
    }
  }
  flush();
  return out;
}
