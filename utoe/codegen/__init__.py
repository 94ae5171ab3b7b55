"""The compiler stage: a model file in, portable C and metadata.json out.

    generate("models/sine.tflite", "build/codegen/sine-greedy", name="sine")

writes model.c (utoe's ahead-of-time executor), ops.c (TVM's fused
operators), weights.c (parameters as const arrays), model.h and
metadata.json. Nothing here depends on the board: C is portable, only compile
flags differ, so twenty boards share one codegen run.
"""

import os

from .. import __version__
from ..files import remove, sha256_file, write_json, write_text
from ..errors import CodegenError, ModelError, UtoeError
from . import emit, graph as graph_mod, lower, planner

OUTPUTS = ("model.c", "ops.c", "weights.c", "model.h", "metadata.json")
DEFAULT_OPTIONS = {"planner": "greedy", "importer": "auto"}
IMPORTERS = ("auto", "utoe", "tvm")


def tvm_version():
    import tvm

    return tvm.__version__


def generate(model_path, out_dir, name, options=None):
    """Compile model_path into out_dir. Returns the metadata dict.

    On any failure no output file is left behind."""
    opts = dict(DEFAULT_OPTIONS, **(options or {}))
    paths = [os.path.join(out_dir, f) for f in OUTPUTS]
    try:
        return _generate(model_path, out_dir, name, opts)
    except BaseException:
        remove(*paths)
        raise


def _integer_graph(model_path, importer):
    """utoe's integer importer when asked, or (auto) for int8-quantized TFLite
    models; None to use TVM's Relax frontend. An int8 model with an
    operator utoe has no integer kernel for is refused (integer.refusal names
    it, its index and tensor types), not handed to TVM: TVM's frontend
    computes quantized operators in float, which is not what TFLite's integer
    kernels compute."""
    from ..frontend import _tflite_model, detect_format
    from . import integer, tflite_model

    if importer == "tvm" or detect_format(model_path) != "tflite":
        return None
    model = _tflite_model(model_path)
    if importer == "auto":
        qm = tflite_model.read(model_path, model)
        if not integer.is_quantized(qm) or _hybrid(qm, model_path):
            return None
    return integer.build(model_path, model)


# Operators TVM 0.27 imports and compiles but computes other numbers than
# TFLite's reference: (does this operator hit it?, what goes wrong).
TVM_WRONG = {
    "RESIZE_NEAREST_NEIGHBOR": (
        lambda op: op.options.get("AlignCorners"),
        "with align_corners TVM rounds the source pixel's exact halves to even where TFLite rounds them away "
        "from zero, so it reads other pixels"),
}


def _instead_of_tvm(model_path):
    """For a TFLite model TVM's path would compute wrong (TVM_WRONG): utoe's
    own kernels when they cover every operator, else a refusal naming the
    operator and why; None when TVM's path is fine."""
    from ..frontend import _tflite_model, detect_format
    from . import integer, tflite_model

    if detect_format(model_path) != "tflite":
        return None
    model = _tflite_model(model_path)
    qm = tflite_model.read(model_path, model)
    wrong = [(op, TVM_WRONG[op.name][1]) for op in qm.ops
             if op.name in TVM_WRONG and TVM_WRONG[op.name][0](op)]
    if not wrong:
        return None
    if not integer.unsupported(qm):
        return integer.build(model_path, model)
    op, why = wrong[0]
    raise CodegenError(f"{model_path}: {op.name} (operator #{op.index}: {integer.types(op, qm)}): {why}; "
                       "utoe's own kernels do not cover the rest of the model, so it is refused rather than "
                       "computed wrong")


HYBRID_OPS = ("FULLY_CONNECTED",)  # those TVM's frontend computes as TFLite does (frontend.hybrid_fully_connected)


def _hybrid(qm, model_path):
    """Is this a model with quantized weights only: int8 constants, float32
    activations, no quantized tensor computed at run time (a hybrid,
    dynamic-range model, or weights DEQUANTIZEd once)? Such a model goes to
    the float path, where hybrid FULLY_CONNECTED is computed as TFLite's
    kernel does; any other hybrid operator (int8 weights meeting float32
    activations) is refused here by name (TFLite Micro runs none)."""
    if any(t.quantized and t.data is None and t.dtype in ("int8", "int16", "uint8") for t in qm.tensors):
        return False  # quantized activations: the integer path
    if not any(t.data is not None and t.dtype == "int8" for t in qm.tensors):
        return False  # no int8 weights: a float model (on the integer path only for an operator TVM gets wrong)
    from . import integer

    hybrid = [op for op in qm.ops
              if any(i >= 0 and qm.tensors[i].data is not None and qm.tensors[i].dtype == "int8" for i in op.inputs)
              and any(i >= 0 and qm.tensors[i].data is None and qm.tensors[i].dtype == "float32" for i in op.inputs)]
    other = [op for op in hybrid if op.name not in HYBRID_OPS]
    if other:
        op = other[0]
        raise CodegenError(f"{model_path}: {op.name} (operator #{op.index}: {integer.types(op, qm)}) is a hybrid "
                           "(dynamic-range) operator: int8 weights with float32 activations; utoe computes hybrid "
                           f"{', '.join(HYBRID_OPS)} only (TFLite Micro runs no hybrid operator)")
    return True


