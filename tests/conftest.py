import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MODELS = os.environ.get("UTOE_SHARED_MODELS") or os.path.join(os.path.dirname(ROOT), "shared", "models")
# Project copies (copy_project) leave third_party out: every utoe the tests
# start, in any copy, builds with the checkout's CMSIS-NN (./setup.sh installs it)
os.environ.setdefault("UTOE_CMSIS_NN", os.path.join(ROOT, "third_party", "CMSIS-NN"))


def shared_model(name):
    """Path of a model in ../shared/models, or skip the test with the reason."""
    path = os.path.join(SHARED_MODELS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} absent: the externally trained models live in ../shared/models")
    return path


def copy_project(directory):
    """Copy the project's build inputs into directory/utoe; return that path."""
    dst = directory / "utoe"
    # third_party (CMSIS-NN) is not the project's: the copy uses the checkout's (UTOE_CMSIS_NN, scons_helpers)
    ignore = shutil.ignore_patterns("build", "__pycache__", ".git", ".pytest_cache", "*.egg-info", ".sconsign*",
                                    "third_party")
    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst


@pytest.fixture
def project_copy(tmp_path):
    """A copy of the project's build inputs in tmp_path, for tests that edit
    templates or run SCons without touching the checkout."""
    return copy_project(tmp_path)


def unsupported_op_model(path):
    """A valid TFLite model whose one operator (LSH_PROJECTION) neither TVM's
    frontend nor utoe's integer path compiles; written with the project's
    own flatbuffer writer (models/tflite_builder.py)."""
    import sys

    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from tflite.BuiltinOperator import BuiltinOperator
        from tflite_builder import Model, TensorType
    finally:
        sys.path.pop(0)
    m = Model("utoe test: an operator nobody compiles")
    hashes = m.tensor("hash", [4, 2], TensorType.FLOAT32, data=np.ones((4, 2), np.float32))
    x = m.tensor("x", [1, 3], TensorType.FLOAT32)
    y = m.tensor("lsh", [4], TensorType.INT32)
    m.operator(BuiltinOperator.LSH_PROJECTION, [hashes, x], [y])
    m.io([x], [y])
    with open(path, "wb") as f:
        f.write(m.serialize())
    return path


@pytest.fixture(scope="session")
def codegen(tmp_path_factory):
    """Real TVM codegen, run once per (model file, name, options) for the
    whole session: generate(path, name, options) -> (directory, metadata).
    The directory is shared: copy it before editing what is in it."""
    import json

    from utoe.codegen import generate

    done = {}

    def run(path, name, options=None):
        key = (os.path.abspath(path), name, json.dumps(options or {}, sort_keys=True))
        if key not in done:
            out = tmp_path_factory.mktemp(f"codegen-{name}")
            meta = generate(path, str(out), name, options or None)
            done[key] = (out, meta)
        out, meta = done[key]
        return out, json.loads(json.dumps(meta))  # each test gets its own copy of the metadata

    return run


def big_activation_model(path, elements):
    """A valid float TFLite model, one RELU on a [1, elements] tensor: little
    to compile, 8 x elements bytes of activations (input and output)."""
    import sys

    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        from tflite.BuiltinOperator import BuiltinOperator
        from tflite_builder import Model, TensorType
    finally:
        sys.path.pop(0)
    m = Model("utoe test: wide activations")
    x = m.tensor("x", [1, elements], TensorType.FLOAT32)
    y = m.tensor("y", [1, elements], TensorType.FLOAT32)
    m.operator(BuiltinOperator.RELU, [x], [y])
    m.io([x], [y])
    with open(path, "wb") as f:
        f.write(m.serialize())
    return str(path)


@pytest.fixture(scope="session")
def sinus_native(tmp_path_factory):
    """sinus built and run on this host by the real build (scons board=native
    model=sinus trials=5), once per session: .build (the build directory),
    .pair (build/native/sinus), .metadata and .sizes (the codegen's and the
    firmware's JSON as written), .result (result.json)."""
    import glob
    import json
    import subprocess
    import sys
    import types

    shared_model("sinus_float.tflite")
    build = tmp_path_factory.mktemp("sinus-native") / "build"
    proc = subprocess.run([sys.executable, "-m", "SCons", "-Q", f"build={build}", "board=native", "model=sinus",
                           "trials=5"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, UTOE_SHARED_MODELS=SHARED_MODELS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pair = build / "native" / "sinus"
    (meta_path,) = [p for p in glob.glob(str(build / "**" / "metadata.json"), recursive=True)]

    def load(path):
        with open(path) as f:
            return json.load(f)

    return types.SimpleNamespace(build=build, pair=pair, metadata_path=meta_path, metadata=load(meta_path),
                                 sizes=load(pair / "sizes.json"), result=load(pair / "result.json"))


@pytest.fixture(scope="session")
def report_build(tmp_path_factory):
    """A real report of sinus and lenet5 on this host (scons board=native
    model=sinus,lenet5 trials=5 report), once per session: .build (the build
    directory), .report (build/report), .scons(*args) (another scons run on
    the same build directory, a CompletedProcess; check=False)."""
    import subprocess
    import sys
    import types

    shared_model("sinus_float.tflite")
    shared_model("mnist_0.983_quantized.tflite")
    build = tmp_path_factory.mktemp("report-native") / "build"
    args = [f"build={build}", "board=native", "model=sinus,lenet5", "trials=5"]

    def scons(*more, env=None, **kw):
        return subprocess.run([sys.executable, "-m", "SCons", "-Q", *args, *more], cwd=ROOT, capture_output=True,
                              text=True, timeout=600, env=env or dict(os.environ, UTOE_SHARED_MODELS=SHARED_MODELS),
                              **kw)

    proc = scons("report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return types.SimpleNamespace(build=build, report=build / "report", scons=scons, args=args)
