"""Conformance cases: Comparisons, logical operators, SELECT_V2, CAST and the other operators on bool and int32 tensors.
(models/make_conformance.py collects them.)

The Case dtype is the operator's data type as TFLite Micro's type switch
reads it (benchmarks/conformance.py TFLM_TYPES): the compared inputs' for
comparisons, the input's for CAST and SHAPE, the values' for SELECT_V2,
GATHER_ND and EMBEDDING_LOOKUP. The int16 cases (quantized int16 values:
SELECT_V2, CAST, FILL, BROADCAST_TO, REVERSE_V2) expect the integer path,
which takes quantized int16 models once integer.is_quantized routes them
there (the int16 family's change); TVM's frontend refuses them."""

import numpy as np

from tflite_builder import BuiltinOperator as OP
from tflite_builder import Model, Quantization, TensorType

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = {
    "less-int8-broadcast-scales",
    "logical_and-bool-broadcast",
    "select_v2-int8-broadcast3",
    "gather_nd-float32-pairs",  # TVM picks the wrong elements: the integer path takes it (integer.is_quantized)
}
REFUSED = {
    # TFLite Micro runs these int8 forms; ai-edge-litert's reference interpreter does not, so nothing validates them
    "zeros_like-int8-3d": "ZEROS_LIKE (operator #0: int8 -> int8): int8: the reference interpreter (BUILTIN_REF) takes",
    "add_n-int8-three": "ADD_N (operator #0: int8, int8, int8 -> int8): int8: the reference interpreter (BUILTIN_REF) "
                        "takes",
    "cumsum-int8-axis1": "CUMSUM (operator #0: int8, const int32 -> int8): int8: the reference interpreter "
                         "(BUILTIN_REF) takes",
    "cumsum-int8-axis-1-exclusive-reverse": "CUMSUM (operator #0: int8, const int32 -> int8): int8: the reference "
                                            "interpreter (BUILTIN_REF) takes",
}

TYPES = {"float32": TensorType.FLOAT32, "int8": TensorType.INT8, "int16": TensorType.INT16,
         "int32": TensorType.INT32, "int64": TensorType.INT64, "bool": TensorType.BOOL}
NP = {"float32": np.float32, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
      "bool": np.bool_}


def _t(dtype, shape, qp=None, data=None):
    """A tensor spec: dtype, shape, (scale, zero point) or None, constant data
    (an array, or a function of the case's rng) or None for a model input.
    Quantization applies to int8/int16 only (None elsewhere)."""
    return (dtype, list(shape), qp, data)


def _model(code, ins, outs, options=None, version=1):
    """One operator: inputs and outputs from _t specs (-1 for an omitted
    input); the inputs without data are the model's inputs, in order."""

    def build(rng):
        m = Model(f"utoe conformance: {code}")
        tensors, live = [], []
        for k, spec in enumerate(ins):
            if spec == -1:
                tensors.append(-1)
                continue
            dtype, shape, qp, data = spec
            quant = Quantization([qp[0]], [qp[1]]) if qp is not None and dtype in ("int8", "int16") else None
            if data is not None:
                arr = np.asarray(data(rng) if callable(data) else data).astype(NP[dtype])
                payload = arr.astype(np.uint8).tobytes() if dtype == "bool" else arr
                t = m.tensor(f"c{k}", shape, TYPES[dtype], data=payload, quantization=quant)
            else:
                t = m.tensor(f"x{k}", shape, TYPES[dtype], quantization=quant)
                live.append(t)
            tensors.append(t)
        ys = []
        for j, (dtype, shape, qp, _) in enumerate(outs):
            quant = Quantization([qp[0]], [qp[1]]) if qp is not None and dtype in ("int8", "int16") else None
            ys.append(m.tensor(f"y{j}", shape, TYPES[dtype], quantization=quant))
        m.operator(code, tensors, ys, version=version, options=options)
        m.io(live, ys)
        return m

    return build


def _bshape(*shapes):
    return list(np.broadcast_shapes(*[tuple(s) for s in shapes]))


COMPARISONS = (("EQUAL", OP.EQUAL, "EqualOptions"), ("NOT_EQUAL", OP.NOT_EQUAL, "NotEqualOptions"),
               ("LESS", OP.LESS, "LessOptions"), ("LESS_EQUAL", OP.LESS_EQUAL, "LessEqualOptions"),
               ("GREATER", OP.GREATER, "GreaterOptions"),
               ("GREATER_EQUAL", OP.GREATER_EQUAL, "GreaterEqualOptions"))


