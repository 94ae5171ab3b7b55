"""From an imported Relax module to fused operators and their C code.

Relax passes: LegalizeOps (ops to TIR), FoldConstant (weights pre-transposed
at compile time, not on the device), AnnotateTIROpPattern + FuseOps + FuseTIR
(one PrimFunc per fused operator), DeadCodeElimination. TVM's C back end then
writes every PrimFunc as a TVM-FFI packed function `__tvm_ffi_<name>`, which
`direct_calls` rewrites as a plain C function `utoe_op_<name>` taking one
typed pointer per tensor: the executor calls operators directly, with no
argument unpacking and no descriptor tables.

Operator temporaries larger than what TVM keeps on the stack become
`TVMBackendAllocWorkspace` calls with constant sizes; `workspace_needs` reads
them back so the executor's pool is sized at codegen time. On the float
path `shrink_temporaries` first schedules most of them away (a padded copy of
a convolution's input, a whole convolution output kept before its bias and
activation), as TFLite Micro's reference kernels have none.
"""

import re

import numpy as np

from ..elfsize import OP_PREFIX  # the executor's direct-call operators: utoe_op_<name>
from ..errors import CodegenError

ALLOC_RE = re.compile(r"(\w+)\s*=\s*\(\([^;]*?TVMBackendAllocWorkspace\(\s*\d+\s*,\s*\w+\s*,\s*\(uint64_t\)(\d+)ULL")
FREE_RE = re.compile(r"TVMBackendFreeWorkspace\(\s*\d+\s*,\s*\w+\s*,\s*(\w+)\s*\)")
ANY_ALLOC_RE = re.compile(r"TVMBackendAllocWorkspace\(")
PACKED_RE = re.compile(r"^TVM_DLL int32_t __tvm_ffi_(\w+)\(void\* self_handle, void\* args, int32_t num_args, void\* result\) \{$", re.M)
# an operator as the executor calls it (direct_calls)
FUNC_RE = re.compile(r"^int32_t " + OP_PREFIX + r"(\w+)\(([^)]*)\)\s*\{", re.M)
WS_ALIGN = 16


def ws_block(nbytes):
    """The bytes a workspace request takes from the pool: the executor's
    TVMBackendAllocWorkspace rounds every request up to WS_ALIGN."""
    return (nbytes + WS_ALIGN - 1) // WS_ALIGN * WS_ALIGN


