"""utoe's integer kernels for comparisons, logical operators, SELECT_V2,
CAST and the other operators on bool and int32 tensors
(utoe/codegen/kernels_logic.py), each against ai-edge-litert's BUILTIN_REF
interpreter: a small model (written with models/tflite_builder.py) is
compiled by utoe's integer path, run on this host with a per-operator trace
and every operator's output compared with TFLite's tensor of the same name
on the same seeded inputs. Int8 comparisons are rescaled as TFLite rescales
them; the int32/bool forms, which alone would go to TVM, are compiled by
the integer path here (importer "utoe") because quantized models carry them
(masks from int8 comparisons, shapes and indices)."""

import os
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from utoe import boards
from utoe.codegen import generate
from utoe.diagnose import _reference_tensors, trace
from utoe.errors import CodegenError
from utoe.inputs import DTYPES

sys.path.insert(0, os.path.join(ROOT, "models"))
try:
    from tflite.BuiltinOperator import BuiltinOperator as OP
    from tflite_builder import Model, Quantization, TensorType
finally:
    sys.path.pop(0)

T = {"float32": TensorType.FLOAT32, "int8": TensorType.INT8, "int16": TensorType.INT16, "int32": TensorType.INT32,
     "bool": TensorType.BOOL}


def q(scale, zp):
    return Quantization([scale], [zp])


class Net:
    """A small model: tensors by name, operators in order, inputs are the
    tensors without data."""

    def __init__(self):
        self.m = Model("utoe test: logic")
        self.t, self.live = {}, []

    def tensor(self, name, dtype, shape, qp=None, data=None):
        quant = q(*qp) if qp else None
        if data is not None:
            arr = np.asarray(data)
            data = arr.astype(np.uint8).tobytes() if dtype == "bool" else arr.astype(DTYPES[dtype])
        self.t[name] = self.m.tensor(name, list(shape), T[dtype], data=data, quantization=quant)
        if data is None:
            self.live.append(self.t[name])
        return self

    def op(self, code, ins, outs, options=None, version=1):
        self.m.operator(code, [self.t[n] if n else -1 for n in ins], [self.t[n] for n in outs], version=version,
                        options=options)
        return self

    def serialize(self, outputs):
        ys = [self.t[n] for n in outputs]
        self.inputs = [t for t in self.live if t not in ys]
        self.m.io(self.inputs, ys)
        return self.m.serialize()


def run(tmp_path, data, seeds=(1, 2)):
    """Compile with utoe's integer path and run on the host; assert every
    operator's output equals TFLite's (bit-exact; float32 within 1e-6
    relative) for each seed. Returns the reference's outputs of the last seed."""
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    out = tmp_path / "cg"
    meta = generate(str(path), str(out), "m", {"importer": "utoe"})
    assert meta["options"]["importer_used"] == "utoe-integer"
    seen = []
    for seed in seeds:
        traces = trace(boards.get("native"), str(out), meta, seed)
        names, it = _reference_tensors(meta, seed)
        seen = []
        for op in meta["operators"]:
            tensor = op["outputs"][0]
            dtype, raw = traces[op["index"]]
            got = np.frombuffer(raw, dtype=DTYPES[dtype])
            ref = np.asarray(it.get_tensor(names[tensor])).reshape(-1)
            assert got.shape == ref.shape, (op["name"], got.shape, ref.shape)
            if got.dtype.kind == "f":
                np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7, err_msg=f"seed {seed}, {op['name']}")
            else:
                bad = np.flatnonzero(got != ref)
                assert not len(bad), f"seed {seed}, {op['name']}: {len(bad)} of {ref.size} differ, first at " \
                                     f"{bad[0]}: utoe {got[bad[0]]}, TFLite {ref[bad[0]]}"
            seen.append(ref)
    return seen


def slow_after(n, cases):
    return [c if i < n else pytest.param(*(c if isinstance(c, tuple) else (c,)), marks=pytest.mark.slow)
            for i, c in enumerate(cases)]


CMP = {"EQUAL": (OP.EQUAL, "EqualOptions"), "NOT_EQUAL": (OP.NOT_EQUAL, "NotEqualOptions"),
       "LESS": (OP.LESS, "LessOptions"), "LESS_EQUAL": (OP.LESS_EQUAL, "LessEqualOptions"),
       "GREATER": (OP.GREATER, "GreaterOptions"), "GREATER_EQUAL": (OP.GREATER_EQUAL, "GreaterEqualOptions")}