def _own_kernels(model_path, importer):
    """(Graph, prims) from utoe's kernels for a TFLite model TVM could not
    take, when they cover every operator at its types; None otherwise."""
    from ..frontend import _tflite_model, detect_format
    from . import integer, tflite_model

    if importer != "auto" or detect_format(model_path) != "tflite":
        return None
    model = _tflite_model(model_path)
    if integer.unsupported(tflite_model.read(model_path, model)):
        return None
    return integer.build(model_path, model)


def _integer_gap(model_path):
    """What utoe's integer path lacks for this model, for error messages: the
    operators it has no kernel for at all (a float model's FULLY_CONNECTED,
    which it has an int8 kernel for, is not named)."""
    from ..frontend import _tflite_model, detect_format
    from . import integer, kernels, tflite_model

    try:
        if detect_format(model_path) != "tflite":
            return ""
        missing = integer.unsupported(tflite_model.read(model_path, _tflite_model(model_path)))
    except UtoeError:
        return ""
    names = sorted({n for _, n in missing if n not in kernels.KERNELS})
    return f"; utoe's integer path has no kernel yet for {', '.join(names)}" if names else ""


def _operators_of(model_path, limit=8):
    """'; the model's operators: SQUARED_DIFFERENCE (operator #0: int32, int32
    -> int32), ...' for a TFLite model (the first `limit` distinct ones), so a
    TVM failure names what it failed on; '' for other formats."""
    from ..frontend import _tflite_model, detect_format
    from . import integer, tflite_model

    try:
        if detect_format(model_path) != "tflite":
            return ""
        qm = tflite_model.read(model_path, _tflite_model(model_path))
    except UtoeError:
        return ""
    seen, parts = set(), []
    for op in qm.ops:
        key = (op.name, integer.types(op, qm))
        if key not in seen:
            seen.add(key)
            parts.append(f"{op.name} (operator #{op.index}: {key[1]})")
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return f"; the model's operators: {', '.join(parts[:limit])}{more}" if parts else ""


def _generate(model_path, out_dir, name, opts):
    from ..frontend import detect_format, import_model

    if opts["importer"] not in IMPORTERS:
        raise CodegenError(f"unknown importer '{opts['importer']}' (choices: {', '.join(IMPORTERS)})")
    integer_graph = _integer_graph(model_path, opts["importer"])
    if integer_graph is None and opts["importer"] == "auto":
        integer_graph = _instead_of_tvm(model_path)
    if integer_graph is not None:
        g, prims = integer_graph
        fmt, used = detect_format(model_path), "utoe-integer"
    else:
        try:
            try:
                mod, fmt, names = import_model(model_path)
            except ModelError as e:
                raise ModelError(f"{e}{_integer_gap(model_path) or _operators_of(model_path)}") from None
            try:
                fused = lower.fuse(mod)
                g = graph_mod.build_graph(fused, names)
                prims = lower.prims_of(fused, {op.func for op in g.ops})
            except CodegenError as e:  # TVM failed on one of the model's operators: name the model and them
                msg = str(e) if str(e).startswith(str(model_path)) else f"{model_path}: {e}"
                raise CodegenError(f"{msg}{_operators_of(model_path)}") from None
            # TVM's operators keep temporaries (a padded input, a whole convolution
            # output before its bias) that TFLite Micro's kernels do not: schedule them away
            prims = {f: lower.shrink_temporaries(p) for f, p in prims.items()}
            used = "tvm-relax"
        except UtoeError:
            # TVM cannot take the model, but utoe's own kernels may compute every
            # operator at these types (those that copy values are type-generic:
            # DYNAMIC_UPDATE_SLICE on float32, say): use them, or say TVM's reason
            g_prims = _own_kernels(model_path, opts["importer"])
            if g_prims is None:
                raise
            (g, prims), fmt, used = g_prims, detect_format(model_path), "utoe-integer"
    graph_mod.mark_aliases(g)
    called = [op.func for op in g.ops if not op.alias]
    prims, body_of = lower.dedupe({f: prims[f] for f in called}, called)
    for op in g.ops:
        op.body = None if op.alias else body_of[op.func]
    try:
        ops_src = lower.build_prims(prims)
    except CodegenError as e:  # TVM's C back end refused one of the model's operators: name the model
        raise CodegenError(f"{model_path}: {e} (operators: {', '.join(dict.fromkeys(op.func for op in g.ops))})") \
            from None
    opts = dict(opts, importer_used=used)
    ws_by_func = lower.workspace_needs(ops_src)
    workspace = {op.index: 0 if op.alias else ws_by_func.get(op.body, 0) for op in g.ops}
    plan = planner.plan(g, opts["planner"], workspace)
    info = dict(
        version=__version__,
        tvm_version=tvm_version(),
        model=name,
        source_name=os.path.basename(model_path),
        sha256=sha256_file(model_path),
    )
    files = emit.render(g, plan, workspace, ops_src, info)
    meta = metadata(g, plan, workspace, info, model_path, fmt, opts)
    for fname, text in files.items():
        write_text(os.path.join(out_dir, fname), text)
    write_json(os.path.join(out_dir, "metadata.json"), meta)
    return meta


