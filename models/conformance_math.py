"""Conformance cases: elementwise math (EXP, LOG, RSQRT, SQRT, SQUARE, SIN,
COS, FLOOR, CEIL, ROUND, ELU, LOG_SOFTMAX, L2_NORMALIZATION, DIV,
L2_POOL_2D) in the types TFLite Micro's kernels take them: float32 for all,
int8 for RSQRT, ELU, LOG_SOFTMAX, L2_NORMALIZATION and DIV, int32 for DIV.
(models/make_conformance.py collects them.)

Inputs are the harness's seeded ones (int8: every byte; float32: [-1, 1)),
so where TFLite fails on part of that range the case keeps to the rest:
RSQRT int8 has its input zero point at -128 (TFLite fails below it), int8
DIV divides by a constant without the divisor's zero point (a division by
zero TFLite fails on), and the float LOG, SQRT and RSQRT take x + 1.5 (an
ADD first), which is positive."""

import numpy as np

from make_conformance import F32, I8, I32, NONE, OP, RELU, RELU6, SAME, VALID, Case, _Net, _single, q

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = {
    "rsqrt-int8-zp-128",
    "div-int8-const-broadcast",
    "log_softmax-int8-3x10",
    "l2_normalization-int8-4x8x12",
}
REFUSED = {}
_UNUSED = (0.1, 0)  # float32 cases: _single wants a quantization it then leaves out


def _div(dtype, a_shape, b_shape, a_q, b_q, y_q, act=NONE):
    """DIV by a constant divisor (int8: none at its zero point; float32: away
    from 0); int32 divides two activations (TFLite's C integer division)."""

    def build(rng):
        net = _Net(f"div {dtype}", dtype)
        out = list(np.broadcast_shapes(tuple(a_shape), tuple(b_shape)))
        if dtype == "int32":
            a = net.m.tensor("a", a_shape, I32)
            b = net.m.tensor("b", b_shape, I32)
            y = net.m.tensor("y", out, I32)
            net.m.operator(OP.DIV, [a, b], [y], options=("DivOptions", {"FusedActivationFunction": act}))
            return net.done([a, b], [y])
        a = net.act(a_shape, q(*a_q))
        if dtype == "float32":
            v = rng.uniform(0.25, 2.0, b_shape) * rng.choice([-1, 1], b_shape)
            b = net.const(v.astype(np.float32), F32)
        else:
            v = rng.integers(-128, 128, b_shape)
            v[v == b_q[1]] += 1 if b_q[1] < 127 else -1
            b = net.const(v.astype(np.int8), I8, q(*b_q))
        y = net.act(out, q(*y_q))
        net.m.operator(OP.DIV, [a, b], [y], version=2 if dtype == "int8" else 1,
                       options=("DivOptions", {"FusedActivationFunction": act}))
        return net.done([a], [y])

    return build


def _positive(code, shape, options=None):
    """float32 code(x + 1.5): an ADD of a constant first keeps the input in
    [0.5, 2.5), where LOG, SQRT and RSQRT are finite."""

    def build(rng):
        net = _Net("positive float32", "float32")
        x = net.act(shape)
        c = net.const(np.array([1.5], np.float32), F32)
        t = net.act(shape)
        y = net.act(shape)
        net.m.operator(OP.ADD, [x, c], [t], options=("AddOptions", {"FusedActivationFunction": NONE}))
        net.m.operator(code, [t], [y], options=options)
        return net.done([x], [y])

    return build


def _l2_pool(shape, k, stride, padding, act=NONE):
    oh = (shape[1] - k) // stride + 1 if padding == VALID else (shape[1] + stride - 1) // stride
    ow = (shape[2] - k) // stride + 1 if padding == VALID else (shape[2] + stride - 1) // stride
    return _single("float32", OP.L2_POOL_2D, [("act", shape, _UNUSED)], ([shape[0], oh, ow, shape[3]], _UNUSED),
                   ("Pool2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride, "FilterWidth": k,
                                      "FilterHeight": k, "FusedActivationFunction": act}))


