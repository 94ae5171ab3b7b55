"""Arm CMSIS-NN kernels for utoe's integer operators on Cortex-M (issue 13).

For an operator of a quantized TFLite model, `why_not` says whether CMSIS-NN
computes it bit-exact with TFLite's BUILTIN_REF reference (None) or why not;
`kernel` writes the C function that calls CMSIS-NN for it (a `CKernel`: the
executor's direct-call convention, the scratch it asks for, the CMSIS-NN
sources it needs and the rounding they must be compiled with).

CMSIS-NN itself is not part of utoe: ./setup.sh installs it, pinned to
COMMIT, in third_party/CMSIS-NN (UTOE_CMSIS_NN points elsewhere).

Rounding (measured against BUILTIN_REF, tests/test_cmsis_nn.py): int8
FULLY_CONNECTED needs "single" (CMSIS_NN_USE_SINGLE_ROUNDING; double differs
by 1 LSB on ad01); CONV_2D, DEPTHWISE_CONV_2D, ADD and MUL need "double"
(single differs by 1 LSB); pools, SOFTMAX and the 16x8 kernels give the same
bytes either way and say "double". The covered ops' double and single
source sets are disjoint (shared_sources); renames() is the fix if not.

Scratch sizes are CMSIS-NN's own: its buffer-size functions (the plain one,
*_dsp and *_mve, which CMSIS-NN provides for host use) are compiled for this
host into a small shared library cached under ~/.cache/utoe and called with
ctypes.
"""

import ctypes
import functools
import hashlib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .elfsize import OP_PREFIX
from .errors import BuildError, CodegenError
from .codegen import quant
from .codegen.kernels import _pad_before, _per_channel_multipliers

COMMIT = "99f736a63036613032f9b70de36b493bcd7802d4"
_PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Which CMSIS-NN code path a core takes: "plain" C (no DSP extension), the
# DSP (SIMD32) path, or Helium (MVE).
ARCH = {"cortex-m0": "plain", "cortex-m0plus": "plain", "cortex-m3": "plain",
        "cortex-m4": "dsp", "cortex-m7": "dsp", "cortex-m33": "dsp", "cortex-m55": "mve"}


def root():
    """The CMSIS-NN tree: $UTOE_CMSIS_NN, else <project>/third_party/CMSIS-NN."""
    return os.environ.get("UTOE_CMSIS_NN") or os.path.join(_PROJECT, "third_party", "CMSIS-NN")


def available():
    r = root()
    return os.path.isfile(os.path.join(r, "Include", "arm_nnfunctions.h")) and os.path.isdir(os.path.join(r, "Source"))


def require():
    """root(), or BuildError naming the fix when CMSIS-NN is not installed."""
    if not available():
        raise BuildError(f"CMSIS-NN is not installed in {root()}: run ./setup.sh (it installs CMSIS-NN {COMMIT[:8]})")
    return root()


def include_dirs():
    """The -I directories CMSIS-NN sources and the kernels' C need (besides
    TVM's, for tvm/runtime/c_backend_api.h: firmware.tvm_include_dirs)."""
    return [os.path.join(require(), "Include")]


def arch_of(cflags):
    """"plain" / "dsp" / "mve" from a board's gcc flags (-mcpu=cortex-m4...),
    None for a core CMSIS-NN has no path for (RISC-V, Xtensa, the host)."""
    for f in cflags or ():
        if f.startswith("-mcpu="):
            cpu, *ext = f[len("-mcpu="):].split("+")
            a = ARCH.get(cpu)
            if a == "dsp" and "nodsp" in ext:
                return "plain"
            if a == "mve" and "nomve" in ext:
                return "dsp" if "nodsp" not in ext else "plain"
            return a
    return None


@dataclass
class CKernel:
    args: list            # like kernels.Kernel.args: inputs only, in call order
    output: int           # model tensor index of the output
    c_source: str         # defines int32_t utoe_op_<fname>(T0 *a0, ..., Tout *out)
    workspace_bytes: int  # scratch the function asks for (0 if none), exact for its arch
    functions: list       # the arm_* CMSIS-NN functions it calls
    sources: list = field(default_factory=list)  # CMSIS-NN .c files (relative to root()), transitive closure
    rounding: str = "double"  # "double" (CMSIS-NN default) or "single" (CMSIS_NN_USE_SINGLE_ROUNDING)


# ---------------------------------------------------------------- sources

