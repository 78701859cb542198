#!/usr/bin/python3
"""Golden files for the `import-xgboost` converter (test/xgboost_import.test.ts).

Trains small XGBoost models, one per supported objective plus the edge cases
(a single tree, leaf-only trees, a multi-class model the converter must
refuse), and saves for each: XGBoost's own JSON (booster.save_model) and
XGBoost's own predictions, probability and margin, on rows that include NaN in
every split feature, values exactly at split thresholds and all-NaN rows.
Also writes a hand-made XGBoost 3.x-style JSON (base_score as a string array)
with the predictions of the model it was made from.

Run with Debian's python3-xgboost: /usr/bin/python3 engine/training/make_xgboost_goldens.py
(fixed seeds, one thread: a rerun rewrites the files byte for byte).
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'xgboost')
N_FEATURES = 4


def training_data(seed, n=400, nan_rate=0.15):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    # missing values in training, so default_left differs between splits
    X[rng.random(size=X.shape) < nan_rate] = np.nan
    Xf = np.nan_to_num(X, nan=0.7)
    logit = 1.5 * Xf[:, 0] - Xf[:, 1] + 0.8 * Xf[:, 2] * Xf[:, 3] + np.where(np.isnan(X[:, 1]), 1.2, 0.0)
    return X, Xf, logit, rng


def split_thresholds(booster):
    """(feature index, threshold) of every split, from XGBoost's own JSON."""
    model = json.loads(booster.save_raw('json'))
    out = []
    for t in model['learner']['gradient_booster']['model']['trees']:
        for i, left in enumerate(t['left_children']):
            if left != -1:
                out.append((t['split_indices'][i], t['split_conditions'][i]))
    return out


def test_rows(booster, seed):
    """Random rows, rows with NaN in each split feature, rows at each threshold, an all-NaN row."""
    rng = np.random.default_rng(seed)
    rows = list(rng.normal(size=(12, N_FEATURES)).astype(np.float32))
    splits = split_thresholds(booster)
    split_features = sorted({f for f, _ in splits})
    base = rng.normal(size=(len(split_features), N_FEATURES)).astype(np.float32)
    for k, f in enumerate(split_features):
        r = base[k].copy()
        r[f] = np.nan  # the split feature missing: default_left decides
        rows.append(r)
    for f, thr in splits[:24]:
        r = rng.normal(size=N_FEATURES).astype(np.float32)
        r[f] = np.float32(thr)  # exactly at the threshold: `x < thr` is false, the no branch
        rows.append(r)
        r2 = r.copy()
        r2[f] = np.nextafter(np.float32(thr), np.float32(-np.inf))  # one float below: yes branch
        rows.append(r2)
    rows.append(np.full(N_FEATURES, np.nan, dtype=np.float32))
    r = rng.normal(size=N_FEATURES).astype(np.float32)
    r[::2] = np.nan
    rows.append(r)
    return np.array(rows, dtype=np.float32), split_features


def as_json_row(r):
    return [None if np.isnan(v) else float(v) for v in r]


def save(name, booster, X_test, split_features, description, extra=None):
    os.makedirs(OUT, exist_ok=True)
    booster.save_model(os.path.join(OUT, f'{name}.model.json'))
    d = xgb.DMatrix(X_test, missing=np.nan, feature_names=booster.feature_names)
    pred = booster.predict(d, output_margin=False)
    margin = booster.predict(d, output_margin=True)
    golden = {
        'model': f'{name}.model.json',
        'description': description,
        'xgboost_version': xgb.__version__,
        'objective': json.loads(booster.save_config())['learner']['objective']['name'],
        'split_features': [int(f) for f in split_features],
        'rows': [as_json_row(r) for r in X_test],
        'prediction': [float(v) for v in pred],
        'margin': [float(v) for v in margin],
    }
    if extra:
        golden.update(extra)
    with open(os.path.join(OUT, f'{name}.golden.json'), 'w') as f:
        json.dump(golden, f, indent=1)
        f.write('\n')
    return golden


