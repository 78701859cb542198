// The score transforms shared by the ai.onnx.ml classifiers and regressors
// (post_transform = NONE | LOGISTIC | SOFTMAX | SOFTMAX_ZERO | PROBIT), in
// float32 arithmetic as onnxruntime's ml_common.h computes them: every
// intermediate is rounded with Math.fround where a C++ float would be.
//
// The operator spec names these transforms without formulas. Where it is
// silent this follows the ONNX reference implementation
// (onnx/reference/ops/aionnxml/_common_classifier.py) and onnxruntime, which
// agree on all of it but one case: SOFTMAX_ZERO of an all-zero vector, where
// onnxruntime divides 0 by 0 (NaN) and the reference returns 0.5 everywhere;
// we follow the reference.
import type { NodeContext } from './op_types.js';

export const enum PostTransform { NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT }

const NAMES: Record<string, PostTransform> = {
  NONE: PostTransform.NONE, LOGISTIC: PostTransform.LOGISTIC, SOFTMAX: PostTransform.SOFTMAX,
  SOFTMAX_ZERO: PostTransform.SOFTMAX_ZERO, PROBIT: PostTransform.PROBIT,
};

export function readPostTransform(ctx: NodeContext): PostTransform {
  const s = ctx.attrs.string('post_transform', 'NONE');
  const t = NAMES[s];
  if (t === undefined) ctx.fail(`post_transform ${JSON.stringify(s)} is not one of ${Object.keys(NAMES).join(', ')}`);
  return t;
}

const f32 = Math.fround;

/** 1 / (1 + e^-|x|), mirrored for negative x: ComputeLogistic in float32. */
export function logistic32(x: number): number {
  const v = f32(1 / f32(1 + f32(Math.exp(-Math.abs(x)))));
  return x < 0 ? f32(1 - v) : v;
}

/**
 * The inverse error function as the ONNX reference and onnxruntime compute it
 * (Winitzki's approximation, a = 0.147; about 2e-3 relative error), in float32.
 */
function erfInv32(x: number): number {
  const sgn = x < 0 ? -1 : 1;
  const y = f32(f32(1 - x) * f32(1 + x));
  const log = f32(Math.log(y));
  const v = f32(f32(2 / f32(f32(Math.PI) * f32(0.147))) + f32(0.5 * log));
  const v2 = f32(f32(1 / f32(0.147)) * log);
  const v3 = f32(-v + f32(Math.sqrt(f32(f32(v * v) - v2))));
  return f32(sgn * f32(Math.sqrt(v3)));
}

/** PROBIT: sqrt(2) · erfinv(2p − 1), the standard normal quantile of p. */
export function probit32(p: number): number {
  return f32(f32(1.41421356) * erfInv32(f32(f32(2 * p) - 1)));
}

/** Softmax over v[off, off + n) in place, float32. */
export function softmax32(v: Float32Array | Float64Array, off: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let i = off; i < off + n; i++) if (v[i] > max) max = v[i];
  let sum = 0;
  for (let i = off; i < off + n; i++) {
    const e = f32(Math.exp(f32(v[i] - max)));
    v[i] = e;
    sum = f32(sum + e);
  }
  for (let i = off; i < off + n; i++) v[i] = f32(v[i] / sum);
}

/**
 * SOFTMAX_ZERO over v[off, off + n) in place: a softmax over the non-zero
 * entries (|x| > 1e-7); zero entries stay 0. All-zero → 0.5 everywhere (the
 * ONNX reference; onnxruntime yields NaN there).
 */
export function softmaxZero32(v: Float32Array | Float64Array, off: number, n: number): void {
  let max = -3.4028234663852886e38;
  for (let i = off; i < off + n; i++) if (v[i] > max) max = v[i];
  const expNegMax = f32(Math.exp(-max));
  const eps = f32(0.0000001);
  let sum = 0;
  for (let i = off; i < off + n; i++) {
    const x = v[i];
    if (x > eps || x < -eps) {
      const e = f32(Math.exp(f32(x - max)));
      v[i] = e;
      sum = f32(sum + e);
    } else {
      v[i] = f32(x * expNegMax);
    }
  }
  if (sum === 0) {
    for (let i = off; i < off + n; i++) v[i] = 0.5;
    return;
  }
  for (let i = off; i < off + n; i++) v[i] = f32(v[i] / sum);
}

/** Applies `t` to the n scores at v[off…] in place (the vector case, n ≥ 1). */
export function applyPostTransform(t: PostTransform, v: Float32Array | Float64Array, off: number, n: number): void {
  switch (t) {
    case PostTransform.NONE: return;
    case PostTransform.LOGISTIC: for (let i = off; i < off + n; i++) v[i] = logistic32(v[i]); return;
    case PostTransform.SOFTMAX: softmax32(v, off, n); return;
    case PostTransform.SOFTMAX_ZERO: softmaxZero32(v, off, n); return;
    case PostTransform.PROBIT: for (let i = off; i < off + n; i++) v[i] = probit32(v[i]); return;
  }
}
