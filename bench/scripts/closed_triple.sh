#!/usr/bin/env bash
# Closed loop, alternating engine / uWS echo / Fastify+ORT (3 rounds), then the native-free evaluator against ORT twice (issue 17 table).
cd "$(dirname "$0")/../.."
out=bench/results/ct_$(date +%H%M); mkdir -p $out
echo "start $(date +%H:%M:%S) $(uptime | sed 's/.*load/load/')"
for r in 1 2 3; do for t in engine echo fastify; do
  node dist/bench/loadgen.js --target $t --mode closed --tool own --duration 8 --warmup 2 --model xgboost --out $out/${t}_$r.json > $out/${t}_$r.txt 2>&1
  echo "round $r $t: $(sed -n 3p $out/${t}_$r.txt)"
done; done
for r in 1 2; do node dist/bench/peers/ts_eval.js --duration 1 > $out/ts_eval_$r.txt 2>&1; echo "ts_eval $r"; tail -8 $out/ts_eval_$r.txt; done
echo "end $(date +%H:%M:%S) $(uptime | sed 's/.*load/load/')"
