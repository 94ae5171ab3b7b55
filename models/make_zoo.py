"""Make the project's own int8 model zoo: models/<name>.tflite.

U-TOE's seed zoo, rebuilt here without TensorFlow so the project owns models it
can regenerate, inspect and change:

    lenet5_int8   LeNet-5, 1x1x28x28 float32 in/out, int8 inside (QUANTIZE ...
                  TRANSPOSE ... DEQUANTIZE, like the seed's mnist model)
    vww_mbv1      MobileNetV1 0.25x, visual wake words, 96x96x3 int8 in/out
    kws_dscnn_s   DS-CNN small, keyword spotting, 49x10x1 int8 in/out
    ad_dae        deep autoencoder 640-128x4-8-128x4-640, anomaly detection
    rnnoise_gru   RNNoise (dense + 3 GRUs, 24/48/96 units) unrolled over 3 time
                  steps into TFLite builtins, int8, with GRU states as inputs

    python models/make_zoo.py [--only NAME] [--out-dir DIR]

Weights are deterministic pseudo-random (He-uniform for ReLU networks,
Glorot-uniform for the RNN, small uniform biases standing in for folded batch
norm); nothing is trained. What matters is that each file is quantized the way
TFLite's converter quantizes a float model with a representative dataset:

- activations int8, asymmetric: the float network runs on N_CALIB
  deterministic random inputs, each tensor's [min, max] (widened to include 0)
  gives scale = (max - min) / 255 and the nudged zero point, as in MLIR's
  fakeQuantAttrsToType; LOGISTIC and SOFTMAX outputs are fixed at 1/256, -128
  and TANH at 1/128, 0; RESHAPE, TRANSPOSE, pools, SPLIT, UNPACK keep their
  input's parameters; CONCATENATION and PACK take the range of their output
  and inputs with other parameters go through a requantizing QUANTIZE first;
- weights int8, symmetric (zero point 0, range [-127, 127]): per channel
  along axis 0 for CONV_2D, axis 3 for DEPTHWISE_CONV_2D, per tensor for
  FULLY_CONNECTED and for constant operands of elementwise ops; values are
  round-half-away-from-zero(w / scale) with w in float32;
- biases int32 with scale = input scale x weight scale, zero point 0;
- operator versions from TFLite's op_version.cc for these types and options.

The bytes are reproducible: fixed seeds, numpy's PCG64 `uniform` only, no
timestamps, and the calibration forward pass uses fixed-order elementwise
float64 arithmetic (no BLAS, no numpy reductions on sums). Ranges are rounded
to float32 before use, so the last-bit differences that numpy's exp/tanh may
show between CPUs cannot reach the file in practice.
"""

import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from tflite_builder import BuiltinOperator as OP  # noqa: E402
from tflite_builder import Model, Quantization, TensorType  # noqa: E402

N_CALIB = 256  # calibration inputs per model
CHUNK = 32  # calibration inputs evaluated at once
BIAS_RANGE = 0.1  # biases ~ U(-0.1, 0.1)

RELU, NONE = 1, 0  # ActivationFunctionType
SAME, VALID = 0, 1  # Padding


# ================================================================ quantization (as TFLite's converter)


def activation_params(rmin, rmax, qmin=-128, qmax=127):
    """(scale, zero point) for a calibrated range, as MLIR's
    fakeQuantAttrsToType / getNudgedScaleAndZeroPoint. The range is recorded
    in float32 and widened to include 0; arithmetic in double."""
    rmin = min(float(np.float32(rmin)), 0.0)
    rmax = max(float(np.float32(rmax)), 0.0)
    assert rmax > rmin, "empty calibration range"
    scale = (rmax - rmin) / float(qmax - qmin)
    zp_from_min = qmin - rmin / scale
    zp_from_max = qmax - rmax / scale
    err_min = abs(qmin) + abs(rmin / scale)
    err_max = abs(qmax) + abs(rmax / scale)
    zp = zp_from_min if err_min < err_max else zp_from_max
    if zp < qmin:
        nudged = qmin
    elif zp > qmax:
        nudged = qmax
    else:
        nudged = int(round_half_away(np.float64(zp)))
    return scale, nudged


def round_half_away(x):
    """std::round: to nearest, halfway cases away from zero (exactly)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.trunc(x)
    frac = x - t  # exact
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0)


def symmetric_scales(w32, axis):
    """Per-channel (axis) or per-tensor (axis None) symmetric int8 scales:
    max|w| / 127 (the converter's narrow-range [-127, 127])."""
    a = np.abs(w32.astype(np.float64))
    if axis is None:
        m = np.array([a.max()])
    else:
        m = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1).max(axis=1)
    m = np.where(m > 0.0, m, 1e-30)  # an all-zero channel still gets a valid scale
    return (m + m) / 254.0  # (rmax - rmin) / (qmax - qmin) with rmin = -rmax


