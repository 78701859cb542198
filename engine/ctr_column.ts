// Picking a model's CTR out of its output: the column the manifest names,
// through a sigmoid when the model outputs logits. Shared by the inference
// workers and the inline path (engine/inline_inference.ts), so a row gets the
// same number whichever thread ran it.

import type { WorkerModelSpec } from './model_registry.js';

/** What writeCtr needs to know of a model's output. */
type CtrColumnSpec = Pick<WorkerModelSpec, 'name' | 'outputName' | 'outputKind' | 'outputColumn'>;

/** Writes the CTR column of `output` (rows × columns values) into ctr[0..rows). */
export function writeCtr(spec: CtrColumnSpec, output: unknown, rows: number, ctr: Float32Array): void {
  const data = output as ArrayLike<number | bigint>;
  const cols = rows === 0 ? 1 : data.length / rows;
  if (!Number.isInteger(cols) || spec.outputColumn >= cols) {
    throw new Error(`model ${spec.name}: output ${spec.outputName} has ${data.length} values for ${rows} rows; column ${spec.outputColumn} is not there`);
  }
  const logit = spec.outputKind === 'logit';
  for (let r = 0; r < rows; r++) {
    const v = Number(data[r * cols + spec.outputColumn]);
    ctr[r] = logit ? 1 / (1 + Math.exp(-v)) : v;
  }
}
