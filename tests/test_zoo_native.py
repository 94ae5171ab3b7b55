"""Every model of ../shared/models that utoe compiles goes end to end on
`native`: codegen, firmware, run, measure, with sane figures, and outputs
checked against TFLite's reference kernels."""

import json
import os

import pytest

from tests.conftest import ROOT, shared_model
from tests.scons_helpers import Build
from utoe import models

IMPORTABLE = ["sinus", "lenet5", "kws_ref_model", "dscnn_s", "vww", "ad01", "ad_small", "resnet8", "rnnoise",
              "sine", "lenet5_int8", "vww_mbv1", "kws_dscnn_s", "ad_dae", "rnnoise_gru"]
INT8 = set(IMPORTABLE) - {"sinus", "sine"}

pytestmark = pytest.mark.slow  # 15 models compiled, built and run: select with -m slow


@pytest.fixture(scope="module")
def zoo_build(tmp_path_factory):
    for name in IMPORTABLE:
        path = models.registry()[name].path
        if not os.path.exists(path):
            shared_model(os.path.basename(path))
    build_dir = tmp_path_factory.mktemp("zoo") / "build"
    b = Build(ROOT)
    b.scons(f"build={build_dir}", "board=native", "model=" + ",".join(IMPORTABLE), "trials=3",
            "mode=per-operator", "report", timeout=1800)
    return build_dir


@pytest.mark.parametrize("name", IMPORTABLE)
def test_zoo_model_end_to_end(zoo_build, name):
    result = json.load(open(zoo_build / "native" / f"{name}+per-operator" / "result.json"))
    meta = json.load(open(zoo_build / "codegen" / f"{name}-greedy-auto" / "metadata.json"))
    assert result["model"] == name and result["mode"] == "per-operator"
    assert len(result["latency"]["trials_ms"]) == 3 and result["latency"]["median"] > 0
    assert len(result["operators"]) == len(meta["operators"])
    assert abs(sum(op["share_pct"] for op in result["operators"]) - 100) < 0.01
    # the model's RAM is at least its arena and workspace; flash holds its weights
    assert result["ram"]["model"]["arena"] == meta["memory"]["arena_bytes"]
    assert result["flash"]["model"]["weights"] >= meta["weights_bytes"]
    assert result["ram"]["stack_peak_bytes"] > 0
    assert meta["memory"]["arena_bytes"] >= meta["memory"]["arena_lower_bound_bytes"]


@pytest.mark.parametrize("name", IMPORTABLE)
def test_zoo_model_matches_tflite_reference(zoo_build, name):
    result = json.load(open(zoo_build / "native" / f"{name}+per-operator" / "result.json"))
    v = result["validation"]
    assert v["reference"] == "tflite-builtin-ref" and v["seed"] == 1
    assert v["ok"], v
    if any(o["dtype"] == "int8" for o in result["outputs"]):
        assert v["exact"] and v["max_abs_error"] == 0


@pytest.mark.parametrize("name", sorted(INT8))
def test_int8_models_compute_in_integers(zoo_build, name):
    meta = json.load(open(zoo_build / "codegen" / f"{name}-greedy-auto" / "metadata.json"))
    assert meta["options"]["importer_used"] == "utoe-integer"
    assert not [p for p in meta["params"] if p["dtype"] == "float32" and p["shape"] != [256]]  # softmax exp table


def test_report_lists_every_model(zoo_build):
    rows = open(zoo_build / "report" / "results.csv").read().splitlines()
    assert len(rows) == 1 + len(IMPORTABLE)
