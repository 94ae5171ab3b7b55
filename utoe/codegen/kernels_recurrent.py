"""Recurrent building blocks: SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM.

Integer kernels with TFLite's reference semantics (see kernels.py).

These operators carry state in a variable tensor (is_variable in the
schema). utoe's integer importer gives such a tensor kind "state": zeros at
start-up (the arena is static), bytes of its own for the whole run, so it
persists from one inference to the next as TFLite's does. An operator with
state returns two kernels: the output, computed from the state as it is
before the operator, then the state's update (Kernel.notes["writes"] names
the state tensor it writes). The update reads and writes the state's bytes in
place; each element it writes depends only on elements at or after it in
memory order, read before they are written."""

import numpy as np

from ..errors import CodegenError
from . import quant
from .kernels import I32, Kernel

F32 = np.float32


def _svdf_shapes(op, qm):
    x, wf, wt = (qm.tensors[op.inputs[k]] for k in range(3))
    b = qm.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    if len(op.inputs) < 5 or op.inputs[4] < 0:
        raise CodegenError("SVDF without its activation state input")
    s, y = qm.tensors[op.inputs[4]], qm.tensors[op.outputs[0]]
    if s.data is not None:
        raise CodegenError("SVDF whose activation state is a constant, not a variable tensor")
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2:
        raise CodegenError(f"SVDF with input {x.shape}, feature weights {wf.shape}, time weights {wt.shape} "
                           f"(utoe takes 2-D ones)")
    batch, n_in = x.shape
    n_filter, n_mem = wt.shape
    rank = int(op.options.get("Rank", 0))
    if rank < 1 or n_filter % rank or wf.shape != (n_filter, n_in):
        raise CodegenError(f"SVDF rank {rank} with feature weights {wf.shape} and time weights {wt.shape}")
    n_unit = n_filter // rank
    if int(np.prod(s.shape)) != batch * n_filter * n_mem or int(np.prod(y.shape)) != batch * n_unit:
        raise CodegenError(f"SVDF state {s.shape} or output {y.shape} does not fit batch {batch}, "
                           f"{n_filter} filters, memory {n_mem}")
    return x, wf, wt, b, s, y, batch, n_in, n_filter, n_mem, rank, n_unit


