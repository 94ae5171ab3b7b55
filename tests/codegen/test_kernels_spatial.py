"""utoe's spatial integer kernels (utoe/codegen/kernels_spatial.py):
TRANSPOSE_CONV, RESIZE_BILINEAR, BATCH_MATMUL, MIRROR_PAD, each bit-exact
with ai-edge-litert's BUILTIN_REF on one-operator int8 models (compiled by
utoe's integer path, run on this host, compared per seed); and the one-line
refusals of what they do not take. The float32 forms (used where TVM 0.27
fails) are in the conformance matrix (models/conformance_spatial.py)."""

import numpy as np
import pytest

from tests.codegen.test_kernels_more import I8, I32, OP, Quantization, TensorType, one_op, q, run, slow_after
from utoe.codegen import generate
from utoe.errors import CodegenError

SAME, VALID = 0, 1
NONE, RELU, RELU6 = 0, 1, 3


# ---------------------------------------------------------------- TRANSPOSE_CONV


def transpose_conv_model(in_shape, k, oc, stride, padding, bias, act, qin, qout, per_channel=True, seed=0,
                         w_zp=0, in_type=I8):
    rng = np.random.default_rng(seed)
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    kh, kw = k if isinstance(k, tuple) else (k, k)
    n, h, w, c = in_shape
    if padding == SAME:
        oh, ow = h * sh, w * sw
    else:
        oh, ow = (h - 1) * sh + kh, (w - 1) * sw + kw
    scales = list(rng.uniform(0.002, 0.02, oc)) if per_channel else [0.01]
    wq = Quantization(scales, [w_zp] * len(scales), 0)
    weights = rng.integers(-127, 128, (oc, kh, kw, c)).astype(np.int8)
    shape = np.array([n, oh, ow, oc], np.int32)
    inputs = [("shape", [4], I32, None, shape), ("w", list(weights.shape), I8, wq, weights),
              ("x", list(in_shape), in_type, q(*qin), None)]
    if bias:
        bscales = [qin[0] * s for s in (scales if per_channel else scales * oc)]
        inputs.append(("b", [oc], I32, Quantization(bscales, [0] * oc, 0),
                       rng.integers(-3000, 3000, oc).astype(np.int32)))
    else:
        inputs.append((None, None, None, None, None))
    return one_op(OP.TRANSPOSE_CONV, inputs, ((n, oh, ow, oc), in_type, q(*qout)),
                  ("TransposeConvOptions", {"Padding": padding, "StrideW": sw, "StrideH": sh,
                                            "FusedActivationFunction": act}), version=3)


TRANSPOSE_CONV_CASES = [
    ((1, 3, 5, 4), 2, 3, 2, VALID, False, NONE, (0.03, -128), (0.02, 127)),
    ((1, 4, 4, 3), 3, 4, 2, SAME, True, NONE, (0.05, 3), (0.1, -5)),
    ((2, 5, 4, 2), 3, 5, 1, SAME, True, RELU6, (0.08, 127), (0.01, -128)),  # saturates
    ((1, 3, 3, 8), 4, 2, 2, SAME, True, RELU, (0.02, -20), (0.05, 10)),  # even kernel: odd total padding
    ((1, 2, 3, 3), 3, 3, 3, VALID, True, NONE, (0.05, 0), (0.08, 0)),  # stride 3: gaps between taps
    ((1, 3, 4, 2), (3, 2), 4, (2, 1), SAME, True, NONE, (0.04, 7), (0.06, -3)),  # rectangular
    ((1, 4, 4, 5), 3, 6, 2, VALID, True, NONE, (0.05, -1), (0.2, 4)),
]


@pytest.mark.parametrize("in_shape,k,oc,stride,padding,bias,act,qin,qout", slow_after(1, TRANSPOSE_CONV_CASES))
def test_transpose_conv(tmp_path, in_shape, k, oc, stride, padding, bias, act, qin, qout):
    run(tmp_path, transpose_conv_model(in_shape, k, oc, stride, padding, bias, act, qin, qout))


@pytest.mark.slow
def test_transpose_conv_per_tensor_weights(tmp_path):
    run(tmp_path, transpose_conv_model((1, 3, 3, 4), 3, 3, 2, SAME, True, NONE, (0.05, 3), (0.1, -5),
                                       per_channel=False))