# ---------------------------------------------------------------- int8 comparisons

COMPARE_CASES = [
    # (op, a shape, b shape, a quantization, b quantization)
    ("EQUAL", (32, 1), (1, 32), (0.002, 3), (0.002, 3)),  # a scale so small that neighbours compare equal
    ("LESS", (2, 3, 8), (8,), (0.05, 127), (0.08, 127)),  # different scales, zero points at the end
    ("NOT_EQUAL", (16, 1, 8), (1, 16, 8), (0.003, -7), (0.0031, 2)),
    ("LESS_EQUAL", (2, 8), (1,), (0.5, 0), (0.004, -128)),
    ("GREATER", (1, 2, 3, 4), (1, 1, 3, 1), (0.1, 5), (0.03, -20)),
    ("GREATER_EQUAL", (6, 5), (6, 5), (0.9, 0), (0.01, -128)),
]


@pytest.mark.parametrize("name,sa,sb,qa,qb", slow_after(1, COMPARE_CASES))
def test_comparison_int8(tmp_path, name, sa, sb, qa, qb):
    code, table = CMP[name]
    out = tuple(np.broadcast_shapes(sa, sb))
    n = (Net().tensor("a", "int8", sa, qa).tensor("b", "int8", sb, qb).tensor("y", "bool", out)
         .op(code, ["a", "b"], ["y"], (table, {}), version=2))
    (ref,) = run(tmp_path, n.serialize(["y"]))
    assert 0 < ref.sum() < ref.size  # both answers occur: the rescaling is exercised, not a constant


def test_mask_chain_int8(tmp_path):
    """A quantized model's masking, as converters write it: two int8
    comparisons, their LOGICAL_AND, its LOGICAL_NOT, SELECT_V2 between two
    int8 tensors (broadcast), CAST of the mask to int32."""
    qa, qb = (0.05, -128), (0.04, -128)
    n = (Net().tensor("a", "int8", (2, 3, 4), qa).tensor("b", "int8", (4,), qb)
         .tensor("lim", "int8", (1,), qa, np.array([-100])).tensor("m1", "bool", (2, 3, 4))
         .tensor("m2", "bool", (2, 3, 4)).tensor("m", "bool", (2, 3, 4)).tensor("nm", "bool", (2, 3, 4))
         .tensor("y", "int8", (2, 3, 4), qa).tensor("c", "int32", (2, 3, 4))
         .op(OP.GREATER, ["a", "b"], ["m1"], ("GreaterOptions", {}), 2)
         .op(OP.NOT_EQUAL, ["a", "lim"], ["m2"], ("NotEqualOptions", {}), 2)
         .op(OP.LOGICAL_AND, ["m1", "m2"], ["m"], ("LogicalAndOptions", {}))
         .op(OP.LOGICAL_NOT, ["m"], ["nm"], ("LogicalNotOptions", {}))
         .op(OP.SELECT_V2, ["nm", "a", "b"], ["y"], ("SelectV2Options", {}))
         .op(OP.CAST, ["m"], ["c"], ("CastOptions", {"InDataType": T["bool"], "OutDataType": T["int32"]})))
    run(tmp_path, n.serialize(["y", "c"]))


# ---------------------------------------------------------------- int32 and bool forms on the integer path


@pytest.mark.parametrize("name", slow_after(1, ["LESS", "EQUAL", "NOT_EQUAL", "LESS_EQUAL", "GREATER",
                                                "GREATER_EQUAL"]))
