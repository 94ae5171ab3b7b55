"""Make models/sine.tflite: the project's own sine regressor.

A float32 MLP 1-16(ReLU)-16(ReLU)-1 in the spirit of TFLite Micro's "hello
world" example, trained here with plain numpy and written as a TFLite
flatbuffer with the `tflite` package's generated builder functions (through
models/tflite_builder.py, shared with models/make_zoo.py), so the
project has one small model it can rebuild without TensorFlow.

    python models/make_sine.py [--out PATH]

The output is byte-for-byte reproducible: fixed seed, no timestamps, and the
training uses only operations whose results do not depend on the CPU, the
BLAS library or the thread count (elementwise IEEE-754 +, -, *, /, sqrt and
max; sums are fixed binary trees of elementwise adds instead of BLAS matmuls
or numpy reductions; targets come from math.sin, not numpy's SIMD sin). The
bytes do depend on numpy's Generator stream (PCG64 `uniform`) and on the
flatbuffers builder's layout, both of which are stable across releases in
practice; the test in tests/models/test_make_sine.py checks the committed
file against a fresh build.
"""

import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # models/tflite_builder.py
DEFAULT_OUT = os.path.join(HERE, "sine.tflite")

SEED = 20240517
WIDTHS = (1, 16, 16, 1)
N_TRAIN = 256  # a power of two: see _tree_sum
STEPS = 3000
LR = 0.01
DESCRIPTION = "utoe sine regressor: float32 MLP 1-16-16-1 trained with numpy by models/make_sine.py"


# ---------------------------------------------------------------- training


def _tree_sum(a):
    """Sum over axis 0 in a fixed pairwise order, with elementwise adds only
    (numpy's reductions and BLAS may change order with SIMD width/threads)."""
    n = a.shape[0]
    assert n & (n - 1) == 0, "tree sum needs a power-of-two length"
    while n > 1:
        n //= 2
        a = a[:n] + a[n:]
    return a[0]


def _dense(h, w, b):
    """h @ w + b, for w of shape [in, out], as a fixed-order sum of
    elementwise products (no BLAS)."""
    out = b[None, :] + h[:, 0:1] * w[0][None, :]
    for k in range(1, w.shape[0]):
        out = out + h[:, k : k + 1] * w[k][None, :]
    return out


def _dense_t(d, w):
    """d @ w.T for w of shape [in, out], in fixed order."""
    out = d[:, 0:1] * w[:, 0][None, :]
    for j in range(1, w.shape[1]):
        out = out + d[:, j : j + 1] * w[:, j][None, :]
    return out


def training_data():
    x = np.array([2.0 * math.pi * i / N_TRAIN for i in range(N_TRAIN)], dtype=np.float64)
    y = np.array([math.sin(v) for v in x], dtype=np.float64)
    return x[:, None], y[:, None]


def init_params(rng):
    """He-uniform weights ([in, out] while training), zero biases, except
    the first layer: x is never negative, so with zero biases every unit of
    dense_1 would be either linear in x or dead from the start. Its biases
    place each unit's ReLU kink at a random point of [0, 2pi) instead."""
    params = []
    for fan_in, fan_out in zip(WIDTHS[:-1], WIDTHS[1:]):
        limit = math.sqrt(6.0 / fan_in)
        params.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)))
        params.append(np.zeros(fan_out))
    kinks = rng.uniform(0.0, 2.0 * math.pi, size=WIDTHS[1])
    params[1] = -params[0][0] * kinks
    return params


def forward(params, x):
    w1, b1, w2, b2, w3, b3 = params
    z1 = _dense(x, w1, b1)
    h1 = np.maximum(z1, 0.0)
    z2 = _dense(h1, w2, b2)
    h2 = np.maximum(z2, 0.0)
    return _dense(h2, w3, b3), (z1, h1, z2, h2)


