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


def slow_after(n, cases):
    """The first n cases run by default, the rest only with -m slow."""
    return [c if i < n else pytest.param(*(c if isinstance(c, tuple) else (c,)), marks=pytest.mark.slow)
            for i, c in enumerate(cases)]


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


@pytest.mark.parametrize("shape,pads,quant", slow_after(1, PAD_CASES))
def test_pad(tmp_path, shape, pads, quant):
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    p = np.array(pads, np.int32)
    run(tmp_path, one_op(OP.PAD, [("x", shape, I8, q(*quant), None), ("pads", p.shape, I32, None, p)],
                         (out, I8, q(*quant)), ("PadOptions", {}), version=2))


@pytest.mark.parametrize("value", slow_after(1, [-128, 127, 3]))
def test_padv2(tmp_path, value):
    shape, pads, quant = (1, 3, 4, 2), [[0, 0], [2, 1], [0, 2], [1, 0]], (0.07, -20)
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    p = np.array(pads, np.int32)
    run(tmp_path, one_op(OP.PADV2, [("x", shape, I8, q(*quant), None), ("pads", p.shape, I32, None, p),
                                    ("c", [], I8, q(*quant), np.array(value, np.int8))],
                         (out, I8, q(*quant)), ("PadV2Options", {}), version=2))


# ---------------------------------------------------------------- MEAN, SUM, REDUCE_MAX, REDUCE_MIN


def reduced(shape, axes, keep):
    axes = {a % len(shape) for a in axes}
    if keep:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def reduce_model(code, shape, axes, keep, qin, qout):
    a = np.array(axes, np.int32)
    return one_op(code, [("x", shape, I8, q(*qin), None), ("axis", a.shape, I32, None, a)],
                  (reduced(shape, axes, keep), I8, q(*qout)), ("ReducerOptions", {"KeepDims": keep}), version=2)


MEAN_CASES = [
    ((1, 7, 7, 16), [1, 2], True, (0.05, -128), (0.02, 127)),  # global average pooling, as converters write it
    ((1, 5, 3, 4), [2, 1], False, (0.1, 3), (0.1, 3)),  # same quantization in and out
    ((2, 6, 6, 3), [1, 2], True, (0.02, 0), (0.5, -10)),
    ((3, 5, 4), [-1], False, (0.3, 127), (0.01, -128)),  # saturates
    ((4, 6), [0, 1], False, (0.05, 10), (0.04, -3)),  # all axes: a scalar
    ((2, 3, 4, 5), [0, 2], True, (0.07, -50), (0.03, 20)),
    ((2, 5, 4), [1, -2, 1], False, (0.05, -3), (0.04, 6)),  # one axis three times: reduced once
]


@pytest.mark.parametrize("shape,axes,keep,qin,qout", slow_after(1, MEAN_CASES))
def test_mean(tmp_path, shape, axes, keep, qin, qout):
    run(tmp_path, reduce_model(OP.MEAN, shape, axes, keep, qin, qout))


@pytest.mark.slow
@pytest.mark.parametrize("shape,axes", [((1, 40, 40, 2), [1, 2]), ((1, 3, 300), [2]), ((5, 11, 13, 3), [0, 1, 2])])
def test_mean_large_counts(tmp_path, shape, axes):
    """Counts above 2^8..2^11: the multiplier's folded 1/count loses bits."""
    run(tmp_path, reduce_model(OP.MEAN, shape, axes, True, (0.02, -7), (0.013, 4)))


