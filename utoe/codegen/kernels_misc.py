"""DYNAMIC_UPDATE_SLICE and other operators outside the larger families.

Integer kernels with TFLite's reference semantics (see kernels.py)."""

import numpy as np

from ..errors import CodegenError
from .kernels import Kernel


def dynamic_update_slice(op, qm):
    """DYNAMIC_UPDATE_SLICE (dynamic_update_slice.cc): the operand with the
    update written at the start indices, each clamped to [0, operand - update]
    as TFLite does. Start indices may be constant or computed at run time
    (int32 or int64). Values are copied, so update and operand must share a
    quantization (TFLite's Prepare requires the types to match; utoe also
    refuses a scale or zero point that differs, which TFLite would copy raw)."""
    from tvm import te, tirx

    x, u, s = (qm.tensors[op.inputs[k]] for k in range(3))
    y = qm.tensors[op.outputs[0]]
    rank = len(x.shape)
    if len(u.shape) != rank or any(b > a for a, b in zip(x.shape, u.shape)):
        raise CodegenError(f"update of shape {list(u.shape)} does not fit the operand's {list(x.shape)}")
    if u.dtype != x.dtype or (x.quantized and (u.scale != x.scale or u.zero_point != x.zero_point)):
        raise CodegenError("update quantized or typed unlike the operand")
    if tuple(s.shape) != (rank,):
        raise CodegenError(f"start indices of shape {list(s.shape)} for a rank-{rank} operand")
    limits = [a - b for a, b in zip(x.shape, u.shape)]
    args = [("tensor", x.index), ("tensor", u.index)]
    const_start = None
    if s.data is not None:
        const_start = [int(min(max(int(v), 0), lim)) for v, lim in zip(np.asarray(s.data).reshape(-1), limits)]
    else:
        args.append(("tensor", s.index))

    def compute(X, U, *rest):
        if const_start is not None:
            start = [tirx.const(v, "int32") for v in const_start]
        else:
            S = rest[0]
            start = [tirx.max(tirx.min(S[k].astype("int32"), tirx.const(lim, "int32")), tirx.const(0, "int32"))
                     for k, lim in enumerate(limits)]

        def f(*idx):
            rel = [i - st for i, st in zip(idx, start)]
            inside = tirx.all(*[tirx.all(r >= 0, r < n) for r, n in zip(rel, u.shape)])
            return tirx.if_then_else(inside, U(*[tirx.max(tirx.min(r, n - 1), 0) for r, n in zip(rel, u.shape)]),
                                     X(*idx))

        return te.compute(tuple(y.shape), f, name="out")

    return Kernel(args, tuple(y.shape), y.dtype, compute)


KERNELS = {"DYNAMIC_UPDATE_SLICE": dynamic_update_slice}
# Copies are type-generic: float32, int32 and bool models use this kernel when
# TVM's frontend cannot import the operator (codegen._own_kernels).
_ANY = {"int8", "int16", "int32", "float32", "bool"}
ACTIVATION_TYPES = {"DYNAMIC_UPDATE_SLICE": (_ANY | {"int64"}, _ANY)}
REFUSED = {}
# Types added to other families' kernels (unioned in kernels.py): copies that
# float32 models need where TVM computes them wrong (codegen.TVM_WRONG).
EXTRA_TYPES = {"RESIZE_NEAREST_NEIGHBOR": ({"float32"}, {"float32"})}
