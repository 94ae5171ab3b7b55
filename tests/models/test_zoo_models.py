"""The project's own int8 zoo (models/make_zoo.py): reproducible byte for byte,
runnable under TFLite's reference kernels, and quantized the way TFLite's
converter quantizes (int8 inside, per-channel conv weights, int32 biases at
input scale x weight scale, fixed softmax/logistic/tanh output parameters)."""

import os
import subprocess
import sys
import tomllib

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS_DIR = os.path.join(ROOT, "models")
SCRIPT = os.path.join(MODELS_DIR, "make_zoo.py")

ZOO = ["lenet5_int8", "vww_mbv1", "kws_dscnn_s", "ad_dae", "rnnoise_gru"]
SOFTMAX_MODELS = ["lenet5_int8", "vww_mbv1", "kws_dscnn_s"]
CONV_MODELS = ["lenet5_int8", "vww_mbv1", "kws_dscnn_s"]


def committed(name):
    with open(os.path.join(MODELS_DIR, f"{name}.tflite"), "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    run = subprocess.run(
        [sys.executable, SCRIPT, "--out-dir", str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr
    return out


def load(name):
    import tflite

    return tflite.Model.GetRootAsModel(committed(name), 0)


def op_names():
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


def operators(model):
    """[(op name, [input indices], [output indices])] of subgraph 0."""
    names = op_names()
    g = model.Subgraphs(0)
    out = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex()).BuiltinCode()
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()]
        out.append((names[code], ins, outs))
    return out


def qparams(tensor):
    q = tensor.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    return q.ScaleAsNumpy().astype(np.float64), q.ZeroPointAsNumpy(), q.QuantizedDimension()


@pytest.mark.slow  # re-makes and calibrates the whole zoo
@pytest.mark.parametrize("name", ZOO)
def test_script_reproduces_committed_model(regenerated, name):
    assert (regenerated / f"{name}.tflite").read_bytes() == committed(name), (
        f"models/{name}.tflite differs from what models/make_zoo.py produces; "
        f"rerun `python models/make_zoo.py --only {name}` and commit both"
    )


@pytest.mark.parametrize("name", ZOO)
def test_registry_describes_model(name):
    with open(os.path.join(MODELS_DIR, "registry.toml"), "rb") as f:
        entry = tomllib.load(f)[name]
    assert entry["file"] == f"{name}.tflite"
    assert entry["task"] and entry["input"] and "make_zoo.py" in entry["source"]


@pytest.mark.parametrize("name", ZOO)
def test_reference_interpreter_runs(name):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=committed(name), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interp.allocate_tensors()
    rng = np.random.default_rng(7)
    for d in interp.get_input_details():
        if d["dtype"] == np.int8:
            x = rng.integers(-128, 128, size=d["shape"], dtype=np.int8)
        else:
            x = rng.uniform(0.0, 1.0, size=d["shape"]).astype(d["dtype"])
        interp.set_tensor(d["index"], x)
    interp.invoke()
    outputs = interp.get_output_details()
    assert outputs
    for d in outputs:
        y = interp.get_tensor(d["index"]).astype(np.float64)
        if d["dtype"] == np.int8:
            scale, zero_point = d["quantization"]
            y = (y - zero_point) * scale
        assert np.all(np.isfinite(y)), d["name"]
        if name in SOFTMAX_MODELS:
            assert abs(float(y.sum()) - 1.0) < 0.05, (d["name"], float(y.sum()))


@pytest.mark.parametrize("name", ZOO)
def test_int8_inside(name):
    """Every tensor between the model's inputs and outputs is int8, except
    int32 biases (quantized, zero point 0) and int32 shape/axis operands
    (constant, not quantized). I/O is int8, or float32 for lenet5_int8."""
    from tflite.TensorType import TensorType

    model = load(name)
    g = model.Subgraphs(0)
    io = {int(i) for i in g.InputsAsNumpy()} | {int(i) for i in g.OutputsAsNumpy()}
    biases = {ins[2] for op, ins, _ in operators(model) if op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    io_type = TensorType.FLOAT32 if name == "lenet5_int8" else TensorType.INT8
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        tname = t.Name().decode()
        if i in io:
            assert t.Type() == io_type, tname
        elif t.Type() == TensorType.INT32:
            has_data = model.Buffers(t.Buffer()).DataLength() > 0
            assert has_data, f"{tname}: an int32 activation"
            q = qparams(t)
            if i in biases:
                assert q is not None and np.all(q[1] == 0), tname
            else:
                assert q is None, f"{tname}: a quantized int32 constant that is no bias"
        else:
            assert t.Type() == TensorType.INT8, f"{tname}: type {t.Type()}"
            assert qparams(t) is not None, f"{tname}: int8 without quantization"


@pytest.mark.parametrize("name", ZOO)
def test_weights_and_biases_quantized_as_the_converter(name):
    model = load(name)
    g = model.Subgraphs(0)
    seen = set()
    for op, ins, outs in operators(model):
        if op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        x, w, b = (g.Tensors(i) for i in ins)
        shape = list(w.ShapeAsNumpy())
        w_scale, w_zp, w_axis = qparams(w)
        axis = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": None}[op]
        if axis is None:
            assert len(w_scale) == 1, f"{w.Name()}: FULLY_CONNECTED weights are per tensor"
        else:
            assert w_axis == axis and len(w_scale) == shape[axis] > 1, f"{w.Name()}: per-channel along {axis}"
        assert np.all(w_zp == 0)
        q = np.frombuffer(model.Buffers(w.Buffer()).DataAsNumpy().tobytes(), dtype=np.int8)
        assert q.min() >= -127, f"{w.Name()}: symmetric weights use [-127, 127]"
        x_scale = qparams(x)[0]
        b_scale, b_zp, _ = qparams(b)
        assert len(b_scale) == len(w_scale) and np.all(b_zp == 0)
        np.testing.assert_allclose(b_scale, x_scale[0] * w_scale, rtol=1e-6)
        seen.add(op)
    if name in CONV_MODELS:
        assert "CONV_2D" in seen
    if name in ("vww_mbv1", "kws_dscnn_s"):
        assert "DEPTHWISE_CONV_2D" in seen


@pytest.mark.parametrize("name", ZOO)
def test_fixed_output_quantization(name):
    fixed = {"SOFTMAX": (1 / 256, -128), "LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}
    model = load(name)
    g = model.Subgraphs(0)
    for op, _, outs in operators(model):
        if op in fixed:
            scale, zp, _ = qparams(g.Tensors(outs[0]))
            assert (float(scale[0]), int(zp[0])) == fixed[op], op


def test_rnnoise_is_unrolled_into_builtins():
    ops = {op for op, _, _ in operators(load("rnnoise_gru"))}
    assert {"FULLY_CONNECTED", "SPLIT", "SPLIT_V", "UNPACK", "PACK", "LOGISTIC", "TANH", "MUL", "ADD", "SUB",
            "CONCATENATION", "QUANTIZE"} <= ops


def test_lenet_mirrors_the_seed_structure():
    ops = [op for op, _, _ in operators(load("lenet5_int8"))]
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    assert "TRANSPOSE" in ops and ops.count("CONV_2D") == 2 and ops.count("FULLY_CONNECTED") == 3