@pytest.mark.parametrize("code", [OP.REDUCE_MAX, OP.REDUCE_MIN])
@pytest.mark.parametrize("shape,axes,keep", [((1, 4, 5, 3), [1, 2], True), ((3, 5, 4), [0, -1], False)])
def test_reduce_max_min(tmp_path, code, shape, axes, keep):
    run(tmp_path, reduce_model(code, shape, axes, keep, (0.05, -128), (0.05, -128)))


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("importer", ["auto", "utoe"])
def test_quantized_operator_without_kernel_refused_by_name(tmp_path, importer):
    """Before anything is built, not handed to TVM's float path: one line
    naming each such operator, its index, its tensor types and the model."""
    from utoe.errors import CodegenError

    qa = q(0.001, 0)
    cases = {
        "int16": (one_op(OP.HARD_SWISH, [("a", (1, 8), TensorType.INT16, qa, None)], ((1, 8), TensorType.INT16, qa)),
                  "HARD_SWISH (operator #0: int16 -> int16): no integer kernel for these types "
                  "(utoe's takes int8 -> int8)"),
        "nokernel": (one_op(OP.FLOOR, [("a", (1, 8), I8, q(0.1, 0), None)], ((1, 8), I8, q(0.1, 0))),
                     "FLOOR (operator #0: int8 -> int8): no integer kernel yet"),
        "sum": (reduce_model(OP.SUM, (2, 3), [1], False, (0.1, 0), (0.1, 0)),
                "SUM (operator #0: int8, const int32 -> int8): the reference interpreter (BUILTIN_REF) computes "
                "int8 SUM on the bytes read as uint8"),
    }
    cases["ellipsis"] = (one_op(OP.STRIDED_SLICE, [("x", (2, 3), I8, q(0.1, 0), None)] + [
        (n, (2,), I32, None, np.array(v, np.int32)) for n, v in (("b", [0, 0]), ("e", [2, 3]), ("s", [1, 1]))],
        ((2, 3), I8, q(0.1, 0)), ("StridedSliceOptions", {"EllipsisMask": 1}), version=2),
        "STRIDED_SLICE (operator #0: int8, const int32, const int32, const int32 -> int8): STRIDED_SLICE with an "
        "ellipsis or new-axis mask")
    for name, (data, expected) in cases.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(data)
        out = tmp_path / f"out-{name}"
        with pytest.raises(CodegenError) as e:
            generate(str(path), str(out), name, {"importer": importer})
        line = str(e.value)
        assert "\n" not in line and line.startswith(f"{path}: ") and expected in line, line
        assert not out.exists() or os.listdir(out) == []


# ---------------------------------------------------------------- STRIDED_SLICE, SLICE


def sliced(shape, begin, end, strides, bm=0, em=0, sm=0, offset=False):
    """numpy's (and TFLite's) shape of the slice."""
    idx = []
    for d, n in enumerate(shape):
        b = None if bm >> d & 1 else begin[d]
        if sm >> d & 1:
            idx.append(b or 0)
            continue
        e = None if em >> d & 1 else (begin[d] + end[d] if offset else end[d])
        idx.append(slice(b, e, strides[d]))
    return np.zeros(shape)[tuple(idx)].shape


STRIDED_CASES = [
    ((1, 8, 8, 4), [0, 1, 0, 0], [1, 7, 8, 4], [1, 2, 3, 1], 0, 0, 0, (0.05, -128)),
    ((5, 6), [-4, 5], [0, 0], [1, -2], 0, 2, 0, (0.1, 127)),  # negative stride, to the axis's start
    ((2, 3, 4), [1, 0, 0], [2, 3, 4], [1, 1, 1], 0, 6, 1, (0.02, 0)),  # shrink axis 0
    ((4, 10), [1, -100], [100, 7], [1, 2], 1, 0, 0, (0.3, -7)),  # out-of-range begin/end clamp
    ((1, 6, 5), [0, 0, -1], [1, 6, 0], [1, 1, 1], 3, 3, 4, (0.05, 50)),  # the last column, shrunk
    ((3, 7, 2), [2, 6, 1], [-4, 0, -3], [-1, -3, -1], 0, 0, 0, (0.05, 1)),  # all strides negative
]


@pytest.mark.parametrize("shape,begin,end,strides,bm,em,sm,quant", slow_after(1, STRIDED_CASES))
def test_strided_slice(tmp_path, shape, begin, end, strides, bm, em, sm, quant):
    consts = [(n, np.array(v, np.int32)) for n, v in (("begin", begin), ("end", end), ("strides", strides))]
    run(tmp_path, one_op(OP.STRIDED_SLICE, [("x", shape, I8, q(*quant), None)] +
                         [(n, v.shape, I32, None, v) for n, v in consts],
                         (sliced(shape, begin, end, strides, bm, em, sm), I8, q(*quant)),
                         ("StridedSliceOptions", {"BeginMask": bm, "EndMask": em, "ShrinkAxisMask": sm}), version=2))