def quantize_symmetric(w32, scales, axis):
    s = scales if axis is None else scales.reshape([-1 if d == axis else 1 for d in range(w32.ndim)])
    q = round_half_away(w32.astype(np.float64) / s)
    return np.clip(q, -127, 127).astype(np.int8).reshape(w32.shape)


def quantize_bias(b32, scales):
    q = round_half_away(b32.astype(np.float64) / scales)
    return np.clip(q, -(2**31) + 1, 2**31 - 1).astype(np.int32)


# ================================================================ fixed-order float kernels
# Values carry a leading calibration-sample axis: [n] + tensor shape.


def _pads(size, k, stride, padding):
    if padding == VALID:
        return (size - k) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2


def _pad_input(x, kh, kw, stride, padding):
    """x [n, H, W, C] -> zero-padded x, output size."""
    n, h, w, c = x.shape
    oh, top = _pads(h, kh, stride, padding)
    ow, left = _pads(w, kw, stride, padding)
    need_h = (oh - 1) * stride + kh
    need_w = (ow - 1) * stride + kw
    xp = np.zeros((n, max(need_h, h + top), max(need_w, w + left), c))
    xp[:, top : top + h, left : left + w, :] = x
    return xp, oh, ow


def _window(xp, i, j, oh, ow, stride):
    return xp[:, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride, :]


def conv2d_f(x, w, b, stride, padding, act):
    """x [n,1,H,W,Cin], w [Cout,kh,kw,Cin]: bias + sum over (i, j, c) in order."""
    cout, kh, kw, cin = w.shape
    xp, oh, ow = _pad_input(x[:, 0], kh, kw, stride, padding)
    out = np.empty((x.shape[0], oh, ow, cout))
    out[...] = b
    tmp = np.empty_like(out)
    for i in range(kh):
        for j in range(kw):
            xs = _window(xp, i, j, oh, ow, stride)
            for c in range(cin):
                np.multiply(xs[..., c : c + 1], w[:, i, j, c], out=tmp)
                out += tmp
    return _act(out, act)[:, None]


def depthwise_f(x, w, b, stride, padding, act):
    """x [n,1,H,W,C], w [1,kh,kw,C]."""
    _, kh, kw, c = w.shape
    xp, oh, ow = _pad_input(x[:, 0], kh, kw, stride, padding)
    out = np.empty((x.shape[0], oh, ow, c))
    out[...] = b
    for i in range(kh):
        for j in range(kw):
            out += _window(xp, i, j, oh, ow, stride) * w[0, i, j, :]
    return _act(out, act)[:, None]


def fc_f(x, w, b, act):
    """x [n, ..., in], w [out, in]: bias + sum over k in order."""
    out = np.empty(x.shape[:-1] + (w.shape[0],))
    out[...] = b
    tmp = np.empty_like(out)
    for k in range(w.shape[1]):
        np.multiply(x[..., k : k + 1], w[:, k], out=tmp)
        out += tmp
    return _act(out, act)


def pool_f(x, k, stride, kind):
    """x [n,1,H,W,C], VALID padding."""
    xp = x[:, 0]
    oh = (xp.shape[1] - k[0]) // stride[0] + 1
    ow = (xp.shape[2] - k[1]) // stride[1] + 1
    acc = None
    for i in range(k[0]):
        for j in range(k[1]):
            win = xp[:, i : i + stride[0] * (oh - 1) + 1 : stride[0], j : j + stride[1] * (ow - 1) + 1 : stride[1], :]
            if acc is None:
                acc = win.copy()
            elif kind == "max":
                acc = np.maximum(acc, win)
            else:
                acc = acc + win
    if kind == "avg":
        acc = acc / float(k[0] * k[1])
    return acc[:, None]


def _act(v, act):
    return np.maximum(v, 0.0) if act == RELU else v


