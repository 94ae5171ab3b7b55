"""The executor's view of a compiled model: tensors and operators in order.

Reads the `main` Relax function after fusion, where every binding is a
`call_tir` of one fused PrimFunc (or a tuple/alias plumbing binding), and
turns it into plain Python data the planner and the emitter use. Constants
become parameters p0, p1, ... in order of first use (identical arrays are
stored once), as U-TOE names them.
"""

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import CodegenError

DTYPES = {"float32": 4, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "bool": 1}


@dataclass
class Tensor:
    id: int
    name: str
    dtype: str
    shape: tuple
    kind: str  # "input", "output", "intermediate", "param"
    value: np.ndarray = None  # params only

    @property
    def count(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def bytes(self):
        return self.count * DTYPES[self.dtype]


@dataclass
class Op:
    index: int
    func: str  # PrimFunc name in the IRModule
    args: list  # tensor ids, inputs then outputs, in the PrimFunc's parameter order
    n_outputs: int
    body: str = None  # the PrimFunc whose C this operator calls (identical bodies are emitted once)
    alias: bool = False  # a reshape: its output is its input's bytes, nothing is called

    def __post_init__(self):
        if self.body is None:
            self.body = self.func

    @property
    def inputs(self):
        return self.args[: len(self.args) - self.n_outputs]

    @property
    def outputs(self):
        return self.args[len(self.args) - self.n_outputs :]


@dataclass
class Graph:
    tensors: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def params(self):
        return [t for t in self.tensors if t.kind == "param"]

    def alias_root(self):
        """{tensor id: the tensor whose bytes it is} (itself unless it is
        the output of an aliasing reshape)."""
        root = {t.id: t.id for t in self.tensors}
        for op in self.ops:
            if op.alias:
                root[op.outputs[0]] = root[op.inputs[0]]
        return root


RESHAPE_RE = re.compile(r"reshape\d*(_\d+)?")


def mark_aliases(g):
    """Let RESHAPE alias its input instead of copying: a reshape of a tensor
    in the arena (not a parameter) to the same bytes, in row-major order,
    changes no byte, so its output is given its input's place (the planner
    keeps the bytes for both lifetimes) and the executor calls nothing."""
    for op in g.ops:
        if not RESHAPE_RE.fullmatch(op.func) or len(op.inputs) != 1 or len(op.outputs) != 1:
            continue
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if x.kind != "param" and x.dtype == y.dtype and x.bytes == y.bytes:
            op.alias = True
    return g


def _shape_dtype(ty, what):
    shape = getattr(ty, "shape", None)
    dtype = getattr(ty, "dtype", None)
    if shape is None or dtype is None:
        raise CodegenError(f"{what}: tensor of unknown shape or dtype ({ty}); utoe needs static shapes")
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise CodegenError(f"{what}: dynamic shape {shape}; utoe needs static shapes") from None
    dtype = str(dtype)
    if dtype not in DTYPES:
        raise CodegenError(f"{what}: dtype {dtype} is not supported by utoe's executor")
    return dims, dtype


def build_graph(mod, names=None):
    """Extract the ordered operator list from a fused Relax module.

    names: optional (input names, output names) from the source model."""
    from tvm import ir, relax

    main = mod["main"]
    g = Graph()
    env = {}  # relax var -> tensor id, or list of ids for tuples
    consts = {}  # content key -> tensor id

    def new_tensor(name, ty, kind, value=None):
        shape, dtype = _shape_dtype(ty, name)
        t = Tensor(len(g.tensors), name, dtype, shape, kind, value)
        g.tensors.append(t)
        return t.id

    for p in main.params:
        tid = new_tensor(p.name, p.ty, "input")
        env[p] = tid
        g.inputs.append(tid)

    def lookup(expr, where):
        if isinstance(expr, ir.GenericConst):
            arr = expr.value.numpy()
            key = (str(arr.dtype), arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
            if key not in consts:
                n = sum(1 for t in g.tensors if t.kind == "param")
                consts[key] = new_tensor(f"p{n}", expr.ty, "param", np.ascontiguousarray(arr))
            return consts[key]
        if expr in env:
            return env[expr]
        raise CodegenError(f"{where}: argument {type(expr).__name__} {expr} is not a tensor utoe can place")

    blocks = main.body.blocks
    for block in blocks:
        for b in block.bindings:
            v = b.value
            where = f"binding '{b.var.name}'"
            if isinstance(v, relax.Call) and getattr(v.op, "name", "") == "relax.call_tir":
                gv, args = v.args[0], v.args[1]
                ins = [lookup(a, where) for a in args.fields]
                if any(isinstance(i, list) for i in ins):
                    raise CodegenError(f"{where}: tuple argument to {gv.name_hint}")
                if isinstance(b.var.ty, ir.TupleType):
                    outs = [new_tensor(f"t{len(g.tensors)}", f, "intermediate") for i, f in enumerate(b.var.ty.fields)]
                    env[b.var] = outs
                else:
                    outs = [new_tensor(f"t{len(g.tensors)}", b.var.ty, "intermediate")]
                    env[b.var] = outs[0]
                g.ops.append(Op(len(g.ops), gv.name_hint, ins + outs, len(outs)))
            elif isinstance(v, relax.TupleGetItem):
                env[b.var] = lookup(v.tuple_value, where)[v.index]
            elif isinstance(v, relax.Tuple):
                env[b.var] = [lookup(f, where) for f in v.fields]
            elif isinstance(v, relax.Var):
                env[b.var] = lookup(v, where)
            else:
                op = getattr(getattr(v, "op", None), "name", type(v).__name__)
                raise CodegenError(f"{where}: '{op}' was not lowered to a TVM operator; utoe cannot compile it")

    result = main.body.body
    outs = lookup(result, "model output")
    outs = outs if isinstance(outs, list) else [outs]
    for tid in outs:
        t = g.tensors[tid]
        if t.kind != "intermediate":
            raise CodegenError(f"model output '{t.name}' is a model {t.kind}, not computed by an operator")
        t.kind = "output"
    g.outputs = outs
    if names:
        for tid, name in zip(g.inputs, names[0]):
            g.tensors[tid].name = name
        for tid, name in zip(g.outputs, names[1]):
            g.tensors[tid].name = name
    if not g.ops:
        raise CodegenError("the model has no operators after compilation")
    return g
