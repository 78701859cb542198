"""Hand-written ONNX exporter for the logistic demo model (no skl2onnx here).
The XGBoost demo model is converted by `ctr-engine import-xgboost`
(engine/xgboost_import/, run by regenerate.sh), the path a user's model takes.

The graph takes float32 "features" [N, width] and returns float32 "ctr"
[N, 1], already a probability. Opsets are kept to what onnxruntime-node 1.30
loads: IR 8, ai.onnx 17, ai.onnx.ml 3.
"""

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