def sigmoid_f(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softmax_f(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)  # model outputs only: never calibrated


# ================================================================ the graph


class Tensor:
    """One TFLite tensor. rule says where its quantization comes from:
    'input'/'calib' (calibrated range), ('fixed', scale, zp), ('same', t),
    ('weights', axis), ('bias', input, weights), 'float', 'int32'."""

    def __init__(self, name, shape, rule, data=None, gen=None):
        self.name, self.shape, self.rule, self.data, self.gen = name, list(shape), rule, data, gen
        self.lo, self.hi = math.inf, -math.inf
        self.scale = self.zp = None  # scales as doubles (the converter's), zero points
        self.axis = 0
        self.q = None  # quantized payload of constants

    @property
    def ttype(self):
        if self.rule == "float":
            return TensorType.FLOAT32
        if self.rule == "int32" or (isinstance(self.rule, tuple) and self.rule[0] == "bias"):
            return TensorType.INT32
        return TensorType.INT8

    def root(self):
        t = self
        while isinstance(t.rule, tuple) and t.rule[0] == "same":
            t = t.rule[1]
        return t


class Op:
    def __init__(self, code, inputs, outputs, fn, options=None):
        self.code, self.inputs, self.outputs, self.fn, self.options = code, inputs, outputs, fn, options


class Param:
    """A float32 weight or bias array of the float model."""

    def __init__(self, name, data):
        self.name, self.data = name, np.asarray(data, dtype=np.float32)


class Graph:
    def __init__(self, name, description, seed):
        self.name, self.description = name, description
        self.rng = np.random.default_rng(seed)
        self.tensors, self.ops, self.params = [], [], []
        self.inputs, self.outputs = [], []
        self._weights, self._biases, self._consts = {}, {}, {}

    # ---------------------------------------------------------- tensors and parameters

    def _tensor(self, name, shape, rule, **kw):
        t = Tensor(name, shape, rule, **kw)
        self.tensors.append(t)
        return t

    def _op(self, code, inputs, outputs, fn, options=None):
        self.ops.append(Op(code, inputs, outputs, fn, options))
        return outputs[0] if len(outputs) == 1 else outputs

    def input(self, name, shape, low, high, float_io=False):
        """A model input; calibration draws U(low, high), as float32."""

        def gen(rng, n):
            return rng.uniform(low, high, size=[n] + list(shape)).astype(np.float32).astype(np.float64)

        t = self._tensor(name, shape, "float" if float_io else "input", gen=gen)
        self.inputs.append(t)
        return t

    def output(self, t, name=None):
        self.outputs.append((name or t.name, t))

    def param(self, name, shape, limit):
        p = Param(name, self.rng.uniform(-limit, limit, size=shape))
        self.params.append(p)
        return p

    def he(self, name, shape, fan_in):
        return self.param(name, shape, math.sqrt(6.0 / fan_in))

    def glorot(self, name, shape, fan_in, fan_out):
        return self.param(name, shape, math.sqrt(6.0 / (fan_in + fan_out)))

    def bias(self, name, n):
        return self.param(name, [n], BIAS_RANGE)

    def weights_tensor(self, p, axis):
        if id(p) not in self._weights:
            self._weights[id(p)] = self._tensor(p.name, p.data.shape, ("weights", axis), data=p.data)
        return self._weights[id(p)]

    def bias_tensor(self, p, x, w):
        """One int32 bias tensor per (bias, input quantization): an unrolled
        recurrent layer gets a copy per distinct input scale."""
        key = (id(p), id(x.root()))
        if key not in self._biases:
            first = not any(k[0] == id(p) for k in self._biases)
            name = p.name if first else f"{p.name}/rescaled_for/{x.root().name}"
            self._biases[key] = self._tensor(name, p.data.shape, ("bias", x, w), data=p.data)
        return self._biases[key]

    def int32_const(self, name, values, shape=None):
        values = [int(v) for v in np.ravel(values)]
        shape = [len(values)] if shape is None else shape
        key = (name, tuple(values), tuple(shape))
        if key not in self._consts:
            self._consts[key] = self._tensor(name, shape, "int32", data=np.array(values, dtype=np.int32).reshape(shape))
        return self._consts[key]

    def int8_const(self, name, value, shape):
        """A constant operand of an elementwise op (symmetric per tensor)."""
        key = (name, float(value), tuple(shape))
        if key not in self._consts:
            data = np.full(shape, value, dtype=np.float32)
            self._consts[key] = self._tensor(name, shape, ("weights", None), data=data)
        return self._consts[key]

    # ---------------------------------------------------------- layers

    def conv2d(self, x, name, cout, k, stride=1, padding=SAME, act=RELU):
        cin = x.shape[3]
        w = self.he(f"{name}/weights", [cout, k[0], k[1], cin], k[0] * k[1] * cin)
        b = self.bias(f"{name}/bias", cout)
        wt = self.weights_tensor(w, 0)
        bt = self.bias_tensor(b, x, wt)
        oh, _ = _pads(x.shape[1], k[0], stride, padding)
        ow, _ = _pads(x.shape[2], k[1], stride, padding)
        y = self._tensor(f"{name}/relu" if act == RELU else name, [1, oh, ow, cout], "calib")
        wd, bd = w.data.astype(np.float64), b.data.astype(np.float64)
        opts = ("Conv2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride,
                                  "FusedActivationFunction": act, "DilationWFactor": 1, "DilationHFactor": 1})
        return self._op(OP.CONV_2D, [x, wt, bt], [y], lambda v: [conv2d_f(v[0], wd, bd, stride, padding, act)], opts)

    def depthwise(self, x, name, k=(3, 3), stride=1, padding=SAME, act=RELU):
        c = x.shape[3]
        w = self.he(f"{name}/weights", [1, k[0], k[1], c], k[0] * k[1])
        b = self.bias(f"{name}/bias", c)
        wt = self.weights_tensor(w, 3)
        bt = self.bias_tensor(b, x, wt)
        oh, _ = _pads(x.shape[1], k[0], stride, padding)
        ow, _ = _pads(x.shape[2], k[1], stride, padding)
        y = self._tensor(f"{name}/relu" if act == RELU else name, [1, oh, ow, c], "calib")
        wd, bd = w.data.astype(np.float64), b.data.astype(np.float64)
        opts = ("DepthwiseConv2DOptions", {"Padding": padding, "StrideW": stride, "StrideH": stride,
                                           "DepthMultiplier": 1, "FusedActivationFunction": act,
                                           "DilationWFactor": 1, "DilationHFactor": 1})
        fn = lambda v: [depthwise_f(v[0], wd, bd, stride, padding, act)]  # noqa: E731
        return self._op(OP.DEPTHWISE_CONV_2D, [x, wt, bt], [y], fn, opts)

    def fc(self, x, name, units=None, act=NONE, w=None, b=None, out_name=None, init="he"):
        """FULLY_CONNECTED on a 2-D input; new He/Glorot weights unless given."""
        fan_in = x.shape[-1]
        if w is None:
            shape = [units, fan_in]
            if init == "he":
                w = self.he(f"{name}/weights", shape, fan_in)
            else:
                w = self.glorot(f"{name}/weights", shape, fan_in, units)
            b = self.bias(f"{name}/bias", units)
        wt = self.weights_tensor(w, None)
        bt = self.bias_tensor(b, x, wt)
        default = f"{name}/relu" if act == RELU else name
        y = self._tensor(out_name or default, [x.shape[0], w.data.shape[0]], "calib")
        wd, bd = w.data.astype(np.float64), b.data.astype(np.float64)
        opts = ("FullyConnectedOptions", {"FusedActivationFunction": act, "WeightsFormat": 0, "KeepNumDims": False,
                                          "AsymmetricQuantizeInputs": False})
        return self._op(OP.FULLY_CONNECTED, [x, wt, bt], [y], lambda v: [fc_f(v[0], wd, bd, act)], opts)

    def pool(self, x, name, k, stride, kind):
        oh = (x.shape[1] - k[0]) // stride[0] + 1
        ow = (x.shape[2] - k[1]) // stride[1] + 1
        y = self._tensor(name, [1, oh, ow, x.shape[3]], ("same", x))
        opts = ("Pool2DOptions", {"Padding": VALID, "StrideW": stride[1], "StrideH": stride[0], "FilterWidth": k[1],
                                  "FilterHeight": k[0], "FusedActivationFunction": NONE})
        code = OP.MAX_POOL_2D if kind == "max" else OP.AVERAGE_POOL_2D
        return self._op(code, [x], [y], lambda v: [pool_f(v[0], k, stride, kind)], opts)

    def reshape(self, x, shape, name):
        s = self.int32_const(f"{name}/shape", shape)
        y = self._tensor(name, shape, ("same", x) if x.rule != "float" else "float")
        return self._op(OP.RESHAPE, [x, s], [y], lambda v: [v[0].reshape([v[0].shape[0]] + list(shape))])

    def transpose(self, x, perm, name):
        p = self.int32_const(f"{name}/perm", perm)
        y = self._tensor(name, [x.shape[i] for i in perm], ("same", x))
        return self._op(OP.TRANSPOSE, [x, p], [y], lambda v: [np.transpose(v[0], [0] + [i + 1 for i in perm])])

    def softmax(self, x, name):
        y = self._tensor(name, x.shape, ("fixed", 1.0 / 256.0, -128))
        return self._op(OP.SOFTMAX, [x], [y], lambda v: [softmax_f(v[0])], ("SoftmaxOptions", {"Beta": 1.0}))

    def logistic(self, x, name):
        y = self._tensor(name, x.shape, ("fixed", 1.0 / 256.0, -128))
        return self._op(OP.LOGISTIC, [x], [y], lambda v: [sigmoid_f(v[0])])

    def tanh(self, x, name):
        y = self._tensor(name, x.shape, ("fixed", 1.0 / 128.0, 0))
        return self._op(OP.TANH, [x], [y], lambda v: [np.tanh(v[0])])

    def quantize(self, x, name):
        y = self._tensor(name, x.shape, "calib")  # the float input's range
        return self._op(OP.QUANTIZE, [x], [y], lambda v: [v[0]])

    def dequantize(self, x, name):
        y = self._tensor(name, x.shape, "float")
        return self._op(OP.DEQUANTIZE, [x], [y], lambda v: [v[0]])

    def _binary(self, code, table, a, b, name, fn, act=NONE):
        shape = a.shape if len(a.shape) >= len(b.shape) else b.shape
        y = self._tensor(name, shape, "calib")
        opts = {"FusedActivationFunction": act}
        return self._op(code, [a, b], [y], lambda v: [_act(fn(v[0], v[1]), act)], (table, opts))

    def add(self, a, b, name, act=NONE):
        return self._binary(OP.ADD, "AddOptions", a, b, name, np.add, act)

    def sub(self, a, b, name):
        return self._binary(OP.SUB, "SubOptions", a, b, name, np.subtract)

    def mul(self, a, b, name):
        return self._binary(OP.MUL, "MulOptions", a, b, name, np.multiply)

    def split(self, x, n, name, names):
        axis = self.int32_const("split_dim", [-1], shape=[])
        size = x.shape[-1] // n
        outs = [self._tensor(f"{name}/{s}", x.shape[:-1] + [size], ("same", x)) for s in names]
        return self._op(OP.SPLIT, [axis, x], outs, lambda v: np.split(v[1], n, axis=-1),
                        ("SplitOptions", {"NumSplits": n}))

    def split_v(self, x, sizes, name, names):
        s = self.int32_const(f"split_sizes_{'_'.join(str(v) for v in sizes)}", sizes)
        axis = self.int32_const("split_dim", [-1], shape=[])
        known = sum(v for v in sizes if v >= 0)
        real = [v if v >= 0 else x.shape[-1] - known for v in sizes]
        outs = [self._tensor(f"{name}/{n}", x.shape[:-1] + [r], ("same", x)) for n, r in zip(names, real)]
        cuts = list(np.cumsum(real)[:-1])
        return self._op(OP.SPLIT_V, [x, s, axis], outs, lambda v: np.split(v[0], cuts, axis=-1),
                        ("SplitVOptions", {"NumSplits": len(sizes)}))

    def unpack(self, x, axis, names):
        shape = x.shape[:axis] + x.shape[axis + 1 :]
        outs = [self._tensor(nm, shape, ("same", x)) for nm in names]
        n = x.shape[axis]
        return self._op(OP.UNPACK, [x], outs, lambda v: [np.take(v[0], i, axis=axis + 1) for i in range(n)],
                        ("UnpackOptions", {"Num": n, "Axis": axis}))

    def pack(self, xs, axis, name):
        shape = xs[0].shape[:axis] + [len(xs)] + xs[0].shape[axis:]
        y = self._tensor(name, shape, "calib")  # range of all inputs; see lower()
        return self._op(OP.PACK, list(xs), [y], lambda v: [np.stack(v, axis=axis + 1)],
                        ("PackOptions", {"ValuesCount": len(xs), "Axis": axis}))

    def concat(self, xs, axis, name):
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        y = self._tensor(name, shape, "calib")  # range of all inputs; see lower()
        return self._op(OP.CONCATENATION, list(xs), [y], lambda v: [np.concatenate(v, axis=axis + 1)],
                        ("ConcatenationOptions", {"Axis": axis, "FusedActivationFunction": NONE}))

    # ---------------------------------------------------------- calibration

    def calibrate(self, n=N_CALIB, chunk=CHUNK, seed=0):
        """Run the float network on n random inputs; record each tensor's range."""
        rng = np.random.default_rng(seed)
        last_use = {}
        for i, op in enumerate(self.ops):
            for t in op.inputs:
                last_use[id(t)] = i
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            vals = {id(t): t.gen(rng, m) for t in self.inputs}
            for t in self.inputs:
                _record(t, vals[id(t)])
            for i, op in enumerate(self.ops):
                args = [vals[id(t)] if id(t) in vals else t.data.astype(np.float64)[None] for t in op.inputs]
                outs = op.fn(args)
                for t, v in zip(op.outputs, outs):
                    vals[id(t)] = v
                    _record(t, v)
                for t in op.inputs:
                    if last_use.get(id(t)) == i and t not in self.inputs:
                        vals.pop(id(t), None)

    # ---------------------------------------------------------- quantization

    def quantize_all(self):
        for t in self.tensors:
            r = t.rule
            kind = r if isinstance(r, str) else r[0]
            if kind in ("input", "calib"):
                s, z = activation_params(t.lo, t.hi)
                t.scale, t.zp = np.array([s]), [z]
            elif kind == "fixed":
                t.scale, t.zp = np.array([r[1]]), [r[2]]
            elif kind == "same":
                root = t.root()
                t.scale, t.zp = root.scale, root.zp
            elif kind == "weights":
                axis = r[1]
                t.scale = symmetric_scales(t.data, axis)
                t.zp = [0] * len(t.scale)
                t.axis = 0 if axis is None else axis
                t.q = quantize_symmetric(t.data, t.scale, axis)
            elif kind == "bias":
                x, w = r[1], r[2]
                assert x.scale is not None and w.scale is not None
                t.scale = x.scale[0] * w.scale
                t.zp = [0] * len(t.scale)
                t.q = quantize_bias(t.data, t.scale)
            elif kind == "int32":
                t.q = t.data
            elif kind == "float":
                pass
            else:
                raise AssertionError(r)

    # ---------------------------------------------------------- writing

    def lower(self):
        """The quantized graph as a TFLite flatbuffer."""
        m = Model(description=self.description)
        idx, names = {}, set()

        def emit(t):
            assert t.name not in names, f"duplicate tensor name {t.name}"
            names.add(t.name)
            quant = None if t.scale is None else Quantization(t.scale, t.zp, t.axis)
            idx[id(t)] = m.tensor(t.name, t.shape, t.ttype, data=t.q, quantization=quant)

        for t in self.tensors:
            emit(t)
        for op in self.ops:
            inputs = list(op.inputs)
            if op.code in (OP.CONCATENATION, OP.PACK):
                out = op.outputs[0]
                for k, t in enumerate(inputs):
                    if _qparams(t) != _qparams(out):  # int8 CONCATENATION/PACK need one scale
                        rname = f"{t.name}/requantized"
                        if rname in names:
                            rname = f"{t.name}/requantized_for/{out.name}"
                        r = Tensor(rname, t.shape, ("same", out))
                        r.scale, r.zp = out.scale, out.zp
                        emit(r)
                        m.operator(OP.QUANTIZE, [idx[id(t)]], [idx[id(r)]], version=1)
                        inputs[k] = r
            m.operator(op.code, [idx[id(t)] for t in inputs], [idx[id(t)] for t in op.outputs],
                       version=op_version(op.code, inputs, op.outputs), options=op.options)
        self.n_operators = len(m.operators)
        m.io([idx[id(t)] for t in self.inputs], [idx[id(t)] for _, t in self.outputs])
        m.signature("serving_default", {t.name: idx[id(t)] for t in self.inputs},
                    {name: idx[id(t)] for name, t in self.outputs})
        return m.serialize()

    def n_params(self):
        return sum(int(p.data.size) for p in self.params)


