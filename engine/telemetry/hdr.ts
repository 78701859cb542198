// hdr-histogram-js over memory we own: hdr keeps its counts in `_counts`, and a
// histogram that never resizes (autoResize stays false, values are clamped to
// the range) can count straight into a SharedArrayBuffer view. hdr's own
// totalCount/min/max live in the JS object, so a reader rebuilds them from the
// cells with establishInternalTackingValues() (sic) before asking percentiles.
import * as hdr from 'hdr-histogram-js';
import { HDR_DIGITS } from './layout.js';

export type Hdr = InstanceType<typeof hdr.Float64Histogram>;

/** A histogram counting into `cells` (length must equal hdrCells(highest)). */
export function hdrOver(cells: Float64Array, highest: number): Hdr {
  const h = new hdr.Float64Histogram(1, highest, HDR_DIGITS);
  if (cells.length !== h.countsArrayLength) {
    throw new RangeError(`hdrOver: ${cells.length} cells given, ${h.countsArrayLength} needed`);
  }
  h._counts = cells;
  return h;
}

/** Point an existing histogram at other cells and rebuild its totals, min and max from them. */
export function hdrLoad(h: Hdr, cells: Float64Array): Hdr {
  h._counts = cells;
  h.establishInternalTackingValues();
  return h;
}

/** Per histogram: the value hdr's mean and stdDeviation give each cell (built once; the cells' layout never changes). */
const cellValueTables = new WeakMap<Hdr, Float64Array>();

function cellValues(h: Hdr): Float64Array {
  let v = cellValueTables.get(h);
  if (v === undefined) {
    v = new Float64Array(h.countsArrayLength);
    for (let i = 0; i < v.length; i++) v[i] = h.medianEquivalentValue(h.highestEquivalentValue(h.valueFromIndex(i)));
    cellValueTables.set(h, v);
  }
  return v;
}

/**
 * hdr's `stdDeviation` of the counts in `cells` (laid out as h's), from a
 * table of cell values: hdr's own walks its iterator with a Math.pow per cell,
 * which made it most of a loaded coordinator tick. The same sums in the same
 * (cell) order, so the same result to the bit (test/telemetry_hdr.test.ts).
 */
export function hdrStdDeviation(h: Hdr, cells: Float64Array): number {
  const v = cellValues(h);
  let n = 0, total = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (c !== 0) { n += c; total += v[i] * c; }
  }
  if (n === 0) return 0;
  const mean = total / n;
  let dev = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (c !== 0) { const d = v[i] - mean; dev += d * d * c; }
  }
  return Math.sqrt(dev / n);
}
