"""Conformance cases: Recurrent building blocks: SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM,
and a GRU cell built from ordinary operators (as Keras's and rnnoise's GRU converts).
(models/make_conformance.py collects them.)

The state of SVDF and LSTM is a variable tensor (is_variable): TFLite zeroes it
when it allocates tensors, and the matrix compares one inference from that
zero state. The "two-steps" cases run the operator twice in one inference on
the same variable tensor (two time steps), so the second step reads the state
the first wrote: the state's update is checked, not only its zeros."""

import numpy as np
import tflite

from make_conformance import Case, q
from tflite_builder import BuiltinOperator as OP
from tflite_builder import Model, TensorType

I8, I16, I32, F32 = TensorType.INT8, TensorType.INT16, TensorType.INT32, TensorType.FLOAT32
NONE, RELU = 0, 1

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = {"svdf-int8-two-steps-rank2"}
# Cases never run by default although first of their operator (tests/test_conformance.py): the
# GRU's thirteen operators and the integer LSTM's staged fixed-point arithmetic are slow to compile
SLOW = {"gru-int8-cell", "unidirectional_sequence_lstm-int8-3-steps"}
REFUSED = {}


class VarModel(Model):
    """tflite_builder's Model, writing is_variable for the tensors in
    self.variables (tflite_builder has no variable tensors)."""

    def __init__(self, description):
        super().__init__(description)
        self.variables = set()

    def _tensor(self, b, t):
        if t.index not in self.variables:
            return super()._tensor(b, t)
        from tflite_builder import _quantization, int_vector

        quant = _quantization(b, t.quantization) if t.quantization is not None else None
        name_off = b.CreateString(t.name)
        shape_off = int_vector(b, tflite.TensorStartShapeVector, t.shape)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape_off)
        tflite.TensorAddType(b, t.type)
        tflite.TensorAddBuffer(b, t.buffer)
        tflite.TensorAddName(b, name_off)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tflite.TensorAddIsVariable(b, True)
        return tflite.TensorEnd(b)


def _svdf(dtype, batch, n_in, n_unit, rank, n_mem, steps=1, act=NONE, bias=True,
          in_q=(0.05, -128), state_scale=0.002, out_q=(0.1, 127)):
    """SVDF with int16 state (int8) or float32; `steps` SVDF operators in a
    row on the same state, each with its own input."""

    def build(rng):
        m = VarModel(f"utoe conformance: svdf {dtype}")
        n_filter = n_unit * rank
        integer = dtype == "int8"
        if integer:
            swf, swt = 0.01, 1.0 / 16384
            wf = m.tensor("wf", [n_filter, n_in], I8, data=rng.integers(-127, 128, (n_filter, n_in)).astype(np.int8),
                          quantization=q(swf, 0))
            wt = m.tensor("wt", [n_filter, n_mem], I16,
                          data=rng.integers(-32767, 32768, (n_filter, n_mem)).astype(np.int16),
                          quantization=q(swt, 0))
            b = m.tensor("b", [n_unit], I32, data=rng.integers(-20000, 20000, n_unit).astype(np.int32),
                         quantization=q(state_scale * swt, 0)) if bias else -1
            s = m.tensor("state", [batch, n_filter * n_mem], I16, quantization=q(state_scale, 0))
        else:
            wf = m.tensor("wf", [n_filter, n_in], F32, data=rng.uniform(-0.5, 0.5, (n_filter, n_in)).astype(np.float32))
            wt = m.tensor("wt", [n_filter, n_mem], F32, data=rng.uniform(-1, 1, (n_filter, n_mem)).astype(np.float32))
            b = m.tensor("b", [n_unit], F32, data=rng.uniform(-0.2, 0.2, n_unit).astype(np.float32)) if bias else -1
            s = m.tensor("state", [batch, n_filter * n_mem], F32)
        m.variables.add(s.index)
        xs, ys = [], []
        for k in range(steps):
            if integer:
                x = m.tensor(f"x{k}", [batch, n_in], I8, quantization=q(*in_q))
                y = m.tensor(f"y{k}", [batch, n_unit], I8, quantization=q(*out_q))
            else:
                x = m.tensor(f"x{k}", [batch, n_in], F32)
                y = m.tensor(f"y{k}", [batch, n_unit], F32)
            m.operator(OP.SVDF, [x, wf, wt, b, s], [y], version=3 if integer else 1,
                       options=("SVDFOptions", {"Rank": rank, "FusedActivationFunction": act}))
            xs.append(x)
            ys.append(y)
        m.io(xs, ys)
        return m

    return build


