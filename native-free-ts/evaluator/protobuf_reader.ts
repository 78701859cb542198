// A minimal protobuf wire-format reader: varints (unsigned and two's-complement
// int64), fixed32/fixed64, length-delimited fields and packed repeated
// scalars. Enough to decode the ONNX messages in model_proto.ts; zigzag
// (sint32/sint64) is not used by onnx.proto and not implemented. Every read is
// bounds-checked: a truncated or corrupt buffer throws a ProtobufError that
// says where, never reads past the end.
import { WIRE } from './onnx_fields.js';

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ProtoReader {
  pos: number;
  readonly end: number;
  private readonly view: DataView;

  constructor(readonly buf: Uint8Array, start = 0, end = buf.length) {
    if (start < 0 || end > buf.length || start > end) throw new ProtobufError(`bad slice [${start}, ${end}) of ${buf.length} bytes`);
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new ProtobufError(`truncated: ${what} needs ${n} bytes at offset ${this.pos}, ${this.end - this.pos} left`);
  }

  /**
   * An unsigned varint as a number. Values above 2^53 lose precision; the
   * callers that care (int64 fields) use int64() instead.
   */
  uvarint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let b = 0;
    // Fast path: up to 4 bytes (28 bits) with 32-bit arithmetic.
    let result = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= this.end) throw new ProtobufError(`truncated varint at offset ${this.pos}`);
      b = buf[pos++];
      result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    let value = result >>> 0;
    let mul = 2 ** 28;
    for (let i = 4; i < 10; i++) {
      if (pos >= this.end) throw new ProtobufError(`truncated varint at offset ${this.pos}`);
      b = buf[pos++];
      value += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) {
        this.pos = pos;
        return value;
      }
    }
    throw new ProtobufError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  /** A varint read as a signed 64-bit two's-complement integer (protobuf int64/int32), exactly. */
  int64Big(): bigint {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    let i = 0;
    for (; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError(`truncated varint at offset ${start}`);
      b = this.buf[this.pos++];
      const bits = b & 0x7f;
      const shift = 7 * i;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (b < 0x80) break;
    }
    if (i === 10) throw new ProtobufError(`varint longer than 10 bytes at offset ${start}`);
    return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  /**
   * A protobuf int64/int32 varint as a JS number. Throws when the value is not
   * a safe integer, rather than silently rounding an id or a dimension.
   */
  int64(what: string): number {
    const save = this.pos;
    // Non-negative values below 2^53 take at most 8 bytes and no sign bit: fast path.
    const v = this.uvarint();
    if (v <= Number.MAX_SAFE_INTEGER && this.pos - save < 10) return v;
    this.pos = save;
    const big = this.int64Big();
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new ProtobufError(`${what}: int64 value ${big} is beyond 2^53 and cannot be held exactly`);
    }
    return Number(big);
  }

  float32(): number {
    this.need(4, 'fixed32');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  float64(): number {
    this.need(8, 'fixed64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** The payload of a length-delimited field, as a view (no copy). */
  bytes(): Uint8Array {
    const n = this.uvarint();
    this.need(n, 'length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    try {
      return utf8.decode(this.bytes());
    } catch (err) {
      if (err instanceof ProtobufError) throw err;
      throw new ProtobufError(`invalid UTF-8 in a string field before offset ${this.pos}`);
    }
  }

  /** A reader over the payload of a length-delimited (embedded message) field. */
  message(): ProtoReader {
    const n = this.uvarint();
    this.need(n, 'embedded message');
    const r = new ProtoReader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** Reads a tag: returns field number and wire type. */
  tag(): { field: number; wire: number } {
    const t = this.uvarint();
    const field = Math.floor(t / 8);
    const wire = t & 7;
    if (field === 0) throw new ProtobufError(`field number 0 at offset ${this.pos}`);
    return { field, wire };
  }

  /** Skips a field's value of the given wire type. */
  skip(wire: number): void {
    switch (wire) {
      case WIRE.VARINT: this.uvarint(); return;
      case WIRE.I64: this.need(8, 'fixed64'); this.pos += 8; return;
      case WIRE.LEN: { const n = this.uvarint(); this.need(n, 'length-delimited field'); this.pos += n; return; }
      case WIRE.I32: this.need(4, 'fixed32'); this.pos += 4; return;
      default: throw new ProtobufError(`unsupported wire type ${wire} at offset ${this.pos} (groups are not used by ONNX)`);
    }
  }

  /** Appends a repeated float field's value(s): packed (LEN) or one fixed32. */
  repeatedFloat32(wire: number, out: number[]): void {
    if (wire === WIRE.I32) { out.push(this.float32()); return; }
    expectWire(wire, WIRE.LEN, 'repeated float');
    const n = this.uvarint();
    this.need(n, 'packed floats');
    if (n % 4 !== 0) throw new ProtobufError(`packed floats of ${n} bytes (not a multiple of 4) at offset ${this.pos}`);
    for (let end = this.pos + n; this.pos < end; this.pos += 4) out.push(this.view.getFloat32(this.pos, true));
  }

  /** Appends a repeated double field's value(s): packed (LEN) or one fixed64. */
  repeatedFloat64(wire: number, out: number[]): void {
    if (wire === WIRE.I64) { out.push(this.float64()); return; }
    expectWire(wire, WIRE.LEN, 'repeated double');
    const n = this.uvarint();
    this.need(n, 'packed doubles');
    if (n % 8 !== 0) throw new ProtobufError(`packed doubles of ${n} bytes (not a multiple of 8) at offset ${this.pos}`);
    for (let end = this.pos + n; this.pos < end; this.pos += 8) out.push(this.view.getFloat64(this.pos, true));
  }

  /** Appends a repeated int64/int32 varint field's value(s) as safe numbers: packed or one varint. */
  repeatedInt64(wire: number, out: number[], what: string): void {
    if (wire === WIRE.VARINT) { out.push(this.int64(what)); return; }
    expectWire(wire, WIRE.LEN, what);
    const n = this.uvarint();
    this.need(n, what);
    const end = this.pos + n;
    const sub = new ProtoReader(this.buf, this.pos, end);
    while (!sub.done()) out.push(sub.int64(what));
    this.pos = end;
  }

  /** Appends a repeated int64 varint field's value(s) exactly, as bigints. */
  repeatedInt64Big(wire: number, out: bigint[], what: string): void {
    if (wire === WIRE.VARINT) { out.push(this.int64Big()); return; }
    expectWire(wire, WIRE.LEN, what);
    const n = this.uvarint();
    this.need(n, what);
    const end = this.pos + n;
    const sub = new ProtoReader(this.buf, this.pos, end);
    while (!sub.done()) out.push(sub.int64Big());
    this.pos = end;
  }
}

export function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new ProtobufError(`${what}: wire type ${actual}, expected ${expected}`);
}
