"""Write the generated C (model.c, model.h, weights.c, ops.c) and metadata.json.

Every output is deterministic: the same model and options give the same
bytes, so SCons (and git, and a reviewer's diff) see no spurious change.
"""

import math
import os

import jinja2
import numpy as np

from ..elfsize import OP_PREFIX
from ..errors import CodegenError

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates", "codegen")

CTYPES = {"float32": "float", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t",
          "int32": "int32_t", "int64": "int64_t", "bool": "uint8_t"}
UTOE_DTYPES = {"float32": "UTOE_DT_FLOAT32", "int8": "UTOE_DT_INT8", "uint8": "UTOE_DT_UINT8",
               "int16": "UTOE_DT_INT16", "int32": "UTOE_DT_INT32", "int64": "UTOE_DT_INT64",
               "bool": "UTOE_DT_BOOL"}


def template_files():
    return sorted(os.path.join(TEMPLATES, f) for f in os.listdir(TEMPLATES) if f.endswith(".j2"))


def c_string(text):
    """text as a C string literal, quotes included. A model's names are
    arbitrary (TFLite's hold '/', ';', spaces, quotes, backslashes, newlines,
    UTF-8): every byte outside printable ASCII, and '"', '\\' and '?' (no
    trigraphs), becomes an octal escape, so the literal is the name's exact
    UTF-8 bytes."""
    out = []
    for b in str(text).encode("utf-8"):
        c = chr(b)
        out.append(c if 0x20 <= b < 0x7F and c not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text):
    """text made safe inside a /* */ comment: one line, no comment end, ASCII
    (other characters as \\uXXXX, as the name in metadata.json has them)."""
    flat = " ".join(str(text).split())
    flat = flat.replace("*/", "* /").replace("/*", "/ *")
    return flat.encode("ascii", "backslashreplace").decode("ascii")


