"""From an imported Relax module to fused operators and their C code.

Relax passes: LegalizeOps (ops to TIR), FoldConstant (weights pre-transposed
at compile time, not on the device), AnnotateTIROpPattern + FuseOps + FuseTIR
(one PrimFunc per fused operator), DeadCodeElimination. TVM's C back end then
writes every PrimFunc as a TVM-FFI packed function `__tvm_ffi_<name>`.

Operator temporaries larger than what TVM keeps on the stack become
`TVMBackendAllocWorkspace` calls with constant sizes; `workspace_needs` reads
them back so the executor's pool is sized at codegen time.
"""

import re

import numpy as np

from ..errors import CodegenError

ALLOC_RE = re.compile(r"(\w+)\s*=\s*\(\([^;]*?TVMBackendAllocWorkspace\(\s*\d+\s*,\s*\w+\s*,\s*\(uint64_t\)(\d+)ULL")
FREE_RE = re.compile(r"TVMBackendFreeWorkspace\(\s*\d+\s*,\s*\w+\s*,\s*(\w+)\s*\)")
ANY_ALLOC_RE = re.compile(r"TVMBackendAllocWorkspace\(")
FUNC_RE = re.compile(r"^TVM_DLL int32_t __tvm_ffi_(\w+)\(void\* self_handle, void\* args, int32_t num_args, void\* result\) \{$", re.M)
WS_ALIGN = 16


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


def build_prims(prims):
    """C source for {name: PrimFunc}: one `__tvm_ffi_<name>` each."""
    import tvm

    prims = {tvm.ir.GlobalVar(n): f.with_attr("global_symbol", n) for n, f in sorted(prims.items())}
    with tvm.transform.PassContext(opt_level=3, config={"tirx.disable_assert": True}):
        try:
            lib = tvm.tirx.build(tvm.IRModule(prims), target="c")
        except Exception as e:
            last = str(e).strip().splitlines()[-1]
            raise CodegenError(f"TVM's C back end failed: {last}") from None
    return exact_float_literals(lib.inspect_source(), [f.script() for f in prims.values()])


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


def split_functions(src):
    """{function name: body text} for the packed functions in TVM's C output."""
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
                live[var] = (size + WS_ALIGN - 1) // WS_ALIGN * WS_ALIGN
                cur += live[var]
                peak = max(peak, cur)
            elif var in live:
                cur -= live.pop(var)
        needs[name] = peak
    return needs
