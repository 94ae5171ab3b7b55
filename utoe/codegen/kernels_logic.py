"""Comparisons, logical operators, SELECT_V2, CAST and the other operators on bool and int32 tensors.

Integer kernels with TFLite's reference semantics (see kernels.py). Most of
these operators only compare, pick or copy values, so they are generic in
the data type: an int8 model's comparison of two int8 tensors (rescaled as
TFLite rescales them), its bool masks, its int32 shapes and indices all go
through utoe's integer path, which never computes in float what TFLite
computes in integers. Models with only float32, int32 or bool tensors go to
TVM's frontend instead (codegen/__init__.py); these kernels then only run
inside quantized models."""

import numpy as np

from ..errors import CodegenError
from . import quant
from .kernels import I32, Kernel, _axis, _broadcast_shape, _const_data

ANY = {"int8", "int16", "int32", "int64", "float32", "bool"}


def _shape(y):
    return tuple(y.shape) or (1,)


def _broadcast_args(op, qm, tensors, shape):
    """Kernel args viewing each tensor at its broadcast shape (its shape
    left-padded with 1s to shape's rank), and those shapes."""
    shapes = [_broadcast_shape(op, t, shape) for t in tensors]
    return [("view", t.index, s) for t, s in zip(tensors, shapes)], shapes


def _load(X, ts, idx):
    """X (viewed at broadcast shape ts) at the output index idx."""
    return X(*[0 if d == 1 else i for d, i in zip(ts, idx)])


def _check_out_shape(op, y, shape):
    if tuple(y.shape) != tuple(shape):
        raise CodegenError(f"output shape {y.shape}, but the inputs broadcast to {tuple(shape)}")


def _bshape(op, tensors):
    try:
        return tuple(np.broadcast_shapes(*[tuple(t.shape) for t in tensors]))
    except ValueError:
        raise CodegenError(f"{op.name} cannot broadcast {' and '.join(str(t.shape) for t in tensors)}") from None


# ---------------------------------------------------------------- comparisons


def _compare_fn(kind):
    return {"EQUAL": lambda a, b: a == b, "NOT_EQUAL": lambda a, b: a != b,
            "LESS": lambda a, b: a < b, "LESS_EQUAL": lambda a, b: a <= b,
            "GREATER": lambda a, b: a > b, "GREATER_EQUAL": lambda a, b: a >= b}[kind]


def _smaller_than_one(op, t):
    """QuantizeMultiplierSmallerThanOneExp(scale): TFLite aborts unless
    0 < scale < 1, so utoe refuses such a comparison by name."""
    s = float(np.float32(t.scale)) if t.quantized else 0.0
    if not 0.0 < s < 1.0:
        raise CodegenError(f"{op.name} of an int8 tensor with scale {s:g} (TFLite's comparison takes 0 < scale < 1)")
    return quant.quantize_multiplier(s)


def comparison(op, qm):
    """EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL
    (reference_ops::ComparisonWithScaling, comparisons.cc): int8 inputs are
    compared after TFLite's rescaling, (x - zx) << 8 times each input's own
    scale as a fixed-point multiplier (so two scales compare in one real
    unit, and values closer than that unit compare equal); int32, int64,
    float32 and bool inputs are compared as they are. Numpy broadcasting;
    the output is bool."""
    from tvm import te

    a, b, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    if a.dtype != b.dtype:
        raise CodegenError(f"{op.name} of {a.dtype} and {b.dtype}")
    if a.dtype == "bool" and op.name not in ("EQUAL", "NOT_EQUAL"):
        raise CodegenError(f"{op.name} of bool tensors (TFLite compares bool for equality only)")
    shape = _bshape(op, (a, b))
    _check_out_shape(op, y, shape)
    shape = shape or (1,)
    args, (sa, sb) = _broadcast_args(op, qm, (a, b), shape)
    fn = _compare_fn(op.name)
    if a.dtype != "int8":
        def compute(A, B):
            return te.compute(shape, lambda *i: fn(_load(A, sa, i), _load(B, sb, i)), name="out")

        return Kernel(args, shape, "bool", compute)
    (ma, ea), (mb, eb) = _smaller_than_one(op, a), _smaller_than_one(op, b)
    left = 8

    def compute(A, B):
        def scaled(X, ts, zp, m, e):
            return lambda *i: quant.multiply_by_quantized_multiplier(
                (_load(X, ts, i).astype(I32) - zp) * (1 << left), m, e)

        va = te.compute(shape, scaled(A, sa, a.zero_point, ma, ea), name="stage_a")
        vb = te.compute(shape, scaled(B, sb, b.zero_point, mb, eb), name="stage_b")
        return te.compute(shape, lambda *i: fn(va(*i), vb(*i)), name="out")

    return Kernel(args, shape, "bool", compute)


