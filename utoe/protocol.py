"""Parser of the harness's console log (docs/protocol.md, version 1).

Tolerates what a real console adds: boot banners and other noise, `\\r\\n`,
a missing final newline. `RunLog.check()` says what is missing or failed,
naming the line, so a truncated or failed run never passes as complete."""

import re
from dataclasses import dataclass, field

from .errors import RunError

_LINE = re.compile(r"^utoe: (\w+)((?: \w+=\S*)*)\s*$")
_FIELD = re.compile(r"(\w+)=(\S*)")
_USEC = re.compile(r"^trial: (\d+), usec: (\d+), ret: (-?\d+)\s*$")


class ProtocolError(RunError):
    """The log is incomplete, malformed or reports a failure."""


@dataclass
class RunLog:
    begin: dict = None
    trials: list = field(default_factory=list)  # (index, ticks, ret)
    ops: list = field(default_factory=list)  # (trial, op index, ticks, ret)
    usec: list = field(default_factory=list)  # U-TOE's lines: (index, usec, ret)
    stack_peak_bytes: int = None
    outputs: dict = field(default_factory=dict)  # index -> (dtype, bytes)
    traces: dict = field(default_factory=dict)  # operator index -> (dtype, bytes) of its output (trace builds)
    checksum: int = None
    status: str = None
    end_code: int = None
    lines: list = field(default_factory=list)

    def _tail(self, n=8):
        return " | ".join(self.lines[-n:]) or "(empty log)"

    def check(self):
        """Raise ProtocolError unless the run is complete and succeeded."""
        if self.begin is None:
            raise ProtocolError(f"log has no 'utoe: begin' line: the harness never started (log: {self._tail()})")
        if self.status is None:
            raise ProtocolError(f"log has no 'utoe: end' line: the run stopped early (last lines: {self._tail()})")
        want = int(self.begin["trials"], 0) if "trials" in self.begin else -1
        if len(self.trials) != want:
            raise ProtocolError(f"log has {len(self.trials)} 'utoe: trial' lines, the begin line announced {want}")
        if sorted(t[0] for t in self.trials) != list(range(want)):
            raise ProtocolError(f"log's trial indices {sorted(t[0] for t in self.trials)[:8]} are not 0..{want - 1}")
        failed = [t for t in self.trials if t[2] != 0]
        if failed:
            i, _, ret = failed[0]
            raise ProtocolError(f"trial {i} failed: 'utoe: trial index={i} ... ret={ret}' (operator {ret - 1} "
                                "returned an error)" if ret > 0 else f"trial {i} failed with ret={ret}")
        if self.begin.get("mode") == "per-operator":
            n_ops = int(self.begin.get("ops", "0"), 0)
            if len(self.ops) != want * n_ops:
                raise ProtocolError(f"log has {len(self.ops)} 'utoe: op' lines, expected {want} trials x {n_ops} "
                                    "operators")
        if self.status != "ok":
            raise ProtocolError(f"'utoe: end status={self.status} code={self.end_code}': the run failed")


_COUNT = re.compile(r"^(?:0x[0-9a-fA-F]+|[0-9]+)$")
_SIGNED = re.compile(r"^-?(?:0x[0-9a-fA-F]+|[0-9]+)$")
_WORD = re.compile(r"^[A-Za-z0-9_.+-]+$")
_HEX = re.compile(r"^(?:[0-9a-f]{2})*$")
U64_MAX = 2**64 - 1
PROTOCOL_VERSION = 1
# What every field of every line may hold (docs/protocol.md). A console line
# from a real board can be garbled in any character, so each value is checked:
# a count is a non-negative integer below 2**64, a code may be negative.
_SPECS = {
    "begin": {"version": "count", "board": "word", "model": "word", "mode": "word", "trials": "count",
              "seed": "count", "ops": "count", "tick_hz": "count"},
    "trial": {"index": "count", "ticks": "count", "ret": "signed"},
    "op": {"trial": "count", "index": "count", "ticks": "count", "ret": "signed"},
    "stack": {"peak_bytes": "count"},
    "output": {"index": "count", "dtype": "word", "bytes": "count", "offset": "count", "hex": "hex"},
    "trace": {"index": "count", "dtype": "word", "bytes": "count", "offset": "count", "hex": "hex"},
    "checksum": {"fnv1a32": "count"},
    "end": {"status": "word", "code": "signed"},
    "fault": {},  # the platform's fault handler (cortex-m.c, riscv.c); the run has failed anyway
}
_REQUIRED = {"begin": tuple(_SPECS["begin"]), "trial": ("index", "ticks", "ret"), "op": ("trial", "index", "ticks", "ret"), "stack": ("peak_bytes",),
             "output": ("index", "dtype", "bytes", "hex"), "trace": ("index", "dtype", "bytes", "hex"),
             "checksum": ("fnv1a32",), "end": ("status",)}
