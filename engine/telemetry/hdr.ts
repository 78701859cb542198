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
