"""The TFLite reader on damaged and unusual files: every structural fault
(truncation, offsets or indices pointing outside, data of the wrong size) is
one ModelError naming the file and the table/tensor at fault, before TVM or
the native reference interpreter sees the bytes; absent tensor names are
legal TFLite and compile."""

import glob
import json
import os
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.scons_helpers import Build
from utoe.errors import ModelError
from utoe.frontend import _tflite_model
from utoe.codegen import tflite_model

sys.path.insert(0, os.path.join(ROOT, "models"))
from tflite.BuiltinOperator import BuiltinOperator  # noqa: E402
from tflite_builder import Model, TensorType  # noqa: E402

sys.path.pop(0)
LENET = os.path.join(ROOT, "models", "lenet5_int8.tflite")


def _read(path):
    return tflite_model.read(str(path), _tflite_model(str(path)))


HOSTILE = {"serving_default_x:0": 'in "x" */ \\',
           "dense/MatMul;dense/BiasAdd": "w /* ??/ \n\tü",
           "dense bias": "b\\",
           "StatefulPartitionedCall:0": 'out\\"; int evil = 1; //'}


def _fc_model(names=True, mutate=None):
    """y = relu(W x + b) in float32, 4 -> 3, optionally damaged by
    mutate(model, tensors). names: True (TFLite-style), False (absent) or
    "hostile" (quotes, backslashes, comment ends, trigraphs, newlines, UTF-8)."""
    m = Model("reader test")
    n = {True: lambda s: s, False: lambda s: None, "hostile": HOSTILE.get}[names]
    x = m.tensor(n("serving_default_x:0"), [1, 4], TensorType.FLOAT32)
    w = m.tensor(n("dense/MatMul;dense/BiasAdd"), [3, 4], TensorType.FLOAT32,
                 data=np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    b = m.tensor(n("dense bias"), [3], TensorType.FLOAT32, data=np.ones(3, np.float32))
    y = m.tensor(n("StatefulPartitionedCall:0"), [1, 3], TensorType.FLOAT32)
    m.operator(BuiltinOperator.FULLY_CONNECTED, [x, w, b], [y], options=("FullyConnectedOptions", {"FusedActivationFunction": 1}))
    m.io([x], [y])
    if mutate:
        mutate(m, (x, w, b, y))
    return m.serialize()


@pytest.mark.parametrize("keep", [7, 40, 300, 1000, -1000, -200, -3])
def test_a_truncated_file_is_named_not_read(tmp_path, keep):
    data = open(LENET, "rb").read()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[:keep])
    with pytest.raises(ModelError) as e:
        _read(path)
    msg = str(e.value)
    assert msg.startswith(str(path)) and ("truncated" in msg or "not a TFLite model" in msg or "no subgraph" in msg)


def test_an_offset_outside_the_file_names_the_field(tmp_path):
    data = bytearray(open(LENET, "rb").read())
    data[0:4] = (len(data) + 64).to_bytes(4, "little")  # the root table offset
    path = tmp_path / "root.tflite"
    path.write_bytes(data)
    with pytest.raises(ModelError, match=r"root\.tflite: not a valid TFLite flatbuffer .*root: points to byte"):
        _read(path)


def test_a_buffer_index_outside_the_model(tmp_path):
    def bad(m, t):
        t[1].buffer = 77
    path = tmp_path / "buf.tflite"
    path.write_bytes(_fc_model(mutate=bad))
    with pytest.raises(ModelError, match=r"tensor 1 \('dense/MatMul;dense/BiasAdd'\): buffer index 77 outside the "
                                         r"model's 3 buffers"):
        _read(path)


def test_constant_data_of_the_wrong_size(tmp_path):
    def bad(m, t):
        m.buffers[t[2].buffer] = m.buffers[t[2].buffer][:-4]
    path = tmp_path / "size.tflite"
    path.write_bytes(_fc_model(mutate=bad))
    with pytest.raises(ModelError, match=r"tensor 2 \('dense bias'\): 8 bytes of data for shape \[3\] \(12 expected\)"):
        _read(path)