_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEF = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(arm_\w+)\s*\(", re.M)
_IDENT = re.compile(r"\barm_\w+\b")


def _bodies(text):
    """{function name: the identifiers arm_* its body uses} for the
    functions defined (not declared) in a C text."""
    out = {}
    for m in _DEF.finditer(text):
        i, depth = m.end(), 1
        while i < len(text) and depth:  # the parameter list
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        j = i
        while j < len(text) and text[j] in " \t\r\n":
            j += 1
        if j >= len(text) or text[j] != "{":
            continue  # a declaration
        k, depth = j + 1, 1
        while k < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            k += 1
        out[m.group(1)] = set(_IDENT.findall(text[j:k])) - {m.group(1)}
    return out


@functools.lru_cache(maxsize=None)
def _index(tree):
    """(function -> defining .c file, file -> arm_* names it uses,
    header inline function -> arm_* names its body uses)."""
    defined, uses, inline = {}, {}, {}
    src = os.path.join(tree, "Source")
    for d, _, files in os.walk(src):
        for f in sorted(files):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, tree)
            if f.endswith(".c"):
                text = _COMMENTS.sub("", open(p, encoding="utf-8", errors="replace").read())
                bodies = _bodies(text)
                for name in bodies:
                    defined.setdefault(name, rel)
                uses[rel] = set(_IDENT.findall(text)) - set(bodies)
    for d, _, files in os.walk(os.path.join(tree, "Include")):
        for f in files:
            if f.endswith(".h"):
                text = _COMMENTS.sub("", open(os.path.join(d, f), encoding="utf-8", errors="replace").read())
                for name, used in _bodies(text).items():
                    inline.setdefault(name, set()).update(used)
    return defined, uses, inline


def sources_for(functions, tree=None):
    """The CMSIS-NN .c files (relative to root()) that define `functions` and
    everything they call, transitively: which arm_* functions each
    Source/**/*.c defines and uses, and what header inline functions use."""
    defined, uses, inline = _index(tree or require())
    files, seen, todo = set(), set(), list(functions)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in defined:
            f = defined[name]
            if f not in files:
                files.add(f)
                todo.extend(uses[f])
        elif name in inline:
            todo.extend(inline[name])
    return sorted(files)


def shared_sources(kernels):
    """The CMSIS-NN sources that both a double- and a single-rounding kernel
    of `kernels` need: compiled into both unity files, their external
    functions would be defined twice at link time (see renames)."""
    by = {r: {s for k in kernels if k.rounding == r for s in k.sources} for r in ("double", "single")}
    return sorted(by["double"] & by["single"])


def renames(sources, prefix="utoe_sr_", tree=None):
    """C lines `#define arm_x utoe_sr_arm_x` for every function the sources
    define: put first in the single-rounding unity file (before any
    #include) so its copies of shared sources get their own names."""
    defined, _, _ = _index(tree or require())
    names = sorted(n for n, f in defined.items() if f in set(sources))
    return "".join(f"#define {n} {prefix}{n}\n" for n in names)


# ---------------------------------------------------------- buffer sizes

class _Tile(ctypes.Structure):
    _fields_ = [("w", ctypes.c_int32), ("h", ctypes.c_int32)]


class _Act(ctypes.Structure):
    _fields_ = [("min", ctypes.c_int32), ("max", ctypes.c_int32)]


class _Dims(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("h", ctypes.c_int32), ("w", ctypes.c_int32), ("c", ctypes.c_int32)]


class _ConvParams(ctypes.Structure):
    _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32), ("stride", _Tile),
                ("padding", _Tile), ("dilation", _Tile), ("activation", _Act)]


class _DwParams(ctypes.Structure):
    _fields_ = [("input_offset", ctypes.c_int32), ("output_offset", ctypes.c_int32), ("ch_mult", ctypes.c_int32),
                ("stride", _Tile), ("padding", _Tile), ("dilation", _Tile), ("activation", _Act)]


_SIZE_SOURCES = ["Source/ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
                 "Source/ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
                 "Source/FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
                 "Source/PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c",
                 "Source/ConvolutionFunctions/arm_convolve_get_buffer_sizes_s16.c",
                 "Source/ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s16.c",
                 "Source/FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s16.c"]


# arm_convolve_wrapper_s8's choice of path, made with CMSIS-NN's own inline
# predicates on the host, so the generated code calls that path directly and
# the firmware links none of the others (the wrapper references all four:
# 2.8 KB of flash on LeNet-5's Cortex-M4 build).
_PATHS_SHIM = """#include "arm_nnsupportfunctions.h"
int utoe_convolve_s8_path(const cmsis_nn_conv_params *p, const cmsis_nn_dims *i, const cmsis_nn_dims *f)
{
    if (arm_nn_is_convolve_1x1(p, i, f))
        return arm_nn_is_convolve_1x1_fast(p) ? 1 : 2;
    return arm_nn_is_convolve_1_x_n(p, i, f) ? 3 : 0;
}
"""
# utoe_convolve_s8_path's answer: the function arm_convolve_wrapper_s8 calls.
_CONVOLVE_S8_PATHS = ("arm_convolve_s8", "arm_convolve_1x1_s8_fast", "arm_convolve_1x1_s8", "arm_convolve_1_x_n_s8")