_ONCE = ("begin", "stack", "checksum", "end")


def _int(v):
    return int(v, 0)


def _value(kind, key, v):
    """The checked value of one field: int for numbers, str otherwise."""
    spec = _SPECS[kind].get(key)
    if spec is None:  # version 1 names every field; a newer harness says so in its begin line
        if kind == "fault":
            return v
        raise ValueError(f"unknown field {key}=")
    if spec == "count" and _COUNT.match(v):
        n = int(v, 0)
        if n <= U64_MAX:
            return n
        raise ValueError(f"{key}={v} is out of range")
    if spec == "signed" and _SIGNED.match(v):
        n = int(v.replace("-", ""), 0) * (-1 if v.startswith("-") else 1)
        if -2**63 <= n <= U64_MAX:
            return n
        raise ValueError(f"{key}={v} is out of range")
    if spec == "word" and _WORD.match(v):
        return v
    if spec == "hex" and _HEX.match(v):
        return v
    what = {"count": "a non-negative integer", "signed": "an integer", "word": "a name",
            "hex": "pairs of lowercase hex digits"}[spec]
    raise ValueError(f"{key}={v or '(empty)'} is not {what}")


def parse_log(text):
    """Parse a console log; a malformed utoe line raises ProtocolError naming it."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")  # a console's bytes, as a runner reads them
    if not isinstance(text, str):
        raise ProtocolError(f"a console log is text, not {type(text).__name__}")
    run = RunLog()
    chunks = {"output": {}, "trace": {}}  # kind -> index -> [dtype, bytes, {offset: data}]
    seen = set()
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        run.lines.append(line)
        m = _USEC.match(line)
        if m:
            run.usec.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
            continue
        if line.startswith("utoe:") and not line.startswith(("utoe: ready", "utoe: start")):
            m = _LINE.match(line)
            if not m or m.group(1) not in _SPECS:
                raise ProtocolError(f"malformed line {line!r}: not a line of the utoe protocol (a garbled console?)")
        else:
            continue
        kind = m.group(1)
        try:
            pairs = _FIELD.findall(m.group(2))
            keys = [k for k, _ in pairs]
            dup = {k for k in keys if keys.count(k) > 1}
            if dup:
                raise ValueError(f"field {sorted(dup)[0]}= given twice")
            raw_fields = dict(pairs)
            missing = [k for k in _REQUIRED.get(kind, ()) if k not in raw_fields]
            if missing:
                raise ValueError(f"no {missing[0]}=")
            f = {k: _value(kind, k, v) for k, v in raw_fields.items()}
            if kind in _ONCE:
                if kind in seen:
                    raise ValueError(f"a second 'utoe: {kind}' line")
                seen.add(kind)
            if kind == "begin":
                if f["version"] != PROTOCOL_VERSION:
                    raise ValueError(f"version={raw_fields['version']}: this utoe reads protocol version "
                                     f"{PROTOCOL_VERSION}")
                run.begin = raw_fields
            elif kind == "trial":
                run.trials.append((f["index"], f["ticks"], f["ret"]))
            elif kind == "op":
                run.ops.append((f["trial"], f["index"], f["ticks"], f["ret"]))
            elif kind == "stack":
                run.stack_peak_bytes = f["peak_bytes"]
            elif kind in chunks:
                data = bytes.fromhex(f["hex"])
                parts = chunks[kind].setdefault(f["index"], [f["dtype"], f["bytes"], {}])
                if (parts[0], parts[1]) != (f["dtype"], f["bytes"]):
                    raise ValueError(f"{kind} {f['index']} announced as dtype={parts[0]} bytes={parts[1]} before")
                offset = f.get("offset", 0)
                if offset in parts[2]:
                    raise ValueError(f"{kind} {f['index']} offset={offset} given twice")
                parts[2][offset] = data
            elif kind == "checksum":
                if f["fnv1a32"] > 0xFFFFFFFF:
                    raise ValueError(f"fnv1a32={raw_fields['fnv1a32']} is not a 32-bit value")
                run.checksum = f["fnv1a32"]
            elif kind == "end":
                run.status = f["status"]
                run.end_code = f.get("code")
        except ValueError as e:
            raise ProtocolError(f"malformed line {line!r}: {e}") from None
    for kind, into in (("output", run.outputs), ("trace", run.traces)):
        for index, (dtype, nbytes, parts) in chunks[kind].items():
            offset, pieces = 0, []
            for k in sorted(parts):
                if k != offset:
                    raise ProtocolError(f"{kind} {index}: bytes {offset}..{k - 1} missing from the log")
                pieces.append(parts[k])
                offset += len(parts[k])
            data = b"".join(pieces)
            if len(data) != nbytes:
                raise ProtocolError(f"{kind} {index}: {len(data)} bytes in the log, 'bytes={nbytes}' announced")
            into[index] = (dtype, data)
    return run
