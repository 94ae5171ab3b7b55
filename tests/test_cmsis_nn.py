"""utoe.cmsis_nn: CMSIS-NN kernels for utoe's int8 operators (issue 13).

Each covered operator of real models and of the conformance matrix's
single-operator models is generated as C, compiled with the CMSIS-NN sources
its CKernel lists (host gcc: CMSIS-NN's plain C path), run on the input
tensors TFLite's BUILTIN_REF computed, and compared byte for byte with
BUILTIN_REF's output tensor. The scratch each kernel asks for is checked
against CMSIS-NN's own buffer-size functions for every arch, and the
generated sources must build for a Cortex-M4 (DSP path) with arm-none-eabi-gcc."""

import ctypes
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, shared_model
from utoe import cmsis_nn

pytestmark = pytest.mark.skipif(not cmsis_nn.available(), reason="CMSIS-NN not installed: run ./setup.sh")

REAL = ["kws_ref_model.tflite", "mnist_0.983_quantized.tflite", "vww_96_int8.tflite",
        "pretrainedResnet_quant.tflite", "ad01_int8.tflite"]

CTYPES = {"int8": ctypes.c_int8, "int16": ctypes.c_int16, "int32": ctypes.c_int32, "uint8": ctypes.c_uint8}

# The executor's scratch, for the host: serves at most `utoe_ws_limit` bytes
# and records the largest request.
_STUB = r"""
#include <stdint.h>
#include <stdlib.h>
int64_t utoe_ws_limit = 0, utoe_ws_asked = 0;
void *TVMBackendAllocWorkspace(int dev_type, int dev_id, uint64_t size, int dtype_code, int dtype_bits)
{
    (void)dev_type; (void)dev_id; (void)dtype_code; (void)dtype_bits;
    if ((int64_t)size > utoe_ws_asked) utoe_ws_asked = (int64_t)size;
    if ((int64_t)size > utoe_ws_limit) return NULL;
    return malloc(size);
}
int TVMBackendFreeWorkspace(int dev_type, int dev_id, void *ptr)
{
    (void)dev_type; (void)dev_id; free(ptr); return 0;
}
"""


def _tvm_include():
    from utoe.firmware import tvm_include_dirs

    return tvm_include_dirs()


def _qmodel(path):
    from utoe.codegen import tflite_model
    from utoe.frontend import _tflite_model

    return tflite_model.read(str(path), _tflite_model(str(path)))