def _gru(n_in, units, rng_scale=0.02):
    """One GRU step (Keras's reset_after=True form, as rnnoise's converted
    GRU): z, r, h~ from two FULLY_CONNECTED (input and state) split in
    three; h' = z * h + (1 - z) * h~ with h~ = tanh(x_h + r * h_h)."""

    def build(rng):
        m = Model("utoe conformance: gru int8")
        qx, qh = (0.03, -128), (1 / 128, 0)
        x = m.tensor("x", [1, n_in], I8, quantization=q(*qx))
        h = m.tensor("h", [1, units], I8, quantization=q(*qh))

        def fc(name, inp, in_scale, n, out_q):
            w = m.tensor(f"{name}_w", [3 * units, n], I8, data=rng.integers(-127, 128, (3 * units, n)).astype(np.int8),
                         quantization=q(rng_scale, 0))
            bias = m.tensor(f"{name}_b", [3 * units], I32,
                            data=rng.integers(-4000, 4000, 3 * units).astype(np.int32),
                            quantization=q(in_scale * rng_scale, 0))
            y = m.tensor(f"{name}_y", [1, 3 * units], I8, quantization=q(*out_q))
            m.operator(OP.FULLY_CONNECTED, [inp, w, bias], [y], version=4,
                       options=("FullyConnectedOptions", {"FusedActivationFunction": NONE}))
            return y

        gx = fc("gx", x, qx[0], n_in, (0.05, 6))
        gh = fc("gh", h, qh[0], units, (0.012, 1))
        axis = m.tensor("axis", [], I32, data=np.array(1, np.int32))
        xz, xr, xh = (m.tensor(f"x_{g}", [1, units], I8, quantization=q(0.05, 6)) for g in "zrh")
        m.operator(OP.SPLIT, [axis, gx], [xz, xr, xh], version=2, options=("SplitOptions", {"NumSplits": 3}))
        sizes = m.tensor("sizes", [3], I32, data=np.array([units] * 3, np.int32))
        axis2 = m.tensor("axis2", [], I32, data=np.array(1, np.int32))
        hz, hr, hh = (m.tensor(f"h_{g}", [1, units], I8, quantization=q(0.012, 1)) for g in "zrh")
        m.operator(OP.SPLIT_V, [gh, sizes, axis2], [hz, hr, hh], version=2,
                   options=("SplitVOptions", {"NumSplits": 3}))

        def binary(code, table, a, b_, out_q, name):
            y = m.tensor(name, [1, units], I8, quantization=q(*out_q))
            m.operator(code, [a, b_], [y], version=2, options=(table, {"FusedActivationFunction": NONE}))
            return y

        def unary(code, a, out_q, name):
            y = m.tensor(name, [1, units], I8, quantization=q(*out_q))
            m.operator(code, [a], [y], version=2)
            return y

        sig = (1 / 256, -128)
        z = unary(OP.LOGISTIC, binary(OP.ADD, "AddOptions", xz, hz, (0.055, 1), "z_in"), sig, "z")
        r = unary(OP.LOGISTIC, binary(OP.ADD, "AddOptions", xr, hr, (0.055, 5), "r_in"), sig, "r")
        one = m.tensor("one", [], I8, data=np.array(127, np.int8), quantization=q(1 / 127, 0))
        one_minus_z = binary(OP.SUB, "SubOptions", one, z, (1 / 256, -128), "one_minus_z")
        rh = binary(OP.MUL, "MulOptions", r, hh, (0.009, 13), "r_hh")
        cand = unary(OP.TANH, binary(OP.ADD, "AddOptions", xh, rh, (0.06, 20), "h_in"), (1 / 128, 0), "cand")
        keep = binary(OP.MUL, "MulOptions", z, h, (0.0077, -1), "z_h")
        new = binary(OP.MUL, "MulOptions", one_minus_z, cand, (0.0072, -2), "nz_cand")
        out = binary(OP.ADD, "AddOptions", keep, new, (1 / 128, 0), "h_new")
        m.io([x, h], [out])
        return m

    return build


def _case(op, dt, name, build):
    # float32: TVM's Relax frontend takes neither SVDF's variable state nor a four-gate (non-CIFG)
    # LSTM; utoe's kernels compute them
    return Case(op, dt, name, build, importer="utoe-integer" if dt == "float32" else None)


TANH = 4