def convolve_s8_path(params, input_dims, filter_dims):
    """The CMSIS-NN function arm_convolve_wrapper_s8 would call for these
    parameters (decided by CMSIS-NN's own predicates, compiled for the host)."""
    f = _sizes_lib(require()).utoe_convolve_s8_path
    f.restype = ctypes.c_int
    return _CONVOLVE_S8_PATHS[f(ctypes.byref(params), ctypes.byref(input_dims), ctypes.byref(filter_dims))]


@functools.lru_cache(maxsize=None)
def _sizes_lib(tree):
    key = hashlib.sha256(("\0".join([COMMIT, os.path.realpath(tree), _PATHS_SHIM] + _SIZE_SOURCES)).encode()
                         ).hexdigest()[:16]
    cache = os.path.join(os.path.expanduser("~"), ".cache", "utoe", f"cmsis-nn-{COMMIT[:8]}")
    lib = os.path.join(cache, f"bufsizes-{key}.so")
    if not os.path.exists(lib):
        os.makedirs(cache, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
        os.close(fd)
        shim = tmp[:-3] + "-paths.c"
        with open(shim, "w") as f:
            f.write(_PATHS_SHIM)
        cmd = ["gcc", "-O1", "-shared", "-fPIC", "-I", os.path.join(tree, "Include"), "-o", tmp, shim] + \
            [os.path.join(tree, s) for s in _SIZE_SOURCES]
        r = subprocess.run(cmd, capture_output=True, text=True)
        os.unlink(shim)
        if r.returncode:
            os.unlink(tmp)
            raise BuildError(f"cannot build CMSIS-NN's buffer-size functions for this host: {r.stderr.strip()[:400]}")
        os.replace(tmp, lib)
    return ctypes.CDLL(lib)


_SUFFIX = {"plain": "", "dsp": "_dsp", "mve": "_mve"}


def buffer_size(func, arch, *args):
    """CMSIS-NN's <func>_get_buffer_size{,_dsp,_mve}(*args) for `arch`
    (args: ctypes structures, passed by pointer, or ints)."""
    f = getattr(_sizes_lib(require()), f"{func}_get_buffer_size{_SUFFIX[arch]}")
    f.restype = ctypes.c_int32
    return int(f(*[ctypes.byref(a) if isinstance(a, ctypes.Structure) else ctypes.c_int(a) for a in args]))


# ------------------------------------------------------------ operators

I8, I16 = "int8", "int16"


def _t(qm, i):
    return qm.tensors[i] if i >= 0 else None


def _bias(op, qm):
    return _t(qm, op.inputs[2]) if len(op.inputs) > 2 else None


def _symmetric(t):
    return t.zero_points is None or not np.any(np.asarray(t.zero_points))


def _conv_geometry(op, qm):
    x, w, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    o = op.options
    sh, sw = o["StrideH"], o["StrideW"]
    dh, dw = o.get("DilationHFactor", 1), o.get("DilationWFactor", 1)
    ph = _pad_before(x.shape[1], w.shape[1], sh, dh, y.shape[1], o["Padding"])
    pw = _pad_before(x.shape[2], w.shape[2], sw, dw, y.shape[2], o["Padding"])
    return (sw, sh), (pw, ph), (dw, dh)


def _act(op, y):
    return quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point)