def fuse(mod):
    import tvm
    from tvm import relax

    seq = tvm.transform.Sequential(
        [
            relax.transform.LegalizeOps(),
            relax.transform.FoldConstant(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
            relax.transform.DeadCodeElimination(),
        ]
    )
    try:
        return seq(mod)
    except Exception as e:
        last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise CodegenError(f"TVM could not lower the model to fused operators: {last}") from None


def _innermost_spatial_loop(sch, block):
    """The innermost loop around `block` outside all of its reduction loops
    (the loop under which one element, or one row, of its result is
    complete), or None when it has no loop or its outermost is a reduction."""
    loops = sch.get_loops(block)
    if not loops:
        return None
    blk = sch.get(block)
    realize = _find_realize(sch.get(loops[0]), blk)
    if realize is None:
        return None
    from tvm.tirx.analysis import undefined_vars

    reduce_vars = set()
    for iv, value in zip(blk.iter_vars, realize.iter_values):
        if iv.iter_type != 0:  # not data parallel: a reduction (2) or anything else
            reduce_vars.update(v.name for v in undefined_vars(value))
    spatial = None
    for loop in loops:
        if sch.get(loop).loop_var.name in reduce_vars:
            break
        spatial = loop
    return spatial


def _find_realize(stmt, blk):
    from tvm.s_tir import SBlockRealize
    from tvm.tirx import SeqStmt

    if isinstance(stmt, SBlockRealize):
        return stmt if stmt.block.same_as(blk) else None
    children = list(stmt.seq) if isinstance(stmt, SeqStmt) else [getattr(stmt, "body", None)]
    for child in children:
        if child is not None:
            found = _find_realize(child, blk)
            if found is not None:
                return found
    return None


def shrink_temporaries(prim):
    """prim scheduled so its temporaries (buffers it allocates itself, which
    utoe plans as workspace in the arena) shrink or vanish, results unchanged:

    - every block that is not an output and computes each element on its own
      (padding, a bias add, a cast) is inlined into its consumers: a padded
      input is read through a bounds test, as TFLite Micro's reference
      convolution and pooling do, instead of being copied;
    - what consumes a reduction (a convolution's or matrix product's bias and
      activation, softmax's exp after its max) is computed inside the
      reduction's spatial loops, right after each element is complete, so the
      reduction's buffer compacts to that element (a scalar on the stack).

    TVM's schedule primitives check every step (a step they refuse is
    skipped), so the function computes the same values in the same order."""
    try:
        return _shrink(prim)
    except Exception:  # noqa: BLE001 - an optimisation: what TVM cannot schedule stays as it came
        return prim


def _shrink(prim):
    from tvm import s_tir

    sch = s_tir.Schedule(prim)
    root = sch.get_sblock("root")
    for _ in range(8):  # each round inlines or moves something; a few are plenty
        changed = False
        outs = sch.get_output_blocks(root)
        is_out = lambda b: any(sch.get(b).same_as(sch.get(o)) for o in outs)  # noqa: E731
        for b in sch.get_child_blocks(root):
            if not is_out(b):
                try:
                    sch.compute_inline(b)
                    changed = True
                except s_tir.ScheduleError:
                    pass
        for b in sch.get_child_blocks(root):
            if is_out(b):
                continue
            loop = _innermost_spatial_loop(sch, b)
            if loop is None:
                continue
            target = sch.get(loop)
            for c in sch.get_consumers(b):
                if any(sch.get(lp).same_as(target) for lp in sch.get_loops(c)):
                    continue  # already computed there
                try:
                    sch.reverse_compute_at(c, loop)
                    changed = True
                except s_tir.ScheduleError:
                    pass
        if not changed:
            break
    return sch.mod["main"]


def prims_of(mod, funcs):
    """{name: PrimFunc} for every PrimFunc name in funcs."""
    prims = {gv.name_hint: f for gv, f in mod.functions.items() if gv.name_hint in funcs}
    missing = set(funcs) - set(prims)
    if missing:
        raise CodegenError(f"operators without TIR: {', '.join(sorted(missing))}")
    return prims


def dedupe(prims, order):
    """Identical operator bodies, once: ({name: PrimFunc} of the distinct
    bodies, {name: the name of the body it uses}) for every name in prims.

    Two PrimFuncs are one body when they are structurally equal apart from
    their symbol name (same shapes, same constants, same loops), e.g. the
    repeated blocks of a DS-CNN. The first in `order` (the executor's call
    order) names the body. Emitting it once keeps the flash saving GCC's
    -fipa-icf would otherwise make by folding them, and leaves no copy for
    the compiler to fold behind the executor's back."""
    from tvm_ffi import structural_equal, structural_hash

    def bare(f):
        return f.without_attr("global_symbol") if f.attrs and "global_symbol" in f.attrs else f

    seen = []  # [(structural hash, bare func, name)]
    body_of = {}
    for name in list(dict.fromkeys(order)) + sorted(set(prims) - set(order)):
        f = bare(prims[name])
        h = structural_hash(f)
        for h2, f2, n2 in seen:
            if h == h2 and structural_equal(f, f2):
                body_of[name] = n2
                break
        else:
            seen.append((h, f, name))
            body_of[name] = name
    return {n: prims[n] for _, _, n in seen}, body_of


_FABS = {"float32": "fabsf", "float64": "fabs"}


def _lower_fabs():
    """TVM 0.27 registers no C lowering for tirx.fabs (a float |x|: Relax's
    abs, TFLite's float ABS), and its C back end stops at it ("Unresolved
    call"): lower it to C's fabsf/fabs, as it lowers exp to expf. Once per
    process; a lowering TVM has (a later TVM) is left alone."""
    import tvm
    from tvm.tirx import call_pure_extern

    op = tvm.ir.Op.get("tirx.fabs")
    if op.get_attr("default.FLowerIntrinsic") is not None:
        return

    def lower_fabs(call):
        dtype = str(call.ty.dtype)
        name = _FABS.get(dtype)
        return call if name is None else call_pure_extern(dtype, name, call.args[0])

    tvm.tirx.register_intrin_lowering("tirx.fabs", "default", f=lower_fabs, level=10)


def build_prims(prims):
    """C source for {name: PrimFunc}: one plain C function `utoe_op_<name>`
    each (TVM's packed entries rewritten by direct_calls)."""
    import tvm

    _lower_fabs()

    prims = {tvm.ir.GlobalVar(n): f.with_attr("global_symbol", n) for n, f in sorted(prims.items())}
    # LoopPartition splits a loop whose body tests a likely() condition (a
    # convolution's window inside the input) into the range where it holds,
    # without the test, and the rest
    config = {"tirx.disable_assert": True, "s_tir.LoopPartition": {"partition_const_loop": True}}
    with tvm.transform.PassContext(opt_level=3, config=config):
        try:
            lib = tvm.tirx.build(tvm.IRModule(prims), target="c")
        except Exception as e:
            last = str(e).strip().splitlines()[-1]
            raise CodegenError(f"TVM's C back end failed: {last}") from None
    src = exact_float_literals(lib.inspect_source(), [f.script() for f in prims.values()])
    return direct_calls(with_helpers(src))


_HELPER_CALL = re.compile(r"\butoe_(requant|mbqm)\w*\(")


def with_helpers(src):
    """src including utoe_kernels.h (utoe/c: the helpers integer kernels
    call through call_pure_extern) when it calls one."""
    if not _HELPER_CALL.search(src):
        return src
    return '#include "utoe_kernels.h"\n' + src


# TVM's C back end prints a float constant with 6 significant digits
# (std::scientific): 0.05000000074505806, a float32 scale, becomes 5.000000e-02
# and the C computes with another number (DEQUANTIZE came out 1 ulp off the
# reference, QUANTIZE can round the other way). The prims' own text has each
# constant in full; the C's literals are replaced by exact ones.
_C_FLOAT = re.compile(r"(?<![\w.])(-?\d\.\d{6}e[+-]\d{2,3})(f?)(?![\w.])")
_TIR_FLOAT = re.compile(r"T\.float(32|64)\(([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)\)")


def exact_float_literals(src, scripts):
    """src with each 6-digit float literal TVM printed replaced by the exact
    value of the TIR constant it came from (float32: 9 digits and 'f';
    float64: 17 digits). A literal two different constants print alike is an
    error, never a guess."""
    exact = {}
    for text in scripts:
        for bits, value in _TIR_FLOAT.findall(text):
            v = float(value)
            if bits == "32":
                v = float(np.float32(v))
            printed = (f"{v:.6e}", "f" if bits == "32" else "")
            exact.setdefault(printed, set()).add(v)

    def sub(m):
        values = exact.get((m.group(1), m.group(2)))
        if not values:
            return m.group(0)  # not a constant of ours (printed by a lowering pass): left as TVM wrote it
        if len(values) > 1:
            raise CodegenError(f"two float constants ({', '.join(map(repr, sorted(values)))}) print alike as "
                               f"{m.group(0)} in TVM's C; utoe cannot tell them apart")
        v = next(iter(values))
        return f"{v:.8e}f" if m.group(2) else f"{v:.16e}"

    return _C_FLOAT.sub(sub, src)


_PROLOGUE = [re.compile(p) for p in (
    r"void\* condval(_\d+)?;",
    r"if \(\w+ == \d+\) \{",
    r"condval(_\d+)? = .*;",
    r"\} else \{",
    r"\}",
    r"int64_t\* \w+ = \(int64_t\*\)\(\(\(DLTensor\*\)\w+\)\[0\]\.(shape|strides)\);",
    r"int32_t dev_id = \(\(\(DLTensor\*\)\w+\)\[0\]\.device\.device_id\);",
    r"if \(!\(\w+ == NULL\)\) \{",
)]
# an argument's type index (its position k), its handle, its data pointer
_ARG_RE = re.compile(r"int32_t \w+ = \(\(\(TVMFFIAny\*\)args\)\[(\d+)\]\.type_index\);")
_HANDLE_RE = re.compile(r"void\* (\w+) = \(void\*\)condval(_\d+)?;")
_DATA_RE = re.compile(r"(\w+)\* (\w+) = \(\(\1\*\)\(\(\1\*\)\(\(\(DLTensor\*\)(\w+)\)\[0\]\.data\)\)\);")
_PACKED_LEFT = re.compile(r"TVMFFIAny|DLTensor|\bargs\b|_handle\b")


def direct_calls(src):
    """TVM's C with every packed function `__tvm_ffi_<name>(self, args,
    num_args, result)` rewritten as a plain C function `utoe_op_<name>(T0 *a0,
    ..., T *out)`: TVM 0.27 always emits the packed entry, whose prologue
    unpacks a TVMFFIAny array of DLTensors (two thirds of an operator's C)
    and whose executor needs descriptor tables. The prologue is recognised
    line by line; anything of it left in the body is an error, never a guess."""
    out, last = [], 0
    for m in PACKED_RE.finditer(src):
        out.append(src[last:m.start()])
        body_start = m.end()
        end = src.index("\n}\n", body_start) + 3
        lines = src[body_start:end].split("\n")
        handles, data, current = {}, {}, None  # handle -> argument position; position -> (type, name)
        i = 1
        while i < len(lines):
            text = lines[i].strip()
            a, h, d = _ARG_RE.fullmatch(text), _HANDLE_RE.fullmatch(text), _DATA_RE.fullmatch(text)
            if a:
                current = int(a.group(1))
            elif h and current is not None:
                handles[h.group(1)] = current
            elif d and d.group(3) in handles:
                data[handles[d.group(3)]] = (d.group(1), d.group(2))
            elif current is None or not any(p.fullmatch(text) for p in _PROLOGUE):
                break
            i += 1
        body = lines[i:]
        n = len(handles)
        if sorted(handles.values()) != list(range(n)) or any(_PACKED_LEFT.search(line) for line in body):
            raise CodegenError(f"operator {m.group(1)}: TVM's packed entry has a prologue utoe does not recognise")
        params = []
        for k in range(n):
            ctype, var = data.get(k, ("void", f"unused_{k}"))
            params.append(f"{ctype}* {var}")
        uses_dev = any("dev_id" in line for line in body)
        head = f"int32_t {OP_PREFIX}{m.group(1)}({', '.join(params) or 'void'}) {{"
        out.append(head + "\n" + ("  int32_t dev_id = 0;\n" if uses_dev else "") + "\n".join(body))
        last = end
    out.append(src[last:])
    text = "".join(out)
    # forward declarations of the packed entries, and the library context only they used
    text = re.sub(r"(#ifdef __cplusplus\nextern \"C\"\n#endif\n)?TVM_DLL int32_t __tvm_ffi_(\w+)\(void\* self_handle, "
                  r"void\* args, int32_t num_args, void\* result\);\n", "", text)
    return text.replace("void* __tvm_ffi__library_ctx = NULL;\n", "")


def restrict_outputs(src, bodies):
    """src with the last parameter (the output) of each operator in bodies
    declared `restrict`."""
    def sub(m):
        if m.group(1) not in bodies or m.group(2) in ("", "void"):
            return m.group(0)
        params = m.group(2).split(", ")
        ctype, name = params[-1].rsplit("*", 1)
        params[-1] = f"{ctype}* restrict {name.strip()}"
        return m.group(0).replace(m.group(2), ", ".join(params), 1)

    return FUNC_RE.sub(sub, src)


def signatures(src):
    """{name: [C type of each argument]} of the direct-call operators in src."""
    return {m.group(1): [p.rsplit("*", 1)[0].strip() for p in m.group(2).split(",")] if m.group(2) != "void" else []
            for m in FUNC_RE.finditer(src)}


def split_functions(src):
    """{function name: body text} for the operators in the C (direct_calls)."""
    heads = list(FUNC_RE.finditer(src))
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(src)
        out[m.group(1)] = src[m.start() : end]
    return out


def workspace_needs(src):
    """{function: peak workspace bytes}, simulating allocs and frees in order.

    TVM emits allocations at function scope and frees them in reverse order,
    so text order is execution order. Sizes are rounded up to the pool's
    alignment as the C allocator does."""
    needs = {}
    for name, body in split_functions(src).items():
        allocs = ALLOC_RE.findall(body)
        if len(allocs) != len(ANY_ALLOC_RE.findall(body)):
            raise CodegenError(f"operator {name}: a workspace allocation of non-constant size; utoe needs static sizes")
        events = sorted(
            [(m.start(), "a", m.group(1), int(m.group(2))) for m in ALLOC_RE.finditer(body)]
            + [(m.start(), "f", m.group(1), 0) for m in FREE_RE.finditer(body)]
        )
        live, cur, peak = {}, 0, 0
        for _, kind, var, size in events:
            if kind == "a":
                live[var] = ws_block(size)
                cur += live[var]
                peak = max(peak, cur)
            elif var in live:
                cur -= live.pop(var)
        needs[name] = peak
    return needs
