// The shared memory one inference worker link reads and writes batches in, so
// that a batch crosses threads without transferring an ArrayBuffer: each
// transferred buffer became a fresh JSArrayBuffer on the receiving side, and
// sweeping those was up to 0.7 ms of a main-thread scavenge (the p99 tail).
// The main thread copies a batch's rows into a task slot and posts only the
// slot's number; the worker writes the CTRs into the same slot.
//
// Layout, in float32 elements (every offset is computed here and nowhere else):
//
//   slot 0: [model 0 input: rowsPerBatch × width0][model 0 output: rowsPerBatch]
//           [model 1 input: rowsPerBatch × width1][model 1 output: rowsPerBatch] …
//   slot 1: the same, at slot × slotFloats
//   …       tasks slots in all (a task carries at most one batch per model)
//
// Everything is float32, so every region is 4-byte aligned.
//
// A second, small buffer holds each slot's task header, so that the message
// itself is just the slot's number (a number is the cheapest thing to clone
// across threads; objects cost key lookups on both sides). Float64 fields:
//
//   control slot s, at s × controlFloats(models):
//     [CTL_PARTS]    parts in the task (at most one per model)
//     [CTL_WARM_UP]  1 for the warm-up task (kept out of the statistics)
//     then per part p, at CTL_PART_BASE + p × PART_FIELDS:
//       [PART_MODEL] [PART_ROWS] [PART_OLDEST_ENQUEUED_AT] (absolute ms) [PART_GENERATION]

const FLOAT = Float32Array.BYTES_PER_ELEMENT;
const DOUBLE = Float64Array.BYTES_PER_ELEMENT;

export const CTL_PARTS = 0;
export const CTL_WARM_UP = 1;
export const CTL_PART_BASE = 2;
export const PART_FIELDS = 4;
export const PART_MODEL = 0;
export const PART_ROWS = 1;
export const PART_OLDEST_ENQUEUED_AT = 2;
/** The model's generation the rows were encoded for (engine/model_registry.ts): the worker runs that session. */
export const PART_GENERATION = 3;

/** Float64 fields of one slot's task header. */
export function controlFloats(models: number): number {
  return CTL_PART_BASE + models * PART_FIELDS;
}

/** What both sides need to lay out the same slots: sent to the worker once, with the buffer. */
export interface SlotsSpec {
  buffer: SharedArrayBuffer | ArrayBuffer;
  /** The task headers: tasks × controlFloats(models) float64. */
  control: SharedArrayBuffer;
  /** Task slots: the most tasks a worker holds at once. */
  tasks: number;
  /** Rows one batch holds at most (batchMaxSize). */
  rowsPerBatch: number;
  /** Input width of each model, by registry index. */
  widths: readonly number[];
}

/** Where a (slot, model)'s regions start, in float32 elements from the buffer's start. */
export interface RegionOffsets {
  input: number;
  output: number;
}

/** Floats one task slot spans: every model's input and output region. */
export function slotFloats(rowsPerBatch: number, widths: readonly number[]): number {
  let n = 0;
  for (const w of widths) n += rowsPerBatch * (w + 1);
  return n;
}

/** The offsets of slot `slot`, model `model`'s regions. */
export function regionOffsets(rowsPerBatch: number, widths: readonly number[], slot: number, model: number): RegionOffsets {
  let input = slot * slotFloats(rowsPerBatch, widths);
  for (let m = 0; m < model; m++) input += rowsPerBatch * (widths[m] + 1);
  return { input, output: input + rowsPerBatch * widths[model] };
}

/** Bytes the buffer needs for `tasks` slots. */
export function slotsByteLength(tasks: number, rowsPerBatch: number, widths: readonly number[]): number {
  return tasks * slotFloats(rowsPerBatch, widths) * FLOAT;
}

/**
 * One link's task slots, with every view made once up front: handing out a
 * region allocates nothing.
 */
export class BatchSlots {
  readonly spec: SlotsSpec;
  private readonly models: number;
  /** By slot × models + model. */
  private readonly inputs: Float32Array[] = [];
  /** By slot, then model: what the pool hands the batcher with a reply. */
  private readonly outputs: Float32Array[][] = [];
  /** By slot: its task header (the CTL_ and PART_ fields). */
  private readonly controls: Float64Array[] = [];

  /** Fresh shared slots for a new link (zero-filled, as every SharedArrayBuffer starts). */
  static create(tasks: number, rowsPerBatch: number, widths: readonly number[]): BatchSlots {
    return new BatchSlots({
      buffer: new SharedArrayBuffer(slotsByteLength(tasks, rowsPerBatch, widths)),
      control: new SharedArrayBuffer(tasks * controlFloats(widths.length) * DOUBLE),
      tasks, rowsPerBatch, widths,
    });
  }

  /** Views over a buffer laid out by `spec` (the worker's side of create()). */
  constructor(spec: SlotsSpec) {
    const { buffer, tasks, rowsPerBatch, widths } = spec;
    if (!(tasks >= 1 && rowsPerBatch >= 1 && widths.length >= 1)) throw new RangeError(`BatchSlots: bad spec (tasks ${tasks}, rows ${rowsPerBatch}, ${widths.length} models)`);
    const need = slotsByteLength(tasks, rowsPerBatch, widths);
    if (buffer.byteLength !== need) throw new RangeError(`BatchSlots: the buffer has ${buffer.byteLength} bytes, the layout needs ${need}`);
    const ctl = controlFloats(widths.length);
    if (spec.control.byteLength !== tasks * ctl * DOUBLE) throw new RangeError(`BatchSlots: the control buffer has ${spec.control.byteLength} bytes, the layout needs ${tasks * ctl * DOUBLE}`);
    this.spec = spec;
    this.models = widths.length;
    for (let s = 0; s < tasks; s++) {
      const outs: Float32Array[] = [];
      for (let m = 0; m < widths.length; m++) {
        const at = regionOffsets(rowsPerBatch, widths, s, m);
        this.inputs.push(new Float32Array(buffer, at.input * FLOAT, rowsPerBatch * widths[m]));
        outs.push(new Float32Array(buffer, at.output * FLOAT, rowsPerBatch));
      }
      this.outputs.push(outs);
      this.controls.push(new Float64Array(spec.control, s * ctl * DOUBLE, ctl));
    }
  }

  /** Slot `slot`'s task header. */
  control(slot: number): Float64Array {
    return this.controls[slot];
  }

  /** A plain-memory copy of this layout (same offsets), for readers that refuse shared memory. */
  plainTwin(): BatchSlots {
    // The twin shares the headers: only the floats ORT reads need plain memory.
    return new BatchSlots({ ...this.spec, buffer: new ArrayBuffer(this.spec.buffer.byteLength) });
  }

  /** Slot `slot`'s input region for `model`: rowsPerBatch × width floats, row-major. */
  input(slot: number, model: number): Float32Array {
    return this.inputs[slot * this.models + model];
  }

  /** Slot `slot`'s output region for `model`: one CTR per row, rowsPerBatch floats. */
  output(slot: number, model: number): Float32Array {
    return this.outputs[slot][model];
  }

  /** Slot `slot`'s output regions, by model index (the same array every time). */
  outputsOf(slot: number): readonly Float32Array[] {
    return this.outputs[slot];
  }
}
