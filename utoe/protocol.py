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
        want = int(self.begin.get("trials", -1))
        if len(self.trials) != want:
            raise ProtocolError(f"log has {len(self.trials)} 'utoe: trial' lines, the begin line announced {want}")
        failed = [t for t in self.trials if t[2] != 0]
        if failed:
            i, _, ret = failed[0]
            raise ProtocolError(f"trial {i} failed: 'utoe: trial index={i} ... ret={ret}' (operator {ret - 1} "
                                "returned an error)" if ret > 0 else f"trial {i} failed with ret={ret}")
        if self.begin.get("mode") == "per-operator":
            n_ops = int(self.begin.get("ops", 0))
            if len(self.ops) != want * n_ops:
                raise ProtocolError(f"log has {len(self.ops)} 'utoe: op' lines, expected {want} trials x {n_ops} "
                                    "operators")
        if self.status != "ok":
            raise ProtocolError(f"'utoe: end status={self.status} code={self.end_code}': the run failed")


def _int(v):
    return int(v, 0)


def parse_log(text):
    run = RunLog()
    chunks = {"output": {}, "trace": {}}  # kind -> index -> [dtype, bytes, {offset: data}]
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        run.lines.append(line)
        m = _USEC.match(line)
        if m:
            run.usec.append((int(m.group(1)), int(m.group(2)), int(m.group(3))))
            continue
        m = _LINE.match(line)
        if not m:
            continue
        kind, fields = m.group(1), dict(_FIELD.findall(m.group(2)))
        try:
            if kind == "begin":
                run.begin = fields
            elif kind == "trial":
                run.trials.append((int(fields["index"]), int(fields["ticks"]), int(fields["ret"])))
            elif kind == "op":
                run.ops.append((int(fields["trial"]), int(fields["index"]), int(fields["ticks"]), int(fields["ret"])))
            elif kind == "stack":
                run.stack_peak_bytes = int(fields["peak_bytes"])
            elif kind in chunks:
                index = int(fields["index"])
                data = bytes.fromhex(fields["hex"])
                chunks[kind].setdefault(index, [fields["dtype"], int(fields["bytes"]), {}])[2][
                    int(fields.get("offset", 0))] = data
            elif kind == "checksum":
                run.checksum = _int(fields["fnv1a32"])
            elif kind == "end":
                run.status = fields.get("status", "?")
                run.end_code = int(fields["code"]) if "code" in fields else None
        except (KeyError, ValueError) as e:
            raise ProtocolError(f"malformed line {line!r}: {e}") from None
    for kind, into in (("output", run.outputs), ("trace", run.traces)):
        for index, (dtype, nbytes, parts) in chunks[kind].items():
            data = b"".join(parts[k] for k in sorted(parts))
            if len(data) != nbytes:
                raise ProtocolError(f"{kind} {index}: {len(data)} bytes in the log, 'bytes={nbytes}' announced")
            into[index] = (dtype, data)
    return run