def _lstm(dtype, batch, steps, n_in, n_cell, cell_clip=0.0, in_q=(0.03, -128), out_q=(1 / 128, 0), peephole=False):
    """UNIDIRECTIONAL_SEQUENCE_LSTM, batch-major input [batch, steps, n_in],
    four gates with input and recurrent weights and biases, peephole weights
    if asked (no CIFG, projection or layer norm); output and cell state variable.
    int8 is TFLite's "8x8_16" form: int8 weights and activations, int32
    biases, int16 cell state at a power-of-two scale, five intermediate
    tensors of which TFLite reads the last (the hidden state's scale)."""

    def build(rng):
        m = VarModel(f"utoe conformance: lstm {dtype}")
        integer = dtype == "int8"
        ins = []
        if integer:
            x = m.tensor("x", [batch, steps, n_in], I8, quantization=q(*in_q))
        else:
            x = m.tensor("x", [batch, steps, n_in], F32)
        ins.append(x)
        w_scale = 0.01
        for kind, n in (("input", n_in), ("recurrent", n_cell)):
            for gate in ("i", "f", "c", "o"):
                if integer:
                    ins.append(m.tensor(f"{kind}_{gate}_w", [n_cell, n], I8,
                                        data=rng.integers(-127, 128, (n_cell, n)).astype(np.int8),
                                        quantization=q(w_scale, 0)))
                else:
                    ins.append(m.tensor(f"{kind}_{gate}_w", [n_cell, n], F32,
                                        data=rng.uniform(-0.6, 0.6, (n_cell, n)).astype(np.float32)))
        if peephole:
            ins += [m.tensor(f"peep_{g}", [n_cell], I16 if integer else F32,
                             data=rng.integers(-3000, 3000, n_cell).astype(np.int16) if integer
                             else rng.uniform(-0.5, 0.5, n_cell).astype(np.float32),
                             quantization=q(2.0 ** -10, 0) if integer else None) for g in "ifo"]
        else:
            ins += [-1, -1, -1]  # no peephole
        for gate in ("i", "f", "c", "o"):
            if integer:
                ins.append(m.tensor(f"{gate}_b", [n_cell], I32, data=rng.integers(-3000, 3000, n_cell).astype(np.int32),
                                    quantization=q(in_q[0] * w_scale, 0)))
            else:
                ins.append(m.tensor(f"{gate}_b", [n_cell], F32, data=rng.uniform(-0.3, 0.3, n_cell).astype(np.float32)))
        ins += [-1, -1]  # projection
        if integer:
            h = m.tensor("h_state", [batch, n_cell], I8, quantization=q(*out_q))
            c = m.tensor("c_state", [batch, n_cell], I16, quantization=q(2.0 ** -11, 0))
            y = m.tensor("y", [batch, steps, n_cell], I8, quantization=q(*out_q))
        else:
            h = m.tensor("h_state", [batch, n_cell], F32)
            c = m.tensor("c_state", [batch, n_cell], F32)
            y = m.tensor("y", [batch, steps, n_cell], F32)
        m.variables.update({h.index, c.index})
        ins += [h, c, -1, -1, -1, -1]  # no layer norm
        op = m.operator(OP.UNIDIRECTIONAL_SEQUENCE_LSTM, ins, [y], version=3 if integer else 1,
                        options=("UnidirectionalSequenceLSTMOptions", {
                            "FusedActivationFunction": TANH, "CellClip": cell_clip, "ProjClip": 0.0,
                            "TimeMajor": False}))
        if integer:
            mids = [m.tensor(f"gate_{g}", [batch, n_cell], I16, quantization=q(2.0 ** -12, 0)) for g in "ifco"]
            mids.append(m.tensor("hidden", [batch, n_cell], I8, quantization=q(out_q[0], out_q[1])))
            op.intermediates = [t.index for t in mids]
        m.io([x], [y])
        return m

    return build


def cases():
    out = []
    for dt in ("int8", "float32"):
        # TFLite's integer SVDF requires a fused RELU (svdf.cc); the float one takes any
        out += [
            _case("SVDF", dt, "two-steps-rank2", _svdf(dt, 2, 10, 4, 2, 5, steps=2, act=RELU)),
            _case("SVDF", dt, "rank1", _svdf(dt, 1, 12, 6, 1, 4, act=RELU, out_q=(0.1, 0))),
            _case("SVDF", dt, "three-steps-no-bias", _svdf(dt, 2, 6, 3, 2, 3, steps=3, act=RELU, bias=False,
                                                          in_q=(0.04, 127), out_q=(0.02, -128))),
            _case("SVDF", dt, "memory1", _svdf(dt, 1, 8, 5, 1, 1, steps=2, act=RELU, out_q=(0.05, -20))),
        ]
    out += [
        _case("SVDF", "float32", "no-activation", _svdf("float32", 2, 7, 3, 3, 4, steps=2)),
    ]
    out += [
        Case("GRU", "int8", "cell", _gru(16, 12)),
        Case("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8", "3-steps", _lstm("int8", 2, 3, 5, 4)),
        Case("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8", "zp-127-in-10-out", _lstm("int8", 2, 4, 6, 5, in_q=(0.05, 127),
                                                                                out_q=(1 / 100, 10))),
        Case("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8", "zp-128-out-cell-clip", _lstm(
            "int8", 1, 3, 4, 6, cell_clip=0.5, in_q=(0.02, 5), out_q=(1 / 128, -128))),
        Case("UNIDIRECTIONAL_SEQUENCE_LSTM", "int8", "peephole", _lstm("int8", 2, 3, 4, 5, peephole=True,
                                                                        in_q=(0.04, 20), out_q=(1 / 128, -3))),
        _case("UNIDIRECTIONAL_SEQUENCE_LSTM", "float32", "peephole", _lstm("float32", 2, 3, 4, 5, peephole=True)),
        _case("UNIDIRECTIONAL_SEQUENCE_LSTM", "float32", "3-steps", _lstm("float32", 2, 3, 5, 4)),
        _case("UNIDIRECTIONAL_SEQUENCE_LSTM", "float32", "cell-clip", _lstm("float32", 1, 4, 3, 6, cell_clip=0.8)),
    ]
    return out