def _compare(code, table, dtype, a, b, qa=None, qb=None, b_const=None):
    out = _bshape(a, b)
    return _model(code, [_t(dtype, a, qa), _t(dtype, b, qb, b_const)], [_t("bool", out)], (table, {}),
                  version=2 if dtype == "int8" else 1)


def _comparison_cases():
    from make_conformance import Case

    out = []
    for name, code, table in COMPARISONS:
        out += [
            # different scales and zero points at the int8 ends: TFLite rescales both sides
            Case(name, "int8", "broadcast-scales",
                 _compare(code, table, "int8", [2, 3, 4], [4], (0.05, -128), (0.08, -128))),
            # the same tiny scale both sides: the rescaling rounds neighbouring values together
            Case(name, "int8", "same-small-scale",
                 _compare(code, table, "int8", [32, 1], [1, 32], (0.002, 3), (0.002, 3))),
            Case(name, "int8", "const-rank4",
                 _compare(code, table, "int8", [1, 2, 3, 4], [1, 1, 3, 1], (0.1, 5), (0.03, -20),
                          b_const=lambda rng: rng.integers(-128, 128, [1, 1, 3, 1]))),
            Case(name, "int32", "broadcast", _compare(code, table, "int32", [2, 3, 4], [3, 1])),
            Case(name, "float32", "broadcast", _compare(code, table, "float32", [2, 3, 4], [4])),
        ]
        if name in ("EQUAL", "NOT_EQUAL"):
            out.append(Case(name, "bool", "broadcast", _compare(code, table, "bool", [2, 3, 4], [3, 1])))
    return out


def _logical_cases():
    from make_conformance import Case

    return [
        Case("LOGICAL_AND", "bool", "broadcast", _model(OP.LOGICAL_AND, [_t("bool", [2, 3, 4]), _t("bool", [3, 1])],
                                                        [_t("bool", [2, 3, 4])], ("LogicalAndOptions", {}))),
        Case("LOGICAL_AND", "bool", "same-shape", _model(OP.LOGICAL_AND, [_t("bool", [5, 7]), _t("bool", [5, 7])],
                                                         [_t("bool", [5, 7])], ("LogicalAndOptions", {}))),
        Case("LOGICAL_OR", "bool", "broadcast", _model(OP.LOGICAL_OR, [_t("bool", [4, 1]), _t("bool", [1, 6])],
                                                       [_t("bool", [4, 6])], ("LogicalOrOptions", {}))),
        Case("LOGICAL_NOT", "bool", "3d", _model(OP.LOGICAL_NOT, [_t("bool", [2, 3, 5])], [_t("bool", [2, 3, 5])],
                                                 ("LogicalNotOptions", {}))),
    ]


def _select_cases():
    from make_conformance import Case

    def sel(dtype, c, x, y, qp=None, qy=None):
        out = _bshape(c, x, y)
        return _model(OP.SELECT_V2, [_t("bool", c), _t(dtype, x, qp), _t(dtype, y, qy or qp)],
                      [_t(dtype, out, qp)], ("SelectV2Options", {}))

    return [
        Case("SELECT_V2", "int8", "broadcast3", sel("int8", [2, 1, 4], [2, 3, 4], [4], (0.05, -128))),
        Case("SELECT_V2", "int8", "same-shape", sel("int8", [3, 5], [3, 5], [3, 5], (0.1, 127))),
        Case("SELECT_V2", "int8", "scalar-cond", sel("int8", [], [2, 6], [1, 6], (0.02, 0))),
        # x, y and the output quantized differently: TFLite copies the values, it does not requantize
        Case("SELECT_V2", "int8", "mixed-quantization", _model(
            OP.SELECT_V2, [_t("bool", [3, 1]), _t("int8", [3, 4], (0.05, -128)), _t("int8", [1, 4], (0.1, 127))],
            [_t("int8", [3, 4], (0.02, 0))], ("SelectV2Options", {}))),
        Case("SELECT_V2", "int16", "broadcast3", sel("int16", [2, 1, 4], [2, 3, 4], [4], (0.001, 0))),
        Case("SELECT_V2", "float32", "broadcast3", sel("float32", [2, 1, 4], [2, 3, 4], [4])),
    ]


def _cast(src, dst, shape=(2, 3, 4), qp=None):
    return _model(OP.CAST, [_t(src, shape, qp)], [_t(dst, shape, qp)],
                  ("CastOptions", {"InDataType": TYPES[src], "OutDataType": TYPES[dst]}))