def _refused(tmp_path, data, *words):
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    with pytest.raises(CodegenError) as e:
        generate(str(path), str(tmp_path / "cg"), "m", {"importer": "utoe"})
    line = str(e.value)
    assert "\n" not in line and str(path) in line, line
    for w in words:
        assert w in line, line


def test_transpose_conv_refusals(tmp_path):
    """Before any build, in one line naming the operator: weights with a zero
    point (TFLite requires 0) and int16 activations (another kernel's)."""
    _refused(tmp_path, transpose_conv_model((1, 3, 3, 2), 3, 2, 2, SAME, True, NONE, (0.05, 3), (0.1, -5),
                                            w_zp=4),
             "TRANSPOSE_CONV (operator #0", "nonzero zero point")
    _refused(tmp_path, transpose_conv_model((1, 3, 3, 2), 3, 2, 2, SAME, True, NONE, (0.05, 0), (0.1, 0),
                                            in_type=TensorType.INT16),
             "TRANSPOSE_CONV (operator #0", "int16", "no integer kernel for these types")


# ---------------------------------------------------------------- RESIZE_BILINEAR


def resize_bilinear_model(shape, size, ac, hp, qp):
    s = np.array(size, np.int32)
    return one_op(OP.RESIZE_BILINEAR, [("x", shape, I8, q(*qp), None), ("size", [2], I32, None, s)],
                  ((shape[0], size[0], size[1], shape[3]), I8, q(*qp)),
                  ("ResizeBilinearOptions", {"AlignCorners": ac, "HalfPixelCenters": hp}), version=3)


RESIZE_CASES = [
    ((1, 3, 4, 2), (6, 8), False, True, (0.05, -3)),  # half pixel, 2x: negative source coordinates, ties
    ((1, 3, 4, 2), (7, 10), False, True, (0.05, -3)),
    ((2, 4, 3, 3), (7, 5), True, False, (0.1, -128)),
    ((1, 7, 9, 2), (3, 4), False, False, (0.02, 127)),
    ((1, 5, 6, 1), (7, 13), False, True, (0.05, 0)),  # ratios that are not integers
    ((1, 3, 3, 4), (1, 6), True, False, (0.05, 5)),  # align corners with one output row
    ((1, 8, 8, 2), (4, 5), False, True, (0.03, -7)),  # half pixel, downscaling
    ((1, 4, 4, 2), (4, 4), False, False, (0.03, -7)),  # same size: a copy
]


@pytest.mark.parametrize("shape,size,ac,hp,qp", slow_after(1, RESIZE_CASES))
def test_resize_bilinear(tmp_path, shape, size, ac, hp, qp):
    run(tmp_path, resize_bilinear_model(shape, size, ac, hp, qp), seeds=(1, 2, 3))


def test_resize_bilinear_requantizing_refused(tmp_path):
    s = np.array([4, 4], np.int32)
    data = one_op(OP.RESIZE_BILINEAR, [("x", (1, 2, 2, 1), I8, q(0.05, 0), None), ("size", [2], I32, None, s)],
                  ((1, 4, 4, 1), I8, q(0.1, 0)), ("ResizeBilinearOptions", {}), version=3)
    _refused(tmp_path, data, "RESIZE_BILINEAR (operator #0", "different input and output quantization")


# ---------------------------------------------------------------- BATCH_MATMUL


def batch_matmul_model(a_shape, b_shape, adj_x, adj_y, qa, qb, qy, b_const=False):
    rows = a_shape[-1] if adj_x else a_shape[-2]
    cols = b_shape[-2] if adj_y else b_shape[-1]
    batch = list(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))
    bdata = np.random.default_rng(3).integers(-128, 128, b_shape).astype(np.int8) if b_const else None
    return one_op(OP.BATCH_MATMUL, [("a", a_shape, I8, q(*qa), None), ("b", b_shape, I8, q(*qb), bdata)],
                  (tuple(batch + [rows, cols]), I8, q(*qy)), ("BatchMatMulOptions", {"AdjX": adj_x, "AdjY": adj_y}),
                  version=2)