def _int8():
    ls_out, l2_out = (16 / 256, 127), (1 / 128, 0)
    return [
        Case("RSQRT", "int8", "zp-128", _single("int8", OP.RSQRT, [("act", [4, 16], (0.04, -128))],
                                                ([4, 16], (0.03, -128)), version=2)),
        Case("RSQRT", "int8", "saturating", _single("int8", OP.RSQRT, [("act", [2, 3, 5], (0.5, -128))],
                                                    ([2, 3, 5], (0.01, 127)), version=2)),
        Case("DIV", "int8", "const-broadcast", _div("int8", [2, 3, 8], [8], (0.05, -128), (0.02, 127), (0.1, 0))),
        Case("DIV", "int8", "const-channel-relu", _div("int8", [1, 4, 4, 3], [1, 1, 1, 3], (0.1, 3), (0.05, -128),
                                                       (0.01, -128), act=RELU)),
        Case("DIV", "int8", "const-same-shape", _div("int8", [5, 7], [5, 7], (0.02, 127), (0.5, -128),
                                                     (0.002, 127))),
        Case("LOG_SOFTMAX", "int8", "3x10", _single("int8", OP.LOG_SOFTMAX, [("act", [3, 10], (0.1, 127))],
                                                    ([3, 10], ls_out), ("LogSoftmaxOptions", {}), version=2)),
        Case("LOG_SOFTMAX", "int8", "4d-zp-128", _single("int8", OP.LOG_SOFTMAX,
                                                         [("act", [1, 2, 2, 33], (0.05, -128))],
                                                         ([1, 2, 2, 33], ls_out), ("LogSoftmaxOptions", {}),
                                                         version=2)),
        Case("L2_NORMALIZATION", "int8", "4x8x12", _single("int8", OP.L2_NORMALIZATION,
                                                           [("act", [4, 8, 12], (0.05, -128))], ([4, 8, 12], l2_out),
                                                           ("L2NormOptions", {}), version=2)),
        Case("L2_NORMALIZATION", "int8", "4x3-zp127", _single("int8", OP.L2_NORMALIZATION,
                                                              [("act", [4, 3], (0.1, 127))], ([4, 3], l2_out),
                                                              ("L2NormOptions", {}), version=2)),
    ]


def _float32():
    f = "float32"
    shape = [2, 3, 8]

    def unary(op, name="2x3x8", options=None):
        return Case(op, f, name, _single(f, getattr(OP, op), [("act", shape, _UNUSED)], (shape, _UNUSED), options))

    return [
        unary("EXP"),
        Case("LOG", f, "after-add", _positive(OP.LOG, shape)),
        Case("RSQRT", f, "after-add", _positive(OP.RSQRT, shape)),
        Case("SQRT", f, "after-add", _positive(OP.SQRT, shape)),
        unary("SQUARE"),
        unary("SIN"),
        unary("COS"),
        unary("FLOOR"),
        # CEIL, ROUND and ELU: BUILTIN_REF has no kernel for them, so these
        # cases are validated against TFLite Micro's interpreter (the second
        # reference, utoe.reference)
        unary("CEIL"),
        unary("ROUND"),
        unary("ELU"),
        Case("ELU", "int8", "requantize", _single("int8", OP.ELU, [("act", shape, (0.05, 3))], (shape, (0.03, -20)))),
        unary("LOG_SOFTMAX", options=("LogSoftmaxOptions", {})),
        unary("L2_NORMALIZATION", options=("L2NormOptions", {})),
        Case("DIV", f, "const-broadcast", _div(f, [2, 3, 8], [8], _UNUSED, _UNUSED, _UNUSED)),
        Case("DIV", f, "broadcast-both-relu", _div(f, [2, 1, 4], [3, 1], _UNUSED, _UNUSED, _UNUSED, act=RELU)),
        Case("L2_POOL_2D", f, "2x2-s2-valid", _l2_pool([1, 6, 6, 3], 2, 2, VALID)),
        Case("L2_POOL_2D", f, "3x3-s1-same-relu6", _l2_pool([1, 5, 5, 2], 3, 1, SAME, act=RELU6)),
        Case("LOG_SOFTMAX", f, "4d", _single(f, OP.LOG_SOFTMAX, [("act", [1, 2, 2, 33], _UNUSED)],
                                             ([1, 2, 2, 33], _UNUSED), ("LogSoftmaxOptions", {}))),
        Case("DIV", "int32", "same-shape", _div("int32", [2, 6], [2, 6], None, None, None)),
    ]


def cases():
    return _int8() + _float32()
