"""ONNX and PyTorch (torch.export) front ends: the project's float LeNet-5
from each framework compiles, runs and matches the framework's own runtime;
dynamic shapes and files that are not what they claim fail naming the file
and the input. Real torch, onnx, onnxruntime, TVM and gcc."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.scons_helpers import Build
from utoe import frontend
from utoe.errors import ModelError

torch = pytest.importorskip("torch", reason="torch==2.13.0 not installed (./setup.sh installs it)")
pytest.importorskip("onnx", reason="onnx not installed (./setup.sh installs it)")


def test_both_lenet5_models_run_and_match_their_framework(project_copy):
    build = Build(project_copy)
    build.scons("board=native", "model=lenet5_onnx,lenet5_torch", "trials=2")
    refs = {"lenet5_onnx": "onnxruntime-cpu", "lenet5_torch": "torch-export"}
    outputs = {}
    for model, reference in refs.items():
        with open(build.path("build", "native", model, "result.json")) as f:
            r = json.load(f)
        v = r["validation"]
        assert v["reference"] == reference and v["ok"], v
        assert v["max_abs_error"] < 1e-5
        assert [op["name"] for op in r["operators"]]  # real operators, real figures
        assert r["flash"]["model"]["weights"] == 4 * 61706  # LeNet-5's float32 parameters
        outputs[model] = np.frombuffer(bytes.fromhex(r["outputs"][0]["bytes_hex"]), np.float32)
    # the same network from two frameworks: the same logits, to float rounding
    assert np.allclose(outputs["lenet5_onnx"], outputs["lenet5_torch"], rtol=1e-5, atol=1e-6)


def _onnx_structure(model):
    """What defines an ONNX graph apart from its trained values."""
    from onnx import helper, numpy_helper

    g = model.graph
    nodes = [(n.op_type, list(n.input), list(n.output),
              sorted((a.name, str(helper.get_attribute_value(a))) for a in n.attribute)) for n in g.node]
    io = [(v.name, str(v.type)) for v in list(g.input) + list(g.output)]
    inits = [(t.name, list(t.dims), t.data_type) for t in g.initializer]
    return nodes, io, inits, {t.name: numpy_helper.to_array(t) for t in g.initializer}


def _assert_weights_close(new, old, what):
    """Trained float weights differ between CPUs (SIMD widths change the
    order of sums, and 200 SGD steps amplify it: up to 7.5e-4 of a tensor's
    largest magnitude between two x86-64 machines): equal within 1e-2 of each
    tensor's largest magnitude, never byte for byte."""
    assert sorted(new) == sorted(old), what
    for name in old:
        a, b = np.asarray(new[name], np.float64), np.asarray(old[name], np.float64)
        assert a.shape == b.shape, (what, name)
        tol = 1e-2 * float(np.abs(b).max())
        worst = float(np.abs(a - b).max())
        assert worst <= tol, f"{what}: {name} differs by up to {worst:.3g} (tolerance {tol:.3g})"


def _synthetic_task():
    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from make_lenet5_float import synthetic_batch
    finally:
        sys.path.pop(0)
    return synthetic_batch(torch.Generator().manual_seed(12345), n=100)