def test_int32_and_bool_forms(tmp_path, name):
    """int32 comparisons (raw values), bool equality, LOGICAL_OR,
    SELECT_V2 of int32, CAST int32 -> bool, int8, float32 and back, REVERSE_V2
    of bool, SHAPE: one chain, on the integer path."""
    code, table = CMP[name]
    bool_code, bool_table = CMP["EQUAL" if name in ("LESS", "GREATER_EQUAL", "LESS_EQUAL") else "NOT_EQUAL"]
    cast = ("CastOptions", {})
    n = (Net().tensor("a", "int32", (3, 4)).tensor("b", "int32", (4,)).tensor("p", "bool", (3, 1))
         .tensor("m", "bool", (3, 4)).tensor("e", "bool", (3, 4)).tensor("o", "bool", (3, 4))
         .tensor("s", "int32", (3, 4)).tensor("z", "bool", (3, 4)).tensor("i8", "int8", (3, 4))
         .tensor("back", "int32", (3, 4)).tensor("ax", "int32", (1,), data=np.array([1]))
         .tensor("r", "bool", (3, 4)).tensor("sh", "int32", (2,)).tensor("af", "float32", (3, 4))
         .op(code, ["a", "b"], ["m"], (table, {}))
         .op(bool_code, ["m", "p"], ["e"], (bool_table, {}))
         .op(OP.LOGICAL_OR, ["e", "p"], ["o"], ("LogicalOrOptions", {}))
         .op(OP.SELECT_V2, ["o", "a", "b"], ["s"], ("SelectV2Options", {}))
         .op(OP.CAST, ["s"], ["z"], cast)
         .op(OP.CAST, ["a"], ["i8"], cast)
         .op(OP.CAST, ["i8"], ["back"], cast)
         .op(OP.CAST, ["a"], ["af"], cast)
         .op(OP.REVERSE_V2, ["o", "ax"], ["r"], ("ReverseV2Options", {}))
         .op(OP.SHAPE, ["a"], ["sh"], ("ShapeOptions", {"OutType": T["int32"]})))
    run(tmp_path, n.serialize(["z", "back", "r", "s", "sh", "af"]))


@pytest.mark.slow
def test_float32_forms_on_integer_path(tmp_path):
    """float32 comparisons, SELECT_V2, BROADCAST_TO, FILL, REVERSE_V2 and
    ZEROS_LIKE as a quantized model's float tail would have them, on the
    integer path."""
    n = (Net().tensor("a", "float32", (2, 3, 4)).tensor("b", "float32", (4,)).tensor("m", "bool", (2, 3, 4))
         .tensor("e", "bool", (2, 3, 4)).tensor("s", "float32", (2, 3, 4))
         .tensor("bs", "int32", (4,), data=np.array([2, 2, 3, 4])).tensor("bt", "float32", (2, 2, 3, 4))
         .tensor("ax", "int32", (1,), data=np.array([0])).tensor("r", "float32", (2, 2, 3, 4))
         .tensor("d", "int32", (1,), data=np.array([5])).tensor("v", "float32", (), data=np.array(2.5))
         .tensor("f", "float32", (5,)).tensor("z", "float32", (2, 3, 4))
         .op(OP.GREATER_EQUAL, ["a", "b"], ["m"], ("GreaterEqualOptions", {}))
         .op(OP.EQUAL, ["a", "a"], ["e"], ("EqualOptions", {}))
         .op(OP.SELECT_V2, ["m", "b", "a"], ["s"], ("SelectV2Options", {}))
         .op(OP.BROADCAST_TO, ["s", "bs"], ["bt"], ("BroadcastToOptions", {}), 2)
         .op(OP.REVERSE_V2, ["bt", "ax"], ["r"], ("ReverseV2Options", {}))
         .op(OP.FILL, ["d", "v"], ["f"], ("FillOptions", {}))
         .op(OP.ZEROS_LIKE, ["a"], ["z"], ("ZerosLikeOptions", {})))
    run(tmp_path, n.serialize(["e", "r", "f", "z"]))


CAST_CASES = [("int8", "int32"), ("int8", "float32"), ("int16", "int8"), ("int32", "bool"), ("bool", "int8"),
              ("float32", "int32"), ("int32", "float32"), ("int8", "bool")]


@pytest.mark.slow
@pytest.mark.parametrize("src,dst", CAST_CASES)
def test_cast(tmp_path, src, dst):
    qp = {"int8": (0.05, -128), "int16": (0.001, 0)}
    n = (Net().tensor("x", src, (4, 8), qp.get(src)).tensor("y", dst, (4, 8), qp.get(dst))
         .op(OP.CAST, ["x"], ["y"], ("CastOptions", {"InDataType": T[src], "OutDataType": T[dst]})))
    run(tmp_path, n.serialize(["y"]))


# ---------------------------------------------------------------- indices and copies


