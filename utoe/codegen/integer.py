"""utoe's integer importer for quantized TFLite models.

TVM 0.27's TFLite frontend computes int8 models in float (dequantize ->
float op -> quantize) with float32 weights, and rejects several quantized
operators. This importer instead turns each TFLite operator into an integer
kernel (codegen/kernels.py: int8 weights, int32 accumulation, TFLite's
fixed-point requantization), which TVM compiles to C through TIR. The result
is the same executor Graph the Relax path produces, so planning, emission and
everything after are shared."""

import numpy as np

from ..errors import CodegenError
from . import kernels, tflite_model
from .graph import Graph, Op, Tensor


def unsupported(qm):
    """[(op index, name)] of operators without an integer kernel."""
    return [(op.index, op.name) for op in qm.ops if op.name not in kernels.KERNELS]


def is_quantized(qm):
    return any(t.dtype == "int8" and t.quantized for t in qm.tensors)


# Operators whose float side is their job: QUANTIZE reads float, DEQUANTIZE writes it.
_FLOAT_IN, _FLOAT_OUT = {"QUANTIZE"}, {"DEQUANTIZE"}


def float_activations(qm):
    """[(op index, name)] of operators that compute on float activations:
    float32 models, the float parts of a mixed model, and hybrid
    (dynamic-range) operators, int8 weights with float inputs and outputs.
    The integer path has kernels for int8 activations only."""
    found = []
    for op in qm.ops:
        ins = [qm.tensors[i] for i in op.inputs if i >= 0 and qm.tensors[i].data is None]
        outs = [qm.tensors[i] for i in op.outputs]
        floats = [t for t in (ins if op.name not in _FLOAT_IN else []) + (outs if op.name not in _FLOAT_OUT else [])
                  if t.dtype == "float32"]
        if floats:
            found.append((op.index, op.name))
    return found


def _schedule(func):
    """Compute every intermediate stage inside the output's loops, so it is a
    scalar (or one row), not a tensor-sized temporary: elementwise stages and
    convolution accumulators at the innermost loop, softmax's per-row max and
    sum at the row loop."""
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    out = sch.get_sblock("out")
    for name, row in (("stage_b", False), ("stage_a", False), ("acc", False),
                      ("acc_sum", True), ("acc_max", True)):
        try:
            block = sch.get_sblock(name)
        except Exception:
            continue
        loops = sch.get_loops(out)
        sch.compute_at(block, loops[0] if row else loops[-1])
    return sch.mod["main"]


def build(path, model, name_prefix=""):
    """(Graph, {function name: PrimFunc}) for a quantized TFLite model."""
    from tvm import te

    qm = tflite_model.read(path, model)
    missing = unsupported(qm)
    if missing:
        where = ", ".join(f"{n} (operator #{i})" for i, n in missing)
        raise CodegenError(f"{path}: no integer kernel yet for {where}")
    g = Graph()
    ids = {}  # model tensor index -> graph tensor id
    params = {}  # content key -> graph tensor id

    def model_tensor(idx, kind="intermediate"):
        if idx not in ids:
            t = qm.tensors[idx]
            if t.data is not None:
                return param(t.data, t.dtype)
            ids[idx] = len(g.tensors)
            g.tensors.append(Tensor(len(g.tensors), t.name, t.dtype, t.shape, kind))
        return ids[idx]

    def param(arr, dtype):
        arr = np.ascontiguousarray(arr)
        key = (dtype, arr.shape, arr.tobytes())
        if key not in params:
            n = sum(1 for t in g.tensors if t.kind == "param")
            params[key] = len(g.tensors)
            g.tensors.append(Tensor(len(g.tensors), f"p{n}", dtype, tuple(arr.shape), "param", arr))
        return params[key]

    for idx in qm.inputs:
        g.inputs.append(model_tensor(idx, "input"))
    funcs = {}
    for op in qm.ops:
        try:
            made = kernels.KERNELS[op.name](op, qm)
        except CodegenError as e:
            raise CodegenError(f"{path}: {op.name} (operator #{op.index}): {e}") from None
        made = made if isinstance(made, list) else [made]
        for k in made:
            args, placeholders = [], []
            for i, spec in enumerate(k.args):
                if spec[0] == "param":
                    arr = spec[2]
                    tid = param(arr, str(arr.dtype))
                    shape = arr.shape
                else:
                    tid = model_tensor(spec[1])
                    shape = spec[2] if spec[0] == "view" else g.tensors[tid].shape
                args.append(tid)
                placeholders.append(te.placeholder(shape or (1,), g.tensors[tid].dtype, name=f"a{i}"))
            out = k.compute(*placeholders)
            out_id = model_tensor(op.outputs[k.output])
            suffix = f"_{k.output}" if len(made) > 1 else ""
            fname = f"{name_prefix}{op.name.lower()}_{op.index}{suffix}"
            funcs[fname] = _schedule(te.create_prim_func(placeholders + [out]))
            g.ops.append(Op(len(g.ops), fname, args + [out_id], 1))
    for idx in qm.outputs:
        tid = ids.get(idx)
        if tid is None:
            raise CodegenError(f"{path}: model output '{qm.tensors[idx].name}' is not computed by an operator")
        g.tensors[tid].kind = "output"
        g.outputs.append(tid)
    return g, funcs
