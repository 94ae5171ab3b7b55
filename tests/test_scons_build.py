"""Dependency tracking of the real SCons build: only what changed is redone.

Each test works on a copy of the project (templates may be edited) with a
small model, and reads the stage lines SCons prints (`codegen  sine`, ...)."""

import glob
import json
import os
import shutil

import pytest

from tests.scons_helpers import Build

@pytest.fixture
def build(project_copy):
    return Build(project_copy)


def names(stages):
    return [s for s, _ in stages]


def test_full_build_then_nothing(build):
    first = build.stages("board=native", "model=sine", "report")
    assert names(first) == ["codegen", "app", "firmware", "sizes", "run", "measure", "report"]
    products = [build.path("build", "native", "sine", f) for f in ("firmware.elf", "run.log", "result.json")]
    mtimes = [os.path.getmtime(p) for p in products]
    again = build.stages("board=native", "model=sine", "report")
    assert again == []
    assert [os.path.getmtime(p) for p in products] == mtimes
    # and SCons itself agrees every product is up to date
    assert build.scons("-q", "board=native", "model=sine", "build/native/sine/result.json", check=False).returncode == 0
    result = json.load(open(products[2]))
    assert result["board"] == "native" and result["model"] == "sine" and len(result["latency"]["trials_ms"]) == 10


def test_trials_and_mode_do_not_rerun_tvm(build):
    build.stages("board=native", "model=sine")
    metadata = next(p for p in glob.glob(build.path("build", "**", "metadata.json"), recursive=True))
    stamp = os.path.getmtime(metadata)
    trials = names(build.stages("board=native", "model=sine", "trials=3"))
    # the harness is rebuilt and run again with the new trial count; TVM is not
    assert "codegen" not in trials
    assert trials[0] == "app" and "firmware" in trials and trials[-2:] == ["run", "measure"], trials
    result = json.load(open(build.path("build", "native", "sine", "result.json")))
    assert result["trials"] == 3 and len(result["latency"]["trials_ms"]) == 3
    mode = names(build.stages("board=native", "model=sine", "trials=3", "mode=per-operator"))
    assert "codegen" not in mode and mode[0] == "app" and mode[-2:] == ["run", "measure"], mode
    assert os.path.getmtime(metadata) == stamp  # the codegen's products were not rewritten
    result = json.load(open(build.path("build", "native", "sine+per-operator", "result.json")))
    assert result["mode"] == "per-operator" and len(result["latency"]["trials_ms"]) == 3
    assert all(op["latency"] is not None for op in result["operators"])


def test_template_edit_rebuilds_only_dependents(build):
    build.stages("board=native", "model=sine")
    tpl = build.path("utoe", "templates", "app", "utoe_config.h.j2")
    with open(tpl, "a") as f:  # an edit that changes the firmware
        f.write("#define UTOE_HEX_CHUNK 64u\n")
    after_app = names(build.stages("board=native", "model=sine"))
    assert after_app == ["app", "firmware", "sizes", "run", "measure"]
    # a comment-only edit re-renders the app and recompiles the one file that
    # includes it, but the same object stops the chain before the link
    with open(tpl, "a") as f:
        f.write("/* edited */\n")
    assert names(build.stages("board=native", "model=sine")) == ["app"]
    tpl = build.path("utoe", "templates", "codegen", "model.h.j2")
    with open(tpl, "a") as f:
        f.write("/* edited */\n")
    after_cg = names(build.stages("board=native", "model=sine"))
    assert after_cg[0] == "codegen" and "app" not in after_cg


def perturbed_weights(model_bytes):
    """The same model with the last bit of one weight flipped."""
    import tflite

    m = tflite.Model.GetRootAsModel(model_bytes, 0)
    largest = max((m.Buffers(i) for i in range(m.BuffersLength())), key=lambda b: b.DataLength())
    data = largest.DataAsNumpy().tobytes()
    at = model_bytes.find(data)
    assert at > 0
    blob = bytearray(model_bytes)
    blob[at] ^= 0x01
    return bytes(blob)


def test_model_edit_rebuilds_that_model_only(build, tmp_path):
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    shutil.copy(build.path("models", "sine.tflite"), a)
    shutil.copy(build.path("models", "sine.tflite"), b)
    build.stages("board=native", f"model={a},{b}")
    os.utime(a, (1, 1))  # a new time stamp, same contents: nothing to do
    assert build.stages("board=native", f"model={a},{b}") == []
    a.write_bytes(perturbed_weights(a.read_bytes()))
    labels = build.stages("board=native", f"model={a},{b}")
    assert ("codegen", "a") in labels and ("measure", "native/a") in labels
    assert not [label for _, label in labels if label == "b" or label.startswith("native/b")]