def test_gather_copy_family(tmp_path):
    """GATHER_ND, EMBEDDING_LOOKUP (int8 rows and the hybrid int8 ->
    float32 form), BROADCAST_TO, FILL, REVERSE_V2 over two axes and SHAPE in
    one int8 model."""
    qa = (0.05, -128)
    idx = np.array([[[3, 0], [1, 2]], [[0, 1], [3, 2]]], np.int32)
    n = (Net().tensor("x", "int8", (4, 3, 5), qa).tensor("idx", "int32", idx.shape, data=idx)
         .tensor("g", "int8", (2, 2, 5), qa)
         .tensor("ids", "int32", (5,), data=np.array([2, 0, 3, 3, 1])).tensor("e", "int8", (5, 3, 5), qa)
         .tensor("tab", "int8", (3, 6), (0.37, 0), data=np.arange(-9, 9).reshape(3, 6) * 13)
         .tensor("ids2", "int32", (2,), data=np.array([2, 1])).tensor("h", "float32", (2, 6))
         .tensor("bshape", "int32", (4,), data=np.array([2, 2, 2, 5])).tensor("b", "int8", (2, 2, 2, 5), qa)
         .tensor("dims", "int32", (2,), data=np.array([3, 4])).tensor("v", "int8", (), qa)
         .tensor("f", "int8", (3, 4), qa)
         .tensor("axes", "int32", (2,), data=np.array([2, -2])).tensor("r", "int8", (4, 3, 5), qa)
         .tensor("sh", "int32", (3,))
         .op(OP.GATHER_ND, ["x", "idx"], ["g"], ("GatherNdOptions", {}))
         .op(OP.EMBEDDING_LOOKUP, ["ids", "x"], ["e"])
         .op(OP.EMBEDDING_LOOKUP, ["ids2", "tab"], ["h"])
         .op(OP.BROADCAST_TO, ["g", "bshape"], ["b"], ("BroadcastToOptions", {}), 2)
         .op(OP.FILL, ["dims", "v"], ["f"], ("FillOptions", {}))
         .op(OP.REVERSE_V2, ["x", "axes"], ["r"], ("ReverseV2Options", {}))
         .op(OP.SHAPE, ["r"], ["sh"], ("ShapeOptions", {"OutType": T["int32"]})))
    run(tmp_path, n.serialize(["b", "e", "h", "f", "sh"]))


@pytest.mark.parametrize("exclusive,reverse", slow_after(1, [(True, True), (False, False), (True, False),
                                                             (False, True)]))
def test_cumsum_add_n_zeros_like_int32(tmp_path, exclusive, reverse):
    """CUMSUM (int32 and float32, each option), ADD_N, ZEROS_LIKE and
    BROADCAST_ARGS of constant shapes."""
    n = (Net().tensor("a", "int32", (2, 5, 3)).tensor("b", "int32", (2, 5, 3)).tensor("f", "float32", (4, 6))
         .tensor("ax", "int32", (), data=np.array(1)).tensor("ax2", "int32", (), data=np.array(-1))
         .tensor("c", "int32", (2, 5, 3)).tensor("cf", "float32", (4, 6)).tensor("s", "int32", (2, 5, 3))
         .tensor("z", "int32", (2, 5, 3))
         .tensor("s1", "int32", (3,), data=np.array([2, 1, 4])).tensor("s2", "int32", (2,), data=np.array([3, 1]))
         .tensor("ba", "int32", (3,))
         .op(OP.CUMSUM, ["a", "ax"], ["c"], ("CumsumOptions", {"Exclusive": exclusive, "Reverse": reverse}))
         .op(OP.CUMSUM, ["f", "ax2"], ["cf"], ("CumsumOptions", {"Exclusive": exclusive, "Reverse": reverse}))
         .op(OP.ADD_N, ["a", "b", "c"], ["s"], ("AddNOptions", {}))
         .op(OP.ZEROS_LIKE, ["s"], ["z"], ("ZerosLikeOptions", {}))
         .op(OP.BROADCAST_ARGS, ["s1", "s2"], ["ba"]))
    run(tmp_path, n.serialize(["cf", "z", "ba", "s"]))


# ---------------------------------------------------------------- refusals


def _refused(tmp_path, data, words, importer="utoe"):
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    with pytest.raises(CodegenError) as e:
        generate(str(path), str(tmp_path / "cg"), "m", {"importer": importer})
    line = str(e.value)
    assert "\n" not in line and line.startswith(f"{path}: ") and words in line, line
    assert not (tmp_path / "cg").exists() or os.listdir(tmp_path / "cg") == []