def _record(t, v):
    if t.rule in ("input", "calib", "float"):
        t.lo = min(t.lo, float(v.min()))
        t.hi = max(t.hi, float(v.max()))


def _qparams(t):
    return (tuple(np.float32(t.scale)), tuple(t.zp))


def op_version(code, inputs, outputs):
    """GetBuiltinOperatorVersion (tensorflow/lite/tools/versioning/op_version.cc)
    for the types and options used here."""
    in0 = inputs[0].ttype if code not in (OP.SPLIT,) else inputs[1].ttype
    int8 = in0 == TensorType.INT8
    if code in (OP.CONV_2D, OP.DEPTHWISE_CONV_2D):
        return 3
    if code == OP.FULLY_CONNECTED:
        return 4
    if code == OP.QUANTIZE:
        return 1
    if code == OP.DEQUANTIZE:
        return 2
    if code == OP.MUL:
        s1, s2, so = (np.float32(t.scale[0]) for t in (inputs[0], inputs[1], outputs[0]))
        if s1 * s2 / so >= np.float32(1.0):
            return 3
        return 2
    if code == OP.SUB:
        dims = max(len(t.shape) for t in inputs)
        if inputs[0].shape != inputs[1].shape and dims > 4:
            return 3
        return 2
    if code == OP.TRANSPOSE:
        return 4 if len(inputs[0].shape) > 4 else 2
    if code == OP.RESHAPE:
        return 1
    if code in (OP.ADD, OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D, OP.SOFTMAX, OP.LOGISTIC, OP.TANH, OP.CONCATENATION,
                OP.PACK, OP.UNPACK, OP.SPLIT, OP.SPLIT_V):
        return 2 if int8 else 1
    raise AssertionError(f"no version rule for operator {code}")


