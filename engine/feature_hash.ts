// Stable 32-bit FNV-1a over the UTF-16 code units of a string, folded to bytes
// the same way for every input. It is the one hash of the project: feature
// buckets (engine/feature_encoder.ts), A/B stickiness (engine/ab_router.ts) and
// the Python training code (engine/training/features.py) must agree on it, so
// it is defined on code units (no TextEncoder allocation on the request path)
// and mirrored line for line in Python.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(text: string, seed = 0): number {
  let h = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // low byte then high byte of each UTF-16 code unit
    h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
    h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
  }
  return h >>> 0;
}
