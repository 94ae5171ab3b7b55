"""models/sine.tflite: reproducible from models/make_sine.py, a trained sine
regressor under the TFLite reference kernels, and importable by TVM."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "models", "make_sine.py")
MODEL = os.path.join(ROOT, "models", "sine.tflite")


@pytest.fixture(scope="module")
def model_bytes():
    with open(MODEL, "rb") as f:
        return f.read()


def test_script_reproduces_committed_model(tmp_path, model_bytes):
    out = tmp_path / "sine.tflite"
    run = subprocess.run(
        [sys.executable, SCRIPT, "--out", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "mean abs error" in run.stdout
    assert out.read_bytes() == model_bytes, (
        "models/sine.tflite differs from what models/make_sine.py produces; "
        "rerun `python models/make_sine.py` and commit both"
    )


def test_reference_interpreter_fits_sine():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=MODEL, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    assert list(inp["shape"]) == [1, 1] and inp["dtype"] == np.float32
    assert list(out["shape"]) == [1, 1] and out["dtype"] == np.float32

    xs = [2.0 * math.pi * i / 64 for i in range(64)]
    ys = []
    for x in xs:
        interp.set_tensor(inp["index"], np.array([[x]], dtype=np.float32))
        interp.invoke()
        ys.append(float(interp.get_tensor(out["index"])[0, 0]))
    err = float(np.mean(np.abs(np.array(ys) - np.sin(xs))))
    assert err < 0.1, f"mean abs error {err:.4f} vs sin(x)"


def test_tvm_imports_one_1x1_float32_input(model_bytes):
    import tflite
    from tvm.relax.frontend.tflite import from_tflite

    mod = from_tflite(tflite.Model.GetRootAsModel(model_bytes, 0))
    params = mod["main"].params
    assert len(params) == 1
    ty = params[0].ty
    assert [int(d) for d in ty.shape] == [1, 1]
    assert str(ty.dtype) == "float32"