@pytest.mark.parametrize("shape,begin,size,quant", slow_after(1, [
    ((1, 5, 6, 3), [0, 1, 2, 0], [1, 3, -1, 2], (0.05, -128)),
    ((7,), [2], [4], (0.1, 127)),
    ((3, 4), [0, 0], [3, 4], (0.2, 9)),
]))
def test_slice(tmp_path, shape, begin, size, quant):
    out = tuple(n - b if s == -1 else s for n, b, s in zip(shape, begin, size))
    b, s = np.array(begin, np.int32), np.array(size, np.int32)
    run(tmp_path, one_op(OP.SLICE, [("x", shape, I8, q(*quant), None), ("begin", b.shape, I32, None, b),
                                    ("size", s.shape, I32, None, s)], (out, I8, q(*quant)), ("SliceOptions", {}),
                         version=2))


def test_strided_slice_short_begin(tmp_path):
    """begin/end/strides shorter than the rank: the last axes are whole."""
    shape, begin, end, strides = (3, 6, 4), [1, 1], [3, 5], [1, 2]
    consts = [(n, np.array(v, np.int32)) for n, v in (("begin", begin), ("end", end), ("strides", strides))]
    run(tmp_path, one_op(OP.STRIDED_SLICE, [("x", shape, I8, q(0.1, 3), None)] +
                         [(n, v.shape, I32, None, v) for n, v in consts],
                         (np.zeros(shape)[1:3, 1:5:2].shape, I8, q(0.1, 3)), ("StridedSliceOptions", {}), version=2))


def test_strided_slice_offset(tmp_path):
    """offset=true: end counts from begin."""
    shape, begin, end, strides = (4, 9), [1, 2], [2, 5], [1, 2]
    consts = [(n, np.array(v, np.int32)) for n, v in (("begin", begin), ("end", end), ("strides", strides))]
    run(tmp_path, one_op(OP.STRIDED_SLICE, [("x", shape, I8, q(0.1, 3), None)] +
                         [(n, v.shape, I32, None, v) for n, v in consts],
                         (sliced(shape, begin, end, strides, offset=True), I8, q(0.1, 3)),
                         ("StridedSliceOptions", {"Offset": True}), version=2))


# ---------------------------------------------------------------- RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU

ACT_QUANT = [((0.05, -128), (0.03, -128)), ((0.1, 127), (0.02, 0)), ((0.02, 3), (0.05, -100)), ((0.2, -5), (0.2, -5))]


@pytest.mark.parametrize("code", [OP.RELU, OP.RELU6, OP.RELU_N1_TO_1])
@pytest.mark.parametrize("qin,qout", slow_after(1, ACT_QUANT))
def test_relu(tmp_path, code, qin, qout):
    shape = (1, 4, 4, 16)  # 256 values: every int8 input is likely among them
    version = 1 if code == OP.RELU_N1_TO_1 else 2  # TFLite registers RELU_N1_TO_1 at version 1 only
    run(tmp_path, one_op(code, [("x", shape, I8, q(*qin), None)], (shape, I8, q(*qout)), version=version))


@pytest.mark.parametrize("alpha", [0.2, 0.01, 1.7])
@pytest.mark.parametrize("qin,qout", slow_after(1, ACT_QUANT[:3]))
def test_leaky_relu(tmp_path, alpha, qin, qout):
    shape = (2, 300)
    run(tmp_path, one_op(OP.LEAKY_RELU, [("x", shape, I8, q(*qin), None)], (shape, I8, q(*qout)),
                         ("LeakyReluOptions", {"Alpha": alpha}), version=2))


# ---------------------------------------------------------------- MAXIMUM, MINIMUM


