#!/bin/sh
# Regenerates the demo models from scratch: synthetic data (in data/, not
# committed), engine/models/{xgboost,logistic}/{model.onnx,manifest.json},
# the quality report, golden predictions and the traffic profile; then checks
# the ONNX files in onnxruntime-node against the trainers' own predictions.
# The XGBoost model takes the path a user's model takes: train.py saves
# XGBoost's JSON (xgboost_model.json) and the request schema + encoding
# (xgboost_features.json), and `ctr-engine import-xgboost` writes the ONNX
# file and the manifest.
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
node "$ROOT/scripts/ensure_built.mjs"
node "$ROOT/dist/bin/ctr-engine.js" import-xgboost "$HERE/xgboost_model.json" --name xgboost --version 1 \
  --out "$ROOT/engine/models" --features "$HERE/xgboost_features.json" --force
node "$HERE/verify_onnx.mjs" "$DATA/verify" "$ROOT/engine/models"
