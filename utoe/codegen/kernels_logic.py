"""Comparisons, logical operators, SELECT_V2, CAST and the other operators on bool and int32 tensors.

Integer kernels with TFLite's reference semantics (see kernels.py). Most of
these operators only compare, pick or copy values, so they are generic in
the data type: an int8 model's comparison of two int8 tensors (rescaled as
TFLite rescales them), its bool masks, its int32 shapes and indices all go
through utoe's integer path, which never computes in float what TFLite
computes in integers. Models with only float32, int32 or bool tensors go to
TVM's frontend instead (codegen/__init__.py), unless they have an operator
TVM gets wrong (TVM_WRONG, TVM_FOLDS below; integer.is_quantized).

TFLite Micro also runs int8 ZEROS_LIKE, ADD_N and CUMSUM; the reference
interpreter utoe validates against (ai-edge-litert's BUILTIN_REF) does not,
so utoe refuses those by name rather than emit what nothing checks."""

import numpy as np

from ..errors import CodegenError
from . import quant
from .kernels import I32, Kernel, _axis, _broadcast_shape, _const_data

ANY = {"int8", "int16", "int32", "int64", "float32", "bool"}


def _broadcast_args(op, tensors, shape):
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
    args, (sa, sb) = _broadcast_args(op, (a, b), shape)
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
    args, shapes = _broadcast_args(op, ins, shape)
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
    args, (sc, sx, sy) = _broadcast_args(op, (c, x, yv), shape)

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


# ---------------------------------------------------------------- constants and copies


def zeros_like(op, qm):
    """ZEROS_LIKE: zeros of the input's shape and type (the input is not read)."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    if y.dtype not in ("int32", "int64", "float32"):
        # TFLite Micro zeroes int8 too; the reference utoe validates against does not run it
        raise CodegenError(f"{y.dtype}: the reference interpreter (BUILTIN_REF) takes int32, int64 and "
                           "float32 only, so there is nothing to validate it against")
    size = int(np.prod(y.shape))
    return Kernel([("view", x.index, (int(np.prod(x.shape)),))], (size,), y.dtype,
                  lambda X: te.compute((size,), lambda i: tirx.const(0, y.dtype), name="out"))


def _constant_output(y, arr):
    """A kernel writing the constant arr (computed at codegen time) to y."""
    from tvm import te

    arr = np.ascontiguousarray(np.asarray(arr, y.dtype).reshape(-1))
    size = arr.size
    return Kernel([("param", "value", arr)], (size,), y.dtype,
                  lambda P: te.compute((size,), lambda i: P[i], name="out"))


def shape(op, qm):
    """SHAPE: the input's (static) shape as int32 or int64, a constant."""
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    if y.dtype not in ("int32", "int64") or tuple(y.shape) != (len(x.shape),):
        raise CodegenError(f"SHAPE of rank {len(x.shape)} into {y.dtype} {y.shape}")
    return _constant_output(y, np.array(x.shape))


def broadcast_args(op, qm):
    """BROADCAST_ARGS of two constant shapes (reference_ops::BroadcastArgs),
    a constant. Shapes known only at run time are refused: TFLite fails there
    on shapes that do not broadcast, which a kernel cannot report."""
    a = np.asarray(_const_data(op, qm, 0, "shape")).reshape(-1)
    b = np.asarray(_const_data(op, qm, 1, "shape")).reshape(-1)
    y = qm.tensors[op.outputs[0]]
    try:
        out = np.broadcast_shapes(tuple(int(v) for v in a), tuple(int(v) for v in b))
    except ValueError:
        raise CodegenError(f"BROADCAST_ARGS of shapes {list(a)} and {list(b)}, which do not broadcast") from None
    if tuple(y.shape) != (len(out),):
        raise CodegenError(f"output shape {y.shape}, but the broadcast shape {list(out)} has {len(out)} dimensions")
    return _constant_output(y, np.array(out))


def fill(op, qm):
    """FILL (reference_ops::Fill): the scalar value (constant or not) in
    every element of the constant dims' shape; copied as it is, not
    requantized."""
    from tvm import te

    dims = [int(v) for v in np.asarray(_const_data(op, qm, 0, "dims")).reshape(-1)]
    v, y = qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    if tuple(dims) != tuple(y.shape) or int(np.prod(v.shape)) != 1 or v.dtype != y.dtype:
        raise CodegenError(f"FILL of a {v.dtype} {v.shape} value to dims {dims} -> {y.dtype} {y.shape}")
    size = int(np.prod(y.shape))
    return Kernel([("view", v.index, (1,))], (size,), y.dtype,
                  lambda V: te.compute((size,), lambda i: V[0], name="out"))