def svdf(op, qm):
    """SVDF (TFLite's reference_ops::EvalIntegerSVDF for int8 input/output,
    int16 state and time weights; EvalFloatSVDF for float32).

    Per filter f: the feature dot product of the input becomes the state's
    newest (last) column, requantized to int16 by s_in * s_wf / s_state;
    the time weights' dot product with the state row, the rank filters of a
    unit summed with the bias, requantized by s_state * s_wt / s_out. The
    state then shifts left one column, a zero entering (TFLite's order: after
    the output, so the last column is always zero before a run). The float
    form applies the fused activation; TFLite's integer one does not
    (BUILTIN_REF requires a fused RELU on int8 SVDF, then ignores it).

    Where TFLite Micro differs (svdf_common.cc: it shifts before, subtracts
    the state's zero point and also takes an int8 state), utoe follows
    BUILTIN_REF and refuses what it cannot check: an int8 state, a nonzero
    state zero point."""
    from tvm import te, tirx

    x, wf, wt, b, s, y, batch, n_in, n_filter, n_mem, rank, n_unit = _svdf_shapes(op, qm)
    integer = x.dtype == "int8"
    if integer:
        if s.dtype != "int16" or wt.dtype != "int16" or wf.dtype != "int8" or y.dtype != "int8":
            raise CodegenError(f"int8 SVDF with {wf.dtype} feature weights, {wt.dtype} time weights and "
                               f"{s.dtype} state (TFLite's integer SVDF takes int8, int16 and int16)")
        if s.zero_point != 0:
            raise CodegenError(f"SVDF state zero point {s.zero_point} (TFLite's integer SVDF assumes 0)")
        # Prepare's float products, then QuantizeMultiplier(double)
        m1, s1 = quant.quantize_multiplier(float(F32(F32(x.scale) * F32(wf.scale)) / F32(s.scale)))
        m2, s2 = quant.quantize_multiplier(float(F32(F32(s.scale) * F32(wt.scale)) / F32(y.scale)))
        in_zp, out_zp = x.zero_point, y.zero_point
        acc_t = I32
    else:
        if any(t.dtype != "float32" for t in (x, wf, wt, s, y)):
            raise CodegenError("SVDF mixing float32 and integer tensors (hybrid SVDF)")
        acc_t = "float32"
    act = int(op.options.get("FusedActivationFunction", 0))
    if not integer and act not in (0, 1, 2, 3):
        raise CodegenError(f"SVDF with fused activation {act}")

    args = [("view", x.index, (batch, n_in)), ("tensor", wf.index), ("tensor", wt.index),
            ("view", s.index, (batch, n_filter, n_mem))]
    if b is not None:
        args.append(("tensor", b.index))

    def newest(X, WF):
        """The feature dot product: the state's new last column [batch, filter]."""
        k = te.reduce_axis((0, n_in), "k")
        if integer:
            acc = te.compute((batch, n_filter), lambda i, f: te.sum(
                WF[f, k].astype(I32) * (X[i, k].astype(I32) - in_zp), axis=k), name="svdf_dot")
            return te.compute((batch, n_filter), lambda i, f: quant.clamp(
                quant.multiply_by_quantized_multiplier(acc[i, f], m1, s1), -32768, 32767).astype("int16"),
                name="svdf_col")
        return te.compute((batch, n_filter), lambda i, f: te.sum(WF[f, k] * X[i, k], axis=k), name="svdf_col")

    def output(X, WF, WT, S, *rest):
        B = rest[0] if b is not None else None
        col = newest(X, WF)
        t = te.reduce_axis((0, n_mem), "t")
        r = te.reduce_axis((0, rank), "r")

        def state_at(i, f, tt):
            return tirx.if_then_else(tt == n_mem - 1, col[i, f], S[i, f, tt]).astype(acc_t)

        # the time weights' dot products of a unit's rank filters, summed
        unit = te.compute((batch, n_unit), lambda i, u: te.sum(
            WT[u * rank + r, t].astype(acc_t) * state_at(i, u * rank + r, t), axis=[r, t]), name="acc")

        def f(i, u):
            v = unit[i, u] + B[u] if B is not None else unit[i, u]
            if integer:
                v = quant.multiply_by_quantized_multiplier(v, m2, s2) + out_zp
                return quant.clamp(v, -128, 127).astype("int8")
            if act == 1:
                return tirx.max(v, tirx.const(0.0, "float32"))
            if act == 3:
                return tirx.min(tirx.max(v, tirx.const(0.0, "float32")), tirx.const(6.0, "float32"))
            if act == 2:
                return tirx.min(tirx.max(v, tirx.const(-1.0, "float32")), tirx.const(1.0, "float32"))
            return v

        return te.compute((batch, n_unit), f, name="out")

    def update(X, WF, S):
        col = newest(X, WF)

        def f(i, ff, tt):
            zero = tirx.const(0, s.dtype)
            if n_mem == 1:
                return zero
            older = tirx.if_then_else(tt < n_mem - 2, S[i, ff, tirx.min(tt + 1, n_mem - 1)], col[i, ff])
            return tirx.if_then_else(tt == n_mem - 1, zero, older)

        return te.compute((batch, n_filter, n_mem), f, name="out")

    out = Kernel(args, (batch, n_unit), y.dtype, output)
    state = Kernel(args[:2] + [args[3]], (batch, n_filter, n_mem), s.dtype, update, notes={"writes": s.index})
    return [out, state]


# UNIDIRECTIONAL_SEQUENCE_LSTM inputs (TFLite's order)
_X, _WX, _WH, _PEEP, _BIAS, _PROJ, _H, _C, _NORM = 0, 1, 5, 9, 12, 16, 18, 19, 20