@pytest.mark.parametrize("code", [OP.MAXIMUM, OP.MINIMUM])
@pytest.mark.parametrize("sa,sb", slow_after(1, [((2, 3, 4), (2, 3, 4)), ((3, 1, 5), (1, 4, 1)), ((1, 4, 4, 3), (3,)),
                                                  ((6,), ())]))
def test_maximum_minimum(tmp_path, code, sa, sb):
    out = np.broadcast_shapes(sa, sb)
    qq = q(0.05, -128)
    b = ("b", sb, I8, qq, None) if sb else ("b", sb, I8, qq, np.array(-7, np.int8))  # a scalar constant
    run(tmp_path, one_op(code, [("a", sa, I8, qq, None), b], (out, I8, qq), ("MaximumMinimumOptions", {}), version=2))


# ---------------------------------------------------------------- HARD_SWISH


@pytest.mark.parametrize("qin,qout", slow_after(1, [((0.05, -128), (0.03, -128)), ((0.5, -5), (0.3, -20)),
                                                     ((0.004, 0), (0.001, 10)),  # reluish exponent > 0 and < 0
                                                     ((0.1, 127), (0.02, 0)), ((0.02, 3), (0.05, -100))]))
def test_hard_swish(tmp_path, qin, qout):
    shape = (1, 8, 8, 8)  # 512 values: most int8 inputs are among them
    run(tmp_path, one_op(OP.HARD_SWISH, [("x", shape, I8, q(*qin), None)], (shape, I8, q(*qout))))


# ---------------------------------------------------------------- GATHER


@pytest.mark.parametrize("shape,axis,indices", slow_after(1, [((10, 4), 0, [3, 0, 9, 3]),
                                                ((2, 5, 3), 1, [[4, 0], [1, 1], [2, 3]]),
                                                ((3, 6), -1, [5]),
                                                ((4, 3, 2), 2, 1)]))  # a scalar index drops the axis
def test_gather(tmp_path, shape, axis, indices):
    idx = np.array(indices, np.int32)
    a = axis % len(shape)
    out = shape[:a] + idx.shape + shape[a + 1:]
    qq = q(0.05, -128)
    run(tmp_path, one_op(OP.GATHER, [("x", shape, I8, qq, None), ("idx", idx.shape, I32, None, idx)], (out, I8, qq),
                         ("GatherOptions", {"Axis": axis}), version=2))


def test_gather_variable_indices_refused(tmp_path):
    from utoe.errors import CodegenError

    path = tmp_path / "g.tflite"
    qq = q(0.05, 0)
    path.write_bytes(one_op(OP.GATHER, [("x", (5, 2), I8, qq, None), ("idx", (3,), I32, None, None)], ((3, 2), I8, qq),
                            ("GatherOptions", {"Axis": 0}), version=2))
    with pytest.raises(CodegenError, match=r"g.tflite: GATHER \(operator #0: int8, int32 -> int8\): no integer kernel "
                                           r"for these types"):
        generate(str(path), str(tmp_path / "out"), "g")


# ---------------------------------------------------------------- PRELU


@pytest.mark.parametrize("shape,ashape,qin,qa,qout", slow_after(1, [
    ((1, 4, 4, 8), (1, 1, 8), (0.05, -128), (0.01, 0), (0.03, -128)),  # per-channel alphas, as converters write them
    ((2, 3, 5), (3, 5), (0.1, 127), (0.004, -20), (0.02, 0)),
    ((1, 6, 6, 3), (3,), (0.02, 3), (0.05, 127), (0.05, -100)),  # alphas near -6 and up: saturation
]))
def test_prelu(tmp_path, shape, ashape, qin, qa, qout):
    alpha = np.random.default_rng(len(shape) + ashape[-1]).integers(-128, 128, ashape).astype(np.int8)
    run(tmp_path, one_op(OP.PRELU, [("x", shape, I8, q(*qin), None), ("alpha", ashape, I8, q(*qa), alpha)],
                         (shape, I8, q(*qout))))