# ================================================================ the models


def lenet5_int8():
    g = Graph("lenet5_int8", "utoe zoo lenet5_int8: LeNet-5 for 28x28x1 (float32 I/O, int8 inside), He-uniform "
              "random weights, written by models/make_zoo.py", seed=1001)
    x = g.input("input", [1, 1, 28, 28], 0.0, 1.0, float_io=True)  # NCHW, as the seed's ONNX-born model
    h = g.quantize(x, "input_int8")
    h = g.reshape(h, [1, 28, 28, 1], "input_nhwc")
    h = g.conv2d(h, "conv1", 6, (5, 5), padding=VALID)
    h = g.pool(h, "pool1", (2, 2), (2, 2), "max")
    h = g.conv2d(h, "conv2", 16, (5, 5), padding=VALID)
    h = g.pool(h, "pool2", (2, 2), (2, 2), "max")
    h = g.transpose(h, [0, 3, 1, 2], "pool2_nchw")  # flatten in channel-major order
    h = g.reshape(h, [1, 256], "flatten")
    h = g.fc(h, "fc1", 120, RELU)
    h = g.fc(h, "fc2", 84, RELU)
    h = g.fc(h, "fc3", 10, init="glorot")
    p = g.softmax(h, "softmax")
    g.output(g.dequantize(p, "output"))
    return g