def _tensor(t, plan=None):
    d = {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "bytes": t.bytes}
    if plan is not None and t.id in plan.offsets:
        d["offset"] = plan.offsets[t.id]
    return d


MAC_OPS = ("conv", "matmul", "dense", "fully_connected")


def macs(g, op):
    """Multiply-accumulates of one call of op: for a convolution (plain or
    depthwise) or a matrix product (fully connected, matmul, dense), output
    elements x (weight elements / output channels), i.e. kh*kw*Cin per output
    of a convolution, kh*kw of a depthwise one, K of a matrix product; 0 for
    operators without a weight of rank >= 2 (pooling, elementwise, reshape,
    softmax), whose work is not multiply-accumulates."""
    if not any(k in op.func.lower() for k in MAC_OPS):
        return 0
    weights = [g.tensors[i] for i in op.inputs if g.tensors[i].kind == "param" and len(g.tensors[i].shape) >= 2]
    if not weights or not op.outputs:
        return 0
    w = max(weights, key=lambda t: t.count)
    out = g.tensors[op.outputs[0]]
    if not out.shape:
        return 0
    # the output channel axis: last (NHWC, [N, out]) or 1 (NCHW), whichever the weight has
    for c in (out.shape[-1], out.shape[1] if len(out.shape) > 1 else None):
        if c and c in w.shape and w.count % c == 0:
            return out.count * (w.count // c)
    return 0


def metadata(g, plan, workspace, info, model_path, fmt, opts):
    ops = []
    sharing = {}
    for op in g.ops:
        sharing.setdefault(op.body, []).append(op.func)
    for op in g.ops:
        ins = [g.tensors[i] for i in op.inputs]
        ops.append({
            "index": op.index,
            "name": op.func,
            # an aliasing reshape calls nothing: its output is its input's bytes
            "function": None if op.alias else f"utoe_op_{op.body}",
            "alias_of": ins[0].name if op.alias else None,
            "shares_body_with": [] if op.alias else [n for n in sharing[op.body] if n != op.func],
            "params": [t.name for t in ins if t.kind == "param"],
            "param_bytes": sum(t.bytes for t in ins if t.kind == "param"),
            "input_bytes": sum(t.bytes for t in ins if t.kind != "param"),
            "output_bytes": sum(g.tensors[o].bytes for o in op.outputs),
            "outputs": [g.tensors[o].name for o in op.outputs],
            "workspace_bytes": workspace[op.index],
            "macs": macs(g, op),
        })
    params = g.params()
    return {
        "schema": "utoe.metadata/1",
        "model": info["model"],
        "source": {"path": os.path.abspath(model_path), "sha256": info["sha256"], "format": fmt},
        "utoe_version": info["version"],
        "tvm_version": info["tvm_version"],
        "options": opts,
        "inputs": [_tensor(g.tensors[t], plan) for t in g.inputs],
        "outputs": [_tensor(g.tensors[t], plan) for t in g.outputs],
        "params": [_tensor(t) for t in params],
        "operators": ops,
        "memory": {
            "arena_bytes": plan.arena_bytes,
            "arena_lower_bound_bytes": plan.lower_bound_bytes,
            "workspace_pool_bytes": max(workspace.values(), default=0),
            "workspace_in_arena": True,
            "planner": plan.planner,
        },
        "weights_bytes": sum(t.bytes for t in params),
    }
