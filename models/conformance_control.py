"""Conformance cases: TFLite Micro's control-flow and resource-variable
operators (IF, WHILE, CALL_ONCE, VAR_HANDLE, READ_VARIABLE,
ASSIGN_VARIABLE), which call other subgraphs or keep state across
invocations. utoe compiles one subgraph, run once per inference, so it
refuses them by name. (models/make_conformance.py collects them.)"""

import numpy as np

from tflite_builder import BuiltinOperator as OP
from tflite_builder import Model, TensorType

F32, I32, BOOL = TensorType.FLOAT32, TensorType.INT32, TensorType.BOOL
RESOURCE = TensorType.RESOURCE

DEFAULT = {"if-any-then-add-else-mul", "read_variable-any-accumulator"}
_WHY = "calls other subgraphs or keeps state across inferences"
REFUSED = {
    "if-any-then-add-else-mul": "IF (operator #0",
    "while-any-count-to-3": "WHILE (operator #0",
    "call_once-any-init": "CALL_ONCE (operator #0",
    "var_handle-any-accumulator": "VAR_HANDLE (operator #1",
    "read_variable-any-accumulator": "READ_VARIABLE (operator #2",
    "assign_variable-any-accumulator": "ASSIGN_VARIABLE (operator #4",
}


def _binary(sub, code, table, shape, dtype=F32):
    a, b = sub.tensor("a", shape, dtype), sub.tensor("b", shape, dtype)
    y = sub.tensor("y", shape, dtype)
    sub.operator(code, [a, b], [y], options=(table, {"FusedActivationFunction": 0}))
    sub.io([a, b], [y])


def _if(rng):
    m = Model("utoe conformance: IF")
    c, x, y = m.tensor("cond", [1], BOOL), m.tensor("x", [2, 3], F32), m.tensor("y", [2, 3], F32)
    m.operator(OP.IF, [c, x, x], [y], options=("IfOptions", {"ThenSubgraphIndex": 1, "ElseSubgraphIndex": 2}))
    m.io([c, x], [y])
    _binary(m.subgraph("then"), OP.ADD, "AddOptions", [2, 3])
    _binary(m.subgraph("else"), OP.MUL, "MulOptions", [2, 3])
    return m


def _while(rng):
    m = Model("utoe conformance: WHILE")
    i0 = m.tensor("i0", [], I32, data=np.asarray(0, np.int32))
    x, i, y = m.tensor("x", [4], F32), m.tensor("i", [], I32), m.tensor("y", [4], F32)
    m.operator(OP.WHILE, [i0, x], [i, y], options=("WhileOptions", {"CondSubgraphIndex": 1, "BodySubgraphIndex": 2}))
    m.io([x], [y])
    cond = m.subgraph("cond")
    ci, cx = cond.tensor("i", [], I32), cond.tensor("x", [4], F32)
    three, c = cond.tensor("three", [], I32, data=np.asarray(3, np.int32)), cond.tensor("c", [], BOOL)
    cond.operator(OP.LESS, [ci, three], [c])
    cond.io([ci, cx], [c])
    body = m.subgraph("body")
    bi, bx = body.tensor("i", [], I32), body.tensor("x", [4], F32)
    one, half = body.tensor("one", [], I32, data=np.asarray(1, np.int32)), body.tensor(
        "half", [4], F32, data=np.full(4, 0.5, np.float32))
    ni, nx = body.tensor("i1", [], I32), body.tensor("x1", [4], F32)
    body.operator(OP.ADD, [bi, one], [ni], options=("AddOptions", {"FusedActivationFunction": 0}))
    body.operator(OP.ADD, [bx, half], [nx], options=("AddOptions", {"FusedActivationFunction": 0}))
    body.io([bi, bx], [ni, nx])
    return m


def _accumulator(rng):
    """y = x + v; v = y: a resource variable initialised by CALL_ONCE."""
    m = Model("utoe conformance: resource variable")
    x, y = m.tensor("x", [4], F32), m.tensor("y", [4], F32)
    h, v = m.tensor("handle", [], RESOURCE), m.tensor("v", [4], F32)
    m.operator(OP.CALL_ONCE, [], [], options=("CallOnceOptions", {"InitSubgraphIndex": 1}))
    m.operator(OP.VAR_HANDLE, [], [h], options=("VarHandleOptions", {"Container": "", "SharedName": "acc"}))
    m.operator(OP.READ_VARIABLE, [h], [v])
    m.operator(OP.ADD, [x, v], [y], options=("AddOptions", {"FusedActivationFunction": 0}))
    m.operator(OP.ASSIGN_VARIABLE, [h, y], [])
    m.io([x], [y])
    init = m.subgraph("init")
    ih = init.tensor("handle", [], RESOURCE)
    zero = init.tensor("zero", [4], F32, data=np.zeros(4, np.float32))
    init.operator(OP.VAR_HANDLE, [], [ih], options=("VarHandleOptions", {"Container": "", "SharedName": "acc"}))
    init.operator(OP.ASSIGN_VARIABLE, [ih, zero], [])
    init.io([], [])
    return m


def cases():
    from make_conformance import Case

    return [Case("IF", "any", "then-add-else-mul", _if),
            Case("WHILE", "any", "count-to-3", _while),
            Case("CALL_ONCE", "any", "init", _accumulator),
            Case("VAR_HANDLE", "any", "accumulator", _accumulator),
            Case("READ_VARIABLE", "any", "accumulator", _accumulator),
            Case("ASSIGN_VARIABLE", "any", "accumulator", _accumulator)]