def train(params, X, y, rounds, feature_names=None):
    p = {'seed': 0, 'nthread': 1, 'tree_method': 'exact', 'max_depth': 3, 'eta': 0.3}
    p.update(params)
    d = xgb.DMatrix(X, label=y, missing=np.nan, feature_names=feature_names)
    return xgb.train(p, d, num_boost_round=rounds)


def main():
    X, Xf, logit, rng = training_data(1)
    y_bin = (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    y_prob = (1 / (1 + np.exp(-logit))).astype(np.float32)
    y_reg = (3.0 + logit + rng.normal(scale=0.3, size=len(X))).astype(np.float32)
    names = ['price', 'age_days', 'hour', 'score']

    b = train({'objective': 'binary:logistic', 'base_score': 0.3}, X, y_bin, 12, feature_names=names)
    save('binary_logistic', b, *test_rows(b, 11), 'binary:logistic, 12 trees depth 3, base_score 0.3, feature names')

    b = train({'objective': 'reg:logistic', 'base_score': 0.6}, X, y_prob, 10)
    save('reg_logistic', b, *test_rows(b, 12), 'reg:logistic on probabilities, 10 trees, base_score 0.6')

    b = train({'objective': 'reg:squarederror', 'base_score': 2.5}, X, y_reg, 15)
    save('reg_squarederror', b, *test_rows(b, 13), 'reg:squarederror, 15 trees, base_score 2.5')

    b = train({'objective': 'binary:logitraw', 'base_score': 0.4}, X, y_bin, 8)
    g = save('binary_logitraw', b, *test_rows(b, 14), 'binary:logitraw, 8 trees, base_score 0.4: margins')

    b = train({'objective': 'binary:logistic', 'max_depth': 4}, X, y_bin, 1)
    save('single_tree', b, *test_rows(b, 15), 'binary:logistic, one tree of depth 4')

    # Leaf-only trees: a split never pays for gamma, so every tree is a root leaf.
    b = train({'objective': 'binary:logistic', 'gamma': 1e6, 'base_score': 0.2}, X, y_bin, 3)
    rows = np.array(list(np.random.default_rng(16).normal(size=(4, N_FEATURES)).astype(np.float32))
                    + [np.full(N_FEATURES, np.nan, dtype=np.float32)], dtype=np.float32)
    assert split_thresholds(b) == [], 'the leaf-only model has a split'
    save('leaf_only', b, rows, [], 'binary:logistic, 3 trees that are each a single leaf (no split), base_score 0.2')

    # XGBoost 3.x stores base_score as a string holding an array ("[4.6E-1]") and
    # adds fields older versions lack; this one is hand-made from binary_logistic.
    with open(os.path.join(OUT, 'binary_logistic.model.json')) as f:
        m = json.load(f)
    m['version'] = [3, 0, 2]
    lmp = m['learner']['learner_model_param']
    lmp['base_score'] = '[' + lmp['base_score'] + ']'
    lmp['boost_from_average'] = '1'
    gb = m['learner']['gradient_booster']['model']
    gb['iteration_indptr'] = list(range(len(gb['trees']) + 1))
    for t in gb['trees']:
        t['default_left'] = [bool(v) for v in t['default_left']]
    with open(os.path.join(OUT, 'v3_string_array_base_score.model.json'), 'w') as f:
        json.dump(m, f)
    with open(os.path.join(OUT, 'binary_logistic.golden.json')) as f:
        g = json.load(f)
    g['model'] = 'v3_string_array_base_score.model.json'
    g['description'] = 'hand-made XGBoost 3.x-style JSON of binary_logistic: base_score "[…]", iteration_indptr, boolean default_left'
    with open(os.path.join(OUT, 'v3_string_array_base_score.golden.json'), 'w') as f:
        json.dump(g, f, indent=1)
        f.write('\n')

    # Refused: multi-class.
    y_cls = np.digitize(logit, [-1.0, 1.0]).astype(np.float32)
    b = train({'objective': 'multi:softprob', 'num_class': 3}, X, y_cls, 2)
    b.save_model(os.path.join(OUT, 'multiclass_refused.model.json'))
    print('wrote', os.path.normpath(OUT), file=sys.stderr)


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main()