def test_a_type_utoe_does_not_compile_is_named(tmp_path):
    def uint32(m, t):
        t[3].type = TensorType.UINT32
    path = tmp_path / "u32.tflite"
    path.write_bytes(_fc_model(mutate=uint32))
    with pytest.raises(ModelError, match=r"tensor 3 \('StatefulPartitionedCall:0'\) has TFLite type UINT32, which "
                                         r"utoe does not compile \(it takes FLOAT32, INT32, "):
        _read(path)


def test_a_zero_dimension_holds_no_data(tmp_path):
    """A 0 in a constant's shape means no elements: 48 bytes of data for
    [3, 0, 4] are a corrupt file (the fuzz campaign found numpy's reshape
    error there)."""
    def bad(m, t):
        t[1].shape = [3, 0, 4]
    path = tmp_path / "zero.tflite"
    path.write_bytes(_fc_model(mutate=bad))
    with pytest.raises(ModelError, match=r"tensor 1 .*: 48 bytes of data for shape \[3, 0, 4\] \(0 expected\)"):
        _read(path)


def test_an_operator_reading_a_tensor_that_does_not_exist(tmp_path):
    def bad(m, t):
        m.operators[0].inputs[0] = 9
    path = tmp_path / "op.tflite"
    path.write_bytes(_fc_model(mutate=bad))
    with pytest.raises(ModelError, match=r"operator 0: input tensor index 9 outside its 4 tensors"):
        _read(path)


def test_an_absurd_shape_is_refused(tmp_path):
    def bad(m, t):
        t[3].shape = [1, 2**20, 2**20, 4]
    path = tmp_path / "huge.tflite"
    path.write_bytes(_fc_model(mutate=bad))
    with pytest.raises(ModelError, match=r"tensor 3 .* has 4,398,046,511,104 elements, over utoe's limit"):
        _read(path)


def test_nameless_tensors_compile_and_run(project_copy, tmp_path):
    path = tmp_path / "nameless.tflite"
    path.write_bytes(_fc_model(names=False))
    q = _read(path)
    assert [t.name for t in q.tensors] == ["tensor_0", "tensor_1", "tensor_2", "tensor_3"]
    build = Build(project_copy)
    build.scons("board=native", f"model={path}")
    assert os.path.exists(build.path("build", "native", "nameless", "result.json"))


def test_any_tensor_name_reaches_c_escaped(project_copy, tmp_path):
    """Names are data, never C: quotes, backslashes, comment ends, trigraphs,
    newlines and UTF-8 in tensor names compile, and the C string holds the
    name's exact bytes."""
    path = tmp_path / "hostile.tflite"
    path.write_bytes(_fc_model(names="hostile"))
    build = Build(project_copy)
    build.scons("board=native", f"model={path}")
    result = json.load(open(build.path("build", "native", "hostile", "result.json")))
    assert result["validation"]["ok"]
    model_c = open(next(iter(glob.glob(build.path("build", "codegen", "hostile-*", "model.c"))))).read()
    out = HOSTILE["StatefulPartitionedCall:0"]
    assert "".join(f"\\{b:03o}" if not (0x20 <= b < 0x7F) or chr(b) in '"\\?' else chr(b)
                   for b in out.encode()) in model_c


def test_a_damaged_model_through_scons_is_one_line(project_copy, tmp_path):
    data = open(LENET, "rb").read()
    path = tmp_path / "half.tflite"
    path.write_bytes(data[: len(data) // 2])
    proc = Build(project_copy).scons("board=native", f"model={path}", check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "utoe: " in line]
    assert len(errors) == 1 and "half.tflite: not a valid TFLite flatbuffer" in errors[0], lines
    assert not any("Traceback" in line for line in lines)
