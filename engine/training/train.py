"""Regenerates the demo models: data → features → XGBoost (its own JSON model,
made into ONNX by `ctr-engine import-xgboost` in regenerate.sh) + logistic → ONNX,
manifests, quality report, golden predictions and the traffic profile.

Run through engine/training/regenerate.sh. Every step is seeded and
single-threaded, so a rerun rewrites the committed files byte for byte.
"""
import argparse
import json
import os
import sys

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

import features
import onnx_export
import synth

SEED = 20240611
N_TRAIN = 800_000
N_HOLDOUT = 200_000
USER_BUCKETS = 64
AD_BUCKETS = 64
AD_CTR_SMOOTHING = 100  # pseudo-impressions at the global rate
XGB_PARAMS = {
    "objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
    "eta": 0.1, "max_depth": 6, "min_child_weight": 5, "lambda": 1.0,
    "nthread": 1, "seed": SEED,
}
XGB_ROUNDS = 150
GOLDEN_FROM_HOLDOUT = 22
# Held-out requests served end to end by test/demo_model_golden.test.ts
SERVED_FROM_HOLDOUT = 200

HERE = os.path.dirname(os.path.abspath(__file__))
# The XGBoost demo model goes through `ctr-engine import-xgboost` (regenerate.sh):
# train.py writes XGBoost's own JSON and the manifest's fields + features.
XGB_JSON = os.path.join(HERE, "xgboost_model.json")
XGB_FEATURES = os.path.join(HERE, "xgboost_features.json")
XGB_SERVED = os.path.join(HERE, "xgboost_served_predictions.json")
ENGINE = os.path.dirname(HERE)


def write_json(path, obj, indent=2):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def ad_ctr_table(imp, rate):
    """Smoothed historical CTR per ad id, from the training split only."""
    shown = np.bincount(imp["ad"], minlength=synth.N_ADS)
    clicked = np.bincount(imp["ad"], weights=imp["click"], minlength=synth.N_ADS)
    ctr = (clicked + AD_CTR_SMOOTHING * rate) / (shown + AD_CTR_SMOOTHING)
    prefix = synth.PROFILE["ads"]["prefix"]
    return {"%s%d" % (prefix, a + 1): float("%.6g" % ctr[a]) for a in range(synth.N_ADS) if shown[a] > 0}


def feature_specs(table, rate):
    return [
        {"kind": "one_hot", "field": "device", "categories": list(synth.DEVICES)},
        {"kind": "one_hot", "field": "placement", "categories": list(synth.PLACEMENTS)},
        {"kind": "bucket", "field": "user_id", "buckets": USER_BUCKETS, "prefix": synth.PROFILE["users"]["prefix"]},
        {"kind": "bucket", "field": "ad_id", "buckets": AD_BUCKETS, "prefix": synth.PROFILE["ads"]["prefix"]},
        {"kind": "lookup", "field": "ad_id", "table": table, "default": float("%.6g" % rate)},
        {"kind": "numeric", "field": "hour", "default": 12, "min": 0, "max": 23, "transform": "cyclic", "period": 24},
    ]


def manifest(name, description, specs):
    width = sum(features.feature_width(f) for f in specs)
    return {
        "name": name, "version": "1", "description": description, "file": "model.onnx",
        "input": {"name": onnx_export.INPUT, "dtype": "float32", "shape": [-1, width]},
        "output": {"name": onnx_export.OUTPUT, "kind": "probability"},
        "features": specs,
    }


