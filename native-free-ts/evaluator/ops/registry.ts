// Which operators the evaluator implements: (domain, op_type) → factory, with
// the opset range each implementation covers. A node outside this table is a
// load error naming it.
import { DOMAIN_ML, DOMAIN_ONNX } from '../onnx_fields.js';
import { cast } from './cast.js';
import { binaryOp, identity, sigmoid } from './elementwise.js';
import { linearClassifier, linearRegressor } from './linear.js';
import { gemm, matMul } from './matmul.js';
import { normalizer } from './normalizer.js';
import { flatten, reshape } from './shape.js';
import { softmax } from './softmax.js';
import { treeEnsembleClassifier, treeEnsembleRegressor } from './tree_ensemble.js';
import { zipMap } from './zipmap.js';
import type { OpFactory } from './op_types.js';

export interface OpEntry {
  factory: OpFactory;
  /** Lowest opset version of the domain the implementation follows. */
  minOpset: number;
}

const ONNX_OPS: Record<string, OpEntry> = {
  Add: { factory: binaryOp('Add'), minOpset: 1 },
  Sub: { factory: binaryOp('Sub'), minOpset: 1 },
  Mul: { factory: binaryOp('Mul'), minOpset: 1 },
  Sigmoid: { factory: sigmoid, minOpset: 1 },
  Identity: { factory: identity, minOpset: 1 },
  MatMul: { factory: matMul, minOpset: 1 },
  Gemm: { factory: gemm, minOpset: 1 },
  Cast: { factory: cast, minOpset: 6 },
  Reshape: { factory: reshape, minOpset: 1 },
  Flatten: { factory: flatten, minOpset: 1 },
  Softmax: { factory: softmax, minOpset: 1 },
};

const ML_OPS: Record<string, OpEntry> = {
  TreeEnsembleRegressor: { factory: treeEnsembleRegressor, minOpset: 1 },
  TreeEnsembleClassifier: { factory: treeEnsembleClassifier, minOpset: 1 },
  LinearClassifier: { factory: linearClassifier, minOpset: 1 },
  LinearRegressor: { factory: linearRegressor, minOpset: 1 },
  Normalizer: { factory: normalizer, minOpset: 1 },
  ZipMap: { factory: zipMap, minOpset: 1 },
};

const DOMAINS: Record<string, Record<string, OpEntry>> = { [DOMAIN_ONNX]: ONNX_OPS, [DOMAIN_ML]: ML_OPS };

/** "" and "ai.onnx" both name the default domain. */
export function canonicalDomain(domain: string): string {
  return domain === '' ? DOMAIN_ONNX : domain;
}

export function lookupOp(domain: string, opType: string): OpEntry | undefined {
  const table = DOMAINS[canonicalDomain(domain)];
  return table !== undefined && Object.hasOwn(table, opType) ? table[opType] : undefined;
}

/** Every supported operator, `domain::op_type`, for messages and docs. */
export function supportedOps(): string[] {
  const out: string[] = [];
  for (const [d, table] of Object.entries(DOMAINS)) for (const op of Object.keys(table)) out.push(`${d}::${op}`);
  return out;
}