def test_float_model_on_the_integer_path_refused_by_type(tmp_path):
    from utoe.errors import CodegenError

    path = tmp_path / "f.tflite"
    f32 = TensorType.FLOAT32
    path.write_bytes(one_op(OP.RELU, [("x", (1, 4), f32, None, None)], ((1, 4), f32, None)))
    with pytest.raises(CodegenError, match=r"RELU \(operator #0: float32 -> float32\): no integer kernel for these "
                                           r"types \(utoe's takes int16/int8 -> int16/int8\)"):
        generate(str(path), str(tmp_path / "out"), "f", {"importer": "utoe"})
    meta = generate(str(path), str(tmp_path / "out"), "f")  # auto: a float model goes to TVM
    assert meta["options"]["importer_used"] == "tvm-relax"


# ---------------------------------------------------------------- together


def test_mobilenet_v2_style_chain(tmp_path):
    """The new kernels in one graph, as a MobileNet-v2 style stem and head
    uses them: PAD (bottom/right) -> CONV_2D stride 2 VALID with RELU6 ->
    HARD_SWISH -> MEAN over H, W -> GATHER; every operator's output is
    compared, not only the last."""
    rng = np.random.default_rng(7)
    m = Model("utoe test: chain")
    qx, qc, qh, qm = q(0.05, -128), q(0.04, -128), q(0.03, -20), q(0.02, -5)
    x = m.tensor("x", (1, 8, 8, 3), I8, quantization=qx)
    pads = np.array([[0, 0], [0, 1], [0, 1], [0, 0]], np.int32)
    p = m.tensor("pads", pads.shape, I32, data=pads)
    xp = m.tensor("padded", (1, 9, 9, 3), I8, quantization=qx)
    m.operator(OP.PAD, [x, p], [xp], version=2, options=("PadOptions", {}))
    w_scales = [float(s) for s in rng.uniform(0.002, 0.01, 8)]
    w = m.tensor("w", (8, 3, 3, 3), I8, data=rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8),
                 quantization=Quantization(w_scales, [0] * 8, axis=0))
    b = m.tensor("b", (8,), I32, data=rng.integers(-2000, 2000, 8).astype(np.int32),
                 quantization=Quantization([float(np.float32(0.05) * np.float32(s)) for s in w_scales], [0] * 8))
    c = m.tensor("conv", (1, 4, 4, 8), I8, quantization=qc)
    m.operator(OP.CONV_2D, [xp, w, b], [c], version=3,
               options=("Conv2DOptions", {"Padding": 1, "StrideW": 2, "StrideH": 2, "FusedActivationFunction": 3,
                                          "DilationWFactor": 1, "DilationHFactor": 1}))
    h = m.tensor("hswish", (1, 4, 4, 8), I8, quantization=qh)
    m.operator(OP.HARD_SWISH, [c], [h])
    axes = np.array([1, 2], np.int32)
    ax = m.tensor("axes", (2,), I32, data=axes)
    mean = m.tensor("mean", (1, 8), I8, quantization=qm)
    m.operator(OP.MEAN, [h, ax], [mean], version=2, options=("ReducerOptions", {"KeepDims": False}))
    idx = np.array([7, 0, 3], np.int32)
    it = m.tensor("idx", (3,), I32, data=idx)
    y = m.tensor("y", (1, 3), I8, quantization=qm)
    m.operator(OP.GATHER, [mean, it], [y], version=2, options=("GatherOptions", {"Axis": 1}))
    m.io([x], [y])
    m.signature("serving_default", {"x": x}, {"y": y})
    path = tmp_path / "chain.tflite"
    path.write_bytes(m.serialize())
    from utoe.diagnose import first_divergence

    meta = generate(str(path), str(tmp_path / "cg"), "chain")
    assert meta["options"]["importer_used"] == "utoe-integer"
    assert [op["name"].rsplit("_", 1)[0] for op in meta["operators"]] == ["pad", "conv_2d", "hard_swish", "mean",
                                                                          "gather"]
    for seed in (1, 2, 3):
        assert first_divergence(boards.get("native"), str(tmp_path / "cg"), meta, seed) is None
    (tmp_path / "again").mkdir()
    run(tmp_path / "again", path.read_bytes(), seeds=(4,))