# ---------------------------------------------------------------- logical


def logical(op, qm):
    """LOGICAL_AND, LOGICAL_OR (numpy broadcasting) and LOGICAL_NOT on bool."""
    from tvm import te, tirx

    ins = [qm.tensors[i] for i in op.inputs]
    y = qm.tensors[op.outputs[0]]
    shape = _bshape(op, ins)
    _check_out_shape(op, y, shape)
    shape = shape or (1,)
    args, shapes = _broadcast_args(op, qm, ins, shape)
    if op.name == "LOGICAL_NOT":
        return Kernel(args, shape, "bool", lambda X: te.compute(
            shape, lambda *i: tirx.Not(_load(X, shapes[0], i)), name="out"))
    both = tirx.And if op.name == "LOGICAL_AND" else tirx.Or
    return Kernel(args, shape, "bool", lambda A, B: te.compute(
        shape, lambda *i: both(_load(A, shapes[0], i), _load(B, shapes[1], i)), name="out"))


# ---------------------------------------------------------------- SELECT_V2


def select_v2(op, qm):
    """SELECT_V2 (reference_ops::BroadcastSelectSlow): condition ? x : y,
    the three broadcast against each other, numpy-style. Values are copied
    as they are: TFLite neither requantizes int8 x and y nor checks that they
    share the output's quantization."""
    from tvm import te, tirx

    c, x, yv = (qm.tensors[i] for i in op.inputs[:3])
    out = qm.tensors[op.outputs[0]]
    if c.dtype != "bool" or x.dtype != yv.dtype or x.dtype != out.dtype:
        raise CodegenError(f"{op.name} with condition {c.dtype}, values {x.dtype}/{yv.dtype} -> {out.dtype}")
    shape = _bshape(op, (c, x, yv))
    _check_out_shape(op, out, shape)
    shape = shape or (1,)
    args, (sc, sx, sy) = _broadcast_args(op, qm, (c, x, yv), shape)

    def compute(C, X, Y):
        return te.compute(shape, lambda *i: tirx.Select(_load(C, sc, i), _load(X, sx, i), _load(Y, sy, i)),
                          name="out")

    return Kernel(args, shape, out.dtype, compute)


# ---------------------------------------------------------------- CAST


def cast(op, qm):
    """CAST (cast.cc): static_cast between bool, int8, int16, int32, int64
    and float32, element by element (float to integer truncates toward
    zero, as C's conversion does; TVM emits the same conversion; to bool is
    != 0). Quantization is ignored, as TFLite
    ignores it: an int8 value 5 becomes 5, not its real value."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    if int(np.prod(x.shape)) != size:
        raise CodegenError(f"CAST from shape {x.shape} to {y.shape}")
    return Kernel([("view", x.index, (size,))], (size,), y.dtype,
                  lambda X: te.compute((size,), lambda i: X[i].astype(y.dtype), name="out"))


ACTIVATION_TYPES = {
    "EQUAL": ({"int8", "int32", "int64", "float32", "bool"}, {"bool"}),
    "NOT_EQUAL": ({"int8", "int32", "int64", "float32", "bool"}, {"bool"}),
    "LESS": ({"int8", "int32", "int64", "float32"}, {"bool"}),
    "LESS_EQUAL": ({"int8", "int32", "int64", "float32"}, {"bool"}),
    "GREATER": ({"int8", "int32", "int64", "float32"}, {"bool"}),
    "GREATER_EQUAL": ({"int8", "int32", "int64", "float32"}, {"bool"}),
    "LOGICAL_AND": ({"bool"}, {"bool"}),
    "LOGICAL_OR": ({"bool"}, {"bool"}),
    "LOGICAL_NOT": ({"bool"}, {"bool"}),
    "SELECT_V2": (ANY, ANY),
    "CAST": (ANY, ANY),
}

KERNELS = {
    "EQUAL": comparison,
    "NOT_EQUAL": comparison,
    "LESS": comparison,
    "LESS_EQUAL": comparison,
    "GREATER": comparison,
    "GREATER_EQUAL": comparison,
    "LOGICAL_AND": logical,
    "LOGICAL_OR": logical,
    "LOGICAL_NOT": logical,
    "SELECT_V2": select_v2,
    "CAST": cast,
}
REFUSED = {}