def broadcast_to(op, qm):
    """BROADCAST_TO (reference_ops::BroadcastTo): the input repeated to the
    constant shape, numpy-style; values copied."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    want = tuple(int(v) for v in np.asarray(_const_data(op, qm, 1, "shape")).reshape(-1))
    if want != tuple(y.shape) or len(x.shape) > len(want):
        raise CodegenError(f"BROADCAST_TO of {x.shape} to {list(want)} -> {y.shape}")
    shape = want or (1,)
    args, (sx,) = _broadcast_args(op, (x,), shape)
    return Kernel(args, shape, y.dtype, lambda X: te.compute(shape, lambda *i: _load(X, sx, i), name="out"))


def _gather_rows(x, y, offsets, width, convert=None):
    """out[r, j] = x_flat[offsets[r] + j] for j < width: rows (slices) of x
    picked at constant offsets, copied or converted."""
    from tvm import te

    rows = len(offsets)
    offsets = np.ascontiguousarray(np.asarray(offsets, np.int32))

    def compute(X, OFF):
        def f(r, j):
            v = X[OFF[r] + j]
            return convert(v) if convert else v

        return te.compute((rows, width), f, name="out")

    return Kernel([("view", x.index, (int(np.prod(x.shape)),)), ("param", "offsets", offsets)], (rows, width),
                  y.dtype, compute)


def gather_nd(op, qm):
    """GATHER_ND (reference_ops::GatherNd) with constant int32/int64
    indices: the indices' last axis indexes params' first dimensions, each
    picking a slice of the rest. Non-constant indices are refused, as for
    GATHER: TFLite fails on an out-of-range index at run time, which a kernel
    cannot report."""
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    idx = np.asarray(_const_data(op, qm, 1, "indices")).astype(np.int64)
    if idx.ndim < 1 or idx.shape[-1] > len(x.shape):
        raise CodegenError(f"GATHER_ND with indices of shape {idx.shape} into params of rank {len(x.shape)}")
    k = idx.shape[-1]
    lead = idx.reshape(-1, k)
    dims = np.array(x.shape[:k], np.int64)
    if lead.size and ((lead < 0).any() or (lead >= dims).any()):
        raise CodegenError(f"GATHER_ND index outside params' dimensions {list(x.shape[:k])}")
    want = tuple(idx.shape[:-1]) + tuple(x.shape[k:])
    if want != tuple(y.shape) or x.dtype != y.dtype:
        raise CodegenError(f"output {y.dtype} {y.shape}, but gathering gives {x.dtype} {want}")
    width = int(np.prod(x.shape[k:]))
    strides = [int(np.prod(x.shape[d + 1:k])) for d in range(k)]
    offsets = [int(sum(int(i) * s for i, s in zip(row, strides))) * width for row in lead]
    return _gather_rows(x, y, offsets, width)


def embedding_lookup(op, qm):
    """EMBEDDING_LOOKUP (embedding_lookup.cc) with constant int32 ids: rows
    of the value table copied (float32 -> float32, int8 -> int8), or, for
    int8 rows into float32 (the hybrid form), each value times the table's
    scale, in float32, as TFLite's EvalHybrid computes it. Non-constant ids
    are refused, as GATHER's indices are."""
    from tvm import tirx

    x, y = qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    ids = np.asarray(_const_data(op, qm, 0, "ids")).astype(np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= x.shape[0]):
        raise CodegenError(f"EMBEDDING_LOOKUP id outside the table's {x.shape[0]} rows")
    want = (ids.size,) + tuple(x.shape[1:])
    if want != tuple(y.shape):
        raise CodegenError(f"output shape {y.shape}, but the lookup gives {want}")
    width = int(np.prod(x.shape[1:]))
    offsets = [int(i) * width for i in ids]
    if x.dtype == y.dtype:
        return _gather_rows(x, y, offsets, width)
    if x.dtype == "int8" and y.dtype == "float32":
        if not x.quantized or len(x.scales) > 1:
            raise CodegenError("EMBEDDING_LOOKUP of int8 rows into float32 without one per-tensor scale")
        scale = float(np.float32(x.scale))
        return _gather_rows(x, y, offsets, width,
                            lambda v: v.astype("float32") * tirx.const(scale, "float32"))
    raise CodegenError(f"EMBEDDING_LOOKUP of {x.dtype} rows into {y.dtype}")