@pytest.mark.slow  # trains LeNet-5: 40 s of CPU
def test_script_reproduces_the_committed_models(tmp_path):
    """models/make_lenet5_float.py re-makes models/lenet5.onnx and .pt2: the
    same graphs, tensor names, shapes and types exactly, the same weights
    within a float tolerance, and the same predictions on a fixed batch
    (which they get right: it is the task they were trained on)."""
    import onnx
    import onnxruntime

    script = os.path.join(ROOT, "models", "make_lenet5_float.py")
    run = subprocess.run([sys.executable, script, "--out-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    x, labels = _synthetic_task()

    new, old = (_onnx_structure(onnx.load(str(d / "lenet5.onnx"))) for d in (tmp_path, Path(ROOT, "models")))
    assert new[:3] == old[:3], "models/lenet5.onnx: graph differs from what models/make_lenet5_float.py writes"
    _assert_weights_close(new[3], old[3], "lenet5.onnx")
    logits = {}
    for d in (tmp_path, Path(ROOT, "models")):
        sess = onnxruntime.InferenceSession(str(d / "lenet5.onnx"), providers=["CPUExecutionProvider"])
        logits[f"onnx {d}"] = np.concatenate([sess.run(None, {"image": x[i:i + 1].numpy()})[0]
                                              for i in range(len(x))])  # the graph's batch is 1

    eps = {d: torch.export.load(str(d / "lenet5.pt2")) for d in (tmp_path, Path(ROOT, "models"))}
    graphs = {d: [(n.op, str(n.target), [str(a) for a in n.args]) for n in ep.graph.nodes]
              for d, ep in eps.items()}
    assert graphs[tmp_path] == graphs[Path(ROOT, "models")], "models/lenet5.pt2: graph differs"
    assert str(eps[tmp_path].graph_signature) == str(eps[Path(ROOT, "models")].graph_signature)
    state = {d: {k: v.detach().numpy() for k, v in ep.state_dict.items()} for d, ep in eps.items()}
    assert {k: (v.shape, v.dtype) for k, v in state[tmp_path].items()} == \
        {k: (v.shape, v.dtype) for k, v in state[Path(ROOT, "models")].items()}
    _assert_weights_close(state[tmp_path], state[Path(ROOT, "models")], "lenet5.pt2")
    with torch.no_grad():
        for d, ep in eps.items():
            module = ep.module()  # as the ONNX graph on the same inputs (the state dicts are compared above)
            logits[f"pt2 {d}"] = np.concatenate([module(x[i:i + 1]).numpy() for i in range(len(x))])

    reference = logits[f"onnx {Path(ROOT, 'models')}"]
    assert (reference.argmax(1) == labels.numpy()).mean() >= 0.8  # the committed model learnt its task (90 %)
    for name, y in logits.items():
        assert (y.argmax(1) == reference.argmax(1)).mean() >= 0.97, name  # a near tie may flip
        np.testing.assert_allclose(y, reference, rtol=0, atol=1e-2 * float(np.abs(reference).max()), err_msg=name)


def test_model_paths_resolve_to_names_that_do_not_collide(tmp_path):
    from utoe import models

    # a zoo model's own file builds under the zoo name
    spec = models.resolve(os.path.join(ROOT, "models", "lenet5.onnx"))
    assert spec.name == "lenet5_onnx" and frontend.detect_format(spec.path) == "onnx"
    assert models.resolve(os.path.join(ROOT, "models", "lenet5.pt2")).name == "lenet5_torch"
    # another file whose stem is a zoo name ('lenet5', the int8 TFLite) must not share its build dirs
    (tmp_path / "lenet5.pt2").write_bytes(b"")
    (tmp_path / "lenet5.onnx").write_bytes(b"")
    (tmp_path / "mynet.onnx").write_bytes(b"")
    assert models.resolve(str(tmp_path / "lenet5.pt2")).name == "lenet5_pt2"
    other = models.resolve(str(tmp_path / "lenet5.onnx")).name  # 'lenet5_onnx' is taken too
    assert other.startswith("lenet5_onnx_") and other not in models.registry()
    assert models.resolve(str(tmp_path / "mynet.onnx")).name == "mynet"


def test_dynamic_onnx_input_is_named(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from make_lenet5_float import LeNet5
    finally:
        sys.path.pop(0)
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(LeNet5().eval(), (torch.zeros(1, 1, 28, 28),), str(path), input_names=["image"],
                      dynamic_axes={"image": {0: "batch"}}, opset_version=17, dynamo=False)
    with pytest.raises(ModelError) as e:
        frontend.import_model(str(path))
    assert f"{path}: input 'image' has a dynamic dimension (shape ['batch', 1, 28, 28])" in str(e.value)
    assert "static shapes only" in str(e.value)


def test_dynamic_torch_input_is_named(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from make_lenet5_float import LeNet5
    finally:
        sys.path.pop(0)
    batch = torch.export.Dim("batch", min=2, max=8)
    ep = torch.export.export(LeNet5().eval(), (torch.zeros(2, 1, 28, 28),), dynamic_shapes=({0: batch},))
    path = tmp_path / "dyn.pt2"
    torch.export.save(ep, str(path))
    with pytest.raises(ModelError, match=r"dyn.pt2: input 'x' has a dynamic dimension \(shape \['s\w*', 1, 28, "
                                         r"28\]\); utoe compiles static shapes only"):
        frontend.import_model(str(path))


def test_onnx_input_without_a_shape_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)  # rank unknown
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "noshape.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match=r"noshape.onnx: invalid ONNX model \(onnx.checker: .*'shape'"):
        frontend.import_model(str(path))


def test_dynamic_tflite_input_is_named(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from tflite.BuiltinOperator import BuiltinOperator
        from tflite_builder import Model, TensorType
    finally:
        sys.path.pop(0)
    m = Model("dynamic batch")
    x = m.tensor("x", [-1, 4], TensorType.FLOAT32, shape_signature=[-1, 4])
    y = m.tensor("y", [-1, 4], TensorType.FLOAT32, shape_signature=[-1, 4])
    m.operator(BuiltinOperator.RELU, [x], [y])
    m.io([x], [y])
    path = tmp_path / "dyn.tflite"
    path.write_bytes(m.serialize())
    with pytest.raises(ModelError, match=r"dyn.tflite: input 'x' has a dynamic dimension \(shape \['\?', 4\]\)"):
        frontend.import_model(str(path))


def test_resizable_tflite_batch_compiles_at_its_shape():
    """TFLite converters mark the batch resizable (-1 in the shape signature)
    while the shape says 1: that is static, as in TFLite Micro."""
    from tests.conftest import shared_model

    path = shared_model("sinus_float.tflite")
    model = frontend._tflite_model(path)
    t = model.Subgraphs(0).Tensors(model.Subgraphs(0).Inputs(0))
    assert list(t.ShapeSignatureAsNumpy()) == [-1, 1] and list(t.ShapeAsNumpy()) == [1, 1]
    frontend.import_model(path)


def test_files_that_are_not_what_they_claim(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00\x01 certainly not a protobuf of a graph")
    with pytest.raises(ModelError, match=r"model.onnx: not an ONNX model"):
        frontend.detect_format(str(bad))
    bad = tmp_path / "model.pt2"
    bad.write_text("not a zip")
    with pytest.raises(ModelError, match=r"model.pt2: not a PyTorch exported program"):
        frontend.detect_format(str(bad))


def _zip(path, files):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return str(path)


@pytest.mark.parametrize("files,reason", [
    ({"hello.txt": "hi"}, "file in archive is not in a subdirectory: hello.txt"),
    ({}, "archive does not contain any files"),
    ({"archive/version": "zzz", "archive/data.pkl": "garbage"}, "Couldn't parse the version zzz"),
])
def test_a_zip_that_is_no_exported_program_is_one_line_naming_the_file(tmp_path, capfd, files, reason):
    """torch.export.load logs the traceback of what it cannot deserialize
    (a warning on stderr), then raises 'check the warnings above'. utoe keeps
    the log quiet and says torch's reason itself, naming the file."""
    path = _zip(tmp_path / "fake.pt2", files)
    assert frontend.detect_format(path) == "pt2"  # a zip: only torch can tell
    with pytest.raises(ModelError) as e:
        frontend.import_model(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a PyTorch exported program") and reason in msg, msg
    assert "\n" not in msg and "warnings above" not in msg
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "deserializing" not in err, err
    assert err == "" and out == ""


def test_a_torch_save_checkpoint_is_told_apart(tmp_path):
    path = tmp_path / "weights.pt2"
    torch.save(torch.nn.Linear(2, 2).state_dict(), str(path))
    with pytest.raises(ModelError, match=r"weights.pt2: not a PyTorch exported program .* looks like a "
                                         r"torch.save checkpoint .* torch.export.save\(torch.export.export"):
        frontend.import_model(str(path))


def test_codegen_of_a_fake_pt2_prints_one_line(tmp_path):
    """The codegen process (what SCons runs): exit 3 (the model's fault), one
    stderr line naming the file, no torch traceback."""
    path = _zip(tmp_path / "fake.pt2", {"hello.txt": "hi"})
    proc = subprocess.run([sys.executable, "-m", "utoe.codegen", path, str(tmp_path / "cg"), "fake",
                           json.dumps({"planner": "greedy", "importer": "auto"})],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.splitlines() == [
        f"utoe: {path}: not a PyTorch exported program torch.export.load can read "
        "(RuntimeError: file in archive is not in a subdirectory: hello.txt)"]


def test_an_exported_program_tvm_cannot_import_names_the_file(tmp_path, capfd):
    class Spectrum(torch.nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x).abs()

    path = str(tmp_path / "spectrum.pt2")
    torch.export.save(torch.export.export(Spectrum(), (torch.randn(1, 8),)), path)
    capfd.readouterr()
    with pytest.raises(ModelError, match=r"spectrum.pt2: TVM's pt2 frontend could not import the model: "
                                         r"Unsupported function types \['_fft_r2c.default'\]"):
        frontend.import_model(path)
    assert "Traceback" not in capfd.readouterr().err