def why_not(op, qm, arch):
    """None when CMSIS-NN computes this operator bit-exact with BUILTIN_REF
    on `arch` ("plain", "dsp", "mve"), else a short reason."""
    if arch not in _SUFFIX:
        return f"no CMSIS-NN code path for architecture {arch!r}"
    name = op.name
    if name not in _MAKERS:
        return f"{name} has no CMSIS-NN kernel in utoe"
    ts = [_t(qm, i) for i in op.inputs] + [qm.tensors[i] for i in op.outputs]
    acts = [qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and all(t.dtype == I16 for t in acts):
        return _why_not_16x8(op, qm)
    if any(t.dtype != I8 for t in acts):
        return f"{name} with {acts[0].dtype} input / {acts[1].dtype} output: CMSIS-NN kernels here take int8 activations"
    if any(t is not None and t.dtype in ("int8", "int16") and not t.quantized for t in ts):
        return "an unquantized tensor"
    y = acts[1]
    if op.options.get("FusedActivationFunction", 0) not in (0, 1, 3):
        return "fused activation other than NONE/RELU/RELU6"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w = acts[0], qm.tensors[op.inputs[1]]
        b = _bias(op, qm)
        if w.dtype != I8 or w.data is None:
            return "filter is not a constant int8 tensor"
        if not _symmetric(w):
            return "filter zero point is not 0"
        if b is not None and (b.dtype != "int32" or b.data is None):
            return "bias is not a constant int32 tensor"
        if len(x.shape) != 4:
            return "input is not 4-D"
        if not -128 <= x.zero_point <= 127 or not -128 <= y.zero_point <= 127:
            return "zero point out of int8 range"
        if name == "CONV_2D":
            if x.shape[3] % w.shape[3] or w.shape[0] % (x.shape[3] // w.shape[3]):
                return "channels do not divide into groups"
        else:
            dm = op.options.get("DepthMultiplier", 1) or 1
            if w.shape[3] != x.shape[3] * dm or y.shape[3] != w.shape[3]:
                return "depth multiplier does not match the channels"
        if len(w.scales) not in (1, w.shape[0] if name == "CONV_2D" else w.shape[3]):
            return "filter quantization is neither per tensor nor per output channel"
        return None
    if name == "FULLY_CONNECTED":
        x, w = acts[0], qm.tensors[op.inputs[1]]
        b = _bias(op, qm)
        if op.options.get("WeightsFormat", 0) != 0:
            return "shuffled weights format"
        if w.dtype != I8 or w.data is None or len(w.shape) != 2:
            return "weights are not a constant 2-D int8 tensor"
        if not _symmetric(w):
            return "weights zero point is not 0"
        if b is not None and (b.dtype != "int32" or b.data is None):
            return "bias is not a constant int32 tensor"
        if int(np.prod(x.shape)) % w.shape[1]:
            return "input size is not a multiple of the weights' depth"
        if len(w.scales) not in (1, w.shape[0]):
            return "weights quantization is neither per tensor nor per output channel"
        return None
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        x = acts[0]
        if len(x.shape) != 4:
            return "input is not 4-D"
        if x.scale != y.scale or x.zero_point != y.zero_point:
            return "input and output quantization differ"
        return None
    if name in ("ADD", "MUL"):
        a, b2 = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]]
        if a.dtype != I8 or b2.dtype != I8:
            return "an input is not int8"
        if not (tuple(a.shape) == tuple(b2.shape) == tuple(y.shape)):
            return "broadcasting (CMSIS-NN's elementwise kernels take equal shapes only)"
        return None
    if name == "SOFTMAX":
        if abs(y.scale - 1 / 256) > 1e-9 or y.zero_point != -128:
            return "output quantization is not scale 1/256, zero point -128"
        return None
    return f"{name} has no CMSIS-NN kernel in utoe"


def _why_not_16x8(op, qm):
    """int16 activations with int8 weights (TFLite's 16x8 quantization)."""
    x, w, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    b = _bias(op, qm)
    if not (x.quantized and y.quantized) or x.zero_point or y.zero_point:
        return "int16 activations with a zero point"
    if w.dtype != I8 or w.data is None or not w.quantized or not _symmetric(w):
        return "weights are not constant symmetric int8"
    if b is not None and (b.dtype != "int64" or b.data is None):
        # BUILTIN_REF (ai-edge-litert 2.3) computes garbage for an int32 bias
        # on int16 activations (models/conformance_int16.py): nothing to be
        # bit-exact with
        return "bias is not a constant int64 tensor (BUILTIN_REF is wrong with an int32 bias on int16)"
    if op.options.get("FusedActivationFunction", 0) not in (0, 1, 3):
        return "fused activation other than NONE/RELU/RELU6"
    if op.name == "FULLY_CONNECTED":
        if op.options.get("WeightsFormat", 0) != 0 or len(w.shape) != 2:
            return "weights are not 2-D in the default format"
        if len(w.scales) != 1:
            return "per-channel int16 FULLY_CONNECTED (CMSIS-NN's arm_fully_connected_s16 is per tensor)"
        if int(np.prod(x.shape)) % w.shape[1]:
            return "input size is not a multiple of the weights' depth"
        return None
    if len(x.shape) != 4:
        return "input is not 4-D"
    if op.name == "CONV_2D":
        if x.shape[3] != w.shape[3]:
            return "grouped int16 convolution"
        if len(w.scales) not in (1, w.shape[0]):
            return "filter quantization is neither per tensor nor per output channel"
    else:
        dm = op.options.get("DepthMultiplier", 1) or 1
        if w.shape[3] != x.shape[3] * dm or y.shape[3] != w.shape[3]:
            return "depth multiplier does not match the channels"
        if len(w.scales) not in (1, w.shape[3]):
            return "filter quantization is neither per tensor nor per output channel"
    return None


