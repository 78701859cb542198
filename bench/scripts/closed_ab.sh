#!/usr/bin/env bash
# Closed loop of the engine alone, alternating INLINE_MAX_US=50 (gated) / INLINE_MAX_US=0 / inline-always, 4 rounds; then engine and echo at 150 req/s.
cd "$(dirname "$0")/../.."
for r in 1 2 3 4; do for t in engine engine0 engine1; do
  case $t in engine) a="--server-env INLINE_MAX_US=50";; engine0) a="--server-env INLINE_MAX_US=0";; engine1) a="--server-env INLINE_MAX_US=50 --server-env INLINE_MAX_LOOP_UTILIZATION=1";; esac
  echo "r$r $t: $(node dist/bench/loadgen.js --target engine $a --mode closed --tool own --duration 8 --warmup 2 --model xgboost --out bench/results/cab_${t}_$r.json 2>&1 | sed -n 3p)"
done; done
for r in 1 2; do for t in engine echo; do
  a=""; [ "$t" = engine ] && a="--server-env INLINE_MAX_US=50"
  echo "low r$r $t: $(node dist/bench/loadgen.js --target $t $a --rate 150 --duration 8 --warmup 2 --model xgboost --out bench/results/low_${t}_$r.json 2>&1 | sed -n 3p)"
done; done
