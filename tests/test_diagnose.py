"""A run whose outputs differ from the reference fails naming the first
operator that differs (real codegen, gcc, host run and TFLite interpreter;
the fault is planted in the generated C of one operator)."""

import re

import pytest

from tests.conftest import shared_model
from utoe import boards, reference
from utoe.diagnose import first_divergence, trace


@pytest.fixture
def kws(codegen):
    return codegen(shared_model("kws_ref_model.tflite"), "kws")


def plant_fault(cg_dir, func):
    """Start one operator's accumulators at 5000 instead of 0."""
    src = (cg_dir / "ops.c").read_text()
    start = src.index(f"int32_t utoe_op_{func}(")
    body_end = src.index("return 0;", start)
    body = src[start:body_end]
    faulty, n = re.subn(r"acc_ptr\[0\] = 0;", "acc_ptr[0] = 5000;", body, count=1)
    assert n == 1
    (cg_dir / "ops.c").write_text(src[:start] + faulty + src[body_end:])


def test_trace_matches_reference_everywhere(kws):
    cg_dir, meta = kws
    traces = trace(boards.get("native"), str(cg_dir), meta, seed=1)
    assert sorted(traces) == list(range(len(meta["operators"])))
    assert first_divergence(boards.get("native"), str(cg_dir), meta, seed=1) is None


def test_first_differing_operator_is_named(kws, tmp_path):
    cg_dir, meta = kws
    faulty = tmp_path / "cg"
    faulty.mkdir()
    for f in cg_dir.iterdir():
        (faulty / f.name).write_bytes(f.read_bytes())
    # fully_connected_11 has a body of its own (the repeated blocks share theirs)
    plant_fault(faulty, "fully_connected_11")
    index, name, tensor, err = first_divergence(boards.get("native"), str(faulty), meta, seed=1)
    assert (index, name) == (11, "fully_connected_11") and err >= 1
    result_path = tmp_path / "result.json"
    result_path.write_text("{}")
    result = {"board": "native", "model": "kws", "runner": "host", "seed": 1,
              "validation": {"ok": False, "reference": "tflite-builtin-ref", "max_abs_error": 3.0,
                             "tolerance": "bit-exact"}}
    with pytest.raises(reference.ValidationError) as e:
        reference.check(result, boards.get("native"), str(faulty), str(result_path))
    assert str(e.value) == ("native/kws: outputs differ from tflite-builtin-ref (max abs error 3, bit-exact); the "
                            f"first operator that differs is #11 fully_connected_11 (output '{tensor}', "
                            f"max abs error {err:g})")
    assert not result_path.exists()


def test_a_nameless_model_is_diagnosed_too(tmp_path):
    """Tensors without names (legal TFLite): the reference's tensors are
    found by utoe's tensor_<i>, its inputs by position."""
    import os
    import sys

    import numpy as np

    from tests.conftest import ROOT
    from utoe.codegen import generate

    sys.path.insert(0, os.path.join(ROOT, "models"))
    try:
        import make_conformance
    finally:
        sys.path.pop(0)
    case = next(c for c in make_conformance.cases() if c.id == "fully_connected-int8-16-to-10")
    model = case.build(np.random.default_rng(1))
    for t in model.tensors:
        t.name = None
    path = tmp_path / "nameless.tflite"
    path.write_bytes(model.serialize())
    cg = tmp_path / "cg"
    meta = generate(str(path), str(cg), "nameless")
    assert first_divergence(boards.get("native"), str(cg), meta, seed=1) is None
    op = meta["operators"][0]
    assert op["outputs"][0].startswith("tensor_")
    plant_fault(cg, op["function"].removeprefix("utoe_op_"))
    found = first_divergence(boards.get("native"), str(cg), meta, seed=1)
    assert found is not None and found[:3] == (0, op["name"], op["outputs"][0]), found
