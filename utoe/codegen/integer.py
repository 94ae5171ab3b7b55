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


def types(op, qm):
    """'int8, const int32 -> int8': the operator's tensor types, constants marked."""
    def one(i):
        t = qm.tensors[i]
        return ("const " if t.data is not None else "") + t.dtype

    return f"{', '.join(one(i) for i in op.inputs if i >= 0)} -> {', '.join(one(i) for i in op.outputs)}"


def _takes(op, qm):
    ins, outs = kernels.ACTIVATION_TYPES.get(op.name, kernels.INT8)
    variable = [qm.tensors[i] for i in op.inputs if i >= 0 and qm.tensors[i].data is None]
    return all(t.dtype in ins for t in variable) and all(qm.tensors[i].dtype in outs for i in op.outputs)


def unsupported(qm):
    """[(op index, name)] of operators utoe has no integer kernel for: an
    unknown operator, one it refuses (kernels.REFUSED), or tensor types its
    kernel does not take (int16 activations, say)."""
    return [(op.index, op.name) for op in qm.ops
            if op.name not in kernels.KERNELS or op.name in kernels.REFUSED or not _takes(op, qm)]


def refusal(path, qm):
    """One line naming each operator without an integer kernel: its index,
    its tensor types and why, and the model."""
    missing = {i for i, _ in unsupported(qm)}
    parts = []
    for op in qm.ops:
        if op.index not in missing:
            continue
        why = kernels.REFUSED.get(op.name, "no integer kernel yet")
        if op.name in kernels.KERNELS and op.name not in kernels.REFUSED:
            ins, outs = kernels.ACTIVATION_TYPES.get(op.name, kernels.INT8)
            takes = f"{'/'.join(sorted(ins))} -> {'/'.join(sorted(outs))}"
            why = f"no integer kernel for these types (utoe's takes {takes})"
        parts.append(f"{op.name} (operator #{op.index}: {types(op, qm)}): {why}")
    return f"{path}: {'; '.join(parts)}"


def is_quantized(qm):
    """Quantized int8 tensors anywhere, or quantized int16 ones (TFLite's
    16x8 models: int16 activations, int8 weights), which TVM's float path
    computes in float, not as TFLite's int16 kernels do; or an operator TVM
    gets wrong whatever the types (_tvm_cannot). (Models quantized only to
    uint8 still go to TVM's float path.)"""
    if any(t.dtype == "int8" and t.quantized for t in qm.tensors):
        return True
    if any(t.dtype == "int16" and t.quantized for t in qm.tensors):
        return True
    if _tvm_cannot(qm):  # the logic family's operators TVM's frontend gets wrong, whatever the types
        return True
    return False


def _tvm_cannot(qm):
    """Models with an operator TVM 0.27's TFLite frontend computes wrong or
    cannot lower (kernels_logic.TVM_WRONG) take the integer path whatever
    their types (compiled there, or refused by name); those with one it folds
    into a constant model output, which utoe cannot emit (TVM_FOLDS), when
    the integer path takes every operator."""
    from . import kernels_logic

    names = {op.name for op in qm.ops}
    return bool(names & kernels_logic.TVM_WRONG) or bool(names & kernels_logic.TVM_FOLDS) and not unsupported(qm)


def _schedule(func, block=None, unroll=False):
    """Compute every intermediate stage inside the output's loops, so it is a
    scalar (or one row), not a tensor-sized temporary: elementwise stages and
    convolution accumulators at the innermost loop, softmax's per-row max and
    sum at the row loop."""
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    if block:
        return _schedule_blocked(sch, block)
    out = sch.get_sblock("out")
    # consumers before their producers: the blocks in reverse order (any
    # further "stage_*" elementwise and "row_*" per-row stages too)
    names = [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))]
    for name in reversed(names):
        row = name in ("acc_sum", "acc_max") or name.startswith("row_")
        if row or name == "acc" or name.startswith("stage_"):
            loops = sch.get_loops(out)
            blk = sch.get_sblock(name)
            sch.compute_at(blk, loops[0] if row else loops[-1])
            _init_outside(sch, blk, len(loops) if not row else 1)
            if name == "acc" and unroll:
                acc_loops = sch.get_loops(blk)
                if len(acc_loops) > len(loops):
                    _unroll_small(sch, acc_loops[len(loops)])
    return sch.mod["main"]


# 16 against 32 (measured, virt-rv32 / mps2-an386): kws 10.24 / 7.43 M
# against 10.50 / 7.39 M, vww 29.2 / 21.2 against 29.4 / 21.1, resnet8 47.4 /
# 33.0 against 47.5 / 32.9, and a quarter less convolution code (kws 12.5 KB
# against 16.5 KB); 8 is slower on both.
UNROLL_STEPS = 16


