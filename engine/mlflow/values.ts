// How metric values are written: the file store writes Python's repr() of the
// float (mlflow/store/tracking/file_store.py: f"{timestamp} {value} {step}\n"),
// and the REST API takes proto3 JSON doubles, where non-finite values are the
// strings "NaN", "Infinity", "-Infinity".

/** Python's repr(float(x)): shortest round-trip digits, fixed for 1e-4 ≤ |x| < 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest round-trip digits, like Python's repr.
  const [mantissa, expStr] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exp = Number(expStr);
  const decpt = exp + 1;
  if (decpt <= -4 || decpt > 16) {
    const frac = digits.length > 1 ? '.' + digits.slice(1) : '';
    const e = Math.abs(exp);
    return `${sign}${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' + e : e}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** Python's float() on a metric field, as MLflow's FileStore reads it back. */
export function parsePythonFloat(s: string): number {
  const t = s.trim().toLowerCase().replace(/_/g, '');
  if (t === 'nan' || t === '+nan' || t === '-nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw new Error(`could not convert string to float: '${s}'`);
  return Number(t);
}

export type RestDouble = number | 'NaN' | 'Infinity' | '-Infinity';

/** A metric value for the REST body: never null, never a bare NaN. */
export function restDouble(x: number): RestDouble {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return x;
}

/** Reads a proto3 JSON double back (the fake server and tests use it). */
export function fromRestDouble(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}