def vww_mbv1():
    g = Graph("vww_mbv1", "utoe zoo vww_mbv1: MobileNetV1 0.25x, 96x96x3 int8, visual wake words, He-uniform random "
              "weights, written by models/make_zoo.py", seed=1002)
    x = g.input("input", [1, 96, 96, 3], 0.0, 1.0)
    h = g.conv2d(x, "conv1", 8, (3, 3), stride=2)
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]
    for i, (cout, stride) in enumerate(blocks, start=1):
        h = g.depthwise(h, f"block{i}/depthwise", stride=stride)
        h = g.conv2d(h, f"block{i}/pointwise", cout, (1, 1))
    h = g.pool(h, "avgpool", (3, 3), (3, 3), "avg")
    h = g.reshape(h, [1, 256], "flatten")
    h = g.fc(h, "logits", 2, init="glorot")
    g.output(g.softmax(h, "output"))
    return g


def kws_dscnn_s():
    g = Graph("kws_dscnn_s", "utoe zoo kws_dscnn_s: DS-CNN small, 49x10x1 int8, keyword spotting, He-uniform random "
              "weights, written by models/make_zoo.py", seed=1003)
    x = g.input("input", [1, 49, 10, 1], -10.0, 5.0)  # MFCC-like features
    h = g.conv2d(x, "conv1", 64, (10, 4), stride=2)
    for i in range(1, 5):
        h = g.depthwise(h, f"block{i}/depthwise")
        h = g.conv2d(h, f"block{i}/pointwise", 64, (1, 1))
    h = g.pool(h, "avgpool", (25, 5), (25, 5), "avg")
    h = g.reshape(h, [1, 64], "flatten")
    h = g.fc(h, "logits", 12, init="glorot")
    g.output(g.softmax(h, "output"))
    return g