def _scaled_cast():
    """MUL by 300.5 then CAST to int32: float inputs spread over [-300, 300],
    so truncation toward zero shows (the harness' float inputs are in [-1, 1))."""

    def build(rng):
        m = Model("utoe conformance: scaled CAST")
        x = m.tensor("x", [4, 8], TensorType.FLOAT32)
        k = m.tensor("k", [], TensorType.FLOAT32, data=np.array(300.5, np.float32))
        s = m.tensor("s", [4, 8], TensorType.FLOAT32)
        y = m.tensor("y", [4, 8], TensorType.INT32)
        m.operator(OP.MUL, [x, k], [s], options=("MulOptions", {"FusedActivationFunction": 0}))
        m.operator(OP.CAST, [s], [y], options=("CastOptions", {"InDataType": TensorType.FLOAT32,
                                                               "OutDataType": TensorType.INT32}))
        m.io([x], [y])
        return m

    return build


def _cast_cases():
    from make_conformance import Case

    return [
        Case("CAST", "int8", "to-int32", _cast("int8", "int32", qp=(0.05, -128))),
        Case("CAST", "int8", "to-float32", _cast("int8", "float32", qp=(0.05, 10)), importer="utoe-integer"),
        Case("CAST", "int8", "to-int16", _cast("int8", "int16", qp=(0.05, 10))),
        Case("CAST", "int16", "to-int32", _cast("int16", "int32", qp=(0.001, 0))),
        Case("CAST", "int16", "to-int8", _cast("int16", "int8", qp=(0.001, 0))),
        Case("CAST", "int32", "to-int8", _cast("int32", "int8")),
        Case("CAST", "int32", "to-bool", _cast("int32", "bool")),
        Case("CAST", "int32", "to-float32", _cast("int32", "float32")),
        Case("CAST", "bool", "to-int32", _cast("bool", "int32")),
        Case("CAST", "bool", "to-float32", _cast("bool", "float32")),
        Case("CAST", "float32", "to-int32", _cast("float32", "int32")),
        Case("CAST", "float32", "to-bool", _cast("float32", "bool")),
        Case("CAST", "float32", "scaled-to-int32", _scaled_cast()),
    ]


def _neg_cases():
    from make_conformance import Case

    return [Case("NEG", "float32", "3d", _model(OP.NEG, [_t("float32", [2, 3, 4])], [_t("float32", [2, 3, 4])],
                                                ("NegOptions", {})))]


