// V8 heap limits for the engine's background threads (inference workers and
// the coordinator). Their allocations are small and short-lived, yet V8 grows
// a young generation on its own by doubling its semi-spaces, minutes into a
// run: each inference worker went 15.7 → 23.7 MB committed and the
// coordinator 16 → 20 → 28 MB during a 10-minute soak at 37k req/s, which was
// the soak's step-wise RSS growth. A fixed ceiling makes memory flat and
// predictable; a 4 MB semi-space still leaves a scavenge every second or so.
import type { ResourceLimits } from 'node:worker_threads';

/** V8's young generation is 3 semi-spaces (two plus new large objects): 12 MB = 4 MB semi-spaces. */
export const BACKGROUND_THREAD_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 12 };
