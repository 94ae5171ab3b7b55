"""utoe's integer kernels for more TFLite operators, each bit-exact with
TFLite's reference kernels: a one-operator int8 model (written with
models/tflite_builder.py) is compiled by utoe's integer path, built and run
on this host (per-operator trace, as utoe.diagnose does, without SCons) with
seeded random inputs, and its output compared with ai-edge-litert's
BUILTIN_REF interpreter on the same inputs. Zero points at the int8 edges
(-128, 127) and scales that saturate are among the cases."""

import os
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from utoe import boards
from utoe.codegen import generate
from utoe.diagnose import _reference_tensors, trace
from utoe.inputs import DTYPES

sys.path.insert(0, os.path.join(ROOT, "models"))
try:
    from tflite.BuiltinOperator import BuiltinOperator as OP
    from tflite_builder import Model, Quantization, TensorType
finally:
    sys.path.pop(0)

I8, I32 = TensorType.INT8, TensorType.INT32


def q(scale, zp):
    return Quantization([scale], [zp])


def one_op(code, inputs, out, options=None, version=1):
    """A model of one operator. inputs: [(name, shape, type, quantization,
    data or None)]; out: (shape, type, quantization). Tensors without data
    are the model's inputs."""
    m = Model(f"utoe test: {code}")
    ins, live = [], []
    for name, shape, ttype, quant, data in inputs:
        if name is None:
            ins.append(-1)
            continue
        t = m.tensor(name, shape, ttype, data=data, quantization=quant)
        ins.append(t)
        if data is None:
            live.append(t)
    shape, ttype, quant = out
    y = m.tensor("y", shape, ttype, quantization=quant)
    m.operator(code, ins, [y], version=version, options=options)
    m.io(live, [y])
    m.signature("serving_default", {t.name: t for t in live}, {"y": y})
    return m.serialize()


def run(tmp_path, data, seeds=(1, 2)):
    """Compile with utoe's integer path, run on the host; assert the output
    is bit-identical to TFLite's reference for each seed."""
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    out = tmp_path / "cg"
    meta = generate(str(path), str(out), "m", {"importer": "utoe"})
    assert meta["options"]["importer_used"] == "utoe-integer"
    y = meta["outputs"][0]["name"]
    (last,) = [op for op in meta["operators"] if op["outputs"][0] == y]
    for seed in seeds:
        traces = trace(boards.get("native"), str(out), meta, seed)
        dtype, raw = traces[last["index"]]
        got = np.frombuffer(raw, dtype=DTYPES[dtype])
        names, it = _reference_tensors(meta, seed)
        ref = np.asarray(it.get_tensor(names[y])).reshape(-1)
        assert got.shape == ref.shape
        bad = np.flatnonzero(got != ref)
        assert not len(bad), f"seed {seed}: {len(bad)} of {ref.size} differ, first at {bad[0]}: " \
                             f"utoe {got[bad[0]]}, TFLite {ref[bad[0]]}"
    return meta


# ---------------------------------------------------------------- PAD, PADV2

PAD_CASES = [
    ((1, 5, 5, 3), [[0, 0], [1, 1], [1, 1], [0, 0]], (0.05, -128)),  # MobileNet-v2's stride-2 pad
    ((1, 4, 6, 2), [[0, 0], [0, 1], [2, 0], [0, 0]], (0.1, 127)),
    ((3, 7), [[1, 2], [0, 3]], (0.02, 5)),
]


@pytest.mark.parametrize("shape,pads,quant", PAD_CASES)
def test_pad(tmp_path, shape, pads, quant):
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    p = np.array(pads, np.int32)
    run(tmp_path, one_op(OP.PAD, [("x", shape, I8, q(*quant), None), ("pads", p.shape, I32, None, p)],
                         (out, I8, q(*quant)), ("PadOptions", {}), version=2))


@pytest.mark.parametrize("value", [-128, 127, 3])
def test_padv2(tmp_path, value):
    shape, pads, quant = (1, 3, 4, 2), [[0, 0], [2, 1], [0, 2], [1, 0]], (0.07, -20)
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    p = np.array(pads, np.int32)
    run(tmp_path, one_op(OP.PADV2, [("x", shape, I8, q(*quant), None), ("pads", p.shape, I32, None, p),
                                    ("c", [], I8, q(*quant), np.array(value, np.int8))],
                         (out, I8, q(*quant)), ("PadV2Options", {}), version=2))
