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


KERNELS = {"SVDF": svdf}
ACTIVATION_TYPES = {"SVDF": ({"int8", "int16", "float32"}, {"int8", "float32"})}
REFUSED = {}
