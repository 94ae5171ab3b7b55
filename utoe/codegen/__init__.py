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
from . import emit, graph as graph_mod, lower, planner

OUTPUTS = ("model.c", "ops.c", "weights.c", "model.h", "metadata.json")
DEFAULT_OPTIONS = {"planner": "greedy"}


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


def _generate(model_path, out_dir, name, opts):
    from ..frontend import import_model

    mod, fmt, names = import_model(model_path)
    fused = lower.fuse(mod)
    g = graph_mod.build_graph(fused, names)
    funcs = sorted({op.func for op in g.ops})
    ops_src = lower.build_c(fused, funcs)
    ws_by_func = lower.workspace_needs(ops_src)
    workspace = {op.index: ws_by_func.get(op.func, 0) for op in g.ops}
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


def metadata(g, plan, workspace, info, model_path, fmt, opts):
    ops = []
    for op in g.ops:
        ins = [g.tensors[i] for i in op.inputs]
        ops.append({
            "index": op.index,
            "name": op.func,
            "function": f"__tvm_ffi_{op.func}",
            "params": [t.name for t in ins if t.kind == "param"],
            "param_bytes": sum(t.bytes for t in ins if t.kind == "param"),
            "input_bytes": sum(t.bytes for t in ins if t.kind != "param"),
            "output_bytes": sum(g.tensors[o].bytes for o in op.outputs),
            "workspace_bytes": workspace[op.index],
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
