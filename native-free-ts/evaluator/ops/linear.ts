// ai.onnx.ml LinearClassifier and LinearRegressor: scores = X · Wᵀ + b per
// row, float32 results (each dot product summed in double and rounded once),
// then the post_transform. The classifier's label is the first arg-max class
// before the transform; with one coefficient row it is a sign test, and
// with two class labels the scores widen to two columns: [σ(−s), σ(s)] for
// LOGISTIC, [1 − s, s] otherwise — onnxruntime 1.30's behaviour, which the
// spec leaves open — and [probit(−s), probit(s)] for PROBIT (the ONNX
// reference; onnxruntime writes that case wrongly).
import { numberAt, tensor, type Tensor } from '../tensor.js';
import { applyPostTransform, logistic32, PostTransform, probit32, readPostTransform } from './post_transform.js';
import { OnnxOpError, tensorInput, type Kernel, type NodeContext } from './op_types.js';
import { labelsTensor } from './tree_ensemble.js';

const f32 = Math.fround;

interface Linear { coef: Float64Array; bias: Float64Array; targets: number; features: number }

function readLinear(ctx: NodeContext, targets: number): Linear {
  const coef = ctx.attrs.floats('coefficients');
  if (coef === undefined || coef.length === 0) ctx.fail('attribute coefficients is required');
  if (coef.length % targets !== 0) ctx.fail(`${coef.length} coefficients do not split into ${targets} rows`);
  const b = ctx.attrs.floats('intercepts') ?? [];
  if (b.length !== 0 && b.length !== targets) ctx.fail(`intercepts has ${b.length} entries, expected ${targets}`);
  return { coef: Float64Array.from(coef), bias: b.length === 0 ? new Float64Array(targets) : Float64Array.from(b), targets, features: coef.length / targets };
}

/** Rows of X as numbers, checked against the coefficient width. */
function inputRows(x: Tensor, lin: Linear, where: string): { data: ArrayLike<number>; n: number } {
  if (x.type === 'string') throw new OnnxOpError(`${where}: input X must be numeric, got string`);
  if (x.dims.length !== 1 && x.dims.length !== 2) throw new OnnxOpError(`${where}: input X must be 1-D or 2-D, got [${x.dims.join(', ')}]`);
  const n = x.dims.length === 1 ? 1 : x.dims[0];
  const c = x.dims[x.dims.length - 1];
  if (c !== lin.features) throw new OnnxOpError(`${where}: input has ${c} features, the coefficients have ${lin.features}`);
  if (x.data instanceof Float32Array || x.data instanceof Float64Array) return { data: x.data, n };
  const d = new Float64Array(x.data.length);
  for (let i = 0; i < d.length; i++) d[i] = f32(numberAt(x, i)); // onnxruntime casts integer inputs to float first
  return { data: d, n };
}

function scoreRows(lin: Linear, x: ArrayLike<number>, n: number): Float32Array {
  const { coef, bias, targets, features } = lin;
  const out = new Float32Array(n * targets);
  for (let r = 0; r < n; r++) {
    const xo = r * features;
    for (let k = 0; k < targets; k++) {
      let acc = 0;
      const wo = k * features;
      for (let j = 0; j < features; j++) acc += x[xo + j] * coef[wo + j];
      out[r * targets + k] = acc + bias[k];
    }
  }
  return out;
}

export function linearClassifier(ctx: NodeContext): Kernel {
  const intLabels = ctx.attrs.ints('classlabels_ints') ?? [];
  const strLabels = ctx.attrs.strings('classlabels_strings') ?? [];
  if (intLabels.length > 0 && strLabels.length > 0) ctx.fail('only one of classlabels_ints and classlabels_strings may be given');
  const intercepts = ctx.attrs.floats('intercepts') ?? [];
  const targets = intercepts.length > 0 ? intercepts.length : Math.max(intLabels.length, strLabels.length, 1);
  const lin = readLinear(ctx, targets);
  const post = readPostTransform(ctx);
  const nLabels = intLabels.length + strLabels.length;
  if (targets > 1 && nLabels !== targets) ctx.fail(`${targets} score columns but ${nLabels} class labels`);
  // onnxruntime refuses one score column with a label count other than 2 (a binary model names both classes).
  if (targets === 1 && nLabels !== 0 && nLabels !== 2) ctx.fail(`one coefficient row (binary classification) needs 2 class labels, got ${nLabels}`);
  const secondClass = targets === 1 && nLabels === 2;
  const outCols = secondClass ? 2 : targets;
  // With one score column the label is a sign test: the two labels given, else 1 / 0.
  const ints = targets === 1 && intLabels.length === 0 ? [0, 1] : intLabels;
  const strs = strLabels;

  return (inputs) => {
    const { data, n } = inputRows(tensorInput(inputs, 0, ctx.where), lin, ctx.where);
    const scores = scoreRows(lin, data, n);
    const index = new Int32Array(n);
    const z = new Float32Array(n * outCols);
    for (let r = 0; r < n; r++) {
      if (targets === 1) {
        const v = scores[r];
        index[r] = v > 0 ? 1 : 0;
        if (!secondClass) z[r] = post === PostTransform.PROBIT ? probit32(v) : v;
        else if (post === PostTransform.LOGISTIC) {
          z[r * 2] = logistic32(-v);
          z[r * 2 + 1] = logistic32(v);
        } else if (post === PostTransform.PROBIT) {
          // onnxruntime 1.30 packs the N probits into the first N slots of
          // the [N, 2] output here; the ONNX reference widens to [-s, s] first.
          z[r * 2] = probit32(-v);
          z[r * 2 + 1] = probit32(v);
        } else {
          z[r * 2] = f32(1 - v);
          z[r * 2 + 1] = v;
        }
        continue;
      }
      let best = 0;
      for (let k = 1; k < targets; k++) if (scores[r * targets + k] > scores[r * targets + best]) best = k;
      index[r] = best;
      const row = scores.subarray(r * targets, (r + 1) * targets);
      applyPostTransform(post, row, 0, targets);
      z.set(row, r * outCols);
    }
    return [labelsTensor(index, ints, strs, true), tensor('float32', [n, outCols], z)];
  };
}

export function linearRegressor(ctx: NodeContext): Kernel {
  const targets = ctx.attrs.int('targets', 1);
  if (targets < 1) ctx.fail(`targets must be at least 1, got ${targets}`);
  const lin = readLinear(ctx, targets);
  const post = readPostTransform(ctx);
  return (inputs) => {
    const { data, n } = inputRows(tensorInput(inputs, 0, ctx.where), lin, ctx.where);
    const y = scoreRows(lin, data, n);
    // The spec applies post_transform to every output vector; onnxruntime
    // skips all but PROBIT when there is one target.
    if (post !== PostTransform.NONE) for (let r = 0; r < n; r++) applyPostTransform(post, y, r * targets, targets);
    return [tensor('float32', [n, targets], y)];
  };
}