# kernels=auto: where CMSIS-NN executes fewer instructions than utoe's own
# kernels (benchmarks/kernels.py, every operator of the zoo's int8 models,
# per core, emulated): on the DSP cores (M4, M7), convolutions whose dot
# product (kh x kw x input channels) is at least DOT_MIN long and fully
# connected layers, where SMLAD does two multiply-accumulates per
# instruction (1x1 convolutions 0.64x utoe's instructions, 3x3 with >= 8
# input channels 0.79x, fully connected 0.89x); not depthwise convolutions,
# pools, ADD, MUL, SOFTMAX, nor convolutions over a few input channels
# (3x3x3: 1.2x, 5x5x1: 1.7x), where utoe's unrolled kernels need fewer. On the
# cores without DSP (M0, M0+, M3) utoe's own kernels executed fewer
# instructions for every operator kind of the zoo taken together (M3: 1.0x to
# 2.8x CMSIS-NN's count in utoe's favour), so auto uses none there. Helium
# (M55) has no emulator here to measure: auto takes CMSIS-NN wherever it
# computes exactly. kernels=cmsis-nn takes it wherever it computes exactly on
# every Arm core.
DOT_MIN = 32


def preferred(op, qm, arch):
    """Does kernels=auto call CMSIS-NN for op (which why_not accepts) on arch?"""
    if arch == "mve":
        return True
    if arch != "dsp":
        return False
    if op.name == "FULLY_CONNECTED":
        return True
    if op.name == "CONV_2D":
        w = qm.tensors[op.inputs[1]]
        return w.shape[1] * w.shape[2] * w.shape[3] >= DOT_MIN
    return False


def kernel(op, qm, arch, fname):
    """The CKernel calling CMSIS-NN for op on arch; CodegenError when why_not
    refuses it."""
    reason = why_not(op, qm, arch)
    if reason is not None:
        raise CodegenError(f"operator {op.index} ({op.name}): {reason}")
    if qm.tensors[op.inputs[0]].dtype == I16:
        k = _MAKERS_16X8[op.name](op, qm, arch, fname)
    else:
        k = _MAKERS[op.name](op, qm, arch, fname)
    k.sources = sources_for(k.functions)
    return k


_HEAD = """#include <stdint.h>
#include <stddef.h>
#include "arm_nnfunctions.h"
#include "tvm/runtime/c_backend_api.h"
"""


def _scratch(n):
    """C lines that set ctx to n bytes of planned scratch (or none)."""
    if n <= 0:
        return "    cmsis_nn_context ctx = {NULL, 0};\n"
    return (f"    cmsis_nn_context ctx = {{NULL, {n}}};\n"
            f"    ctx.buf = TVMBackendAllocWorkspace(1, 0, (uint64_t){n}, 0, 8);\n"
            "    if (ctx.buf == NULL) return -1;\n")


def _release(n):
    return "    TVMBackendFreeWorkspace(1, 0, ctx.buf);\n" if n > 0 else ""


def _bias_arg(op, qm, channels):
    b = _bias(op, qm)
    if b is not None:
        return ("tensor", b.index), b.data.astype(np.int64)
    return ("param", "bias", np.zeros(channels, np.int32)), np.zeros(channels, np.int64)