def _unroll_small(sch, loop):
    """Loops under `loop` (a reduction's outermost) unrolled by TVM's
    UnrollLoop while their body has at most UNROLL_STEPS statements: a
    3x3 window's taps, a 5-wide row of single-channel taps. Loops whose
    extent is not constant (LoopPartition's border pieces) stay loops.

    Sums only (the kernel asks, notes["unroll"]): TVM's C printer binds
    the operands of max/min to variables it reuses within a scope, so an
    unrolled max reduction (MAX_POOL_2D) read its accumulator's first
    value at every step."""
    sch.annotate(loop, "pragma_auto_unroll_max_step", UNROLL_STEPS)
    sch.annotate(loop, "pragma_unroll_explicit", 1)


def _schedule_blocked(sch, factor):
    """A reduction "acc" whose output's last axis (the output channel of a
    convolution or fully connected layer) is split in blocks of `factor`:
    each input value loaded once serves `factor` accumulators, kept in
    registers (the block's loops unrolled), then `factor` outputs."""
    out = sch.get_sblock("out")
    acc = sch.get_sblock("acc")
    ko, ki = sch.split(sch.get_loops(out)[-1], [None, factor])
    sch.compute_at(acc, ko)
    depth = len(sch.get_loops(out)) - 1
    loops = sch.get_loops(acc)
    spatial, reduce = loops[depth], loops[depth + 1:]
    sch.reorder(*reduce, spatial)
    init = sch.decompose_reduction(acc, sch.get_loops(acc)[depth])
    _unroll_small(sch, sch.get_loops(acc)[depth])
    sch.unroll(sch.get_loops(acc)[-1])
    sch.unroll(sch.get_loops(init)[-1])
    sch.unroll(sch.get_loops(out)[-1])
    return sch.mod["main"]


def _init_outside(sch, block, depth):
    """A reduction's initial value stored before its reduction loops (the
    first loop below `depth`), not tested for on every step."""
    from tvm import s_tir

    loops = sch.get_loops(block)
    if len(loops) <= depth or not sch.get(block).init:
        return
    try:
        sch.decompose_reduction(block, loops[depth])
    except s_tir.ScheduleError:
        pass


def build(path, model, name_prefix="", cmsis_nn_arch=None, cmsis_nn_all=False):
    """(Graph, {function name: PrimFunc or cmsis_nn.CKernel}) for a quantized
    TFLite model. With cmsis_nn_arch ("plain", "dsp", "mve"), the operators
    CMSIS-NN computes exactly (cmsis_nn.why_not) call CMSIS-NN: every one with
    cmsis_nn_all (kernels=cmsis-nn), else those where it is the faster
    (cmsis_nn.preferred, kernels=auto); the rest are utoe's own kernels."""
    from tvm import te

    from .. import cmsis_nn

    qm = tflite_model.read(path, model)
    if unsupported(qm):
        raise CodegenError(refusal(path, qm))
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
    # Variable tensors (an RNN's state: read before any operator writes it):
    # zeros at start-up (the arena is static), their own bytes for the whole run
    made_by = {i for op in qm.ops for i in op.outputs}
    for op in qm.ops:
        for i in op.inputs:
            if i >= 0 and qm.tensors[i].data is None and i not in ids and i not in made_by:
                model_tensor(i, "state")
    funcs = {}
    for op in qm.ops:
        if cmsis_nn_arch and cmsis_nn.why_not(op, qm, cmsis_nn_arch) is None and (
                cmsis_nn_all or cmsis_nn.preferred(op, qm, cmsis_nn_arch)):
            fname = f"{name_prefix}{op.name.lower()}_{op.index}"
            ck = cmsis_nn.kernel(op, qm, cmsis_nn_arch, fname)
            args = []
            for spec in ck.args:
                args.append(param(spec[2], str(spec[2].dtype)) if spec[0] == "param" else model_tensor(spec[1]))
            funcs[fname] = ck
            g.ops.append(Op(len(g.ops), fname, args + [model_tensor(ck.output)], 1, library="cmsis-nn"))
            continue
        try:
            made = kernels.KERNELS[op.name](op, qm)
        except CodegenError as e:
            raise CodegenError(f"{path}: {op.name} (operator #{op.index}: {types(op, qm)}): {e}") from None
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
            out_id = model_tensor(k.notes.get("writes", op.outputs[k.output]))  # "writes": a state tensor
            suffix = ("_" + k.notes.get("suffix", "state" if "writes" in k.notes else str(k.output))) \
                if len(made) > 1 else ""
            fname = f"{name_prefix}{op.name.lower()}_{op.index}{suffix}"
            funcs[fname] = _schedule(te.create_prim_func(placeholders + [out]), k.notes.get("block"),
                                       k.notes.get("unroll", False))
            g.ops.append(Op(len(g.ops), fname, args + [out_id], 1))
    for idx in qm.outputs:
        tid = ids.get(idx)
        if tid is None:
            raise CodegenError(f"{path}: model output '{qm.tensors[idx].name}' is not computed by an operator")
        g.tensors[tid].kind = "output"
        g.outputs.append(tid)
    return g, funcs