def _rest_cases():
    """ZEROS_LIKE, FILL, SHAPE, BROADCAST_TO, BROADCAST_ARGS, GATHER_ND,
    EMBEDDING_LOOKUP, ADD_N, CUMSUM, REVERSE_V2, FLOOR_DIV, FLOOR_MOD."""
    from make_conformance import Case

    qa, qb = (0.05, -128), (0.1, 127)
    out = []
    for dt, qp in (("int8", qa), ("int32", None), ("float32", None)):
        out.append(Case("ZEROS_LIKE", dt, "3d", _model(OP.ZEROS_LIKE, [_t(dt, [2, 3, 4], qp)], [_t(dt, [2, 3, 4], qp)],
                                                       ("ZerosLikeOptions", {}))))
    for dt, qp in (("int8", qb), ("int16", (0.001, 0)), ("int32", None), ("float32", None)):
        out.append(Case("FILL", dt, "scalar-input", _model(
            OP.FILL, [_t("int32", [3], None, np.array([2, 3, 4])), _t(dt, [], qp)], [_t(dt, [2, 3, 4], qp)],
            ("FillOptions", {}))))
    for dt, qp in (("int8", qa), ("float32", None)):
        out.append(Case("SHAPE", dt, "rank4", _model(OP.SHAPE, [_t(dt, [1, 3, 5, 2], qp)], [_t("int32", [4])],
                                                     ("ShapeOptions", {"OutType": TensorType.INT32}))))
    for dt, qp in (("int8", qb), ("int16", (0.001, 0)), ("int32", None), ("float32", None)):
        out.append(Case("BROADCAST_TO", dt, "3x1-to-2x3x4", _model(
            OP.BROADCAST_TO, [_t(dt, [3, 1], qp), _t("int32", [3], None, np.array([2, 3, 4]))],
            [_t(dt, [2, 3, 4], qp)], ("BroadcastToOptions", {}), version=2)))
    out.append(Case("BROADCAST_ARGS", "int32", "const-shapes", _model(
        OP.BROADCAST_ARGS, [_t("int32", [3], None, np.array([2, 1, 4])), _t("int32", [2], None, np.array([3, 1]))],
        [_t("int32", [3])])))
    for dt, qp in (("int8", qa), ("int32", None), ("float32", None)):
        out.append(Case("GATHER_ND", dt, "pairs", _model(
            OP.GATHER_ND, [_t(dt, [4, 3, 5], qp), _t("int32", [2, 2, 2], None, np.array([[[3, 0], [1, 2]],
                                                                                        [[0, 1], [3, 2]]]))],
            [_t(dt, [2, 2, 5], qp)], ("GatherNdOptions", {}))))
    # a full index per row: the slices are single elements
    out.append(Case("GATHER_ND", "int8", "full-index", _model(
        OP.GATHER_ND, [_t("int8", [3, 4], qb), _t("int32", [5, 2], None, np.array([[2, 3], [0, 0], [1, 2], [2, 3],
                                                                                  [0, 3]]))],
        [_t("int8", [5], qb)], ("GatherNdOptions", {}))))
    for dt, qp in (("int8", qb), ("float32", None)):
        out.append(Case("EMBEDDING_LOOKUP", dt, "rows", _model(
            OP.EMBEDDING_LOOKUP, [_t("int32", [4], None, np.array([2, 0, 4, 2])), _t(dt, [5, 2, 3], qp)],
            [_t(dt, [4, 2, 3], qp)])))
    # the hybrid form: int8 rows times the table's scale into float32
    out.append(Case("EMBEDDING_LOOKUP", "int8", "hybrid-to-float32", _model(
        OP.EMBEDDING_LOOKUP, [_t("int32", [3], None, np.array([1, 1, 0])), _t("int8", [2, 7], (0.37, 0))],
        [_t("float32", [3, 7])])))
    for dt in ("int8", "float32"):
        out.append(Case("ADD_N", dt, "three", _model(
            OP.ADD_N, [_t(dt, [2, 6], (0.05, 3)), _t(dt, [2, 6], (0.08, -128)), _t(dt, [2, 6], (0.03, 127))],
            [_t(dt, [2, 6], (0.15, -5))], ("AddNOptions", {}))))
    for dt in ("int8", "int32", "float32"):
        for name, axis, excl, rev in (("axis1", 1, False, False), ("axis-1-exclusive-reverse", -1, True, True)):
            out.append(Case("CUMSUM", dt, name, _model(
                OP.CUMSUM, [_t(dt, [2, 5, 3], (0.05, -20)), _t("int32", [], None, np.array(axis))],
                [_t(dt, [2, 5, 3], (0.2, 10))], ("CumsumOptions", {"Exclusive": excl, "Reverse": rev}))))
    for dt, qp in (("int8", qa), ("int16", (0.001, 0)), ("int32", None), ("bool", None), ("float32", None)):
        out.append(Case("REVERSE_V2", dt, "axis1", _model(
            OP.REVERSE_V2, [_t(dt, [2, 3, 4], qp), _t("int32", [1], None, np.array([1]))],
            [_t(dt, [2, 3, 4], qp)], ("ReverseV2Options", {}))))
    out.append(Case("REVERSE_V2", "int8", "axes-1-2", _model(
        OP.REVERSE_V2, [_t("int8", [2, 3, 4], qb), _t("int32", [2], None, np.array([-1, 1]))],
        [_t("int8", [2, 3, 4], qb)], ("ReverseV2Options", {}))))
    for code, name, table in ((OP.FLOOR_DIV, "FLOOR_DIV", "FloorDivOptions"),
                              (OP.FLOOR_MOD, "FLOOR_MOD", "FloorModOptions")):
        out.append(Case(name, "float32", "broadcast", _model(
            code, [_t("float32", [2, 3, 4]), _t("float32", [4])], [_t("float32", [2, 3, 4])], (table, {}))))
    # TVM's frontend computes these wrong, cannot lower them or folds them into a constant
    # output: utoe's integer path compiles every form (integer.is_quantized)
    for c in out:
        if c.op in ("ZEROS_LIKE", "SHAPE", "BROADCAST_ARGS", "GATHER_ND", "EMBEDDING_LOOKUP", "CUMSUM"):
            c.importer = "utoe-integer"
    return out


def cases():
    return (_comparison_cases() + _logical_cases() + _select_cases() + _cast_cases() + _neg_cases()
            + _rest_cases())
