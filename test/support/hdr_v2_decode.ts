// An independent reader of HdrHistogram's V2 compressed encoding, written from
// the format (HdrHistogram's AbstractHistogram.encodeIntoCompressedByteBuffer),
// not from hdr-histogram-js: tests use it to show the server's base64 strings
// are the standard format and not just what one library reads back.
//
//   outer (big-endian): int32 cookie 0x1c849314 | int32 length | zlib(inner)
//   inner: int32 cookie 0x1c849313 | int32 payloadLength | int32 normalizingIndexOffset
//          | int32 significantDigits | int64 lowest | int64 highest | float64 int→double ratio
//          | payload: ZigZag LEB128 varints; n > 0 is the count at the next index,
//            n < 0 skips −n indexes holding zero.
import { inflateSync } from 'node:zlib';

export interface DecodedHdr {
  significantDigits: number;
  lowest: number;
  highest: number;
  /** Counts by counts-array index (non-zero only). */
  counts: Map<number, number>;
}

export function decodeHdrV2(b64: string): DecodedHdr {
  const outer = Buffer.from(b64, 'base64');
  const cookie = outer.readInt32BE(0);
  if (cookie !== 0x1c849314) throw new Error(`not a V2 compressed histogram (cookie 0x${(cookie >>> 0).toString(16)})`);
  const len = outer.readInt32BE(4);
  const inner = inflateSync(outer.subarray(8, 8 + len));
  const innerCookie = inner.readInt32BE(0);
  if (innerCookie !== 0x1c849313) throw new Error(`not a V2 encoding (inner cookie 0x${(innerCookie >>> 0).toString(16)})`);
  const payloadLength = inner.readInt32BE(4);
  // inner.readInt32BE(8), the normalizing index offset, says how the writer kept its array in
  // memory; the payload is in logical index order either way (hdr-histogram-js writes 1, Java 0).
  const significantDigits = inner.readInt32BE(12);
  const lowest = Number(inner.readBigInt64BE(16));
  const highest = Number(inner.readBigInt64BE(24));
  const counts = new Map<number, number>();
  let pos = 40;
  const end = 40 + payloadLength;
  let index = 0;
  while (pos < end) {
    // LEB128, up to 9 bytes (the 9th carries 8 bits), then ZigZag.
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 9; i++) {
      const b = inner[pos++];
      if (i === 8) { v |= BigInt(b) << shift; break; }
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) break;
    }
    const n = Number((v >> 1n) ^ -(v & 1n));
    if (n < 0) index += -n;
    else {
      if (n > 0) counts.set(index, n);
      index++;
    }
  }
  return { significantDigits, lowest, highest, counts };
}

/** The value an index stands for (its lowest equivalent value), per HdrHistogram's bucket layout. */
export function valueAtIndex(h: DecodedHdr, index: number): number {
  const largest = 2 * 10 ** h.significantDigits;
  const subBucketCount = 2 ** Math.ceil(Math.log2(largest));
  const half = subBucketCount / 2;
  const halfMag = Math.log2(half);
  const unitMagnitude = Math.floor(Math.log2(h.lowest));
  let bucket = (index >> halfMag) - 1;
  let sub = (index & (half - 1)) + half;
  if (bucket < 0) {
    sub -= half;
    bucket = 0;
  }
  return sub * 2 ** (bucket + unitMagnitude);
}
