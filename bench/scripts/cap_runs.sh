#!/usr/bin/env bash
# 1-ms-p99 capacity, alternating: engine with INLINE_MAX_US=50, engine INLINE_MAX_US=0, echo.
cd "$(dirname "$0")/../.."
out=bench/results/cap_$(date +%H%M); mkdir -p $out
for r in 1 2 3; do
  echo "== round $r $(date +%H:%M:%S) $(uptime | sed 's/.*load/load/')"
  node dist/bench/capacity.js --target engine --server-env INLINE_MAX_US=50 --objective-ms 1 --duration 6 --warmup 2 --model xgboost --out $out/engine_$r.json > $out/engine_$r.txt 2>&1; echo "engine: $(tail -3 $out/engine_$r.txt | tr '\n' ' ' | head -c 400)"
  node dist/bench/capacity.js --target engine --server-env INLINE_MAX_US=0 --objective-ms 1 --duration 6 --warmup 2 --model xgboost --out $out/engine0_$r.json > $out/engine0_$r.txt 2>&1; echo "engine INLINE_MAX_US=0: $(tail -3 $out/engine0_$r.txt | tr '\n' ' ' | head -c 400)"
  node dist/bench/capacity.js --target echo --objective-ms 1 --duration 6 --warmup 2 --model xgboost --out $out/echo_$r.json > $out/echo_$r.txt 2>&1; echo "echo: $(tail -3 $out/echo_$r.txt | tr '\n' ' ' | head -c 400)"
done
echo "== end $(date +%H:%M:%S) $(uptime | sed 's/.*load/load/')"