def lstm(op, qm):
    """UNIDIRECTIONAL_SEQUENCE_LSTM on float32 (TFLite's LstmStepFloat):
    per step t, the four gates z = b + W_x x_t + W_h h; c = sigmoid(z_f) c +
    sigmoid(z_i) tanh(z_c), clipped to the cell clip; h = sigmoid(z_o)
    tanh(c), which is also the output's step t. Three kernels a step: the
    cell state (in place, each element from itself), the output's step t
    (the other steps copied from themselves), the output state from it.

    Peephole weights add p * c to the input and forget gates (the cell
    state before the step) and the output gate (after it). utoe takes the
    four-gate LSTM without projection or layer norm, with tanh activation;
    others are refused by name. int8 is TFLite's
    8x8_16 integer LSTM (_lstm_int8), bit-exact."""
    from tvm import te, tirx

    def at(k):
        return qm.tensors[op.inputs[k]] if len(op.inputs) > k and op.inputs[k] >= 0 else None

    x, y = at(_X), qm.tensors[op.outputs[0]]
    if x.dtype not in ("float32", "int8"):
        raise CodegenError(f"{x.dtype} UNIDIRECTIONAL_SEQUENCE_LSTM (utoe takes float32 and int8 8x8_16)")
    if len(op.inputs) < 20 or at(_H) is None or at(_C) is None:
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM without its output and cell state inputs")
    if at(_WX) is None or at(_WH) is None:
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM with coupled input and forget gates (CIFG)")
    wx = [at(_WX + g) for g in range(4)]
    peep = [at(_PEEP + g) for g in range(3)]
    if any(p is None for p in peep) and any(p is not None for p in peep):
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM with some peephole weights but not all three")
    peep = peep if peep[0] is not None else None
    if peep is not None and any(p.data is None or p.shape != (wx[1].shape[0],) for p in peep):
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM with peephole weights not constant vectors of the cells")
    for k, what in ((_PROJ, "projection"), (_PROJ + 1, "projection")) + tuple((_NORM + g, "layer norm")
                                                                             for g in range(4)):
        if at(k) is not None:
            raise CodegenError(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {what} weights "
                               f"(utoe takes the plain four-gate LSTM)")
    wx = [at(_WX + g) for g in range(4)]
    wh = [at(_WH + g) for g in range(4)]
    bias = [at(_BIAS + g) for g in range(4)]
    h, c = at(_H), at(_C)
    tensors = [x, y, h, c] + wx + wh + [b for b in bias if b is not None]
    integer = x.dtype == "int8"
    if integer:
        want = ["int8", "int8", "int8", "int16"] + ["int8"] * 8 + ["int32"] * 4
        if [t.dtype for t in tensors] != want:
            raise CodegenError("int8 UNIDIRECTIONAL_SEQUENCE_LSTM with types other than TFLite's 8x8_16 (int8 input, "
                               "weights, output state and output, int16 cell state, int32 biases)")
    elif any(t.dtype != "float32" for t in tensors):
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM mixing float32 and integer tensors (hybrid LSTM)")
    if any(t.data is None for t in wx + wh + [b for b in bias if b is not None]):
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM with weights computed at run time")
    if h.data is not None or c.data is not None:
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM whose state is a constant, not a variable tensor")
    o = op.options
    if int(o.get("FusedActivationFunction", 4)) != 4:
        raise CodegenError(f"UNIDIRECTIONAL_SEQUENCE_LSTM with activation {o.get('FusedActivationFunction')} "
                           f"(utoe takes tanh)")
    if len(x.shape) != 3:
        raise CodegenError(f"UNIDIRECTIONAL_SEQUENCE_LSTM input of shape {x.shape} (utoe takes 3-D)")
    time_major = bool(o.get("TimeMajor", False))
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n_in = x.shape[2]
    n_cell = wx[1].shape[0]
    if tuple(y.shape) != ((steps, batch, n_cell) if time_major else (batch, steps, n_cell)) \
            or int(np.prod(h.shape)) != batch * n_cell or int(np.prod(c.shape)) != batch * n_cell:
        raise CodegenError(f"UNIDIRECTIONAL_SEQUENCE_LSTM output {y.shape}, states {h.shape} {c.shape} do not fit "
                           f"{batch} batches of {n_cell} cells")
    clip = float(o.get("CellClip", 0.0) or 0.0)
    if integer:
        return _lstm_int8(op, qm, x, y, h, c, wx, wh, bias, peep, time_major, steps, batch, n_in, n_cell, clip)
    f32 = "float32"

    def xt(X, t, b, k):
        return X[t, b, k] if time_major else X[b, t, k]

    weights = [("tensor", t.index) for t in wx + wh]
    biases = [("tensor", b.index) if b is not None else None for b in bias]
    gate_args = weights + [a for a in biases if a is not None] + [("tensor", p.index) for p in peep or []]
    if peep is not None and any(p.dtype != "float32" for p in peep):
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM mixing float32 and integer tensors (hybrid LSTM)")

    def gates(t, X, H, C, W, which):
        """{gate: compute [batch, n_cell]} of the pre-activations z of `which`
        gates; W: the 8 weight placeholders, the biases present, the peepholes."""
        rest = iter(W[8:])
        B = [next(rest) if bb is not None else None for bb in bias]
        P = list(rest) if peep is not None else [None, None, None]
        return {g: _gate(t, X, H, C, W[g], W[4 + g], B[g], {0: P[0], 1: P[1], 3: P[2]}.get(g), g) for g in which}

    def _gate(t, X, H, C, WX, WH, BG, PG, g):
        kx = te.reduce_axis((0, n_in), "kx")
        kh = te.reduce_axis((0, n_cell), "kh")
        ax = te.compute((batch, n_cell), lambda b, j: te.sum(WX[j, kx] * xt(X, t, b, kx), axis=kx), name=f"lstm_x{g}")
        ah = te.compute((batch, n_cell), lambda b, j: te.sum(WH[j, kh] * H[b, kh], axis=kh), name=f"lstm_h{g}")
        def z(b, j):
            v = ax[b, j] + ah[b, j] if BG is None else BG[j] + ax[b, j] + ah[b, j]
            return v + PG[j] * C[b, j] if PG is not None else v

        return te.compute((batch, n_cell), z, name=f"lstm_z{g}")

    def sigmoid(v):
        return tirx.const(1.0, f32) / (tirx.const(1.0, f32) + tirx.exp(-v))

    kernels = []
    state_view = ("view", c.index, (batch, n_cell))
    h_view = ("view", h.index, (batch, n_cell))
    y_shape = tuple(y.shape)
    def cell_at(t):
        def cell(X, STEP, H, C, *W):
            z = gates(STEP[0], X, H, C, W, (0, 1, 2))

            def f(b, j):
                v = sigmoid(z[1][b, j]) * C[b, j] + sigmoid(z[0][b, j]) * tirx.tanh(z[2][b, j])
                if clip > 0:
                    v = tirx.min(tirx.max(v, tirx.const(-clip, f32)), tirx.const(clip, f32))
                return v

            return te.compute((batch, n_cell), f, name="out")

        return cell

    def output_at(t):
        def output(X, STEP, H, C, Y, *W):
            zo = gates(STEP[0], X, H, C, W, (3,))[3]

            def f(*i):
                b, tt, j = (i[1], i[0], i[2]) if time_major else i
                new = sigmoid(zo[b, j]) * tirx.tanh(C[b, j])
                return tirx.if_then_else(tt == STEP[0], new, Y(*i))

            return te.compute(y_shape, f, name="out")

        return output

    def state_at(t):
        def state(Y, STEP):
            return te.compute((batch, n_cell), lambda b, j: Y[STEP[0], b, j] if time_major else Y[b, STEP[0], j],
                              name="out")

        return state

    def step(t):  # the step as a run-time parameter: every step's kernels are one body (lower.dedupe)
        return ("param", "lstm_step", np.array([t], np.int32))

    for t in range(steps):
        kernels.append(Kernel([("tensor", x.index), step(t), h_view, state_view] + gate_args, (batch, n_cell), f32,
                              cell_at(t), notes={"writes": c.index, "suffix": f"t{t}_cell"}))
        kernels.append(Kernel([("tensor", x.index), step(t), h_view, state_view, ("tensor", y.index)] + gate_args,
                              y_shape, f32, output_at(t), notes={"suffix": f"t{t}_output"}))
        kernels.append(Kernel([("tensor", y.index), step(t)], (batch, n_cell), f32, state_at(t),
                              notes={"writes": h.index, "suffix": f"t{t}_state"}))
    return kernels