BATCH_MATMUL_CASES = [
    # multiplier exactly 1/8: ties, which TFLite rounds twice (half up, then away from zero)
    ((2, 1, 16, 2), (3, 2, 16), False, False, (0.5, 3), (0.25, -2), (1.0, 0)),
    ((2, 3, 4, 5), (3, 5, 6), False, False, (0.05, -3), (0.04, 7), (0.1, -128)),  # batch broadcast across ranks
    ((2, 5, 4), (1, 5, 3), True, False, (0.1, 127), (0.05, -128), (0.3, 20)),
    ((3, 8), (4, 8), False, True, (0.02, 0), (0.03, 5), (0.01, 3)),  # saturates
    ((2, 1, 6, 3), (1, 4, 2, 6), True, True, (0.05, -128), (0.05, 127), (0.2, 0)),
    ((1, 4, 16), (16, 5), False, False, (0.05, 2), (0.02, 0), (0.1, -9), True),  # constant right-hand side
    ((2, 2, 2, 3, 4), (2, 1, 2, 4, 2), False, False, (0.05, 1), (0.05, -1), (0.08, 2)),  # rank 5
]


@pytest.mark.parametrize("a,b,adj_x,adj_y,qa,qb,qy,b_const", slow_after(1, [
    c if len(c) == 8 else c + (False,) for c in BATCH_MATMUL_CASES]))
def test_batch_matmul(tmp_path, a, b, adj_x, adj_y, qa, qb, qy, b_const):
    run(tmp_path, batch_matmul_model(a, b, adj_x, adj_y, qa, qb, qy, b_const))


def test_batch_matmul_mismatched_depth_refused(tmp_path):
    data = one_op(OP.BATCH_MATMUL, [("a", (2, 3, 4), I8, q(0.05, 0), None), ("b", (2, 5, 6), I8, q(0.05, 0), None)],
                  ((2, 3, 6), I8, q(0.1, 0)), ("BatchMatMulOptions", {"AdjX": False, "AdjY": False}), version=2)
    _refused(tmp_path, data, "BATCH_MATMUL (operator #0", "depths 4 and 5")


# ---------------------------------------------------------------- MIRROR_PAD


def mirror_pad_model(shape, pads, mode, qp, ptype=I32):
    p = np.array(pads, np.int32 if ptype == I32 else np.int64)
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    return one_op(OP.MIRROR_PAD, [("x", shape, I8, q(*qp), None), ("pads", list(p.shape), ptype, None, p)],
                  (out, I8, q(*qp)), ("MirrorPadOptions", {"Mode": mode}), version=2)


MIRROR_CASES = [
    ((1, 4, 5, 2), [[0, 0], [2, 3], [1, 4], [0, 0]], 0, (0.05, -3), I32),  # REFLECT: at most dim - 1
    ((3, 4), [[3, 2], [4, 1]], 1, (0.1, 127), I32),  # SYMMETRIC: up to dim
    ((5,), [[4, 4]], 0, (0.05, -128), TensorType.INT64),
    ((2, 3, 2), [[1, 2], [0, 3], [2, 1]], 1, (0.05, 0), I32),
]


@pytest.mark.parametrize("shape,pads,mode,qp,ptype", slow_after(1, MIRROR_CASES))
def test_mirror_pad(tmp_path, shape, pads, mode, qp, ptype):
    run(tmp_path, mirror_pad_model(shape, pads, mode, qp, ptype))


def test_mirror_pad_too_wide_refused(tmp_path):
    _refused(tmp_path, mirror_pad_model((3, 4), [[3, 0], [0, 0]], 0, (0.05, 0)),
             "MIRROR_PAD (operator #0", "REFLECT paddings [[3, 0], [0, 0]] on shape [3, 4]")


@pytest.mark.slow
def test_hybrid_transpose_conv_refused_by_name(tmp_path):
    """float32 activations with int8 weights (dynamic range): TVM cannot
    import it and utoe's float32 form wants float32 weights; one line."""
    rng = np.random.default_rng(0)
    f32 = TensorType.FLOAT32
    data = one_op(OP.TRANSPOSE_CONV, [("s", [4], I32, None, np.array([1, 6, 6, 2], np.int32)),
                                      ("w", [2, 3, 3, 3], I8, q(0.1, 0), rng.integers(-127, 128, (2, 3, 3, 3))
                                       .astype(np.int8)),
                                      ("x", [1, 3, 3, 3], f32, None, None), (None, None, None, None, None)],
                  ((1, 6, 6, 2), f32, None), ("TransposeConvOptions", {"Padding": SAME, "StrideW": 2, "StrideH": 2}))
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    with pytest.raises(CodegenError) as e:
        generate(str(path), str(tmp_path / "cg"), "m")
    line = str(e.value)
    assert "\n" not in line and str(path) in line
    assert "TRANSPOSE_CONV (operator #0: const int32, const int8, float32 -> float32)" in line
    assert "int8 weights" in line
