#!/usr/bin/env bash
# p99 at fixed open-loop rates, alternating engine INLINE_MAX_US=50 (gated; engine1: never paused) / engine INLINE_MAX_US=0 / echo.
cd "$(dirname "$0")/../.."
out=bench/results/fr_$(date +%H%M); mkdir -p $out
for r in $(seq 1 ${ROUNDS:-3}); do for rate in ${RATES:-3000 7000 12000}; do
  for t in ${TARGETS:-engine engine0 echo}; do
    case $t in engine) a="--target engine --server-env INLINE_MAX_US=50";; engine1) a="--target engine --server-env INLINE_MAX_US=50 --server-env INLINE_MAX_LOOP_UTILIZATION=1";; engine0) a="--target engine --server-env INLINE_MAX_US=0";; echo) a="--target echo";; esac
    node dist/bench/loadgen.js $a --rate $rate --duration 8 --warmup 2 --model xgboost --out $out/${t}_${rate}_$r.json > $out/${t}_${rate}_$r.txt 2>&1
  done
done; done
node -e '
const fs=require("fs"), dir=process.argv[1]; const rows={};
for (const f of fs.readdirSync(dir).filter(f=>f.endsWith(".json"))) { const [t,rate]=f.split("_"); const j=JSON.parse(fs.readFileSync(dir+"/"+f)); (rows[rate+" "+t]??=[]).push(j); }
const med=a=>{a=[...a].sort((x,y)=>x-y);return a[a.length>>1]};
for (const k of Object.keys(rows).sort((a,b)=>parseInt(a)-parseInt(b)||a.localeCompare(b))) { const r=rows[k];
 console.log(k.padEnd(14), "p50", med(r.map(x=>x.service.p50)), "p99", med(r.map(x=>x.service.p99)), "p99s", r.map(x=>x.service.p99).join("/"), "p99.9", med(r.map(x=>x.service.p999)), "strict p99", med(r.map(x=>x.strict.p99)), "srv cpu", med(r.map(x=>x.server.cpuCores)), "err", r.map(x=>x.errorCount).join("/")); }
' $out
