"""The memory planner on real models' graphs and on hand-made lifetimes."""

import itertools

import pytest

from utoe.codegen import planner
from utoe.codegen.graph import Graph, Op, Tensor


def chain(sizes):
    """A linear network: input -> op0 -> t1 -> op1 -> ... -> output."""
    g = Graph()
    for i, s in enumerate(sizes):
        kind = "input" if i == 0 else ("output" if i == len(sizes) - 1 else "intermediate")
        g.tensors.append(Tensor(i, f"t{i}", "int8", (s,), kind))
    for i in range(len(sizes) - 1):
        g.ops.append(Op(i, f"op{i}", [i, i + 1], 1))
    g.inputs, g.outputs = [0], [len(sizes) - 1]
    return g


def test_chain_reuses_dead_buffers():
    g = chain([100, 200, 50, 200, 10])
    p = planner.plan(g, "greedy")
    assert planner.check(g, p)
    # at op1, t1 (200) and t2 (50) are live; at op2, t2 and t3 (200): bound 250
    assert p.lower_bound_bytes == 300  # op0: t0 100 + t1 200
    assert p.arena_bytes <= planner._align(300) + planner.ALIGN
    separate = planner.plan(g, "none")
    assert separate.arena_bytes >= sum(planner._align(s) for s in [100, 200, 50, 200, 10])
    assert p.arena_bytes < separate.arena_bytes


def test_branches_keep_both_live():
    # t0 -> op0 -> t1; t0 -> op1 -> t2; (t1, t2) -> op2 -> t3: t1 lives across op1
    g = Graph()
    for i, s in enumerate([64, 32, 32, 16]):
        g.tensors.append(Tensor(i, f"t{i}", "float32", (s // 4,), "intermediate"))
    g.tensors[0].kind, g.tensors[3].kind = "input", "output"
    g.ops = [Op(0, "a", [0, 1], 1), Op(1, "b", [0, 2], 1), Op(2, "c", [1, 2, 3], 1)]
    g.inputs, g.outputs = [0], [3]
    p = planner.plan(g)
    assert planner.check(g, p)
    assert p.lower_bound_bytes == 64 + 32 + 32


@pytest.mark.parametrize("sizes", list(itertools.islice(itertools.permutations([16, 48, 160, 32, 96]), 0, 120, 7)))
def test_no_live_overlap_any_order(sizes):
    g = chain(list(sizes) + [8])
    p = planner.plan(g)
    assert planner.check(g, p)
    assert p.arena_bytes >= p.lower_bound_bytes


def test_unknown_planner_named():
    with pytest.raises(Exception, match="unknown planner 'best'"):
        planner.plan(chain([1, 2]), "best")


def test_workspace_is_placed_apart_from_its_operators_tensors():
    g = chain([100, 200, 50, 10])
    ws = {1: 300}  # op1 needs 300 bytes of temporaries while t1 and t2 are live
    p = planner.plan(g, "greedy", ws)
    assert planner.check(g, p, ws)
    assert p.lower_bound_bytes == 200 + 50 + 300
    key = planner.workspace_key(g, 1)
    lo, hi = p.offsets[key], p.offsets[key] + 300
    for t in (1, 2):
        assert hi <= p.offsets[t] or p.offsets[t] + g.tensors[t].bytes <= lo
    # and it may reuse the input's bytes, dead by then
    assert p.arena_bytes < 100 + 200 + 50 + 10 + 300