def ad_dae():
    g = Graph("ad_dae", "utoe zoo ad_dae: deep autoencoder 640-128x4-8-128x4-640, int8, anomaly detection, "
              "He-uniform random weights, written by models/make_zoo.py", seed=1004)
    h = g.input("input", [1, 640], -40.0, 10.0)  # 5 frames x 128 log-mel bins
    widths = [128] * 4 + [8] + [128] * 4
    for i, units in enumerate(widths, start=1):
        h = g.fc(h, f"dense{i}", units, RELU)
    g.output(g.fc(h, "dense10", 640, init="glorot", out_name="output"))
    return g


RNN_STEPS = 3


def _gru(g, name, xs, h, units, activation, state_out):
    """A Keras GRU (reset_after=True, gates z, r, h), unrolled over xs the way
    TFLite's converter lowers it: two FULLY_CONNECTED projections, SPLIT /
    SPLIT_V into gates, LOGISTIC, MUL, ADD, SUB, and TANH (or a fused RELU)."""
    fan_in = xs[0].shape[-1]
    kernel = g.glorot(f"{name}/kernel", [3 * units, fan_in], fan_in, 3 * units)
    recurrent = g.glorot(f"{name}/recurrent_kernel", [3 * units, units], units, 3 * units)
    b_in = g.bias(f"{name}/input_bias", 3 * units)
    b_rec = g.bias(f"{name}/recurrent_bias", 3 * units)
    one = g.int8_const("one", 1.0, [])
    states = []
    for t, x in enumerate(xs):
        p = f"{name}/t{t}"
        xp = g.fc(x, f"{p}/input_projection", w=kernel, b=b_in)
        hp = g.fc(h, f"{p}/recurrent_projection", w=recurrent, b=b_rec)
        xz, xr, xh = g.split(xp, 3, f"{p}/input_projection", ["z", "r", "h"])
        hz, hr, hh = g.split_v(hp, [units, units, -1], f"{p}/recurrent_projection", ["z", "r", "h"])
        z = g.logistic(g.add(xz, hz, f"{p}/z_preact"), f"{p}/z")
        one_minus_z = g.sub(one, z, f"{p}/one_minus_z")
        r = g.logistic(g.add(xr, hr, f"{p}/r_preact"), f"{p}/r")
        rh = g.mul(r, hh, f"{p}/r_times_recurrent_h")
        if activation == "relu":
            cand = g.add(xh, rh, f"{p}/candidate", act=RELU)
        else:
            cand = g.tanh(g.add(xh, rh, f"{p}/candidate_preact"), f"{p}/candidate")
        new_part = g.mul(one_minus_z, cand, f"{p}/new_part")
        old_part = g.mul(z, h, f"{p}/old_part")
        last = t == len(xs) - 1
        h = g.add(old_part, new_part, state_out if last else f"{p}/h")
        states.append(h)
    return states