def reverse_v2(op, qm):
    """REVERSE_V2 (reference_ops::Reverse): the input reversed along the
    constant axes, which must be contiguous (TFLite Micro refuses others;
    TFLite's reference reverses the whole span between the first and last
    axis); values copied."""
    from tvm import te

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    rank = len(x.shape)
    axes = sorted({_axis(a, rank) for a in np.asarray(_const_data(op, qm, 1, "axes")).reshape(-1)})
    if any(not 0 <= a < rank for a in axes) or any(b != a + 1 for a, b in zip(axes, axes[1:])):
        raise CodegenError(f"REVERSE_V2 along axes {axes} of a rank-{rank} input (utoe takes contiguous axes)")
    if tuple(y.shape) != tuple(x.shape):
        raise CodegenError(f"REVERSE_V2 from shape {x.shape} to {y.shape}")
    shape = tuple(x.shape) or (1,)

    def compute(X):
        return te.compute(shape, lambda *i: X(*[shape[d] - 1 - v if d in axes else v for d, v in enumerate(i)]),
                          name="out")

    return Kernel([("tensor", x.index)], shape, y.dtype, compute)


# ---------------------------------------------------------------- sums


def add_n(op, qm):
    """ADD_N (reference_ops::AddN) on int32 or float32: the inputs summed in
    order. TFLite Micro also takes int8 (requantized like ADD), but the
    reference interpreter (BUILTIN_REF) does not, so utoe refuses it."""
    from tvm import te

    ins = [qm.tensors[i] for i in op.inputs]
    y = qm.tensors[op.outputs[0]]
    if y.dtype not in ("int32", "float32"):
        raise CodegenError(f"{y.dtype}: the reference interpreter (BUILTIN_REF) takes float32 and int32 "
                           "only, so there is nothing to validate it against")
    size = int(np.prod(y.shape))
    if any(t.dtype != y.dtype or int(np.prod(t.shape)) != size for t in ins):
        raise CodegenError(f"ADD_N of {', '.join(f'{t.dtype} {t.shape}' for t in ins)} -> {y.dtype} {y.shape}")

    def compute(*X):
        def f(i):
            total = X[0][i]
            for T in X[1:]:
                total = total + T[i]
            return total

        return te.compute((size,), f, name="out")

    return Kernel([("view", t.index, (size,)) for t in ins], (size,), y.dtype, compute)


def _cumsum_options(qm, op):
    """(exclusive, reverse) of a CUMSUM operator, read from the model file
    (codegen/tflite_model.py does not parse CumsumOptions)."""
    import tflite

    from ..frontend import _tflite_model

    table = _tflite_model(qm.path).Subgraphs(0).Operators(op.index).BuiltinOptions()
    if table is None:
        return False, False
    opt = tflite.CumsumOptions()
    opt.Init(table.Bytes, table.Pos)
    return bool(opt.Exclusive()), bool(opt.Reverse())