def gradients(params, x, y):
    """Gradients of the mean squared error, by hand."""
    w1, b1, w2, b2, w3, b3 = params
    out, (z1, h1, z2, h2) = forward(params, x)
    d3 = (out - y) * (2.0 / x.shape[0])
    g_w3 = _tree_sum(h2[:, :, None] * d3[:, None, :])
    g_b3 = _tree_sum(d3)
    d2 = _dense_t(d3, w3) * (z2 > 0.0)
    g_w2 = _tree_sum(h1[:, :, None] * d2[:, None, :])
    g_b2 = _tree_sum(d2)
    d1 = _dense_t(d2, w2) * (z1 > 0.0)
    g_w1 = _tree_sum(x[:, :, None] * d1[:, None, :])
    g_b1 = _tree_sum(d1)
    return [g_w1, g_b1, g_w2, g_b2, g_w3, g_b3]


def train(steps=STEPS, lr=LR, seed=SEED):
    """Full-batch Adam on x in [0, 2pi), target sin(x). Returns float64
    params: [w1, b1, w2, b2, w3, b3] with w of shape [in, out]."""
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    x, y = training_data()
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1t = b2t = 1.0  # beta**t by repeated multiplication, not pow()
    for step in range(steps):
        # one step decay: lr/10 for the last quarter, to settle the fit
        rate = lr if step < (3 * steps) // 4 else lr / 10.0
        b1t *= beta1
        b2t *= beta2
        grads = gradients(params, x, y)
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1.0 - beta1) * g
            v[i] = beta2 * v[i] + (1.0 - beta2) * (g * g)
            m_hat = m[i] / (1.0 - b1t)
            v_hat = v[i] / (1.0 - b2t)
            params[i] = params[i] - rate * m_hat / (np.sqrt(v_hat) + eps)
    return params


def to_tflite_layout(params):
    """float32 [(weights [out, in], bias [out])] per FULLY_CONNECTED layer."""
    layers = []
    for w, b in zip(params[0::2], params[1::2]):
        layers.append((np.ascontiguousarray(w.T, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32)))
    return layers


def predict32(layers, x):
    """What the float32 TFLite model computes (up to summation order)."""
    h = np.asarray(x, dtype=np.float32).reshape(-1, 1)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, np.float32(0.0))
    return h[:, 0]


def fit_error(layers, n=1000):
    """Mean absolute error against sin(x) on an n-point grid over [0, 2pi)."""
    x = np.arange(n, dtype=np.float64) * (2.0 * math.pi / n)
    return float(np.mean(np.abs(predict32(layers, x) - np.sin(x))))


# ---------------------------------------------------------------- flatbuffer


def build_tflite(layers):
    """Serialize the float32 layers as a TFLite model (schema version 3),
    with the writer shared with models/make_zoo.py (models/tflite_builder.py)."""
    from tflite_builder import Model
    from tflite.ActivationFunctionType import ActivationFunctionType
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.TensorType import TensorType

    m = Model(description=DESCRIPTION)

    def tensor(name, shape, data=None):
        # float32 throughout; shape_signature = shape (a static model)
        return m.tensor(name, shape, TensorType.FLOAT32, data=data, shape_signature=list(shape))

    x = act = tensor("x", [1, 1])  # activations use buffer 0, the schema's empty sentinel
    n_layers = len(layers)
    for i, (w, bias) in enumerate(layers, start=1):
        last = i == n_layers
        w_t = tensor(f"dense_{i}/weights", list(w.shape), w)
        b_t = tensor(f"dense_{i}/bias", list(bias.shape), bias)
        out = tensor("sin_x" if last else f"dense_{i}/relu", [1, w.shape[0]])
        fused = ActivationFunctionType.NONE if last else ActivationFunctionType.RELU
        m.operator(
            BuiltinOperator.FULLY_CONNECTED,
            [act, w_t, b_t],
            [out],
            version=1,
            options=("FullyConnectedOptions", {"FusedActivationFunction": fused}),
        )
        act = out
    m.io([x], [act])
    m.signature("serving_default", {"x": x}, {"sin_x": act})
    return m.serialize()


def make(out_path=DEFAULT_OUT):
    """Train, write the model to out_path, return (bytes, fit error)."""
    layers = to_tflite_layout(train())
    data = build_tflite(layers)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "wb") as f:
        f.write(data)
    return data, fit_error(layers)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output .tflite path (default: %(default)s)")
    args = ap.parse_args(argv)
    data, err = make(args.out)
    print(f"{args.out}: {len(data)} bytes, mean abs error vs sin(x) on [0, 2pi): {err:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
