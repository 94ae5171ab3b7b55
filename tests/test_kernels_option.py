"""kernels= (issue 13, item 1): on Arm Cortex-M cores utoe calls CMSIS-NN for
every operator it computes exactly, its own kernels for the rest, and says
per operator which library ran it; results stay bit-exact with BUILTIN_REF.

Real TVM, real CMSIS-NN (./setup.sh installs it), real arm-none-eabi-gcc,
real QEMU and the TCG plugin."""

import json
import shutil

import pytest

from tests.conftest import shared_model
from tests.scons_helpers import Build
from utoe.elfsize import open_elf
from utoe.errors import RunError

TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "qemu-system-arm": "qemu-system-arm"}
missing = [f"{tool} (apt-get install {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason="needs " + ", ".join(missing))

BOARD = "nrf52840dk"  # Cortex-M4F: CMSIS-NN's DSP path


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """LeNet-5 on a Cortex-M4 board with kernels=auto, tvm and cmsis-nn."""
    from tests.conftest import copy_project

    shared_model("mnist_0.983_quantized.tflite")
    build = Build(copy_project(tmp_path_factory.mktemp("kernels")))
    for kernels in ("auto", "tvm", "cmsis-nn"):
        build.scons(f"board={BOARD}", "model=lenet5", "trials=1", f"kernels={kernels}")
    return build


def _json(build, *parts):
    with open(build.path(*parts)) as f:
        return json.load(f)


def _result(build, kernels):
    return _json(build, "build", BOARD, "lenet5" + ("" if kernels == "auto" else f"+kernels-{kernels}"), "result.json")


def test_cmsis_nn_computes_every_operator_it_can_exactly(lenet):
    meta = _json(lenet, "build", "codegen", "lenet5-greedy-auto-cmsis-nn-dsp", "metadata.json")
    r = _result(lenet, "cmsis-nn")
    lib = {op["name"]: op["library"] for op in meta["operators"]}
    # convolutions, pools and fully connected layers on CMSIS-NN; what it lacks (QUANTIZE of the float
    # input, TRANSPOSE, DEQUANTIZE of the output) on utoe's own; the reshapes alias their input (no call)
    assert all(v == "cmsis-nn" for n, v in lib.items() if n.startswith(("conv_2d", "max_pool", "fully_connected")))
    assert all(v == "tvm" for n, v in lib.items() if n.startswith(("quantize", "dequantize", "transpose")))
    assert all(v is None for n, v in lib.items() if n.startswith("reshape"))
    assert [op["library"] for op in r["operators"]] == [op["library"] for op in meta["operators"]]
    assert r["options"]["kernels"] == "cmsis-nn" and r["options"]["cmsis_nn_arch"] == "dsp"
    assert r["validation"]["ok"] and r["validation"]["exact"] and r["validation"]["reference"] == "tflite-builtin-ref"
    # the scratch CMSIS-NN asks for is planned into the arena as the operators' workspace
    assert any(op["workspace_bytes"] for op in meta["operators"] if op["library"] == "cmsis-nn")


def test_auto_takes_cmsis_nn_where_it_is_faster(lenet):
    """kernels=auto on a DSP core: CMSIS-NN for the convolution over 6 input
    channels (5x5x6) and the fully connected layers, utoe's own for the
    first convolution (5x5x1: a 25-long dot product) and the pools; the
    result beats both libraries alone, bit-exact."""
    lib = {op["name"]: op["library"] for op in _result(lenet, "auto")["operators"]}
    assert lib["conv_2d_2"] == "tvm" and lib["conv_2d_4"] == "cmsis-nn"
    assert lib["max_pool_2d_3"] == lib["max_pool_2d_5"] == "tvm"
    assert all(v == "cmsis-nn" for n, v in lib.items() if n.startswith("fully_connected"))
    n = {k: _result(lenet, k)["instructions"]["per_inference"] for k in ("auto", "tvm", "cmsis-nn")}
    assert n["auto"] < n["tvm"] and n["auto"] < n["cmsis-nn"], n
    outputs = {k: _result(lenet, k)["outputs"] for k in n}
    assert outputs["auto"] == outputs["tvm"] == outputs["cmsis-nn"]
    assert all(_result(lenet, k)["validation"]["exact"] for k in n)
    assert all(op["library"] in ("tvm", None) for op in _result(lenet, "tvm")["operators"])


def test_only_the_cmsis_nn_sources_the_model_uses_are_built(lenet):
    cg = lenet.path("build", "codegen", "lenet5-greedy-auto-cmsis-nn-dsp")
    double, single = (open(f"{cg}/{f}").read() for f in ("cmsis_nn.c", "cmsis_nn_sr.c"))
    assert '#include "Source/ConvolutionFunctions/arm_convolve_s8.c"' in double
    assert "arm_softmax" not in double + single  # LeNet-5 ends in DEQUANTIZE, no SOFTMAX
    # FULLY_CONNECTED rounds once in TFLite's reference: its own translation unit
    assert "#define CMSIS_NN_USE_SINGLE_ROUNDING" in single and "arm_fully_connected_s8" in single
    assert "arm_fully_connected_s8" not in double
    with open_elf(lenet.path("build", BOARD, "lenet5+kernels-cmsis-nn", "firmware.elf"), RunError, "") as (elf, symtab):
        funcs = {s.name for s in symtab.iter_symbols() if s["st_info"]["type"] == "STT_FUNC"}
    # (arm_fully_connected_s8 itself is small enough to be inlined into the operators)
    assert "arm_convolve_s8" in funcs and "arm_nn_vec_mat_mult_t_s8" in funcs
    # the wrapper's choice is made at codegen: none of the paths LeNet-5 does not take is linked
    assert not {"arm_convolve_wrapper_s8", "arm_convolve_1x1_s8", "arm_convolve_1x1_s8_fast",
                "arm_convolve_1_x_n_s8"} & funcs
    assert not any(f.startswith("arm_softmax") for f in funcs)
    # CMSIS-NN's code is the model's code in the sizes
    assert _result(lenet, "cmsis-nn")["flash"]["model"]["code"] > _result(lenet, "tvm")["flash"]["model"]["code"]


def test_auto_on_a_core_without_dsp_is_utoes_own():
    from utoe import boards
    from utoe.config import kernel_options

    assert kernel_options(boards.get("arduino-zero")) == {"kernels": "tvm"}  # Cortex-M0+
    assert kernel_options(boards.get("arduino-zero"), "cmsis-nn") == {"kernels": "cmsis-nn", "cmsis_nn_arch": "plain"}
    assert kernel_options(boards.get("nrf52840dk")) == {"kernels": "auto", "cmsis_nn_arch": "dsp"}
    assert kernel_options(boards.get("hifive1b")) == {"kernels": "tvm"}


def test_cmsis_nn_on_a_core_it_does_not_target_is_one_line(tmp_path):
    from tests.conftest import ROOT

    proc = Build(ROOT).scons(f"build={tmp_path}", "board=hifive1b", "model=lenet5", "kernels=cmsis-nn", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith("kernels=cmsis-nn: board 'hifive1b' has a sifive-e31 core; CMSIS-NN's kernels are for "
                              "Arm Cortex-M cores (kernels=auto or tvm uses utoe's own)"), proc.stderr


def test_missing_cmsis_nn_is_one_line(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.setenv("UTOE_CMSIS_NN", str(tmp_path / "nowhere"))
    proc = Build(ROOT).scons(f"build={tmp_path / 'b'}", "board=mps2-an386", "model=sinus", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"CMSIS-NN is not installed in {tmp_path / 'nowhere'}: run ./setup.sh" in proc.stderr.splitlines()[-1]


CMSIS_CASES = ("average_pool_2d-int8-2x2-s2-valid",  # 12 B of scratch: the allocator's 16-byte blocks must fit
               "conv_2d-int16-3x3-s1-same-per-channel", "softmax-int8-2x10", "add-int8-same-shape")


def test_cmsis_nn_single_operators_on_the_m4_are_exact(tmp_path):
    """Single-operator models through CMSIS-NN on an emulated Cortex-M4, each
    validated against BUILTIN_REF: the scratch CMSIS-NN asks for is served
    whatever its size (12 bytes here), int16 (16x8) convolutions included."""
    import sys

    from tests.conftest import ROOT
    from utoe.conformance import check

    sys.path.insert(0, f"{ROOT}/models")
    import make_conformance

    done = []
    for case, path in make_conformance.write(str(tmp_path), {"AVERAGE_POOL_2D", "CONV_2D", "SOFTMAX", "ADD"}):
        if case.id in CMSIS_CASES:
            o = check(path, name="m", board="mps2-an386", kernels="cmsis-nn")
            assert o.status == "pass" and o.extra["libraries"] == ["cmsis-nn"], (case.id, o)
            done.append(case.id)
    assert sorted(done) == sorted(CMSIS_CASES)
