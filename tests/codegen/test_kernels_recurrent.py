"""utoe's recurrent kernels (utoe/codegen/kernels_recurrent.py): SVDF and
UNIDIRECTIONAL_SEQUENCE_LSTM with their variable state, against
ai-edge-litert's BUILTIN_REF interpreter.

The models come from models/conformance_recurrent.py. Several SVDF steps in
one inference share one variable tensor, so the later steps read the state
the earlier ones wrote: a wrong shift, a wrong newest column or state bytes
shared with another tensor changes their outputs."""

import os
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from utoe.codegen import integer, planner, tflite_model
from utoe.conformance import check
from utoe.errors import CodegenError
from utoe.frontend import _tflite_model

sys.path.insert(0, os.path.join(ROOT, "models"))
try:
    import make_conformance  # noqa: F401  (conformance_recurrent imports it)
    import conformance_recurrent as cr
finally:
    sys.path.pop(0)


def _write(tmp_path, build, seed=7):
    path = tmp_path / "m.tflite"
    path.write_bytes(build(np.random.default_rng(seed)).serialize())
    return str(path)


def test_svdf_state_is_planned_apart(tmp_path):
    """The state is a 'state' tensor live for the whole run: no other tensor
    (inputs, outputs, another step's output) shares its bytes, and both
    steps' updates write it."""
    path = _write(tmp_path, cr._svdf("int8", 2, 6, 3, 2, 4, steps=3, act=1))
    g, _ = integer.build(path, _tflite_model(path))
    (state,) = [t for t in g.tensors if t.kind == "state"]
    assert state.dtype == "int16" and state.bytes == 2 * 6 * 4 * 2
    writers = [op.func for op in g.ops if op.outputs == [state.id]]
    assert writers == ["svdf_0_state", "svdf_1_state", "svdf_2_state"]
    p = planner.plan(g)
    lo, hi = p.offsets[state.id], p.offsets[state.id] + state.bytes
    for t in g.tensors:
        if t.kind != "param" and t.id != state.id and t.id in p.offsets:
            assert p.offsets[t.id] + t.bytes <= lo or p.offsets[t.id] >= hi, t.name


def test_svdf_int8_state_refused_before_build(tmp_path):
    """TFLite's integer SVDF keeps its state in int16; an int8 state is
    refused by name (operator, index, types) before anything is built."""
    def build(rng):
        m = cr._svdf("int8", 1, 4, 2, 1, 3, act=1)(rng)
        state = next(t for t in m.tensors if t.name == "state")
        state.type = cr.I8
        return m

    path = _write(tmp_path, build)
    with pytest.raises(CodegenError) as e:
        integer.build(path, _tflite_model(path))
    assert "SVDF (operator #0" in str(e.value) and "int16" in str(e.value) and path in str(e.value)


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=() if c.id == "svdf-int8-three-steps-no-bias" else (pytest.mark.slow,))
    for c in cr.cases() if c.op == "SVDF" and c.id not in cr.REFUSED])
def test_svdf(tmp_path, case):
    """Compiled, run on the host and compared with BUILTIN_REF: int8
    bit-exact, float32 within tolerance."""
    path = tmp_path / f"{case.id}.tflite"
    path.write_bytes(case.serialize())
    out = check(str(path), name="m")
    assert out.status == "pass", out.detail
    if case.dtype == "int8":
        assert out.exact and out.max_abs_error == 0


@pytest.mark.slow
def test_gru_cell(tmp_path):
    """A GRU step from FULLY_CONNECTED, SPLIT, SPLIT_V, LOGISTIC, TANH, MUL,
    ADD and SUB (Keras's and rnnoise's converted GRU), int8 bit-exact."""
    (case,) = [c for c in cr.cases() if c.op == "GRU"]
    path = tmp_path / "gru.tflite"
    path.write_bytes(case.serialize())
    qm = tflite_model.read(str(path), _tflite_model(str(path)))
    assert {op.name for op in qm.ops} == {"FULLY_CONNECTED", "SPLIT", "SPLIT_V", "LOGISTIC", "TANH", "MUL", "ADD",
                                          "SUB"}
    out = check(str(path), name="m")
    assert out.status == "pass" and out.exact, out.detail


def test_lstm_refusals_before_build(tmp_path):
    """An LSTM with coupled input and forget gates (CIFG) or layer norm is
    refused by name, and an int8 LSTM without TFLite's intermediates too,
    before anything is built (no TVM build, no gcc)."""
    def altered(inputs):
        def build(rng):
            m = cr._lstm("int8", 1, 2, 3, 4)(rng)
            for k, v in inputs.items():
                m.operators[0].inputs[k] = v if v >= 0 else -1
            return m

        return build

    for inputs, words in (({1: -1, 5: -1, 12: -1}, "CIFG"), ({20: 13}, "layer norm")):
        path = _write(tmp_path, altered(inputs))
        with pytest.raises(CodegenError) as e:
            integer.build(path, _tflite_model(path))
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM (operator #0" in str(e.value) and words in str(e.value), str(e.value)

    def no_intermediates(rng):
        m = cr._lstm("int8", 1, 2, 3, 4)(rng)
        m.operators[0].intermediates = None
        return m

    path = _write(tmp_path, no_intermediates)
    with pytest.raises(CodegenError) as e:
        integer.build(path, _tflite_model(path))
    assert "five quantized intermediate tensors" in str(e.value)


def test_lstm_int8_states_planned_apart(tmp_path):
    """The output and cell states are 'state' tensors (int8, int16) with
    bytes of their own; each of the steps writes the cell state, the output
    and the output state, in that order."""
    path = _write(tmp_path, cr._lstm("int8", 2, 3, 5, 4, in_q=(0.05, 127), out_q=(0.01, 10)))
    g, _ = integer.build(path, _tflite_model(path))
    states = {t.dtype: t for t in g.tensors if t.kind == "state"}
    assert set(states) == {"int8", "int16"}
    assert [op.func for op in g.ops] == [f"unidirectional_sequence_lstm_0_t{t}_{k}" for t in range(3)
                                         for k in ("cell", "output", "state")]
    p = planner.plan(g)
    for s in states.values():
        lo, hi = p.offsets[s.id], p.offsets[s.id] + s.bytes
        for t in g.tensors:
            if t.kind != "param" and t.id != s.id and t.id in p.offsets:
                assert p.offsets[t.id] + t.bytes <= lo or p.offsets[t.id] >= hi, t.name


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=() if c.id == "unidirectional_sequence_lstm-int8-zp-128-out-cell-clip"
                 else (pytest.mark.slow,))
    for c in cr.cases() if c.op == "UNIDIRECTIONAL_SEQUENCE_LSTM" and c.id not in cr.REFUSED])
def test_lstm(tmp_path, case):
    """Several steps from the zero state: int8 bit-exact (zero points at the
    int8 edges, cell clip), float32 within tolerance."""
    path = tmp_path / f"{case.id}.tflite"
    path.write_bytes(case.serialize())
    out = check(str(path), name="m")
    assert out.status == "pass", out.detail
    if case.dtype == "int8":
        assert out.exact and out.max_abs_error == 0