# ---- TFLite's 8x8_16 integer LSTM (lstm_eval.cc, portable tensor_utils) ----
# gemmlowp's int16 fixed point, as TIR on int32 values holding int16 ones.
# Every intermediate is let-bound, so expressions stay linear in size.

I16_MIN, I16_MAX = -32768, 32767


# While a kernel's elementwise gemmlowp arithmetic is built, _STAGE holds its
# shape and symbolic index: every let-bound value becomes a stage of its own
# (a te.compute over the shape), as TVM's passes are too slow on deep Lets.
_STAGE = {"shape": None, "idx": None, "axis": None, "n": 0}


def _compute(name, body):
    """A te compute over _STAGE's shape whose body is in terms of _STAGE's
    index variables (te.compute would make new ones)."""
    from tvm.te import _ffi_api

    op = _ffi_api.ComputeOp(name, "", None, _STAGE["axis"], [body])
    return op.output(0)


def _let(value, body):
    from tvm import tirx

    if _STAGE["shape"] is None:
        v = tirx.Var("v", "int32")
        return tirx.Let(v, value, body(v))
    _STAGE["n"] += 1
    stage = _compute(f"gl{_STAGE['n']}", value)
    return body(stage(*_STAGE["idx"]))


def _staged(shape, name, fn):
    """A compute of fn over shape with fn's let-bound values staged (see _STAGE)."""
    from tvm import tirx

    axis = [tirx.IterVar((0, n), f"s{k}", 0) for k, n in enumerate(shape)]
    old = dict(_STAGE)
    _STAGE.update(shape=tuple(shape), idx=[a.var for a in axis], axis=axis)
    try:
        return _compute(name, fn(*_STAGE["idx"]))
    finally:
        _STAGE.update(shape=old["shape"], idx=old["idx"], axis=old.get("axis"))


