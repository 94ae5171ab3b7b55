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
    form applies the fused activation; TFLite's integer one does not."""
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

    utoe takes the four-gate LSTM without peephole, projection or layer
    norm, with tanh activation; others are refused by name. The int8 form
    (TFLite's 8x8_16 integer LSTM: gemmlowp's int16 fixed-point sigmoid and
    tanh) is refused: utoe has no bit-exact kernel for it yet."""
    from tvm import te, tirx

    def at(k):
        return qm.tensors[op.inputs[k]] if len(op.inputs) > k and op.inputs[k] >= 0 else None

    x, y = at(_X), qm.tensors[op.outputs[0]]
    if x.dtype != "float32":
        raise CodegenError(f"{x.dtype} UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's integer 8x8_16 LSTM, with gemmlowp's "
                           f"int16 fixed-point sigmoid and tanh) has no bit-exact utoe kernel yet")
    if len(op.inputs) < 20 or at(_H) is None or at(_C) is None:
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM without its output and cell state inputs")
    if at(_WX) is None or at(_WH) is None:
        raise CodegenError("UNIDIRECTIONAL_SEQUENCE_LSTM with coupled input and forget gates (CIFG)")
    for k, what in ((_PEEP, "peephole"), (_PEEP + 1, "peephole"), (_PEEP + 2, "peephole"),
                    (_PROJ, "projection"), (_PROJ + 1, "projection")) + tuple((_NORM + g, "layer norm")
                                                                           for g in range(4)):
        if at(k) is not None:
            raise CodegenError(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {what} weights (utoe takes the plain four-gate LSTM)")
    wx = [at(_WX + g) for g in range(4)]
    wh = [at(_WH + g) for g in range(4)]
    bias = [at(_BIAS + g) for g in range(4)]
    h, c = at(_H), at(_C)
    tensors = [x, y, h, c] + wx + wh + [b for b in bias if b is not None]
    if any(t.dtype != "float32" for t in tensors):
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
    f32 = "float32"

    def xt(X, t, b, k):
        return X[t, b, k] if time_major else X[b, t, k]

    weights = [("tensor", t.index) for t in wx + wh]
    biases = [("tensor", b.index) if b is not None else None for b in bias]
    gate_args = weights + [a for a in biases if a is not None]

    def gates(t, X, H, W, which):
        """{gate: compute [batch, n_cell]} of the pre-activations z of `which`
        gates; W: the 8 weight placeholders then the biases present."""
        rest = iter(W[8:])
        B = [next(rest) if bb is not None else None for bb in bias]
        return {g: _gate(t, X, H, W[g], W[4 + g], B[g], g) for g in which}

    def _gate(t, X, H, WX, WH, BG, g):
        kx = te.reduce_axis((0, n_in), "kx")
        kh = te.reduce_axis((0, n_cell), "kh")
        ax = te.compute((batch, n_cell), lambda b, j: te.sum(WX[j, kx] * xt(X, t, b, kx), axis=kx), name=f"lstm_x{g}")
        ah = te.compute((batch, n_cell), lambda b, j: te.sum(WH[j, kh] * H[b, kh], axis=kh), name=f"lstm_h{g}")
        if BG is None:
            return te.compute((batch, n_cell), lambda b, j: ax[b, j] + ah[b, j], name=f"lstm_z{g}")
        return te.compute((batch, n_cell), lambda b, j: BG[j] + ax[b, j] + ah[b, j], name=f"lstm_z{g}")

    def sigmoid(v):
        return tirx.const(1.0, f32) / (tirx.const(1.0, f32) + tirx.exp(-v))

    kernels = []
    state_view = ("view", c.index, (batch, n_cell))
    h_view = ("view", h.index, (batch, n_cell))
    y_shape = tuple(y.shape)
    def cell_at(t):
        def cell(X, H, C, *W):
            z = gates(t, X, H, W, (0, 1, 2))

            def f(b, j):
                v = sigmoid(z[1][b, j]) * C[b, j] + sigmoid(z[0][b, j]) * tirx.tanh(z[2][b, j])
                if clip > 0:
                    v = tirx.min(tirx.max(v, tirx.const(-clip, f32)), tirx.const(clip, f32))
                return v

            return te.compute((batch, n_cell), f, name="out")

        return cell

    def output_at(t):
        def output(X, H, C, Y, *W):
            zo = gates(t, X, H, W, (3,))[3]

            def f(*i):
                b, tt, j = (i[1], i[0], i[2]) if time_major else i
                new = sigmoid(zo[b, j]) * tirx.tanh(C[b, j])
                return tirx.if_then_else(tt == t, new, Y(*i))

            return te.compute(y_shape, f, name="out")

        return output

    def state_at(t):
        def state(Y):
            return te.compute((batch, n_cell), lambda b, j: Y[t, b, j] if time_major else Y[b, t, j], name="out")

        return state

    for t in range(steps):
        kernels.append(Kernel([("tensor", x.index), h_view, state_view] + gate_args, (batch, n_cell), f32,
                              cell_at(t), notes={"writes": c.index, "suffix": f"t{t}_cell"}))
        kernels.append(Kernel([("tensor", x.index), h_view, state_view, ("tensor", y.index)] + gate_args, y_shape,
                              f32, output_at(t), notes={"suffix": f"t{t}_output"}))
        kernels.append(Kernel([("tensor", y.index)], (batch, n_cell), f32, state_at(t),
                              notes={"writes": h.index, "suffix": f"t{t}_state"}))
    return kernels


KERNELS = {"SVDF": svdf, "UNIDIRECTIONAL_SEQUENCE_LSTM": lstm}
ACTIVATION_TYPES = {"SVDF": ({"int8", "int16", "float32"}, {"int8", "float32"}),
                    "UNIDIRECTIONAL_SEQUENCE_LSTM": ({"int8", "int16", "float32"}, {"int8", "float32"})}
REFUSED = {}