def test_refusals_before_any_build(tmp_path):
    """One line naming the operator, its index and types, and why; nothing written."""
    cases = [
        # TFLite's QuantizeMultiplierSmallerThanOneExp aborts on a scale of 1 or more
        (Net().tensor("a", "int8", (4,), (1.5, 0)).tensor("b", "int8", (4,), (0.1, 0)).tensor("y", "bool", (4,))
         .op(OP.LESS, ["a", "b"], ["y"], ("LessOptions", {}), 2), ["y"],
         "LESS (operator #0: int8, int8 -> bool): LESS of an int8 tensor with scale 1.5"),
        (Net().tensor("a", "bool", (4,)).tensor("b", "bool", (4,)).tensor("y", "bool", (4,))
         .op(OP.LESS, ["a", "b"], ["y"], ("LessOptions", {})), ["y"],
         "LESS (operator #0: bool, bool -> bool): no integer kernel for these types"),
        (Net().tensor("x", "int8", (2, 3, 4), (0.1, 0)).tensor("ax", "int32", (2,), data=np.array([0, 2]))
         .tensor("y", "int8", (2, 3, 4), (0.1, 0)).op(OP.REVERSE_V2, ["x", "ax"], ["y"], ("ReverseV2Options", {})),
         ["y"], "REVERSE_V2 along axes [0, 2] of a rank-3 input (utoe takes contiguous axes)"),
        (Net().tensor("x", "int8", (4, 3), (0.1, 0)).tensor("i", "int32", (2, 1), data=np.array([[1], [4]]))
         .tensor("y", "int8", (2, 3), (0.1, 0)).op(OP.GATHER_ND, ["x", "i"], ["y"], ("GatherNdOptions", {})),
         ["y"], "GATHER_ND index outside params' dimensions [4]"),
        (Net().tensor("x", "int8", (4, 3), (0.1, 0)).tensor("i", "int32", (2,))
         .tensor("y", "int8", (2, 3), (0.1, 0)).op(OP.EMBEDDING_LOOKUP, ["i", "x"], ["y"]),
         ["y"], "EMBEDDING_LOOKUP with a non-constant ids"),
        (Net().tensor("a", "int32", (2,)).tensor("b", "int32", (2,), data=np.array([1, 3]))
         .tensor("y", "int32", (2,)).op(OP.BROADCAST_ARGS, ["a", "b"], ["y"]),
         ["y"], "BROADCAST_ARGS (operator #0: int32, const int32 -> int32): BROADCAST_ARGS with a non-constant shape"),
        (Net().tensor("x", "int8", (2, 3), (0.1, 0)).tensor("y", "int8", (2, 3), (0.1, 0))
         .op(OP.ZEROS_LIKE, ["x"], ["y"], ("ZerosLikeOptions", {})), ["y"],
         "ZEROS_LIKE (operator #0: int8 -> int8): int8: the reference interpreter (BUILTIN_REF) takes"),
        # a malformed model: SELECT_V2 with its y input omitted
        (Net().tensor("c", "bool", (4,)).tensor("x", "int8", (4,), (0.1, 0)).tensor("y", "int8", (4,), (0.1, 0))
         .op(OP.SELECT_V2, ["c", "x", None], ["y"], ("SelectV2Options", {})), ["y"],
         "SELECT_V2 with inputs [0, 1, -1] and outputs [2] (TFLite's takes 3 inputs, none omitted, and one output)"),
    ]
    for k, (net, outs, words) in enumerate(cases):
        d = tmp_path / str(k)
        d.mkdir()
        _refused(d, net.serialize(outs), words)


def test_tvm_troubles_take_the_integer_path(tmp_path):
    """A float32 model with GATHER_ND (TVM's frontend picks the wrong
    elements) goes to the integer path by itself and is refused there by
    name when it has an operator that path lacks, not computed wrong."""
    idx = np.array([[1], [0]], np.int32)
    n = (Net().tensor("x", "float32", (2, 3)).tensor("i", "int32", (2, 1), data=idx).tensor("g", "float32", (2, 3))
         .tensor("y", "float32", (2, 3)).op(OP.GATHER_ND, ["x", "i"], ["g"], ("GatherNdOptions", {}))
         .op(OP.TANH, ["g"], ["y"]))
    _refused(tmp_path, n.serialize(["y"]), "TANH (operator #1: float32 -> float32): no integer kernel for these types",
             importer="auto")