def metrics(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return {"auc": round(float(roc_auc_score(y, p)), 5), "log_loss": round(float(log_loss(y, p)), 5),
            "mean_prediction": round(float(np.mean(p)), 5)}


def golden_requests(holdout):
    reqs = [synth.request_at(holdout, i) for i in range(GOLDEN_FROM_HOLDOUT)]
    # Edge cases of the encoding contract: unknown categories, ids outside the
    # lookup table and the prefix form (hashed), non-ASCII ids (UTF-16 hash),
    # missing context (hour default), both ends of the hour range.
    reqs += [
        {"user_id": "user_17", "ad_id": "ad_3", "device": "smart_tv", "placement": "popup", "context": {"hour": 0}},
        {"user_id": "guest-8f3a", "ad_id": "ad_99999", "device": "mobile", "placement": "in_feed", "context": {"hour": 23}},
        {"user_id": "user_0042", "ad_id": "ad_7", "device": "desktop", "placement": "interstitial"},
        {"user_id": "用户_7", "ad_id": "ad_12", "device": "tablet", "placement": "footer", "context": {"hour": 19}},
        {"user_id": "user_😀", "ad_id": "sponsored-🚀", "device": "mobile", "placement": "interstitial", "context": {"hour": 13}},
        {"user_id": "user_1234567890", "ad_id": "ad_", "device": "desktop", "placement": "header", "context": {"hour": 7.5}},
        {"user_id": "user_9999", "ad_id": "ad_500", "device": "tablet", "placement": "sidebar", "context": {"hour": 12}},
        {"user_id": "", "ad_id": "AD_1", "device": "Mobile", "placement": "in_feed", "context": {"hour": 21}},
    ]
    return reqs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    verify_dir = os.path.join(args.data_dir, "verify")
    os.makedirs(verify_dir, exist_ok=True)

    world = synth.World(SEED)
    train = synth.sample_impressions(world, N_TRAIN, SEED + 1)
    holdout = synth.sample_impressions(world, N_HOLDOUT, SEED + 2)
    np.savez_compressed(os.path.join(args.data_dir, "impressions.npz"),
                        **{"train_" + k: v for k, v in train.items()},
                        **{"holdout_" + k: v for k, v in holdout.items()})
    rate = float(train["click"].mean())
    print("train rows %d, click rate %.4f" % (N_TRAIN, rate), file=sys.stderr)

    specs = feature_specs(ad_ctr_table(train, rate), rate)
    man_xgb = manifest("xgboost", "Gradient-boosted trees (XGBoost %d rounds, depth %d) on the synthetic CTR data; "
                       "see engine/training/quality_report.md" % (XGB_ROUNDS, XGB_PARAMS["max_depth"]), specs)
    man_lr = manifest("logistic", "Logistic regression on the same encoded features; "
                      "see engine/training/quality_report.md", specs)
    width = man_xgb["input"]["shape"][1]
    x_train = features.encode_columns(man_xgb, synth.request_columns(train))
    x_hold = features.encode_columns(man_xgb, synth.request_columns(holdout))

    # The vectorised encoder must agree with the row encoder (the TS mirror).
    for i in range(200):
        if not np.array_equal(features.encode_row(man_xgb, synth.request_at(holdout, i)), x_hold[i]):
            raise AssertionError("encode_columns and encode_row disagree on holdout row %d" % i)

    params = dict(XGB_PARAMS, base_score=rate)
    booster = xgb.train(params, xgb.DMatrix(x_train, label=train["click"], nthread=1), num_boost_round=XGB_ROUNDS)
    lr = LogisticRegression(C=1.0, max_iter=2000, tol=1e-8)
    lr.fit(x_train, train["click"])

    p_xgb = booster.predict(xgb.DMatrix(x_hold, nthread=1))
    p_lr = lr.predict_proba(x_hold)[:, 1]
    y = holdout["click"]

    # XGBoost: its own JSON model plus the request schema and encoding; the
    # ONNX file and manifest come from `ctr-engine import-xgboost` (regenerate.sh).
    booster.save_model(XGB_JSON)
    served = features.serving_manifest(man_xgb)
    write_json(XGB_FEATURES, {k: served[k] for k in ("description", "routing_key", "fields", "features")})
    # The logistic model keeps its hand-written exporter (not an XGBoost model).
    folder = os.path.join(ENGINE, "models", "logistic")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(onnx_export.logistic_to_onnx(lr.coef_[0], lr.intercept_).SerializeToString())
    write_json(os.path.join(folder, "manifest.json"), features.serving_manifest(man_lr))
    models = ["xgboost", "logistic"]

    # Inputs and expected outputs for verify_onnx.mjs (ORT vs the trainers).
    x_hold.tofile(os.path.join(verify_dir, "features.f32"))
    p_xgb.astype(np.float32).tofile(os.path.join(verify_dir, "xgboost.f32"))
    p_lr.astype(np.float32).tofile(os.path.join(verify_dir, "logistic.f32"))
    write_json(os.path.join(verify_dir, "meta.json"), {"rows": N_HOLDOUT, "width": width, "models": models})

    report = {
        "seed": SEED, "train_rows": N_TRAIN, "holdout_rows": N_HOLDOUT,
        "train_click_rate": round(rate, 5), "holdout_click_rate": round(float(y.mean()), 5),
        "encoded_width": width,
        "holdout": {
            "oracle (true probability)": metrics(y, holdout["prob"]),
            "xgboost": metrics(y, p_xgb),
            "logistic": metrics(y, p_lr),
            "constant (train click rate)": metrics(y, np.full(len(y), rate)),
        },
        "versions": {"xgboost": xgb.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "xgboost_params": dict(params, rounds=XGB_ROUNDS),
    }
    write_json(os.path.join(HERE, "quality_report.json"), report)
    write_quality_md(report)

    golden = []
    for req in golden_requests(holdout):
        row = features.encode_row(man_xgb, req)
        golden.append({
            "request": req,
            "encoded": [float(v) for v in row],
            "expected": {
                "xgboost": float(booster.predict(xgb.DMatrix(row.reshape(1, -1), nthread=1))[0]),
                "logistic": float(lr.predict_proba(row.reshape(1, -1))[0, 1]),
            },
        })
    head = {
        "description": "Requests, their encoded rows (engine/training/features.py) and each model's "
                       "prediction from the trainer (booster.predict / predict_proba); ONNX must "
                       "match the encoding exactly and the prediction within tolerance.",
        "tolerance": 1e-5, "width": width,
    }
    # one case per line: reviewable diffs without 141-line vectors
    with open(os.path.join(HERE, "golden_predictions.json"), "w") as f:
        f.write(json.dumps(head, indent=1, ensure_ascii=False)[:-2] + ',\n "cases": [\n  ')
        f.write(",\n  ".join(json.dumps(c, ensure_ascii=False) for c in golden))
        f.write("\n ]\n}\n")
    write_json(os.path.join(HERE, "traffic_profile.json"), synth.PROFILE)
    write_served_predictions(booster, man_xgb, holdout)


def served_requests(holdout):
    """Held-out requests (from the end of the holdout, apart from the golden
    file's head) plus requests the encoding has to handle on its own: optional
    fields left out, unknown categories, ids that are malformed or outside the
    lookup table. All valid for the manifest's request schema."""
    reqs = [synth.request_at(holdout, N_HOLDOUT - 1 - i) for i in range(SERVED_FROM_HOLDOUT)]
    missing = []
    for i in range(12):  # without the optional context.hour (default 12), and with an empty context
        r = synth.request_at(holdout, N_HOLDOUT - 1 - SERVED_FROM_HOLDOUT - i)
        if i % 2 == 0:
            del r["context"]
        else:
            r["context"] = {}
        missing.append(r)
    edge = [
        # unknown categories ("other" column), case counts
        {"user_id": "user_3", "ad_id": "ad_3", "device": "smart_tv", "placement": "popup", "context": {"hour": 9}},
        {"user_id": "user_4", "ad_id": "ad_1", "device": "Mobile", "placement": "HEADER", "context": {"hour": 20}},
        {"user_id": "user_5", "ad_id": "ad_2", "device": " ", "placement": "in_feed"},
        {"user_id": "user_6", "ad_id": "ad_9", "device": "desktop", "placement": "in-feed", "context": {"hour": 0}},
        # malformed ids: hashed buckets, the lookup table's default
        {"user_id": "user_", "ad_id": "ad_", "device": "mobile", "placement": "header", "context": {"hour": 23}},
        {"user_id": "USER_12", "ad_id": "AD_1", "device": "mobile", "placement": "sidebar", "context": {"hour": 1}},
        {"user_id": "user_-3", "ad_id": "ad_-3", "device": "tablet", "placement": "footer", "context": {"hour": 2}},
        {"user_id": "user_1.5", "ad_id": "ad_0x1F", "device": "desktop", "placement": "interstitial", "context": {"hour": 3}},
        {"user_id": "user_ 7", "ad_id": "ad_ 7", "device": "mobile", "placement": "in_feed", "context": {"hour": 4}},
        {"user_id": "user_1234567890", "ad_id": "ad_0000000001", "device": "mobile", "placement": "header", "context": {"hour": 5}},
        {"user_id": "user_000000042", "ad_id": "ad_007", "device": "desktop", "placement": "sidebar", "context": {"hour": 6}},
        {"user_id": "guest-8f3a", "ad_id": "ad_99999", "device": "mobile", "placement": "in_feed", "context": {"hour": 23}},
        {"user_id": "用户_7", "ad_id": "广告_12", "device": "tablet", "placement": "footer", "context": {"hour": 19}},
        {"user_id": "user_😀", "ad_id": "sponsored-🚀", "device": "mobile", "placement": "interstitial", "context": {"hour": 13}},
        {"user_id": "0", "ad_id": "_", "device": "mobile", "placement": "header"},
        {"user_id": "user_9999", "ad_id": "ad_500", "device": "tablet", "placement": "sidebar", "context": {"hour": 12}},
        {"user_id": "user_1", "ad_id": "ad_501", "device": "mobile", "placement": "header"},
    ]
    return [("holdout", r) for r in reqs] + [("missing", r) for r in missing] + [("edge", r) for r in edge]


def write_served_predictions(booster, man, holdout):
    """XGBoost's own predictions (Booster.predict on features.py's rows) for
    requests the server must answer identically through import-xgboost's ONNX."""
    cases = served_requests(holdout)
    x = np.stack([features.encode_row(man, r) for _, r in cases])
    dm = xgb.DMatrix(x, nthread=1)
    p = booster.predict(dm)
    margin = booster.predict(dm, output_margin=True)
    head = {
        "description": "Requests with the demo field names and XGBoost's own prediction for each "
                       "(Booster.predict on the row engine/training/features.py encodes; margin = "
                       "output_margin=True; encoded_nonzero = that row's non-zero [column, float32 value]); kind: holdout (held-out impressions), missing (optional "
                       "fields left out), edge (unknown categories, malformed or unknown ids). Served "
                       "through POST /predict_ctr and /predict_ctr/batch by test/demo_model_golden.test.ts.",
        "xgboost_version": xgb.__version__, "tolerance": 1e-5,
    }
    with open(XGB_SERVED, "w") as f:
        f.write(json.dumps(head, indent=1, ensure_ascii=False)[:-2] + ',\n "cases": [\n  ')
        f.write(",\n  ".join(json.dumps({"kind": k, "request": r, "xgboost": float(p[i]), "margin": float(margin[i]),
                                           "encoded_nonzero": [[int(c), float(x[i, c])] for c in np.flatnonzero(x[i])]},
                                          ensure_ascii=False) for i, (k, r) in enumerate(cases)))
        f.write("\n ]\n}\n")


def write_quality_md(r):
    lines = [
        "# Demo model quality",
        "",
        "Generated by `engine/training/regenerate.sh` (seed %d); do not edit by hand." % r["seed"],
        "",
        "Synthetic CTR data with a known click probability (`engine/training/synth.py`): "
        "%d training and %d holdout impressions, click rate %.2f %% (train) / %.2f %% (holdout). "
        "Features: the manifest layout, %d float32 columns."
        % (r["train_rows"], r["holdout_rows"], 100 * r["train_click_rate"], 100 * r["holdout_click_rate"], r["encoded_width"]),
        "",
        "| model (holdout) | AUC | log loss | mean prediction |",
        "| --- | --- | --- | --- |",
    ]
    for name, m in r["holdout"].items():
        lines.append("| %s | %.4f | %.5f | %.4f |" % (name, m["auc"], m["log_loss"], m["mean_prediction"]))
    lines += [
        "",
        "The oracle scores the holdout with the generator's true probabilities: no model can "
        "beat it in expectation. The gap to it comes mostly from per-user effects, which the "
        "models only see through %s user buckets." % USER_BUCKETS,
        "",
        "Versions: " + ", ".join("%s %s" % kv for kv in r["versions"].items()) + ".",
        "",
    ]
    with open(os.path.join(HERE, "quality_report.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