def template_env(directory):
    """The Jinja environment every C template renders in, with the c_string
    and c_comment filters: names from a model never reach C unescaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_string"] = c_string
    env.filters["c_comment"] = c_comment
    return env


def _env():
    return template_env(TEMPLATES)


def _c_float(v):
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    h = v.hex()  # exact: '0x1.921fb60000000p+1'
    mant, exp = h.split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}p{exp}f"


def c_values(arr, per_line=12):
    flat = np.asarray(arr).ravel()
    if flat.dtype == np.float32:
        items = [_c_float(v) for v in flat.tolist()]
    elif flat.dtype == np.bool_:
        items = [str(int(v)) for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    if not items:
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "    " + ",\n    ".join(lines)


def render(graph, plan, workspace, ops_src, info, cmsis_files):
    """Return {filename: text} for the generated C files.

    workspace: {op index: bytes}, placed in the arena by the plan;
    cmsis_files: {filename: text} of the operators CMSIS-NN computes."""
    from .lower import signatures
    from .planner import workspace_key

    sigs = signatures(ops_src + "".join(cmsis_files.values()))
    params = []
    for t in graph.params():
        params.append(dict(name=t.name, dtype=t.dtype, shape=t.shape, bytes=t.bytes, count=t.count,
                           ctype=CTYPES[t.dtype], init=c_values(t.value)))

    def pointer(tid, ctype):
        t = graph.tensors[tid]
        if t.kind == "param":
            return f"({ctype} *)utoe_param_{t.name}"
        # through void *: the arena is a byte array the plan places every tensor in
        # at its alignment, and a direct (float *)&utoe_arena[n] fails -Wcast-align
        # on Cortex-M (an error in RIOT's -Werror builds)
        return f"({ctype} *)(void *)&utoe_arena[{plan.offsets[t.id]}]"

    def call(o):
        """The operator's direct call: one typed pointer per tensor, as its
        function takes them (lower.direct_calls)."""
        types = sigs.get(o.body)
        if types is None or len(types) != len(o.args):
            raise CodegenError(f"operator {o.func}: its C function {OP_PREFIX}{o.body} takes "
                               f"{'no' if types is None else len(types)} arguments, the executor has {len(o.args)}")
        return f"{OP_PREFIX}{o.body}({', '.join(pointer(a, ct) for a, ct in zip(o.args, types))})"

    def io(tid):
        t = graph.tensors[tid]
        return dict(name=t.name, offset=plan.offsets[tid], bytes=t.bytes,
                    count=t.count, utoe_dtype=UTOE_DTYPES[t.dtype])

    placed = [dict(offset=plan.offsets[t.id], bytes=t.bytes, kind=t.kind, name=t.name)
              for t in graph.tensors if t.id in plan.offsets]
    placed += [dict(offset=plan.offsets[workspace_key(graph, k)], bytes=size, kind="workspace of",
                    name=f"operator {k}") for k, size in workspace.items() if size]
    placed.sort(key=lambda d: (d["offset"], d["name"]))
    ctx = dict(
        info,
        prototypes=[f"int32_t {OP_PREFIX}{b}({', '.join(t + ' *' for t in sigs[b]) or 'void'});"
                    for b in dict.fromkeys(o.body for o in graph.ops if not o.alias)],
        params=params,
        ops=[dict(index=o.index, func=o.func, body=o.body, alias=o.alias, call=None if o.alias else call(o),
                  library=o.library,
                  ws_bytes=workspace.get(o.index, 0),
                  ws_offset=plan.offsets.get(workspace_key(graph, o.index), 0)) for o in graph.ops],
        inputs=[io(t) for t in graph.inputs],
        outputs=[io(t) for t in graph.outputs],
        op_outputs=[io(o.outputs[0]) for o in graph.ops],
        placed=placed,
        arena_bytes=plan.arena_bytes,
        lower_bound_bytes=plan.lower_bound_bytes,
        planner=plan.planner,
        workspace_bytes=max(workspace.values(), default=0),
        weights_bytes=sum(p["bytes"] for p in params),
    )
    env = _env()
    header = (f"/* Generated by utoe {info['version']} with TVM {info['tvm_version']} from "
              f"{info['source_name']}: the fused operators. Do not edit. */\n")
    return {
        "model.h": env.get_template("model.h.j2").render(ctx),
        "model.c": env.get_template("model.c.j2").render(ctx),
        "weights.c": env.get_template("weights.c.j2").render(ctx),
        "ops.c": header + ops_src,
        **cmsis_files,
    }


def cmsis_files(c_kernels, info):
    """{"cmsis_nn.c": text, "cmsis_nn_sr.c": text}: the operators CMSIS-NN
    computes ({function: cmsis_nn.CKernel}) with the CMSIS-NN sources they
    need, #included (relative to the CMSIS-NN tree, which the firmware build
    puts on the include path), so each board compiles exactly those files
    with its own core flags. TFLite's reference rounds some operators once
    (FULLY_CONNECTED), others twice: CMSIS-NN picks one for a whole
    translation unit (CMSIS_NN_USE_SINGLE_ROUNDING), so the single-rounding
    operators get a file of their own, where the functions of sources both
    files need are renamed (utoe_sr_*), so the two copies link side by side."""
    from .. import cmsis_nn

    groups = {"double": [], "single": []}
    for name in sorted(c_kernels):
        groups[c_kernels[name].rounding].append(c_kernels[name])
    sources = {r: sorted({s for k in ks for s in k.sources}) for r, ks in groups.items()}
    out = {}
    for fname, rounding in (("cmsis_nn.c", "double"), ("cmsis_nn_sr.c", "single")):
        head = (f"/* Generated by utoe {info['version']} from {c_comment(info['source_name'])}: the operators "
                f"CMSIS-NN {cmsis_nn.COMMIT[:8]} computes with {rounding} rounding, and the CMSIS-NN sources they "
                f"need. Do not edit. */\n")
        if not groups[rounding]:
            # not an empty translation unit (ISO C forbids one: -Wpedantic, an error under RIOT's -Werror)
            out[fname] = head + "/* none in this model */\ntypedef int utoe_no_cmsis_nn_operators;\n"
            continue
        lines = [head]
        if rounding == "single":
            lines.append("#define CMSIS_NN_USE_SINGLE_ROUNDING 1\n")
            lines.append(cmsis_nn.renames(cmsis_nn.shared_sources(c_kernels.values())))
        lines += [f'#include "{s}"\n' for s in sources[rounding]]
        lines += ["\n" + k.c_source for k in groups[rounding]]
        out[fname] = "".join(lines)
    return out