def _bind(x, body):
    """body(x), x let-bound first unless it is already a variable or constant."""
    from tvm import tirx

    if isinstance(x, (tirx.Var, tirx.IntImm)) or (_STAGE["shape"] is not None
                                                  and type(x).__name__ in ("ProducerLoad", "TensorSlice")):
        return body(x)
    return _let(x, body)


def _c(v):
    return quant._const(int(v), I32)


def _w16(v):
    """Wrap to int16 (C's conversion of an int to int16_t)."""
    return ((v + _c(32768)) & _c(0xFFFF)) - _c(32768)


def _rdbpot_py(x, e):
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _k16(raw32):
    """RescaleConstantInitializer<int16>: a 32-bit constant rounded to 16 bits."""
    v = _rdbpot_py(raw32, 16)
    return ((v + 32768) & 0xFFFF) - 32768


def _srdhm16(a, b):
    """SaturatingRoundingDoublingHighMul<int16_t>."""
    from tvm import tirx

    def body(ab):
        nudge = tirx.Select(ab >= _c(0), _c(1 << 14), _c(1 - (1 << 14)))
        return _w16(tirx.truncdiv(ab + nudge, _c(1 << 15)))

    if isinstance(b, tirx.IntImm):
        return _let(a * b, body)
    return _bind(a, lambda a: _bind(b, lambda b: tirx.Select(
        tirx.all(a == _c(I16_MIN), b == _c(I16_MIN)), _c(I16_MAX), _let(a * b, body))))


def _mul(a, b):
    return _srdhm16(a, _c(b) if isinstance(b, int) else b)


def _rdbpot(x, e):
    from tvm import tirx

    mask = (1 << e) - 1
    return _bind(x, lambda x: (x >> _c(e)) + tirx.Select(
        (x & _c(mask)) > _c(mask >> 1) + tirx.Select(x < _c(0), _c(1), _c(0)), _c(1), _c(0)))


def _srmbpot(x, e):
    """SaturatingRoundingMultiplyByPOT<e> on int16."""
    from tvm import tirx

    if e == 0:
        return x
    if e < 0:
        return _rdbpot(x, -e)
    thr = (1 << (15 - e)) - 1
    return _bind(x, lambda x: tirx.Select(x > _c(thr), _c(I16_MAX), tirx.Select(
        x < _c(-thr), _c(I16_MIN), _w16(x << _c(e)))))


def _one(ib):
    return I16_MAX if ib == 0 else 1 << (15 - ib)


def _sat16(v):
    return quant.clamp(v, I16_MIN, I16_MAX)


def _exp_quarter(a):
    """exp_on_interval_between_negative_one_quarter_and_0_excl, F0."""
    ct, c13 = _k16(1895147668), _k16(715827883)
    return _let(_w16(a + _c(1 << 12)), lambda x: _let(_mul(x, x), lambda x2: _let(_mul(x2, x), lambda x3: _let(
        _mul(x2, x2), lambda x4: _let(
            _srmbpot(_w16(_mul(_w16(_srmbpot(x4, -2) + x3), c13) + x2), -1),
            lambda t: _sat16(_c(ct) + _mul(_w16(x + t), ct)))))))


