"""Conformance cases: the int32 and bool forms of operators TFLite Micro runs
on them (arithmetic on indices and shapes, data movement of masks), for
operators whose int8/float32 forms are in models/make_conformance.py.
(make_conformance collects them.)"""

import numpy as np

from tflite_builder import BuiltinOperator as OP
from tflite_builder import Model, TensorType

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = {"add-int32-broadcast", "strided_slice-bool-stride2", "squared_difference-int32-same-shape"}
REFUSED = {
    # TVM 0.27's TFLite frontend lowers SQUARED_DIFFERENCE to power(x - y, 2), which its Relax
    # legalization only defines on floats
    "squared_difference-int32-same-shape": "power only applies to float",
}

TYPES = {"int32": TensorType.INT32, "bool": TensorType.BOOL}


def _model(dtype, code, shapes, out_shape, consts=(), options=None, version=1, n_out=1, out_shapes=None):
    """One operator on `dtype` tensors: inputs of `shapes` (None marks where
    the int32 constants in `consts` go, in order), outputs out_shape (or
    out_shapes for several)."""

    def build(rng):
        m = Model(f"utoe conformance: {code} {dtype}")
        ins, live, k = [], [], iter(consts)
        for i, shape in enumerate(shapes):
            if shape is None:
                arr = np.asarray(next(k), np.int32)
                ins.append(m.tensor(f"c{i}", list(arr.shape), TensorType.INT32, data=arr))
            else:
                t = m.tensor(f"x{i}", shape, TYPES[dtype])
                ins.append(t)
                live.append(t)
        outs = [m.tensor(f"y{j}", s, TYPES[dtype]) for j, s in enumerate(out_shapes or [out_shape])]
        m.operator(code, ins, outs, version=version, options=options)
        m.io(live, outs)
        return m

    return build


def cases():
    from make_conformance import Case

    i32 = "int32"
    out = [
        Case("ADD", i32, "broadcast", _model(i32, OP.ADD, [[2, 3, 4], [4]], [2, 3, 4],
                                             options=("AddOptions", {"FusedActivationFunction": 0}))),
        Case("SUB", i32, "same-shape", _model(i32, OP.SUB, [[3, 5], [3, 5]], [3, 5],
                                              options=("SubOptions", {"FusedActivationFunction": 0}))),
        Case("MUL", i32, "broadcast", _model(i32, OP.MUL, [[2, 6], [1, 6]], [2, 6],
                                             options=("MulOptions", {"FusedActivationFunction": 0}))),
        Case("MAXIMUM", i32, "broadcast", _model(i32, OP.MAXIMUM, [[2, 3, 4], [4]], [2, 3, 4])),
        Case("MINIMUM", i32, "same-shape", _model(i32, OP.MINIMUM, [[2, 6], [2, 6]], [2, 6])),
        Case("SQUARED_DIFFERENCE", i32, "same-shape", _model(i32, OP.SQUARED_DIFFERENCE, [[2, 6], [2, 6]], [2, 6])),
        Case("CONCATENATION", i32, "axis1", _model(i32, OP.CONCATENATION, [[2, 3], [2, 4]], [2, 7], options=(
            "ConcatenationOptions", {"Axis": 1, "FusedActivationFunction": 0}))),
        Case("PACK", i32, "axis1", _model(i32, OP.PACK, [[2, 3], [2, 3]], [2, 2, 3],
                                          options=("PackOptions", {"ValuesCount": 2, "Axis": 1}))),
        Case("UNPACK", i32, "axis0", _model(i32, OP.UNPACK, [[3, 4]], None, out_shapes=[[4]] * 3,
                                            options=("UnpackOptions", {"Num": 3, "Axis": 0}))),
        Case("SPLIT", i32, "axis1-in-2", _model(i32, OP.SPLIT, [None, [2, 6]], None, consts=[1],
                                                out_shapes=[[2, 3]] * 2, options=("SplitOptions", {"NumSplits": 2}))),
        Case("SPLIT_V", i32, "axis0-1-2", _model(i32, OP.SPLIT_V, [[3, 4], None, None], None, consts=[[1, 2], 0],
                                                 out_shapes=[[1, 4], [2, 4]],
                                                 options=("SplitVOptions", {"NumSplits": 2}))),
        Case("PAD", i32, "2d", _model(i32, OP.PAD, [[2, 3], None], [4, 4], consts=[[[1, 1], [0, 1]]])),
        Case("PADV2", i32, "2d-value", _model(i32, OP.PADV2, [[2, 3], None, None], [3, 5],
                                              consts=[[[0, 1], [2, 0]], 7])),
        Case("SLICE", i32, "2d", _model(i32, OP.SLICE, [[4, 6], None, None], [2, 4], consts=[[1, 2], [2, -1]])),
        Case("STRIDED_SLICE", i32, "stride2", _model(i32, OP.STRIDED_SLICE, [[6, 4], None, None, None], [3, 2],
                                                     consts=[[0, 1], [6, 4], [2, 2]],
                                                     options=("StridedSliceOptions", {}))),
        Case("MIRROR_PAD", i32, "reflect", _model(i32, OP.MIRROR_PAD, [[3, 4], None], [5, 7],
                                                  consts=[[[1, 1], [2, 1]]], options=("MirrorPadOptions", {"Mode": 0}))),
        Case("GATHER", i32, "axis0", _model(i32, OP.GATHER, [[5, 3], None], [4, 3], consts=[[4, 0, 2, 4]],
                                            options=("GatherOptions", {"Axis": 0}))),
    ]
    b = "bool"
    out += [
        Case("CONCATENATION", b, "axis0", _model(b, OP.CONCATENATION, [[2, 3], [1, 3]], [3, 3], options=(
            "ConcatenationOptions", {"Axis": 0, "FusedActivationFunction": 0}))),
        Case("SLICE", b, "2d", _model(b, OP.SLICE, [[4, 6], None, None], [2, 3], consts=[[2, 1], [2, 3]])),
        Case("STRIDED_SLICE", b, "stride2", _model(b, OP.STRIDED_SLICE, [[6, 4], None, None, None], [3, 4],
                                                   consts=[[0, 0], [6, 4], [2, 1]],
                                                   options=("StridedSliceOptions", {}))),
    ]
    return out