def _convolution(op, qm, arch, fname, depthwise, s16):
    """CONV_2D or DEPTHWISE_CONV_2D through CMSIS-NN's wrapper (it picks the
    1x1, 1xN, 3x3 and im2col paths), int8 or 16x8 (int16 activations, int64
    bias; CMSIS-NN's s16 kernels take no zero points)."""
    x, w, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    n, h, wd, c = x.shape
    _, oh, ow, _ = y.shape
    if depthwise:
        _, kh, kw, oc = w.shape
        fdims = (1, kh, kw, oc)
    else:
        oc, kh, kw, kc = w.shape
        fdims = (oc, kh, kw, kc)
    (sw, sh), (pw, ph), (dw, dh) = _conv_geometry(op, qm)
    lo, hi = (_act16 if s16 else _act)(op, y)
    mult, shift = _per_channel_multipliers(x.scale, w.scales, y.scale, oc)
    if s16:
        (bias_arg, btype), zx, zy = _bias64(op, qm, oc), 0, 0
    else:
        (bias_arg, _), btype, zx, zy = _bias_arg(op, qm, oc), "int32_t", -x.zero_point, y.zero_point
    suffix, act_t = ("s16", "int16_t") if s16 else ("s8", "int8_t")
    kind = "depthwise_conv" if depthwise else "convolve"
    func = f"arm_{kind}_wrapper_{suffix}"
    tiles = (_Tile(sw, sh), _Tile(pw, ph), _Tile(dw, dh), _Act(lo, hi))
    dm = oc // c
    params = _DwParams(zx, zy, dm, *tiles) if depthwise else _ConvParams(zx, zy, *tiles)
    ws = buffer_size(func, arch, params, _Dims(n, h, wd, c), _Dims(*fdims), _Dims(n, oh, ow, oc))
    # the int8 convolution calls the wrapper's choice directly (convolve_s8_path); its scratch is the
    # wrapper's, which asks the chosen path's size
    call = convolve_s8_path(params, _Dims(n, h, wd, c), _Dims(*fdims)) if kind == "convolve" and not s16 else func
    upscale = "NULL, " if call == "arm_convolve_s8" else ""  # arm_convolve_s8's upscale dims: none
    ptype = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    multiplier = f"{dm}, " if depthwise else ""
    # the s16 convolution takes its bias as cmsis_nn_bias_data (int64 here); the others a plain pointer
    bias_data = f"    const cmsis_nn_bias_data bias = {{a2, false}};\n" if s16 and not depthwise else ""
    bias = "&bias" if bias_data else "a2"
    src = (_HEAD + f"""
int32_t {OP_PREFIX}{fname}({act_t} *a0, int8_t *a1, {btype} *a2, int32_t *a3, int32_t *a4, {act_t} *out)
{{
    const {ptype} cp = {{{zx}, {zy}, {multiplier}{{{sw}, {sh}}}, {{{pw}, {ph}}}, {{{dw}, {dh}}}, {{{lo}, {hi}}}}};
    const cmsis_nn_per_channel_quant_params qp = {{a3, a4}};
{bias_data}    const cmsis_nn_dims id = {{{n}, {h}, {wd}, {c}}}, fd = {{{', '.join(map(str, fdims))}}};
    const cmsis_nn_dims bd = {{1, 1, 1, {oc}}}, od = {{{n}, {oh}, {ow}, {oc}}};
{_scratch(ws)}    arm_cmsis_nn_status st = {call}(&ctx, &cp, &qp, &id, a0, &fd, a1, &bd, {bias}, {upscale}&od, out);
{_release(ws)}    return st != ARM_CMSIS_NN_SUCCESS;
}}
""")
    args = [("tensor", x.index), ("tensor", w.index), bias_arg, ("param", "multiplier", mult),
            ("param", "shift", shift)]
    return CKernel(args, y.index, src, ws, [call], rounding="double")


def _conv(op, qm, arch, fname):
    return _convolution(op, qm, arch, fname, depthwise=False, s16=False)


def _dwconv(op, qm, arch, fname):
    return _convolution(op, qm, arch, fname, depthwise=True, s16=False)


def _conv16(op, qm, arch, fname):
    return _convolution(op, qm, arch, fname, depthwise=False, s16=True)


def _dwconv16(op, qm, arch, fname):
    return _convolution(op, qm, arch, fname, depthwise=True, s16=True)


