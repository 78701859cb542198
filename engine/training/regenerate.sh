#!/bin/sh
# Regenerates the demo models from scratch: synthetic data (in data/, not
# committed), engine/models/{xgboost,logistic}/{model.onnx,manifest.json},
# the quality report, golden predictions and the traffic profile; then checks
# the ONNX files in onnxruntime-node against the trainers' own predictions.
# Needs Debian's python3-xgboost, python3-sklearn, python3-onnx (system python).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA="${DATA_DIR:-$ROOT/data/demo_training}"
PYTHON="${PYTHON:-/usr/bin/python3}"
# one thread everywhere: deterministic output and polite on a shared machine
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
"$PYTHON" train.py --data-dir "$DATA"
node "$HERE/verify_onnx.mjs" "$DATA/verify" "$ROOT/engine/models"
