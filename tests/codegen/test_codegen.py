"""Codegen with real TVM: determinism, metadata, and errors that name the culprit."""

import os

import pytest

from tests.conftest import shared_model, unsupported_op_model
from utoe.codegen import OUTPUTS, generate
from utoe.errors import ModelError, UtoeError


def test_sinus_outputs_and_metadata(tmp_path):
    meta = generate(shared_model("sinus_float.tflite"), str(tmp_path), "sinus")
    assert sorted(os.listdir(tmp_path)) == sorted(OUTPUTS)
    assert [op["params"] for op in meta["operators"]] == [["p0", "p1"], ["p2", "p3"], ["p4", "p5"]]
    # U-TOE's published storage column for the sinus model: 0.128, 1.088, 0.068 KB
    assert [op["param_bytes"] for op in meta["operators"]] == [128, 1088, 68]
    mem = meta["memory"]
    assert mem["arena_lower_bound_bytes"] <= mem["arena_bytes"]
    assert meta["weights_bytes"] == 128 + 1088 + 68
    assert meta["inputs"][0]["shape"] == [1, 1] and meta["inputs"][0]["dtype"] == "float32"
    weights = (tmp_path / "weights.c").read_text()
    assert "const float utoe_param_p2[256]" in weights


def test_byte_identical_reruns(tmp_path, codegen):
    model = shared_model("kws_ref_model.tflite")
    for options in ({}, {"importer": "tvm"}):
        first, _ = codegen(model, "kws", options)  # the session's codegen, shared with other tests
        again = tmp_path / (options.get("importer") or "auto")
        generate(model, str(again), "kws", options)
        for f in OUTPUTS:
            assert (again / f).read_bytes() == (first / f).read_bytes(), (options, f)


def test_workspace_pool_sized_from_operators(codegen):
    # TVM's Relax path used to pad into TVMBackendAllocWorkspace temporaries; lower.shrink_temporaries
    # now schedules them away (a pool > 0 is tested in tests/codegen/test_float_path.py)
    _, meta = codegen(shared_model("kws_ref_model.tflite"), "kws", {"importer": "tvm"})
    per_op = [op["workspace_bytes"] for op in meta["operators"]]
    assert meta["memory"]["workspace_pool_bytes"] == max(per_op)


def test_unsupported_operator_named(tmp_path):
    with pytest.raises(ModelError, match=r"TRANSPOSE \(operator #\d+"):
        generate(shared_model("mnist_0.983_quantized.tflite"), str(tmp_path), "lenet5", {"importer": "tvm"})
    assert os.listdir(tmp_path) == []
    with pytest.raises(UtoeError, match=r"LSH_PROJECTION \(operator #0: const float32, float32 -> int32\): no integer kernel yet"):
        generate(unsupported_op_model(tmp_path / "lsh.tflite"), str(tmp_path / "out"), "lsh", {"importer": "utoe"})
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_int8_stays_int8(codegen):
    """utoe's integer path: int8 weights in flash, the arena of TFLite Micro's planner."""
    out, meta = codegen(shared_model("kws_ref_model.tflite"), "kws")
    assert meta["options"]["importer_used"] == "utoe-integer"
    weights = [p for p in meta["params"] if p["dtype"] == "int8"]
    assert sum(p["bytes"] for p in weights) == 22016  # CMSIS-NN's figure for the same network
    assert meta["memory"]["arena_bytes"] == meta["memory"]["arena_lower_bound_bytes"] == 16000
    from utoe.codegen.lower import split_functions

    bodies = split_functions((out / "ops.c").read_text())
    assert len(bodies) >= 6 and [f for f, body in bodies.items() if "float" in body] == ["softmax_12"]


def test_not_tflite_named(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(ModelError, match="model.tflite: not a TFLite model"):
        generate(str(bad), str(tmp_path / "out"), "bad")
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_float_constants_reach_c_exactly():
    """TVM prints float constants with 6 digits (0.012345679104328156 became
    1.234568e-02): the C utoe emits holds each constant's exact value."""
    import re

    import numpy as np
    from tvm import te, tirx

    from utoe.codegen.lower import build_prims

    v32 = float(np.float32(0.0123456789))
    A = te.placeholder((4,), "float64", name="A")
    B = te.compute((4,), lambda i: A[i] * tirx.const(v32, "float64") + tirx.const(-2.5e-7, "float64")
                   + (A[i].astype("float32") * tirx.const(v32, "float32")).astype("float64"), name="B")
    src = build_prims({"k": te.create_prim_func([A, B])})
    literals = re.findall(r"-?\d\.\d+e[+-]\d+f?", src)
    assert sorted(literals) == sorted([f"{v32:.16e}", f"{-2.5e-7:.16e}", f"{v32:.8e}f"]), literals
    assert float(literals[0].rstrip("f")) in (v32, -2.5e-7)


def test_direct_calls_take_every_tensor_of_a_multi_output_operator():
    """TVM names a second output's handle `<name>_handle_1`: the direct call
    still takes every tensor, in the packed function's order (a SPLIT's
    outputs were lost once), and a prologue line utoe does not know is an
    error, not a guess."""
    import re

    from tvm import te

    from utoe.codegen.lower import build_prims, direct_calls, signatures
    from utoe.errors import CodegenError

    X = te.placeholder((2, 6), "int32", name="x0")
    A = te.compute((2, 3), lambda i, j: X[i, j], name="T_split_sections")
    B = te.compute((2, 3), lambda i, j: X[i, j + 3], name="T_split_sections")
    src = build_prims({"split": te.create_prim_func([X, A, B])})
    assert signatures(src) == {"split": ["int32_t", "int32_t", "int32_t"]}
    assert re.search(r"^int32_t utoe_op_split\(int32_t\* x0, int32_t\* \w+, int32_t\* \w+\) \{$", src, re.M), src
    assert "TVMFFIAny" not in src and "_handle" not in src
    packed = ("TVM_DLL int32_t __tvm_ffi_k(void* self_handle, void* args, int32_t num_args, void* result) {\n"
              "  int32_t a_type_index = (((TVMFFIAny*)args)[0].type_index);\n"
              "  void* condval;\n  condval = (((TVMFFIAny*)args)[0].v_ptr);\n"
              "  void* a_handle = (void*)condval;\n"
              "  int32_t flags = (((DLTensor*)a_handle)[0].ndim);\n"
              "  return 0;\n}\n")
    with pytest.raises(CodegenError, match="operator k: TVM's packed entry has a prologue utoe does not recognise"):
        direct_calls(packed)