def _exp_neg(a, ib):
    """exp_on_negative_values, FixedPoint<int16, ib> -> F0."""
    from tvm import tirx

    fb = 15 - ib
    quarter = 1 << (fb - 2)
    mask = ((quarter - 1 + 32768) & 0xFFFF) - 32768

    def body(amq):
        def barrel(result, rem):
            for e, m in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
                         (3, 720401), (4, 242)):
                if ib > e:
                    bit = 1 << (fb + e)
                    result = _let(result, lambda r, bit=bit, m=m: tirx.Select(
                        (rem & _c(bit)) != _c(0), _mul(r, _k16(m)), r))
            if ib > 5:
                result = tirx.Select(a < _c(_k16(-(1 << (36 - ib)))), _c(0), result)
            return tirx.Select(a == _c(0), _c(_one(0)), result)

        return _let(_w16(amq - a), lambda rem: barrel(_exp_quarter(_srmbpot(amq, ib)), rem))

    return _let(_w16((a & _c(mask)) - _c(quarter)), body)


def _newton(a, minus_one):
    """one_over_one_plus_x_for_x_in_0_1 (minus_one False) or
    one_minus_x_over_one_plus_x_for_x_in_0_1 (True), F0 -> F0."""
    from tvm import tirx

    c48, cm32 = _k16(1515870810), _k16(-1010580540)

    def half_sum(s):
        return _w16(tirx.truncdiv(s + tirx.Select(s >= _c(0), _c(1), _c(-1)), _c(2)))

    def iterate(half, x, n):
        if n == 0:
            if minus_one:
                return _srmbpot(_w16(x - _c(_one(2))), 2)
            return _srmbpot(x, 1)
        return _let(_w16(_c(_one(2)) - _mul(half, x)), lambda omh: _let(
            _w16(x + _srmbpot(_mul(x, omh), 2)), lambda x2: iterate(half, x2, n - 1)))

    return _let(_let(a + _c(_one(0)), half_sum), lambda half: _let(
        _w16(_c(c48) + _mul(half, cm32)), lambda x: iterate(half, x, 3)))


def _logistic16(a, ib):
    """gemmlowp::logistic, FixedPoint<int16, ib> -> F0 (Q0.15)."""
    from tvm import tirx

    def body(absx):
        return _let(_newton(_exp_neg(_w16(_c(0) - absx), ib), False), lambda rp: tirx.Select(
            a == _c(0), _c(_k16(1 << 30)), tirx.Select(a > _c(0), rp, _w16(_c(_one(0)) - rp))))

    return _let(tirx.Select(a > _c(0), a, _w16(_c(0) - a)), body)


def _tanh16(a, ib):
    """gemmlowp::tanh, FixedPoint<int16, ib> -> F0 (Q0.15)."""
    from tvm import tirx

    def body(n):
        return _let(_newton(_exp_neg(n, ib + 1), True), lambda t: tirx.Select(
            a == _c(0), _c(0), tirx.Select(a < _c(0), _w16(_c(0) - t), t)))

    return _let(tirx.Select(a < _c(0), a, _w16(_c(0) - a)), body)


def _intermediates(qm, op):
    """The operator's intermediate tensors (utoe's reader does not keep them)."""
    from ..frontend import _tflite_model, _ints

    try:
        raw = _tflite_model(qm.path).Subgraphs(0).Operators(op.index)
        return _ints(raw.IntermediatesLength(), raw.IntermediatesAsNumpy)
    except Exception:  # noqa: BLE001 - a model without them is refused by the caller
        return []