def _reference(path, seed=0):
    """BUILTIN_REF run on seeded random inputs with every tensor kept."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    rng = np.random.default_rng(seed)
    for d in it.get_input_details():
        info = np.iinfo(d["dtype"]) if np.issubdtype(d["dtype"], np.integer) else None
        v = rng.integers(info.min, info.max + 1, d["shape"]) if info else rng.standard_normal(d["shape"])
        it.set_tensor(d["index"], v.astype(d["dtype"]))
    it.invoke()
    return it


def _build(kernels, rounding, tmp, tag):
    """One host shared library of the kernels' C and their CMSIS-NN sources."""
    root = cmsis_nn.root()
    unit = tmp / f"{tag}.c"
    unit.write_text("".join(k.c_source for k in kernels) + _STUB)
    sources = sorted({s for k in kernels for s in k.sources})
    lib = tmp / f"{tag}.so"
    cmd = ["gcc", "-O1", "-shared", "-fPIC", "-Wall", "-Werror=implicit-function-declaration",
           ] + sum((["-I", d] for d in cmsis_nn.include_dirs() + _tvm_include()), [])
    if rounding == "single":
        cmd.append("-DCMSIS_NN_USE_SINGLE_ROUNDING")
    cmd += ["-o", str(lib), str(unit)] + [os.path.join(root, s) for s in sources]
    # -z defs: every symbol resolved, i.e. the CKernel's sources are complete; -Bsymbolic: the library's
    # own workspace stub, not TVM's TVMBackendAllocWorkspace (libtvm is loaded globally once TVM ran here)
    r = subprocess.run(cmd + ["-Wl,-z,defs", "-Wl,-Bsymbolic"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return ctypes.CDLL(str(lib))


def _check_model(path, tmp, arch="plain", rounding_override=None):
    """Run every operator why_not accepts through CMSIS-NN; returns
    {op index: (op name, ok)} and the refused {op index: reason}."""
    qm = _qmodel(path)
    it = _reference(path)
    kernels, refused = {}, {}
    for op in qm.ops:
        reason = cmsis_nn.why_not(op, qm, arch)
        if reason is None:
            kernels[op.index] = (op, cmsis_nn.kernel(op, qm, arch, f"op{op.index}"))
        else:
            refused[op.index] = f"{op.name}: {reason}"
    results = {}
    by_rounding = {}
    for i, (op, k) in kernels.items():
        by_rounding.setdefault(rounding_override or k.rounding, []).append((op, k))
    for rounding, group in by_rounding.items():
        lib = _build([k for _, k in group], rounding, tmp, f"{os.path.basename(str(path))}-{rounding}")
        for op, k in group:
            keep = []
            ptrs = []
            for a in k.args:
                if a[0] == "param":
                    arr = np.ascontiguousarray(a[2])
                else:
                    t = qm.tensors[a[1]]
                    arr = np.ascontiguousarray(t.data if t.data is not None else it.get_tensor(a[1]))
                keep.append(arr)
                ptrs.append(arr.ctypes.data_as(ctypes.c_void_p))
            y = qm.tensors[k.output]
            out = np.zeros(y.shape, y.dtype)
            ctypes.c_int64.in_dll(lib, "utoe_ws_limit").value = k.workspace_bytes
            ctypes.c_int64.in_dll(lib, "utoe_ws_asked").value = 0
            f = getattr(lib, f"utoe_op_op{op.index}")
            f.restype = ctypes.c_int32
            rc = f(*ptrs, out.ctypes.data_as(ctypes.c_void_p))
            assert rc == 0, f"op {op.index} {op.name} returned {rc}"
            assert ctypes.c_int64.in_dll(lib, "utoe_ws_asked").value == k.workspace_bytes
            ref = it.get_tensor(k.output)
            results[op.index] = (op.name, np.array_equal(out.reshape(ref.shape), ref),
                                 int(np.abs(out.reshape(ref.shape).astype(np.int32) - ref.astype(np.int32)).max()))
    return results, refused


@pytest.mark.parametrize("name", REAL)
def test_real_model_ops_bit_exact(name, tmp_path):
    results, refused = _check_model(shared_model(name), tmp_path)
    assert results, f"no operator of {name} went to CMSIS-NN; refused: {refused}"
    bad = {i: r for i, r in results.items() if not r[1]}
    assert not bad, f"{name}: operators differing from BUILTIN_REF (index: name, ok, max |diff|): {bad}"


COVERED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL",
           "SOFTMAX")


def _conformance_cases():
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import make_conformance

    return [c for c in make_conformance.cases() if c.op in COVERED and c.dtype == "int8"]


@pytest.mark.parametrize("case", _conformance_cases(), ids=lambda c: c.id)
def test_conformance_case(case, tmp_path):
    """The matrix's int8 single-operator models: accepted ones bit-exact,
    refused ones with a reason (broadcasting ADD/MUL)."""
    path = tmp_path / f"{case.id}.tflite"
    path.write_bytes(case.serialize())
    results, refused = _check_model(path, tmp_path)
    assert results or refused
    bad = {i: r for i, r in results.items() if not r[1]}
    assert not bad, f"{case.id}: differs from BUILTIN_REF: {bad}"
    if "broadcast" in case.name:
        assert any("broadcast" in r for r in refused.values())


@pytest.mark.parametrize("name", ["ad01_int8.tflite", "kws_ref_model.tflite"])
def test_wrong_rounding_is_caught(name, tmp_path):
    """The check has teeth: FULLY_CONNECTED built with CMSIS-NN's default
    double rounding, or the convolutions with single rounding, differ from
    BUILTIN_REF by 1 LSB somewhere (why `rounding` is per kernel)."""
    flipped = "double" if name.startswith("ad01") else "single"
    results, _ = _check_model(shared_model(name), tmp_path, rounding_override=flipped)
    assert any(not ok for _, ok, _ in results.values())
    assert max(d for _, _, d in results.values()) == 1


def test_rounding_per_operator():
    qm = _qmodel(shared_model("kws_ref_model.tflite"))
    seen = {op.name: cmsis_nn.kernel(op, qm, "dsp", "f").rounding
            for op in qm.ops if cmsis_nn.why_not(op, qm, "dsp") is None}
    assert seen == {"CONV_2D": "double", "DEPTHWISE_CONV_2D": "double", "AVERAGE_POOL_2D": "double", "SOFTMAX": "double",
                    "FULLY_CONNECTED": "single"}


# ----------------------------------------------------------- scratch sizes

def _generic_sizes_lib(tmp, dsp):
    """CMSIS-NN's generic *_get_buffer_size as an Arm build compiles it
    (ARM_MATH_DSP defined for the DSP cores), built for this host."""
    root = cmsis_nn.root()
    lib = tmp / f"generic{'-dsp' if dsp else ''}.so"
    cmd = ["gcc", "-O1", "-shared", "-fPIC", "-w", "-I", os.path.join(root, "Include"), "-o", str(lib)]
    cmd += ["-DARM_MATH_DSP"] if dsp else []
    subprocess.run(cmd + [os.path.join(root, s) for s in cmsis_nn._SIZE_SOURCES], check=True)
    return ctypes.CDLL(str(lib))


def _call(lib, func, *args):
    f = getattr(lib, func)
    f.restype = ctypes.c_int32
    return f(*[ctypes.byref(a) if isinstance(a, ctypes.Structure) else ctypes.c_int(a) for a in args])


def test_workspace_is_what_cmsis_nn_asks(tmp_path):
    """workspace_bytes of every conv/depthwise/avgpool of the real models, on
    each arch, equals CMSIS-NN's generic get_buffer_size compiled as that
    arch's build compiles it (plain: no DSP; dsp: ARM_MATH_DSP); the FC's
    kernel-sum param is the size Helium asks for; plain and dsp differ
    somewhere."""
    C = cmsis_nn
    libs = {"plain": _generic_sizes_lib(tmp_path, False), "dsp": _generic_sizes_lib(tmp_path, True)}
    differ = checked = 0
    for name in REAL:
        qm = _qmodel(shared_model(name))
        for op in qm.ops:
            if C.why_not(op, qm, "plain") is not None:
                continue
            ks = {arch: C.kernel(op, qm, arch, "f") for arch in ("plain", "dsp", "mve")}
            differ += ks["plain"].workspace_bytes != ks["dsp"].workspace_bytes
            if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                x, w, y = (qm.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
                (sw, sh), (pw, ph), (dw, dh) = C._conv_geometry(op, qm)
                lo, hi = C._act(op, y)
                ind, outd = C._Dims(*x.shape), C._Dims(*y.shape)
                if op.name == "CONV_2D":
                    p = C._ConvParams(-x.zero_point, y.zero_point, C._Tile(sw, sh), C._Tile(pw, ph), C._Tile(dw, dh),
                                      C._Act(lo, hi))
                    func, fd = "arm_convolve_wrapper_s8_get_buffer_size", C._Dims(*w.shape)
                else:
                    p = C._DwParams(-x.zero_point, y.zero_point, w.shape[3] // x.shape[3], C._Tile(sw, sh),
                                    C._Tile(pw, ph), C._Tile(dw, dh), C._Act(lo, hi))
                    func, fd = "arm_depthwise_conv_wrapper_s8_get_buffer_size", C._Dims(1, *w.shape[1:])
                for arch, lib in libs.items():
                    assert ks[arch].workspace_bytes == _call(lib, func, p, ind, fd, outd), (name, op.index, arch)
                    checked += 1
                assert ks["mve"].workspace_bytes == _call(libs["plain"], func + "_mve", p, ind, fd, outd)
            elif op.name == "AVERAGE_POOL_2D":
                y = qm.tensors[op.outputs[0]]
                for arch, lib in libs.items():
                    assert ks[arch].workspace_bytes == _call(lib, "arm_avgpool_s8_get_buffer_size", y.shape[2],
                                                             y.shape[3])
                    checked += 1
            elif op.name == "FULLY_CONNECTED":
                w = qm.tensors[op.inputs[1]]
                ksum = [a for a in ks["mve"].args if a[0] == "param" and a[1] == "kernel_sum"][0][2]
                assert ksum.nbytes == _call(libs["plain"], "arm_fully_connected_s8_get_buffer_size_mve",
                                            C._Dims(w.shape[1], 1, 1, w.shape[0]))
                assert all(k.workspace_bytes == 0 for k in ks.values())
                # only Helium reads kernel sums: the other paths carry no such constant
                assert not [a for arch in ("plain", "dsp") for a in ks[arch].args if a[1] == "kernel_sum"]
    assert checked > 50 and differ > 0


# ------------------------------------------------------------ Arm builds

def _arm_build(tmp, kernels, cpu_flags, tag, rename=False):
    """Link the kernels with their CMSIS-NN sources into a Cortex-M ELF
    (newlib's nosys stubs): every symbol must resolve on that core's path."""
    root = cmsis_nn.root()
    main = ["#include <stdint.h>", "#include <stdlib.h>",
            "void *TVMBackendAllocWorkspace(int a, int b, uint64_t n, int c, int d) { return malloc(n); }",
            "int TVMBackendFreeWorkspace(int a, int b, void *p) { free(p); return 0; }"]
    main += [f"extern int32_t utoe_op_op{i}();" for i in range(len(kernels))]
    main += ["volatile void *keep[] = {" + ", ".join(f"(void *)utoe_op_op{i}" for i in range(len(kernels))) + "};",
             "int main(void) { return keep[0] != 0; }"]
    objs = []
    for rounding in ("double", "single"):
        group = [k for k in kernels if k.rounding == rounding]
        if not group:
            continue
        unit = tmp / f"{tag}-{rounding}.c"
        prefix = cmsis_nn.renames(cmsis_nn.shared_sources(kernels)) if rename and rounding == "single" else ""
        unit.write_text(prefix + "".join(k.c_source for k in group)
                        + "".join(f'#include "{os.path.join(root, s)}"\n' for s in sorted({s for k in group
                                                                                              for s in k.sources})))
        objs.append((unit, ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if rounding == "single" else []))
    (tmp / f"{tag}-main.c").write_text("\n".join(main) + "\n")
    cmd = ["arm-none-eabi-gcc", "-O2", "-mthumb", *cpu_flags, "--specs=nosys.specs", "-ffunction-sections",
           "-Wl,--gc-sections", "-I", os.path.join(root, "Include")] + sum((["-I", d] for d in _tvm_include()), [])
    compiled = []
    for unit, defs in objs:
        obj = str(unit) + ".o"
        r = subprocess.run(cmd + defs + ["-c", str(unit), "-o", obj], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        compiled.append(obj)
    r = subprocess.run(cmd + [str(tmp / f"{tag}-main.c")] + compiled + ["-o", str(tmp / f"{tag}.elf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("cpu", [["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
                                 ["-mcpu=cortex-m0plus", "-mfloat-abi=soft"],
                                 ["-mcpu=cortex-m55", "-mfloat-abi=hard"]], ids=["m4", "m0plus", "m55"])
def test_builds_for_cortex_m(cpu, tmp_path):
    """Every covered operator of kws (conv, depthwise, avgpool, FC) and
    resnet (ADD) builds for the core: the double- and single-rounding units
    (the lead's two unity files) link together without a clash."""
    arch = cmsis_nn.arch_of(cpu)
    kernels = []
    for name in ("kws_ref_model.tflite", "pretrainedResnet_quant.tflite", "mnist_0.983_quantized.tflite"):
        qm = _qmodel(shared_model(name))
        for op in qm.ops:
            if cmsis_nn.why_not(op, qm, arch) is None:
                kernels.append(cmsis_nn.kernel(op, qm, arch, f"op{len(kernels)}"))
    assert cmsis_nn.shared_sources(kernels) == []
    _arm_build(tmp_path, kernels, cpu, "all")


def test_renames_resolve_a_clash(tmp_path):
    """Were a kernel sharing sources with the other rounding (here CONV_2D
    forced to single rounding next to double-rounding DEPTHWISE_CONV_2D,
    which reaches the conv sources through its Helium path), the two unity
    files define the same functions: the link fails, and renaming the
    single-rounding copies (cmsis_nn.renames) makes it link."""
    qm = _qmodel(shared_model("kws_ref_model.tflite"))
    kernels = []
    for op in qm.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            k = cmsis_nn.kernel(op, qm, "dsp", f"op{len(kernels)}")
            k.rounding = "single" if op.name == "CONV_2D" else "double"
            kernels.append(k)
    shared = cmsis_nn.shared_sources(kernels)
    assert "Source/ConvolutionFunctions/arm_convolve_s8.c" in shared
    cpu = ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    with pytest.raises(AssertionError, match="multiple definition"):
        _arm_build(tmp_path, kernels, cpu, "clash")
    _arm_build(tmp_path, kernels, cpu, "renamed", rename=True)


def test_arch_of_boards():
    import tomllib

    seen = {}
    for f in sorted(f for f in os.listdir(os.path.join(ROOT, "boards")) if f.endswith(".toml")):
        with open(os.path.join(ROOT, "boards", f), "rb") as fh:
            cflags = tomllib.load(fh).get("toolchain", {}).get("cflags", [])
        seen[f[:-5]] = cmsis_nn.arch_of(cflags)
    assert seen["mps2-an386"] == seen["nrf52840dk"] == seen["stm32f746g-disco"] == "dsp"
    assert seen["arduino-zero"] == seen["iotlab-m3"] == seen["mps2-an385"] == "plain"
    assert seen["native"] is seen["hifive1b"] is seen["esp32-wroom-32"] is None
    assert cmsis_nn.arch_of(["-mcpu=cortex-m55"]) == "mve"
    assert cmsis_nn.arch_of(["-mcpu=cortex-m33+nodsp"]) == "plain"


def test_missing_tree_says_run_setup(monkeypatch, tmp_path):
    from utoe.errors import BuildError

    monkeypatch.setenv("UTOE_CMSIS_NN", str(tmp_path / "nowhere"))
    assert not cmsis_nn.available()
    with pytest.raises(BuildError, match=r"run \./setup\.sh") as e:
        cmsis_nn.require()
    assert "\n" not in str(e.value)


def test_sources_closure():
    srcs = cmsis_nn.sources_for(["arm_convolve_wrapper_s8"])
    assert "Source/ConvolutionFunctions/arm_convolve_s8.c" in srcs
    assert "Source/NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c" in srcs  # via the 1x1 fast path
    assert cmsis_nn.sources_for(["arm_max_pool_s8"]) == ["Source/PoolingFunctions/arm_max_pool_s8.c"]


def _matrix_model(tmp, build):
    path = tmp / "case.tflite"
    path.write_bytes(build(np.random.default_rng(0)).serialize())
    return path


_QS = [((0.05, 3), (0.01, 0), (0.02, -3)), ((0.1, -20), (0.07, 5), (0.3, 7)), ((0.003, 1), (0.5, -2), (0.2, 0))]


@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize("qs", _QS, ids=["a", "b", "c"])
def test_elementwise_bit_exact_and_double_rounding(op, qs, tmp_path):
    """6400 elements: bit-exact with the double rounding the kernel asks
    for; the single-rounding build differs (measured: ADD in all three,
    MUL in two of the three quantizations)."""
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import make_conformance as m

    code, table = (m.OP.ADD, "AddOptions") if op == "ADD" else (m.OP.MUL, "MulOptions")
    path = _matrix_model(tmp_path, m._binary("int8", code, table, [1, 20, 20, 16], [1, 20, 20, 16], *qs))
    results, _ = _check_model(path, tmp_path)
    assert [r[:2] for r in results.values()] == [(op, True)]
    if op == "ADD" or qs is not _QS[0]:
        results, _ = _check_model(path, tmp_path, rounding_override="single")
        assert [r[:2] for r in results.values()] == [(op, False)]


@pytest.mark.parametrize("scale", [0.01, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_softmax_bit_exact(scale, beta, tmp_path):
    """500 rows of 10: arm_softmax_s8 with TFLite's scaling is bit-exact with
    BUILTIN_REF (measured for 12 scale/beta pairs, under either rounding)."""
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import make_conformance as m

    path = _matrix_model(tmp_path, m._unary("int8", m.OP.SOFTMAX, [500, 10], (scale, 3), (1 / 256, -128),
                                            options=("SoftmaxOptions", {"Beta": beta})))
    results, _ = _check_model(path, tmp_path)
    assert [r[:2] for r in results.values()] == [("SOFTMAX", True)]


def _conv_model(kind, n, h, w, c, kh, kw, out_ch, stride, dilation, same, act=0, mult=1, zp=3, per_channel=True):
    """A CONV_2D / DEPTHWISE_CONV_2D model of any geometry (batch,
    rectangular kernels, per-axis strides and dilations)."""
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import make_conformance as m

    sh, sw = stride
    dh, dw = dilation

    def out(size, k, s, d):
        ek = (k - 1) * d + 1
        return (size + s - 1) // s if same else (size - ek) // s + 1

    def build(rng):
        net = m._Net(kind, "int8")
        oc = out_ch if kind == "conv" else c * mult
        wshape = [oc, kh, kw, c] if kind == "conv" else [1, kh, kw, oc]
        x = net.act([n, h, w, c], m.q(0.05, zp))
        y = net.act([n, out(h, kh, sh, dh), out(w, kw, sw, dw), oc], m.q(0.1, -5))
        scales = list(rng.uniform(0.002, 0.02, oc)) if per_channel else [0.01]
        wt = net.const(m._w_int8(rng, wshape), m.I8, m.Quantization(scales, [0] * len(scales),
                                                                    0 if kind == "conv" else 3))
        b = net.const(rng.integers(-2000, 2000, oc).astype(np.int32), m.I32,
                      m.Quantization([0.05 * s for s in (scales if per_channel else scales * oc)], [0] * oc, 0))
        opts = {"Padding": m.SAME if same else m.VALID, "StrideW": sw, "StrideH": sh,
                "FusedActivationFunction": act, "DilationWFactor": dw, "DilationHFactor": dh}
        if kind == "conv":
            net.m.operator(m.OP.CONV_2D, [x, wt, b], [y], version=3, options=("Conv2DOptions", opts))
        else:
            opts["DepthMultiplier"] = mult
            net.m.operator(m.OP.DEPTHWISE_CONV_2D, [x, wt, b], [y], version=3,
                           options=("DepthwiseConv2DOptions", opts))
        return net.done([x], [y])

    return build


# (kind, n, h, w, c, kh, kw, out_ch, stride, dilation, same, act, mult, zp): each CMSIS-NN path
GEOMETRIES = {
    "conv-1x1-fast": ("conv", 1, 7, 7, 16, 1, 1, 8, (1, 1), (1, 1), False, 0, 1, 3),
    "conv-1x1-s2": ("conv", 1, 8, 8, 12, 1, 1, 8, (2, 2), (1, 1), False, 1, 1, -128),
    "conv-1xn": ("conv", 1, 1, 20, 8, 1, 5, 6, (1, 1), (1, 1), True, 0, 1, 10),
    "conv-1xn-s2": ("conv", 1, 1, 21, 4, 1, 3, 5, (2, 2), (1, 1), True, 3, 1, -7),
    "conv-generic-batch2": ("conv", 2, 9, 7, 5, 3, 2, 7, (2, 1), (1, 1), True, 0, 1, 3),
    "conv-dilated": ("conv", 1, 12, 12, 4, 3, 3, 6, (1, 1), (2, 2), True, 1, 1, 0),
    "conv-5x5-same": ("conv", 1, 10, 10, 3, 5, 5, 4, (1, 1), (1, 1), True, 0, 1, 127),
    "dw-3x3": ("dw", 1, 9, 9, 8, 3, 3, 0, (1, 1), (1, 1), True, 0, 1, 3),
    "dw-3x3-s2-valid": ("dw", 1, 10, 10, 6, 3, 3, 0, (2, 2), (1, 1), False, 3, 1, -100),
    "dw-5x5-opt": ("dw", 1, 12, 12, 10, 5, 5, 0, (1, 1), (1, 1), True, 1, 1, 5),
    "dw-mult3": ("dw", 1, 8, 8, 3, 3, 3, 0, (1, 1), (1, 1), True, 0, 3, 0),
    "dw-mult4": ("dw", 1, 8, 8, 2, 3, 3, 0, (1, 1), (1, 1), False, 0, 4, 0),
    "dw-batch2": ("dw", 2, 7, 7, 4, 3, 3, 0, (1, 1), (1, 1), True, 0, 1, 3),
    "dw-dilated": ("dw", 1, 12, 12, 4, 3, 3, 0, (1, 1), (2, 2), True, 0, 1, 3),
    "dw-1-in-ch": ("dw", 1, 8, 8, 1, 3, 3, 0, (1, 1), (1, 1), True, 0, 16, 3),
}


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_conv_geometries(geometry, tmp_path):
    """Every path CMSIS-NN's wrappers pick (1x1 fast, 1x1 strided, 1xN,
    im2col, dilated, batched; depthwise 3x3, opt, generic with multipliers,
    batched, dilated) bit-exact on its host path, scratch exactly as asked."""
    kind, *g = GEOMETRIES[geometry]
    *geo, act, mult, zp = g
    path = _matrix_model(tmp_path, _conv_model(kind, *geo, act=act, mult=mult, zp=zp))
    results, refused = _check_model(path, tmp_path)
    assert not refused and [r[1] for r in results.values()] == [True], (results, refused)


# What arm_convolve_wrapper_s8 calls for the conv geometries above (CMSIS-NN's predicates:
# 1x1 = 1x1 kernel, no padding, no dilation; fast = unit stride; 1xN = input height 1 and
# stride.w * channels a multiple of 4); utoe calls it directly.
CONV_PATHS = {"conv-1x1-fast": "arm_convolve_1x1_s8_fast", "conv-1x1-s2": "arm_convolve_1x1_s8",
              "conv-1xn": "arm_convolve_1_x_n_s8", "conv-1xn-s2": "arm_convolve_1_x_n_s8",
              "conv-generic-batch2": "arm_convolve_s8", "conv-dilated": "arm_convolve_s8",
              "conv-5x5-same": "arm_convolve_s8"}


def test_convolve_path_is_the_wrappers_choice():
    from utoe.cmsis_nn import _ConvParams, _Dims, _Tile, _Act, convolve_s8_path

    assert set(CONV_PATHS) == {g for g, v in GEOMETRIES.items() if v[0] == "conv"}
    for geometry, want in CONV_PATHS.items():
        _, n, h, w, c, kh, kw, oc, (sh, sw), (dh, dw), same, *_ = GEOMETRIES[geometry]
        pad = (kh // 2, kw // 2) if same else (0, 0)
        params = _ConvParams(0, 0, _Tile(sw, sh), _Tile(pad[1], pad[0]), _Tile(dw, dh), _Act(-128, 127))
        assert convolve_s8_path(params, _Dims(n, h, w, c), _Dims(oc, kh, kw, c)) == want, geometry


def _int16_cases():
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import make_conformance

    return [c for f in make_conformance.families() for c in f.cases()
            if c.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and c.dtype == "int16"
            and "hard-swish" not in c.name]  # BUILTIN_REF has no int16 HARD_SWISH


@pytest.mark.parametrize("case", _int16_cases(), ids=lambda c: c.id)
def test_16x8_case(case, tmp_path):
    """16x8 conv / depthwise / FC (the s16 kernels): bit-exact, or refused
    with a reason (per-channel FC; int32 bias, which BUILTIN_REF gets wrong);
    the kernel's scratch on dsp equals CMSIS-NN's generic size with DSP."""
    path = _matrix_model(tmp_path, case.build)
    results, refused = _check_model(path, tmp_path)
    assert [r[1] for r in results.values()] == [True] or refused, (results, refused)
    if "per-channel" in case.name and case.op == "FULLY_CONNECTED":
        assert refused
    if "int32-bias" in case.name:
        assert refused
    qm = _qmodel(path)
    op = qm.ops[0]
    if not refused and op.name != "FULLY_CONNECTED":
        C = cmsis_nn
        x, w, y = (qm.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        (sw, sh), (pw, ph), (dw, dh) = C._conv_geometry(op, qm)
        lo, hi = C._act16(op, y)
        if op.name == "CONV_2D":
            p = C._ConvParams(0, 0, C._Tile(sw, sh), C._Tile(pw, ph), C._Tile(dw, dh), C._Act(lo, hi))
            func, fd = "arm_convolve_wrapper_s16_get_buffer_size", C._Dims(*w.shape)
        else:
            p = C._DwParams(0, 0, w.shape[3] // x.shape[3], C._Tile(sw, sh), C._Tile(pw, ph), C._Tile(dw, dh),
                            C._Act(lo, hi))
            func, fd = "arm_depthwise_conv_wrapper_s16_get_buffer_size", C._Dims(1, *w.shape[1:])
        lib = _generic_sizes_lib(tmp_path, True)
        assert C.kernel(op, qm, "dsp", "f").workspace_bytes == _call(lib, func, p, C._Dims(*x.shape), fd,
                                                                      C._Dims(*y.shape))
        kernels = [C.kernel(op, qm, "dsp", "op0")]
        _arm_build(tmp_path, kernels, ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "s16")
