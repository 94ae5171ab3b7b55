"""The conformance matrix (models/make_conformance.py): single-operator
models compiled by utoe, run on the host (real TVM, gcc, the real harness)
and compared with TFLite's BUILTIN_REF. By default the first int8 case of
each operator; every case under `-m slow`. A case passes, or is refused
before any build with the reason below; nothing else."""

import os
import shutil
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "models"))
import make_conformance  # noqa: E402

sys.path.pop(0)

from utoe.conformance import check  # noqa: E402

# Cases utoe refuses today, by name, and the words that must say why.
REFUSED = {
    # BUILTIN_REF computes int8 SUM on the bytes read as uint8: no correct kernel can match it
    "sum-int8-axis1": "SUM (operator #0: int8, const int32 -> int8): the reference interpreter (BUILTIN_REF)",
}

for _family in make_conformance.families():
    REFUSED.update(_family.REFUSED)
FAMILY_DEFAULT = set().union(*(f.DEFAULT for f in make_conformance.families()))
FAMILY_SLOW = set().union(*(getattr(f, "SLOW", set()) for f in make_conformance.families()))  # never by default
CASES = make_conformance.cases()
LATER = {c.op for c in make_conformance._more("int8")}
LATER |= {c.op for f in make_conformance.families() for c in f.cases()}  # a family's DEFAULT says which run
FIRST = {}
for _c in CASES:
    FIRST.setdefault((_c.op, _c.dtype), _c.id)


def _params():
    for case in CASES:
        # default: the first int8 case of each zoo operator and every refusal (the
        # later kernels have their own default cases in tests/codegen/test_kernels_more.py);
        # float32 through TVM and the other cases under -m slow
        default = case.id in REFUSED or case.id in FAMILY_DEFAULT or (FIRST[(case.op, case.dtype)] == case.id and case.dtype == "int8"
                                         and case.op not in LATER and case.id not in FAMILY_SLOW)
        marks = () if default else (pytest.mark.slow,)
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", _params())
def test_case(case, tmp_path):
    path = tmp_path / f"{case.id}.tflite"
    path.write_bytes(case.serialize())
    outcome = check(str(path), name="m")
    if case.id in REFUSED:
        assert outcome.status == "refused" and REFUSED[case.id] in outcome.detail, outcome
        assert str(path) in outcome.detail  # the line names the model
        return
    assert outcome.status == "pass", outcome.detail
    expected = case.importer or ("utoe-integer" if case.dtype in ("int8", "int16") else "tvm-relax")
    assert outcome.importer == expected
    if expected == "utoe-integer" and case.dtype != "float32":  # utoe's float kernels: within tolerance
        assert outcome.exact and outcome.max_abs_error == 0


def test_cases_are_reproducible():
    """The same case gives the same bytes (fixed seeds): the matrix is a table
    anyone can regenerate."""
    a = [c.serialize() for c in make_conformance.cases()[:6]]
    b = [c.serialize() for c in make_conformance.cases()[:6]]
    assert a == b and len({c.id for c in CASES}) == len(CASES)


# A sample of the matrix on an emulated Cortex-M0+ (arduino-zero under QEMU):
# no hardware divide, no DSP or 32x32->64 multiply instructions, so the
# compiler takes other paths (libgcc's __aeabi_* helpers) than on the host.
# Default: three cases; -m slow: the first int8 case of every operator.
M0PLUS = "arduino-zero"
M0_DEFAULT = {"conv_2d-int8-3x3-s1-same-per-channel", "softmax-int8-2x10", "hard_swish-int8-4x16"}


def _m0_params():
    seen = set()
    for case in CASES:
        if case.dtype != "int8" or case.op in seen or case.id in REFUSED:
            continue
        seen.add(case.op)
        yield pytest.param(case, id=case.id, marks=() if case.id in M0_DEFAULT else (pytest.mark.slow,))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs gcc-arm-none-eabi and qemu-system-arm")
@pytest.mark.parametrize("case", _m0_params())
def test_case_on_emulated_cortex_m0plus(case, tmp_path):
    path = tmp_path / f"{case.id}.tflite"
    path.write_bytes(case.serialize())
    outcome = check(str(path), name="m", board=M0PLUS)
    assert outcome.status == "pass", outcome.detail
    assert outcome.exact and outcome.max_abs_error == 0


def test_refused_control_flow_models_are_valid_tflite():
    """The control-flow and resource-variable cases utoe refuses are models
    TFLite runs (so the refusal is utoe's limit, not a bad model): the
    accumulator's state carries across two invocations."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    import conformance_control

    outs = {}
    for case in conformance_control.cases():
        it = Interpreter(model_content=case.serialize(), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        for _ in range(2):
            for d in it.get_input_details():
                it.set_tensor(d["index"], np.ones(d["shape"], d["dtype"]))
            it.invoke()
        outs[case.op] = it.get_tensor(it.get_output_details()[0]["index"])
    assert outs["IF"].tolist() == [[2.0] * 3] * 2  # then: x + x
    assert outs["WHILE"].tolist() == [2.5] * 4  # 1 + 3 * 0.5
    assert outs["READ_VARIABLE"].tolist() == [2.0] * 4  # second invocation: 1 + 1