def _fc(op, qm, arch, fname):
    """FULLY_CONNECTED: arm_fully_connected_s8 (per-channel weights:
    arm_fully_connected_per_channel_s8). The kernel sums Helium needs in
    ctx.buf (what arm_fully_connected_s8_get_buffer_size_mve asks for, filled
    by arm_vector_sum_s8 at run time in TFLite Micro) are computed here and
    passed as a constant param instead: no scratch on any arch. The DSP and
    plain paths never read them (arm_nn_vec_mat_mult_t_s8: `(void)kernel_sum`),
    so they get none: 4 bytes of flash per output channel saved."""
    x, w, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    oc, ic = w.shape
    batch = int(np.prod(x.shape)) // ic
    lo, hi = _act(op, y)
    bias_arg, bias = _bias_arg(op, qm, oc)
    args = [("view", x.index, (batch, ic)), ("tensor", w.index), bias_arg]
    decl = ["int8_t *a0", "int8_t *a1", "int32_t *a2"]
    if arch == "mve":
        # arm_vector_sum_s8(sum, ic, oc, w, lhs_offset=-zx, rhs_offset=0, bias)
        ksum = (bias + (-x.zero_point) * w.data.astype(np.int64).sum(axis=1)).astype(np.int32)
        assert ksum.nbytes == buffer_size("arm_fully_connected_s8", "mve", _Dims(ic, 1, 1, oc))
        args.append(("param", "kernel_sum", ksum))
        decl.append(f"int32_t *a{len(decl)}")
        ctx = f"{{a{len(decl) - 1}, {ksum.nbytes}}}"
    else:
        ctx = "{NULL, 0}"
    per_channel = len(w.scales) > 1
    if per_channel:
        mult, shift = _per_channel_multipliers(x.scale, w.scales, y.scale, oc)
        func = "arm_fully_connected_per_channel_s8"
        args += [("param", "multiplier", mult), ("param", "shift", shift)]
        decl += [f"int32_t *a{len(decl)}", f"int32_t *a{len(decl) + 1}"]
        qp = f"    const cmsis_nn_per_channel_quant_params qp = {{a{len(decl) - 2}, a{len(decl) - 1}}};\n"
    else:
        m, s = quant.quantize_multiplier(float(x.scale) * float(w.scales[0]) / float(y.scale))
        func = "arm_fully_connected_s8"
        qp = f"    const cmsis_nn_per_tensor_quant_params qp = {{{m}, {s}}};\n"
    src = _HEAD + f"""
int32_t {OP_PREFIX}{fname}({", ".join(decl)}, int8_t *out)
{{
    const cmsis_nn_fc_params fp = {{{-x.zero_point}, 0, {y.zero_point}, {{{lo}, {hi}}}}};
    const cmsis_nn_dims id = {{{batch}, 1, 1, {ic}}}, fd = {{{ic}, 1, 1, {oc}}};
    const cmsis_nn_dims bd = {{1, 1, 1, {oc}}}, od = {{{batch}, 1, 1, {oc}}};
    const cmsis_nn_context ctx = {ctx};
{qp}    return {func}(&ctx, &fp, &qp, &id, a0, &fd, a1, &bd, a2, &od, out) != ARM_CMSIS_NN_SUCCESS;
}}
"""
    return CKernel(args, y.index, src, 0, [func], rounding="single")


def _pool(op, qm, arch, fname):
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    n, h, wd, c = x.shape
    _, oh, ow, _ = y.shape
    o = op.options
    fh, fw, sh, sw = o["FilterHeight"], o["FilterWidth"], o["StrideH"], o["StrideW"]
    ph = _pad_before(h, fh, sh, 1, oh, o["Padding"])
    pw = _pad_before(wd, fw, sw, 1, ow, o["Padding"])
    lo, hi = _act(op, y)
    if op.name == "AVERAGE_POOL_2D":
        func, ws = "arm_avgpool_s8", buffer_size("arm_avgpool_s8", arch, ow, c)
    else:
        func, ws = "arm_max_pool_s8", 0
    src = (_HEAD + f"""
int32_t {OP_PREFIX}{fname}(int8_t *a0, int8_t *out)
{{
    const cmsis_nn_pool_params pp = {{{{{sw}, {sh}}}, {{{pw}, {ph}}}, {{{lo}, {hi}}}}};
    const cmsis_nn_dims id = {{{n}, {h}, {wd}, {c}}}, fd = {{1, {fh}, {fw}, 1}}, od = {{{n}, {oh}, {ow}, {c}}};
{_scratch(ws)}    arm_cmsis_nn_status st = {func}(&ctx, &pp, &id, a0, &fd, &od, out);
{_release(ws)}    return st != ARM_CMSIS_NN_SUCCESS;
}}
""")
    return CKernel([("tensor", x.index)], y.index, src, ws, [func], rounding="double")


def _add(op, qm, arch, fname):
    """ADD as TFLite's reference: inputs shifted left by 20 and rescaled,
    summed, rescaled to the output (kernels.add's multipliers)."""
    a, b, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    left = 20
    twice_max = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
    m1, s1 = quant.quantize_multiplier(float(a.scale) / twice_max)
    m2, s2 = quant.quantize_multiplier(float(b.scale) / twice_max)
    mo, so = quant.quantize_multiplier(twice_max / float(np.float32((1 << left) * np.float32(y.scale))))
    lo, hi = _act(op, y)
    src = (_HEAD + f"""
int32_t {OP_PREFIX}{fname}(int8_t *a0, int8_t *a1, int8_t *out)
{{
    return arm_elementwise_add_s8(a0, a1, {-a.zero_point}, {m1}, {s1}, {-b.zero_point}, {m2}, {s2}, {left},
                                  out, {y.zero_point}, {mo}, {so}, {lo}, {hi}, {size}) != ARM_CMSIS_NN_SUCCESS;
}}
""")
    return CKernel([("tensor", a.index), ("tensor", b.index)], y.index, src, 0, ["arm_elementwise_add_s8"],
                   rounding="double")