def rnnoise_gru():
    T = RNN_STEPS
    g = Graph("rnnoise_gru", f"utoe zoo rnnoise_gru: RNNoise (dense 24, GRUs 24/48/96) unrolled over {T} steps, "
              "int8, Glorot-uniform random weights, written by models/make_zoo.py", seed=1005)
    feats = g.input("features", [1, T, 42], -4.0, 2.0)
    vad_state = g.input("vad_gru_state", [1, 24], -1.0, 1.0)
    noise_state = g.input("noise_gru_state", [1, 48], 0.0, 2.0)
    denoise_state = g.input("denoise_gru_state", [1, 96], -1.0, 1.0)

    d = g.reshape(feats, [T, 42], "input_dense/flatten")
    d = g.tanh(g.fc(d, "input_dense", 24, init="glorot"), "input_dense/tanh")
    d = g.reshape(d, [1, T, 24], "input_dense/output")
    xs = g.unpack(d, 1, [f"vad_gru/t{t}/input" for t in range(T)])
    vad_h = _gru(g, "vad_gru", xs, vad_state, 24, "tanh", "vad_gru_state_out")
    vad_seq = g.pack(vad_h, 1, "vad_gru/sequence")

    noise_in = g.concat([d, vad_seq, feats], 2, "noise_gru/input_sequence")
    xs = g.unpack(noise_in, 1, [f"noise_gru/t{t}/input" for t in range(T)])
    noise_h = _gru(g, "noise_gru", xs, noise_state, 48, "relu", "noise_gru_state_out")
    noise_seq = g.pack(noise_h, 1, "noise_gru/sequence")

    denoise_in = g.concat([vad_seq, noise_seq, feats], 2, "denoise_gru/input_sequence")
    xs = g.unpack(denoise_in, 1, [f"denoise_gru/t{t}/input" for t in range(T)])
    denoise_h = _gru(g, "denoise_gru", xs, denoise_state, 96, "tanh", "denoise_gru_state_out")
    denoise_seq = g.pack(denoise_h, 1, "denoise_gru/sequence")

    o = g.reshape(denoise_seq, [T, 96], "denoise_output/flatten")
    o = g.reshape(g.fc(o, "denoise_output", 22, init="glorot"), [1, T, 22], "denoise_output/logits")
    gains = g.logistic(o, "denoise_gain")
    v = g.reshape(vad_seq, [T, 24], "vad_output/flatten")
    v = g.reshape(g.fc(v, "vad_output", 1, init="glorot"), [1, T, 1], "vad_output/logits")
    vad = g.logistic(v, "vad_probability")
    for t in (gains, vad, vad_h[-1], noise_h[-1], denoise_h[-1]):
        g.output(t)
    return g


MODELS = {
    "lenet5_int8": lenet5_int8,
    "vww_mbv1": vww_mbv1,
    "kws_dscnn_s": kws_dscnn_s,
    "ad_dae": ad_dae,
    "rnnoise_gru": rnnoise_gru,
}


def build(name):
    """-> (tflite bytes, the Graph) for one zoo model."""
    g = MODELS[name]()
    g.calibrate()
    g.quantize_all()
    return g.lower(), g


def make(name, out_dir=HERE):
    data, g = build(name)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.tflite")
    with open(path, "wb") as f:
        f.write(data)
    return path, data, g


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(MODELS), action="append", help="make only this model (repeatable)")
    ap.add_argument("--out-dir", default=HERE, help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)
    for name in args.only or list(MODELS):
        path, data, g = make(name, args.out_dir)
        print(f"{path}: {len(data)} bytes, {g.n_params()} parameters, {g.n_operators} operators")
    return 0


if __name__ == "__main__":
    sys.exit(main())
