"""Validation against TFLite's reference kernels, with real interpreters."""

import json

import numpy as np

from tests.conftest import ROOT
from utoe import reference
from utoe.inputs import generate_inputs


def sine_metadata(codegen):
    return codegen(f"{ROOT}/models/sine.tflite", "sine")[1]


def test_reference_sees_the_seeded_input(codegen):
    meta = sine_metadata(codegen)
    name, (out,) = reference.reference_outputs(meta, seed=7)
    assert name == "tflite-builtin-ref" and out.shape == (1, 1)
    # the model is a sine regressor; the seeded input is x in [-1, 1)
    (x,) = generate_inputs([("float32", (1, 1))], 7)
    assert abs(out.item() - np.sin(x.item())) < 0.2


def test_compare_flags_a_one_ulp_difference(codegen):
    meta = sine_metadata(codegen)
    name, (out,) = reference.reference_outputs(meta, seed=1)
    result = {"seed": 1, "outputs": [{"index": 0, "dtype": "float32", "bytes_hex": out.astype("<f4").tobytes().hex()}]}
    same = reference.compare(meta, result, name, [out])
    assert same["exact"] and same["ok"] and same["max_abs_error"] == 0
    off = np.nextafter(out, np.float32(np.inf)).astype("<f4")  # within 1e-5 relative, not exact
    result["outputs"][0]["bytes_hex"] = off.tobytes().hex()
    near = reference.compare(meta, result, name, [out])
    assert not near["exact"] and near["ok"]
    far = (out + np.float32(0.01)).astype("<f4")
    result["outputs"][0]["bytes_hex"] = far.tobytes().hex()
    bad = reference.compare(meta, result, name, [out])
    assert not bad["ok"] and abs(bad["max_abs_error"] - 0.01) < 1e-6
    # recorded in result.json as it is: plain JSON types, no numpy scalars
    assert json.loads(json.dumps(bad)) == bad
    assert type(bad["max_abs_error"]) is float and type(bad["ok"]) is bool
