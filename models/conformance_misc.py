"""Conformance cases: DYNAMIC_UPDATE_SLICE, REDUCE_ALL and the other
operators outside the larger families. (models/make_conformance.py collects
them.)"""

import numpy as np

from tflite_builder import BuiltinOperator as OP
from tflite_builder import Model, Quantization, TensorType

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
# (and a case of another family that guards codegen.TVM_WRONG)
DEFAULT = {"dynamic_update_slice-int8-runtime-start", "dynamic_update_slice-float32-runtime-start",
           "resize_nearest_neighbor-float32-align-corners"}
REFUSED = {}

TYPES = {"int8": TensorType.INT8, "float32": TensorType.FLOAT32, "int32": TensorType.INT32,
         "int16": TensorType.INT16, "bool": TensorType.BOOL}


def _dus(dtype, operand, update, start=None):
    """DYNAMIC_UPDATE_SLICE; start constant, or None for a model input (the
    harness's random int32s: far outside, so TFLite's clamping decides)."""

    def build(rng):
        m = Model(f"utoe conformance: dynamic_update_slice {dtype}")
        qp = {"int8": Quantization([0.05], [-3]), "int16": Quantization([0.05], [0])}.get(dtype)
        x = m.tensor("operand", operand, TYPES[dtype], quantization=qp)
        u = m.tensor("update", update, TYPES[dtype], quantization=qp)
        if start is None:
            s = m.tensor("start", [len(operand)], TensorType.INT32)
        else:
            s = m.tensor("start", [len(operand)], TensorType.INT32, data=np.asarray(start, np.int32))
        y = m.tensor("y", operand, TYPES[dtype], quantization=qp)
        m.operator(OP.DYNAMIC_UPDATE_SLICE, [x, u, s], [y])
        m.io([x, u] + ([s] if start is None else []), [y])
        return m

    return build


def _reduce_all(shape, axes, keep):
    def build(rng):
        m = Model("utoe conformance: reduce_all bool")
        x = m.tensor("x", shape, TensorType.BOOL)
        a = m.tensor("axes", [len(axes)], TensorType.INT32, data=np.asarray(axes, np.int32))
        out = [d for i, d in enumerate(shape) if i not in axes] if not keep else \
            [1 if i in axes else d for i, d in enumerate(shape)]
        y = m.tensor("y", out, TensorType.BOOL)
        m.operator(OP.REDUCE_ALL, [x, a], [y], options=("ReducerOptions", {"KeepDims": keep}))
        m.io([x], [y])
        return m

    return build


def cases():
    from make_conformance import Case

    out = []
    for dt in ("int8", "int16", "float32", "int32"):
        # TVM 0.27's frontend has no DYNAMIC_UPDATE_SLICE: utoe's (type-generic) kernel computes all three
        own = "utoe-integer"
        out += [
            Case("DYNAMIC_UPDATE_SLICE", dt, "const-start", _dus(dt, [4, 6, 3], [2, 3, 3], [1, 2, 0]), own),
            Case("DYNAMIC_UPDATE_SLICE", dt, "const-start-clamped", _dus(dt, [5, 4], [2, 4], [7, -3]), own),
            Case("DYNAMIC_UPDATE_SLICE", dt, "runtime-start", _dus(dt, [6, 5], [3, 2]), own),
        ]
    out += [Case("REDUCE_ALL", "bool", "axis1", _reduce_all([3, 4, 2], [1], False)),
            Case("REDUCE_ALL", "bool", "all-keepdims", _reduce_all([2, 3], [0, 1], True))]
    return out
