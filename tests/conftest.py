import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MODELS = os.environ.get("UTOE_SHARED_MODELS") or os.path.join(os.path.dirname(ROOT), "shared", "models")


def shared_model(name):
    """Path of a model in ../shared/models, or skip the test with the reason."""
    path = os.path.join(SHARED_MODELS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} absent: the externally trained models live in ../shared/models")
    return path


def copy_project(directory):
    """Copy the project's build inputs into directory/utoe; return that path."""
    dst = directory / "utoe"
    ignore = shutil.ignore_patterns("build", "__pycache__", ".git", ".pytest_cache", "*.egg-info", ".sconsign*")
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
