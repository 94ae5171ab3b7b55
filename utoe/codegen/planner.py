"""Static memory planning for the executor's activation arena.

Every tensor that is not a parameter (model inputs, intermediates, outputs)
gets an offset in one arena, and so does every operator's workspace (the
temporaries TVM allocates with TVMBackendAllocWorkspace), live during that
operator only. A tensor is live from the operator that writes it
(step 0 for model inputs) to the last operator that reads it (the end of the
run for model outputs), inclusive: an operator's inputs and outputs never
share bytes. Tensors whose lifetimes do not overlap may share bytes. The output of an
aliasing reshape is its input's bytes: the two are planned as one buffer,
live from the first's start to the last's end.

Planners:
- "greedy": greedy placement, each tensor at an aligned offset that does not
  collide with an already placed tensor whose lifetime overlaps its own; the
  order (largest first as TFLite Micro's planner, earliest first, longest
  lived first, largest size x lifetime first) and the fit (lowest gap or
  tightest gap) that give the smallest arena win.
- "none": every tensor gets its own bytes (the baseline planning is measured
  against).

The lower bound reported beside the arena is the largest sum of sizes of
tensors (and workspace) live at the same step: no placement can use less.
"""

from dataclasses import dataclass

from ..errors import ConfigError

PLANNERS = ("greedy", "none")
ALIGN = 16


def _align(n, a=ALIGN):
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Lifetime:
    tensor: int
    size: int
    first: int
    last: int

    def overlaps(self, other):
        return self.first <= other.last and other.first <= self.last


@dataclass
class Plan:
    offsets: dict  # tensor id -> byte offset
    arena_bytes: int
    lower_bound_bytes: int
    planner: str


def workspace_key(graph, op_index):
    """Planner key of operator op_index's workspace block."""
    return len(graph.tensors) + op_index


def lifetimes(graph, workspace=None):
    """Lifetime of every placed (non-parameter) buffer, in operator steps:
    a tensor, or a tensor and the reshapes aliasing it (keyed by the root
    tensor, see Graph.alias_root).

    workspace: {op index: bytes} of operator temporaries; each becomes a
    block live during its operator only, placed in the arena like a tensor."""
    n = len(graph.ops)
    root = graph.alias_root()
    first, last = {}, {}

    def live(t, step):
        r = root[t]
        first[r] = min(first.get(r, step), step)
        last[r] = max(last.get(r, step), step)

    for t in graph.inputs:
        live(t, 0)
    for t in graph.tensors:  # a variable tensor (an RNN's state) keeps its bytes across runs
        if t.kind == "state":
            live(t.id, 0)
            live(t.id, n)
    for op in graph.ops:
        for t in op.inputs:
            if graph.tensors[t].kind != "param":
                live(t, op.index)
        for t in op.outputs:
            live(t, op.index)
    for t in graph.outputs:
        live(t, n)
    lives = [Lifetime(t, graph.tensors[t].bytes, first[t], last[t]) for t in sorted(first)]
    for k, size in sorted((workspace or {}).items()):
        if size:
            lives.append(Lifetime(workspace_key(graph, k), size, k, k))
    return lives


def with_aliases(graph, offsets):
    """offsets with every aliasing tensor at its root's offset."""
    out = dict(offsets)
    for t, r in graph.alias_root().items():
        if t != r and r in offsets:
            out[t] = offsets[r]
    return out


def lower_bound(lives):
    steps = max((lv.last for lv in lives), default=0) + 1
    return max((sum(lv.size for lv in lives if lv.first <= s <= lv.last) for s in range(steps)), default=0)


ORDERS = {
    "size": lambda lv: (-lv.size, lv.first, lv.tensor),
    "start": lambda lv: (lv.first, -lv.size, lv.tensor),
    "duration": lambda lv: (-(lv.last - lv.first), -lv.size, lv.tensor),
    "area": lambda lv: (-lv.size * (lv.last - lv.first + 1), lv.first, lv.tensor),
}


def _place(lives, order, best_fit):
    """Place tensors in the given order at the lowest (first fit) or the
    tightest (best fit) aligned gap among tensors live at the same time."""
    placed = []  # (offset, end, lifetime)
    offsets = {}
    for lv in sorted(lives, key=ORDERS[order]):
        busy = sorted((off, end) for off, end, other in placed if other.overlaps(lv))
        gaps, offset = [], 0
        for off, end in busy:
            if offset + lv.size <= off:
                gaps.append((off - offset, offset))
            offset = max(offset, _align(end))
        gaps.append((float("inf"), offset))
        offsets[lv.tensor] = min(gaps)[1] if best_fit else min(gaps, key=lambda g: g[1])[1]
        placed.append((offsets[lv.tensor], offsets[lv.tensor] + lv.size, lv))
    return offsets


def _extent(lives, offsets):
    return max((offsets[lv.tensor] + lv.size for lv in lives), default=0)


def _greedy(lives):
    """Greedy placement; several orders and fits are tried (each is cheap)
    and the smallest arena wins, ties going to the first tried."""
    best = None
    for order in ORDERS:
        for best_fit in (False, True):
            offsets = _place(lives, order, best_fit)
            if best is None or _extent(lives, offsets) < _extent(lives, best):
                best = offsets
    return best


def _separate(lives):
    offsets, offset = {}, 0
    for lv in lives:
        offsets[lv.tensor] = offset
        offset = _align(offset + lv.size)
    return offsets


def plan(graph, planner="greedy", workspace=None):
    if planner not in PLANNERS:
        raise ConfigError(f"unknown planner '{planner}' (choices: {', '.join(PLANNERS)})")
    lives = lifetimes(graph, workspace)
    if planner == "none":
        offsets = _separate(lives)
    else:
        offsets = _greedy(lives)
        # Greedy placement is a heuristic: keep the simple layout (tensors
        # planned alone, every workspace block above them) when it is smaller.
        tensors = [lv for lv in lives if lv.tensor < len(graph.tensors)]
        stacked = _greedy(tensors)
        top = _align(_extent(tensors, stacked))
        stacked.update({lv.tensor: top for lv in lives if lv.tensor >= len(graph.tensors)})
        if _extent(lives, stacked) < _extent(lives, offsets):
            offsets = stacked
    arena = _align(_extent(lives, offsets))
    return Plan(with_aliases(graph, offsets), arena, lower_bound(lives), planner)


def check(graph, p, workspace=None):
    """Assert no two tensors with overlapping lifetimes share a byte."""
    lives = lifetimes(graph, workspace)
    for i, a in enumerate(lives):
        for b in lives[i + 1 :]:
            if a.overlaps(b):
                ao, bo = p.offsets[a.tensor], p.offsets[b.tensor]
                if ao < bo + b.size and bo < ao + a.size:
                    return False
    return True