def _mul(op, qm, arch, fname):
    a, b, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    size = int(np.prod(y.shape))
    m, s = quant.quantize_multiplier(float(a.scale) * float(b.scale) / float(y.scale))
    lo, hi = _act(op, y)
    src = (_HEAD + f"""
int32_t {OP_PREFIX}{fname}(int8_t *a0, int8_t *a1, int8_t *out)
{{
    return arm_elementwise_mul_s8(a0, a1, {-a.zero_point}, {-b.zero_point}, out, {y.zero_point}, {m}, {s},
                                  {lo}, {hi}, {size}) != ARM_CMSIS_NN_SUCCESS;
}}
""")
    return CKernel([("tensor", a.index), ("tensor", b.index)], y.index, src, 0, ["arm_elementwise_mul_s8"],
                   rounding="double")


def _softmax(op, qm, arch, fname):
    """SOFTMAX: arm_softmax_s8 with TFLite's PreprocessSoftmaxScaling and
    CalculateInputRadius (5 integer bits), as TFLite Micro sets it up."""
    x, y = qm.tensors[op.inputs[0]], qm.tensors[op.outputs[0]]
    depth = x.shape[-1]
    rows = int(np.prod(x.shape)) // depth
    beta = float(np.float32(op.options.get("Beta", 1.0)))
    real = min(beta * float(x.scale) * (1 << (31 - 5)), (1 << 31) - 1.0)
    m, s = quant.quantize_multiplier(real)
    diff_min = -int(np.floor(1.0 * ((1 << 5) - 1) * (1 << (31 - 5)) / (1 << s)))
    src = (_HEAD + f"""
int32_t {OP_PREFIX}{fname}(int8_t *a0, int8_t *out)
{{
    arm_softmax_s8(a0, {rows}, {depth}, {m}, {s}, {diff_min}, out);
    return 0;
}}
""")
    return CKernel([("view", x.index, (rows, depth))], y.index, src, 0, ["arm_softmax_s8"], rounding="double")


_MAKERS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _dwconv, "FULLY_CONNECTED": _fc,
           "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "ADD": _add, "MUL": _mul,
           "SOFTMAX": _softmax}


# ------------------------------------------------- 16x8 (int16 activations)

_LO16, _HI16 = -32768, 32767


def _act16(op, y):
    return quant.activation_range(op.options.get("FusedActivationFunction", 0), y.scale, y.zero_point, _LO16, _HI16)


def _bias64(op, qm, channels):
    """The bias as int64 (the s16 kernels' type): the model's tensor when it
    is int64, else a converted constant param."""
    b = _bias(op, qm)
    if b is not None and b.dtype == "int64":
        return ("tensor", b.index), "int64_t"
    data = b.data.astype(np.int64) if b is not None else np.zeros(channels, np.int64)
    return ("param", "bias", data), "int64_t"


def _fc16(op, qm, arch, fname):
    x, w, y = qm.tensors[op.inputs[0]], qm.tensors[op.inputs[1]], qm.tensors[op.outputs[0]]
    oc, ic = w.shape
    batch = int(np.prod(x.shape)) // ic
    lo, hi = _act16(op, y)
    bias_arg, _ = _bias64(op, qm, oc)
    m, s = quant.quantize_multiplier(float(x.scale) * float(w.scales[0]) / float(y.scale))
    ws = buffer_size("arm_fully_connected_s16", arch, _Dims(ic, 1, 1, oc))
    src = (_HEAD + f"""
int32_t {OP_PREFIX}{fname}(int16_t *a0, int8_t *a1, int64_t *a2, int16_t *out)
{{
    const cmsis_nn_fc_params fp = {{0, 0, 0, {{{lo}, {hi}}}}};
    const cmsis_nn_per_tensor_quant_params qp = {{{m}, {s}}};
    const cmsis_nn_dims id = {{{batch}, 1, 1, {ic}}}, fd = {{{ic}, 1, 1, {oc}}};
    const cmsis_nn_dims bd = {{1, 1, 1, {oc}}}, od = {{{batch}, 1, 1, {oc}}};
{_scratch(ws)}    arm_cmsis_nn_status st = arm_fully_connected_s16(&ctx, &fp, &qp, &id, a0, &fd, a1, &bd, a2, &od, out);
{_release(ws)}    return st != ARM_CMSIS_NN_SUCCESS;
}}
""")
    args = [("view", x.index, (batch, ic)), ("tensor", w.index), bias_arg]
    return CKernel(args, y.index, src, ws, ["arm_fully_connected_s16"], rounding="double")


_MAKERS_16X8 = {"CONV_2D": _conv16, "DEPTHWISE_CONV_2D": _dwconv16, "FULLY_CONNECTED": _fc16}