def cumsum(op, qm):
    """CUMSUM (reference_ops::CumSum) on int32, int64 or float32 along a
    constant axis, exclusive and/or reverse, each sum taken in TFLite's
    order (from the axis' start, or its end when reversed). TFLite Micro
    also takes int8 (requantized like ADD), but the reference interpreter
    (BUILTIN_REF) does not, so utoe refuses it."""
    from tvm import te, tirx

    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    if y.dtype not in ("int32", "int64", "float32"):
        raise CodegenError(f"{y.dtype}: the reference interpreter (BUILTIN_REF) takes float32, int32 and "
                           "int64 only, so there is nothing to validate it against")
    rank = len(x.shape)
    axis = _axis(np.asarray(_const_data(op, qm, 1, "axis")).reshape(-1)[0], rank)
    if not 0 <= axis < rank or tuple(y.shape) != tuple(x.shape) or x.dtype != y.dtype:
        raise CodegenError(f"CUMSUM along axis {axis} of {x.dtype} {x.shape} -> {y.dtype} {y.shape}")
    exclusive, reverse = _cumsum_options(qm, op)
    depth = x.shape[axis]
    shape = tuple(x.shape)

    def compute(X):
        r = te.reduce_axis((0, depth), "r")

        def f(*i):
            k = i[axis]
            src = depth - 1 - r if reverse else r  # position along the axis, in summing order
            pos = depth - 1 - k if reverse else k  # how many come before the output's own
            take = r < pos if exclusive else r <= pos
            v = X(*[src if d == axis else v for d, v in enumerate(i)])
            return te.sum(tirx.if_then_else(take, v, tirx.const(0, y.dtype)), axis=r)

        return te.compute(shape, f, name="out")

    return Kernel([("tensor", x.index)], shape, y.dtype, compute)



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
    "ZEROS_LIKE": (ANY, ANY),
    "SHAPE": (ANY, {"int32", "int64"}),
    "BROADCAST_ARGS": ({"int32", "int64"}, {"int32", "int64"}),
    "FILL": (ANY, ANY),
    "BROADCAST_TO": (ANY, ANY),
    "GATHER_ND": (ANY, ANY),
    "EMBEDDING_LOOKUP": (ANY, ANY),
    "REVERSE_V2": (ANY, ANY),
    "ADD_N": (ANY, ANY),
    "CUMSUM": (ANY, ANY),
}

def _arity(fn, inputs):
    """fn, after checking the operator has `inputs` inputs (a number, or
    (min, None) for at least min), none omitted, and one output: a malformed
    model ends in a CodegenError line, not an IndexError."""

    def kernel(op, qm):
        n = len(op.inputs)
        lo, hi = inputs if isinstance(inputs, tuple) else (inputs, inputs)
        if n < lo or (hi is not None and n > hi) or any(i < 0 for i in op.inputs) or len(op.outputs) != 1 \
                or any(not 0 <= i < len(qm.tensors) for i in list(op.inputs) + list(op.outputs)):
            want = f"{lo}" if lo == hi else f"{lo} or more"
            raise CodegenError(f"{op.name} with inputs {list(op.inputs)} and outputs {list(op.outputs)} "
                               f"(TFLite's takes {want} inputs, none omitted, and one output)")
        return fn(op, qm)

    kernel.__doc__ = fn.__doc__
    return kernel


KERNELS = {
    "EQUAL": _arity(comparison, 2),
    "NOT_EQUAL": _arity(comparison, 2),
    "LESS": _arity(comparison, 2),
    "LESS_EQUAL": _arity(comparison, 2),
    "GREATER": _arity(comparison, 2),
    "GREATER_EQUAL": _arity(comparison, 2),
    "LOGICAL_AND": _arity(logical, 2),
    "LOGICAL_OR": _arity(logical, 2),
    "LOGICAL_NOT": _arity(logical, 1),
    "SELECT_V2": _arity(select_v2, 3),
    "CAST": _arity(cast, 1),
    "ZEROS_LIKE": _arity(zeros_like, 1),
    "SHAPE": _arity(shape, 1),
    "BROADCAST_ARGS": _arity(broadcast_args, 2),
    "FILL": _arity(fill, 2),
    "BROADCAST_TO": _arity(broadcast_to, 2),
    "GATHER_ND": _arity(gather_nd, 2),
    "EMBEDDING_LOOKUP": _arity(embedding_lookup, 2),
    "REVERSE_V2": _arity(reverse_v2, 2),
    "ADD_N": _arity(add_n, (1, None)),
    "CUMSUM": _arity(cumsum, 2),
}
REFUSED = {}

# Operators whose models take utoe's integer path whatever their types
# (integer.is_quantized): TVM 0.27's TFLite frontend gets GATHER_ND and
# EMBEDDING_LOOKUP wrong (wrong elements, a wrong output shape) and cannot
# lower CUMSUM ('relax.cumsum', and no reverse form at all) ...
TVM_WRONG = {"GATHER_ND", "EMBEDDING_LOOKUP", "CUMSUM"}
# ... and folds these into constants, which utoe cannot emit as a model output.
TVM_FOLDS = {"ZEROS_LIKE", "SHAPE", "BROADCAST_ARGS"}