# ---------------------------------------------------------------- SQUEEZE, EXPAND_DIMS, DEPTH_TO_SPACE, SPACE_TO_DEPTH


def test_squeeze_expand_dims(tmp_path):
    qq = q(0.05, 127)
    run(tmp_path, one_op(OP.SQUEEZE, [("x", (1, 3, 1, 4), I8, qq, None)], ((3, 4), I8, qq),
                         ("SqueezeOptions", {})))
    (tmp_path / "e").mkdir()
    axis = np.array([1], np.int32)
    run(tmp_path / "e", one_op(OP.EXPAND_DIMS, [("x", (3, 4), I8, qq, None), ("axis", (1,), I32, None, axis)],
                               ((3, 1, 4), I8, qq)))


@pytest.mark.parametrize("to_space,shape,bs", slow_after(1, [(True, (1, 3, 4, 8), 2), (False, (2, 6, 4, 3), 2),
                                               (True, (1, 2, 2, 18), 3)]))
def test_depth_space(tmp_path, to_space, shape, bs):
    n, h, w, c = shape
    out = (n, h * bs, w * bs, c // (bs * bs)) if to_space else (n, h // bs, w // bs, c * bs * bs)
    code, table = (OP.DEPTH_TO_SPACE, "DepthToSpaceOptions") if to_space else (OP.SPACE_TO_DEPTH, "SpaceToDepthOptions")
    qq = q(0.05, -128)
    version = 1 if to_space else 2  # BUILTIN_REF registers DEPTH_TO_SPACE at version 1 only
    run(tmp_path, one_op(code, [("x", shape, I8, qq, None)], (out, I8, qq), (table, {"BlockSize": bs}),
                         version=version))


# ---------------------------------------------------------------- RESIZE_NEAREST_NEIGHBOR, ARG_MAX, ARG_MIN


@pytest.mark.parametrize("shape,size,ac,hp", slow_after(1, [((1, 3, 4, 2), (6, 8), False, False),
                                              ((1, 5, 3, 2), (7, 10), True, False),
                                              ((2, 4, 4, 3), (6, 3), False, True),
                                              ((1, 7, 5, 1), (3, 9), True, True)]))
def test_resize_nearest(tmp_path, shape, size, ac, hp):
    s = np.array(size, np.int32)
    qq = q(0.05, -128)
    run(tmp_path, one_op(OP.RESIZE_NEAREST_NEIGHBOR, [("x", shape, I8, qq, None), ("size", (2,), I32, None, s)],
                         ((shape[0], size[0], size[1], shape[3]), I8, qq),
                         ("ResizeNearestNeighborOptions", {"AlignCorners": ac, "HalfPixelCenters": hp}), version=3))


@pytest.mark.parametrize("code,table", [(OP.ARG_MAX, "ArgMaxOptions"), (OP.ARG_MIN, "ArgMinOptions")])
@pytest.mark.parametrize("shape,axis,otype", slow_after(1, [((3, 40, 2), -2, I32), ((4, 3), 0, TensorType.INT64),
                                                            ((1, 10), 1, I32)]))
def test_arg_min_max(tmp_path, code, table, shape, axis, otype):
    """After a RELU6 onto a coarse scale (values 0..6), so that rows have
    ties, which TFLite gives to the first index."""
    out = tuple(d for k, d in enumerate(shape) if k != axis % len(shape))
    m = Model("utoe test: arg")
    x = m.tensor("x", shape, I8, quantization=q(0.05, 0))
    r = m.tensor("r", shape, I8, quantization=q(1.0, 0))
    m.operator(OP.RELU6, [x], [r], version=2)
    a = m.tensor("axis", (1,), I32, data=np.array([axis], np.int32))
    y = m.tensor("y", out, otype)
    m.operator(code, [r, a], [y], version=2, options=(table, {"OutputType": otype}))
    m.io([x], [y])
    m.signature("serving_default", {"x": x}, {"y": y})
    run(tmp_path, m.serialize())


# ---------------------------------------------------------------- ADD, SUB, MUL with broadcasting


@pytest.mark.parametrize("code,table", slow_after(1, [(OP.ADD, "AddOptions"), (OP.SUB, "SubOptions"),
                                                       (OP.MUL, "MulOptions")]))
@pytest.mark.parametrize("sa,sb", slow_after(1, [((1, 4, 4, 8), (1, 1, 1, 8)),  # a squeeze-excite scale
                                   ((2, 3, 1), (1, 5)), ((3, 1, 4), (3, 2, 1))]))
def test_broadcast_elementwise(tmp_path, code, table, sa, sb):
    out = np.broadcast_shapes(sa, sb)
    run(tmp_path, one_op(code, [("a", sa, I8, q(0.05, -128), None), ("b", sb, I8, q(0.02, 7), None)],
                         (out, I8, q(0.06, 3)), (table, {}), version=2))


# ---------------------------------------------------------------- SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND


@pytest.mark.parametrize("shape,block,pads", slow_after(1, [((1, 4, 6, 3), (2, 2), [[0, 0], [0, 0]]),
                                              ((2, 5, 5, 2), (2, 3), [[1, 0], [2, 2]])]))
def test_space_to_batch(tmp_path, shape, block, pads):
    n, h, w, c = shape
    out = (n * block[0] * block[1], (h + sum(pads[0])) // block[0], (w + sum(pads[1])) // block[1], c)
    bs, p = np.array(block, np.int32), np.array(pads, np.int32)
    qq = q(0.05, 100)
    run(tmp_path, one_op(OP.SPACE_TO_BATCH_ND, [("x", shape, I8, qq, None), ("block", (2,), I32, None, bs),
                                                ("pads", (2, 2), I32, None, p)], (out, I8, qq),
                         ("SpaceToBatchNDOptions", {}), version=2))


@pytest.mark.parametrize("shape,block,crops", slow_after(1, [((4, 2, 3, 3), (2, 2), [[0, 0], [0, 0]]),
                                               ((12, 3, 3, 2), (2, 3), [[1, 0], [2, 3]])]))
def test_batch_to_space(tmp_path, shape, block, crops):
    n, h, w, c = shape
    out = (n // (block[0] * block[1]), h * block[0] - sum(crops[0]), w * block[1] - sum(crops[1]), c)
    bs, p = np.array(block, np.int32), np.array(crops, np.int32)
    qq = q(0.05, -128)
    run(tmp_path, one_op(OP.BATCH_TO_SPACE_ND, [("x", shape, I8, qq, None), ("block", (2,), I32, None, bs),
                                                ("crops", (2, 2), I32, None, p)], (out, I8, qq),
                         ("BatchToSpaceNDOptions", {}), version=2))


# ---------------------------------------------------------------- ABS


@pytest.mark.parametrize("qin,qout", slow_after(1, [((0.05, -128), (0.05, -128)),  # same scale: no requantization
                                      ((0.05, 127), (0.03, -128)), ((0.02, 3), (0.07, -100))]))
def test_abs(tmp_path, qin, qout):
    shape = (4, 128)
    run(tmp_path, one_op(OP.ABS, [("x", shape, I8, q(*qin), None)], (shape, I8, q(*qout)), version=2))


# ---------------------------------------------------------------- SQUARED_DIFFERENCE


@pytest.mark.parametrize("sa,sb,qa,qb,qout", slow_after(1, [((2, 50), (2, 50), (0.05, -128), (0.02, 7), (0.5, -128)),
                                              ((1, 4, 4, 8), (8,), (0.1, 127), (0.1, 0), (0.02, -100)),  # saturates
                                              ((3, 20), (1,), (0.01, 3), (0.04, -5), (0.003, -128))]))
def test_squared_difference(tmp_path, sa, sb, qa, qb, qout):
    run(tmp_path, one_op(OP.SQUARED_DIFFERENCE, [("a", sa, I8, q(*qa), None), ("b", sb, I8, q(*qb), None)],
                         (np.broadcast_shapes(sa, sb), I8, q(*qout)), ("SquaredDifferenceOptions", {}), version=2))