def _lstm_int8(op, qm, x, y, h, c, wx, wh, bias, peep, time_major, steps, batch, n_in, n_cell, clip):
    """TFLite's 8x8_16 integer LSTM step (lstm_eval.cc LstmStepInteger8x8_16,
    optional peephole; no CIFG, projection or layer norm), bit-exact with BUILTIN_REF:

    each gate: int16 sat(MBQM(b' + W_x x, s_x)), then sat(MBQM(W_h h + b_h', s_h)
    + that), in Q3.12 (b' the bias minus the input zero point times the
    weights' row sums, b_h' minus the output state's); i, f, o: gemmlowp's
    int16 logistic, g: its tanh; c = sat(RDBPOT(f c, 15) + RDBPOT(i g, 30 +
    cell scale)), clipped; h = clamp8(MBQM(o tanh(c), 2^-30 / s_hidden) + z_hidden),
    the output's step t and the next output state.

    TFLite resets an int8 variable tensor to its zero point, utoe's arena to
    zero bytes: the output state is stored minus its zero point (mod 256), so
    zero bytes are TFLite's reset value."""
    from tvm import te, tirx

    f32 = np.float32
    mids = _intermediates(qm, op)
    if int(h.zero_point) != y.zero_point or f32(h.scale) != f32(y.scale):
        raise CodegenError("int8 UNIDIRECTIONAL_SEQUENCE_LSTM whose output state and output quantization differ")
    if c.zero_point != 0:
        raise CodegenError(f"int8 UNIDIRECTIONAL_SEQUENCE_LSTM cell state zero point {c.zero_point} (TFLite takes 0)")
    cell_scale = int(np.round(np.log2(float(c.scale))))
    if f32(2.0 ** cell_scale) != f32(c.scale) or cell_scale > -9:
        raise CodegenError(f"int8 UNIDIRECTIONAL_SEQUENCE_LSTM cell state scale {c.scale} (TFLite takes a power "
                           f"of two at most 2^-9)")
    if not mids or len(mids) != 5 or not qm.tensors[mids[4]].quantized:
        raise CodegenError("int8 UNIDIRECTIONAL_SEQUENCE_LSTM without TFLite's five quantized intermediate tensors")
    hidden = qm.tensors[mids[4]]  # TFLite reads the hidden state's scale and zero point there
    hidden_scale, hidden_zp = f32(hidden.scale), hidden.zero_point
    gate_scale = f32(2.0 ** -12)
    sx = [quant.quantize_multiplier(float(f32(f32(w.scale) * f32(x.scale)) / gate_scale)) for w in wx]
    sh = [quant.quantize_multiplier(float(f32(f32(w.scale) * f32(h.scale)) / gate_scale)) for w in wh]
    shid = quant.quantize_multiplier(float(f32(2.0 ** -15 / float(hidden_scale) * 2.0 ** -15)))
    bx = [(bias[g].data.astype(np.int64) if bias[g] is not None else 0)
          - x.zero_point * wx[g].data.astype(np.int64).sum(axis=1) for g in range(4)]
    bh = [-h.zero_point * wh[g].data.astype(np.int64).sum(axis=1) for g in range(4)]
    if any(np.abs(b).max() >= 2 ** 31 for b in bx + bh):
        raise CodegenError("int8 UNIDIRECTIONAL_SEQUENCE_LSTM whose effective biases overflow int32")
    qclip = int(min(max(f32(clip) / f32(c.scale), -32768.0), 32767.0)) if clip > 0 else 0
    hzp = h.zero_point
    eff = np.stack([np.stack([bx[g], bh[g]]) for g in range(4)]).astype(np.int32)  # [gate, x/h, cell]
    if peep is not None:  # int16 peephole weights, gate += sat(MBQM(p c, 2^cell_scale s_p / 2^-12))
        if any(p.dtype != "int16" or not p.quantized for p in peep):
            raise CodegenError("int8 UNIDIRECTIONAL_SEQUENCE_LSTM with peephole weights not quantized int16")
        peep_data = np.stack([p.data.astype(np.int32) for p in peep])
        sp = [quant.quantize_multiplier(float(f32(2.0 ** cell_scale * float(f32(p.scale)) / float(gate_scale))))
              for p in peep]

    def xt(X, t, b, k):
        return X[t, b, k] if time_major else X[b, t, k]

    def gate(t, X, H, C, W, E, g):
        WX, WH = W[g], W[4 + g]
        kx = te.reduce_axis((0, n_in), "kx")
        kh = te.reduce_axis((0, n_cell), "kh")
        ax = te.compute((batch, n_cell), lambda b, j: te.sum(
            WX[j, kx].astype(I32) * xt(X, t, b, kx).astype(I32), axis=kx), name=f"lstm_x{g}")
        # the stored output state is h - zp (mod 256): TFLite's h is that plus zp, wrapped to int8
        ah = te.compute((batch, n_cell), lambda b, j: te.sum(WH[j, kh].astype(I32) * (
            ((H[b, kh].astype(I32) + _c(hzp + 128)) & _c(255)) - _c(128)), axis=kh), name=f"lstm_h{g}")

        def z(b, j):
            v = _let(_sat16(quant.multiply_by_quantized_multiplier(E[g, 0, j] + ax[b, j], *sx[g])), lambda v1: _sat16(
                quant.multiply_by_quantized_multiplier(E[g, 1, j] + ah[b, j], *sh[g]) + v1))
            if peep is not None and g != 2:
                k = {0: 0, 1: 1, 3: 2}[g]
                v = _let(v, lambda v2: _let(W[8][k, j] * C[b, j].astype(I32), lambda pc: _sat16(
                    quant.multiply_by_quantized_multiplier(pc, *sp[k]) + v2)))
            return v

        return _staged((batch, n_cell), f"lstm_z{g}", z)

    def cell_at(t):
        def cell(X, STEP, H, C, E, *W):
            zi, zf, zg = (gate(STEP[0], X, H, C, W, E, g) for g in range(3))

            def f(b, j):
                i_ = _logistic16(zi[b, j], 3)
                f_ = _logistic16(zf[b, j], 3)
                g_ = _tanh16(zg[b, j], 3)
                v = _let(f_, lambda fv: _let(_sat16(_rdbpot(fv * C[b, j].astype(I32), 15)), lambda a: _let(
                    _sat16(_rdbpot(_let(i_, lambda iv: iv * g_), 30 + cell_scale)), lambda s2: _sat16(a + s2))))
                if qclip > 0:
                    v = quant.clamp(v, -qclip, qclip)
                return v.astype("int16")

            return _staged((batch, n_cell), "out", f)

        return cell

    y_shape = tuple(y.shape)

    def output_at(t):
        def output(X, STEP, H, C, Y, E, *W):
            zo = gate(STEP[0], X, H, C, W, E, 3)

            def hidden_at(b, j):
                return _let(_logistic16(zo[b, j], 3), lambda ov: _let(_tanh16(C[b, j].astype(I32), 15 + cell_scale),
                                                                      lambda tv: quant.clamp(
                    quant.multiply_by_quantized_multiplier(ov * tv, *shid) + _c(hidden_zp), -128, 127))).astype("int8")

            new = _staged((batch, n_cell), "lstm_hidden", hidden_at)

            def f(*i):
                b, tt, j = (i[1], i[0], i[2]) if time_major else i
                return tirx.if_then_else(tt == STEP[0], new[b, j], Y(*i))

            return te.compute(y_shape, f, name="out")

        return output

    def state_at(t):
        def state(Y, STEP):
            def f(b, j):
                v = (Y[STEP[0], b, j] if time_major else Y[b, STEP[0], j]).astype(I32) - _c(hzp)
                return ((v + _c(128)) & _c(255)) - _c(128)

            return te.compute((batch, n_cell), lambda b, j: f(b, j).astype("int8"), name="out")

        return state

    weights = [("tensor", w.index) for w in wx + wh]
    state_view, h_view = ("view", c.index, (batch, n_cell)), ("view", h.index, (batch, n_cell))
    e_arg = ("param", "lstm_bias", eff)
    if peep is not None:
        weights = weights + [("param", "lstm_peephole", peep_data)]
    kernels = []
    def step(t):  # the step as a run-time parameter: every step's kernels are one body (lower.dedupe)
        return ("param", "lstm_step", np.array([t], np.int32))

    for t in range(steps):
        kernels.append(Kernel([("tensor", x.index), step(t), h_view, state_view, e_arg] + weights, (batch, n_cell),
                              "int16", cell_at(t), notes={"writes": c.index, "suffix": f"t{t}_cell"}))
        kernels.append(Kernel([("tensor", x.index), step(t), h_view, state_view, ("tensor", y.index), e_arg] + weights,
                              y_shape, "int8", output_at(t), notes={"suffix": f"t{t}_output"}))
        kernels.append(Kernel([("tensor", y.index), step(t)], (batch, n_cell), "int8", state_at(t),
                              notes={"writes": h.index, "suffix": f"t{t}_state"}))
    return kernels


KERNELS = {"SVDF": svdf, "UNIDIRECTIONAL_SEQUENCE_LSTM": lstm}
ACTIVATION_TYPES = {"SVDF": ({"int8", "int16", "float32"}, {"int8", "float32"}),
                    "UNIDIRECTIONAL_SEQUENCE_LSTM": ({"int8", "int16", "float32"}, {"int8", "float32"})}
REFUSED = {}
