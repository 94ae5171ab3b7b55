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


def _contents(blob):
    """(structure, {tensor name: weights}) of a TFLite model: operators,
    tensor names, shapes and types exactly; the trained floats apart."""
    import tflite

    m = tflite.Model.GetRootAsModel(blob, 0)
    g = m.Subgraphs(0)
    ops = [(m.OperatorCodes(g.Operators(i).OpcodeIndex()).BuiltinCode(), list(g.Operators(i).InputsAsNumpy()),
            list(g.Operators(i).OutputsAsNumpy())) for i in range(g.OperatorsLength())]
    tensors, weights = [], {}
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        tensors.append((t.Name().decode(), list(t.ShapeAsNumpy()), t.Type()))
        data = m.Buffers(t.Buffer()).DataAsNumpy()
        if not isinstance(data, int):  # a constant
            weights[t.Name().decode()] = np.frombuffer(data.tobytes(), np.float32)
    io = (list(g.InputsAsNumpy()), list(g.OutputsAsNumpy()))
    return (ops, tensors, io), weights


def _predict(blob, xs):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=blob, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    ys = []
    for x in xs:
        interp.set_tensor(inp["index"], np.array([[x]], dtype=np.float32))
        interp.invoke()
        ys.append(float(interp.get_tensor(out["index"])[0, 0]))
    return np.array(ys)


def test_script_reproduces_committed_model(tmp_path, model_bytes):
    """models/make_sine.py re-makes models/sine.tflite: the same graph, names,
    shapes and types, the same trained weights within a float tolerance and
    the same predictions. Trained floats are never compared byte for byte:
    another CPU may round a step differently."""
    out = tmp_path / "sine.tflite"
    run = subprocess.run(
        [sys.executable, SCRIPT, "--out", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "mean abs error" in run.stdout
    hint = "rerun `python models/make_sine.py` and commit both"
    (structure, weights), (want_structure, want_weights) = _contents(out.read_bytes()), _contents(model_bytes)
    assert structure == want_structure, f"models/sine.tflite: another graph than make_sine.py writes; {hint}"
    assert sorted(weights) == sorted(want_weights)
    for name, w in want_weights.items():
        worst = float(np.abs(weights[name] - w).max())
        assert worst <= 1e-3 * float(np.abs(w).max()), f"models/sine.tflite: {name} differs by {worst:.3g}; {hint}"
    xs = [2.0 * math.pi * i / 64 for i in range(64)]
    np.testing.assert_allclose(_predict(out.read_bytes(), xs), _predict(model_bytes, xs), rtol=0, atol=1e-3)


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
