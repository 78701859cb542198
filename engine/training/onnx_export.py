"""Hand-written ONNX exporters for the two demo models (no skl2onnx here).

Both graphs take float32 "features" [N, width] and return float32 "ctr"
[N, 1], already a probability. Opsets are kept to what onnxruntime-node 1.30
loads: IR 8, ai.onnx 17, ai.onnx.ml 3.
"""
import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
INPUT = "features"
OUTPUT = "ctr"


def _io(width):
    x = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, width])
    y = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 1])
    return x, y


def _model(graph, producer):
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name=producer)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def xgboost_json_to_onnx(model_json, width):
    """XGBoost's own JSON model (Booster.save_raw("json")) → ONNX.

    The whole mapping, kept in one place because it is later ported to
    TypeScript:
      - each tree's arrays (left_children, right_children, split_indices,
        split_conditions, default_left) become one TreeEnsembleRegressor
        node list; a node is a leaf when left_children[i] == -1, and then
        split_conditions[i] is its (learning-rate-scaled) leaf value;
      - XGBoost branches "yes" (left) when x < split_condition → BRANCH_LT
        with the left child as the true branch; a missing value goes left
        when default_left, i.e. missing_value_tracks_true = default_left;
      - binary:logistic stores base_score as a probability; the margin starts
        at logit(base_score), so that goes into base_values, the trees are
        summed onto it, and a Sigmoid turns the margin into the CTR.
    """
    learner = model_json["learner"]
    objective = learner["objective"]["name"]
    if objective != "binary:logistic":
        raise ValueError("only binary:logistic is supported, got %s" % objective)
    base_score = float(learner["learner_model_param"]["base_score"])
    base_margin = math.log(base_score / (1.0 - base_score))
    booster = learner["gradient_booster"]
    if booster["name"] != "gbtree":
        raise ValueError("only gbtree boosters are supported, got %s" % booster["name"])

    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                         "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                         "nodes_missing_value_tracks_true", "target_treeids", "target_nodeids",
                         "target_ids", "target_weights")}
    for t, tree in enumerate(booster["model"]["trees"]):
        left, right = tree["left_children"], tree["right_children"]
        for i in range(len(left)):
            leaf = left[i] == -1
            feature = tree["split_indices"][i]
            if not leaf and not 0 <= feature < width:
                raise ValueError("tree %d node %d splits on feature %d of %d" % (t, i, feature, width))
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(0 if leaf else feature)
            a["nodes_values"].append(0.0 if leaf else tree["split_conditions"][i])
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LT")
            a["nodes_truenodeids"].append(0 if leaf else left[i])
            a["nodes_falsenodeids"].append(0 if leaf else right[i])
            a["nodes_missing_value_tracks_true"].append(0 if leaf else int(tree["default_left"][i]))
            if leaf:
                a["target_treeids"].append(t)
                a["target_nodeids"].append(i)
                a["target_ids"].append(0)
                a["target_weights"].append(tree["split_conditions"][i])

    trees = helper.make_node("TreeEnsembleRegressor", [INPUT], ["margin"], domain="ai.onnx.ml",
                             n_targets=1, aggregate_function="SUM", post_transform="NONE",
                             base_values=[base_margin], **a)
    sigmoid = helper.make_node("Sigmoid", ["margin"], [OUTPUT])
    x, y = _io(width)
    graph = helper.make_graph([trees, sigmoid], "xgboost_ctr", [x], [y])
    return _model(graph, "ctr-engine xgboost_json_to_onnx")


def logistic_to_onnx(coef, intercept):
    """Logistic regression weights → MatMul + Add + Sigmoid."""
    w = np.asarray(coef, dtype=np.float32).reshape(-1, 1)
    b = np.asarray(intercept, dtype=np.float32).reshape(1)
    nodes = [
        helper.make_node("MatMul", [INPUT, "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT]),
    ]
    x, y = _io(w.shape[0])
    graph = helper.make_graph(nodes, "logistic_ctr", [x], [y],
                              initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    return _model(graph, "ctr-engine logistic_to_onnx")


def load_xgboost_json(booster):
    return json.loads(bytes(booster.save_raw("json")).decode("utf-8"))
