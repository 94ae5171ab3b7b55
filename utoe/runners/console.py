"""Driving the harness over a live console: a real board's serial port, an
IoT-LAB node's serial line, or a RIOT native process on a pseudo-terminal.

On such a console the firmware is already running (it booted when flashed or
reset, maybe before anyone listened), so the harness waits to be started
(docs/protocol.md, "Live consoles"):

    board   utoe: ready board=<board> model=<model>       (after boot, and after every run)
    runner  start <run id>
    board   utoe: start run=<run id>                      (the acknowledgement)
    board   utoe: begin ... / trials / outputs / utoe: end status=...

The run id is fresh for every attempt, so output of an earlier run (a board
that booted before the port opened, a start that was queued twice) is never
taken for this one. What a real line adds is tolerated: boot banners and
other noise before the acknowledgement, `\\r\\n`, bytes that are not UTF-8.

A run whose log comes back incomplete (a line lost or garbled on the wire: a
trial, an output chunk, the end line) is started once more; a run that
reports a failure is not, since the same firmware fails the same way. Every
wait is bounded by the run's timeout, and a failure quotes the console's
last lines."""

import os
import select
import secrets
import time

from ..errors import RunError
from ..protocol import ProtocolError, parse_log

READY = "utoe: ready"
END = "utoe: end "
# Seconds without any sign of the acknowledgement before the start line is
# sent again (the board may have been booting, its 'ready' line lost).
RESEND_SECONDS = 2.0
# Retries of a run whose log lost a line: the "retry once".
RETRIES = 1


class Transport:
    """A byte stream to a board's console. Subclasses implement read/write."""

    what = "console"

    def write(self, data):
        raise NotImplementedError

    def read(self, timeout):
        """Bytes that arrived within `timeout` seconds (b"" if none). Raises
        RunError if the console is gone (process exited, port unplugged)."""
        raise NotImplementedError

    def close(self):
        pass


class FdTransport(Transport):
    """A file descriptor: the master side of a pseudo-terminal, a pipe."""

    def __init__(self, fd, what):
        self.fd = fd
        self.what = what

    def write(self, data):
        os.write(self.fd, data)

    def read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the other side of the pty closed
            data = b""
        if not data:
            raise ConsoleClosed(f"{self.what} closed")
        return data


class ConsoleClosed(RunError):
    """The console went away (the firmware's process exited, the port vanished)."""


class Lines:
    """Splits the byte stream into lines; keeps every line for the log tail."""

    def __init__(self):
        self.partial = b""
        self.seen = []  # every complete line, decoded (noise included)

    def feed(self, data):
        self.partial += data
        *done, self.partial = self.partial.split(b"\n")
        out = [d.decode("utf-8", errors="replace").rstrip("\r").strip("\x00") for d in done]
        self.seen += out
        return out

    def tail(self, n=20):
        lines = self.seen[-n:] + ([self.partial.decode("utf-8", errors="replace")] if self.partial else [])
        return "\n".join(lines)


def incomplete(log_text):
    """Why a log that ended is not a complete run (a lost or garbled line),
    or None. A run that completed but reported a failure is complete."""
    try:
        run = parse_log(log_text)
    except ProtocolError as e:
        return str(e)
    if run.begin is None:
        return "no 'utoe: begin' line"
    if run.status is None:
        return "no 'utoe: end' line"
    want = int(run.begin.get("trials", -1))
    indices = [t[0] for t in run.trials]
    if indices != list(range(want)):
        missing = sorted(set(range(want)) - set(indices))
        return f"trial line(s) {missing[:5] or indices} missing or out of order ({len(indices)} of {want})"
    if run.begin.get("mode") == "per-operator":
        n_ops = int(run.begin.get("ops", 0))
        if len(run.ops) != want * n_ops:
            return f"{len(run.ops)} 'utoe: op' lines, expected {want} x {n_ops}"
    if run.status == "ok":
        if run.stack_peak_bytes is None:
            return "no 'utoe: stack' line"
        if run.checksum is None:
            return "no 'utoe: checksum' line"
    return None


class Session:
    """One evaluation over a transport: start, collect, retry once on a lost line."""

    def __init__(self, transport, timeout, fail, clock=time.monotonic):
        self.transport = transport
        self.timeout = timeout
        self.fail = fail  # fail(what, log_tail_text) raises RunError
        self.clock = clock
        self.lines = Lines()
        self.notes = []

    def evaluate(self):
        """Return the log of one complete run (with the runner's notes first)."""
        for attempt in range(RETRIES + 1):
            log, why = self._attempt()
            if why is None:
                return "".join(f"utoe-runner: {n}\n" for n in self.notes) + log
            self.notes.append(f"attempt {attempt + 1}: {why}; started again")
        self.fail(f"the log lost a line in {RETRIES + 1} runs in a row ({why}); check the cable, the baud rate "
                  "and that nothing else reads the port", self.lines.tail())

    def _attempt(self):
        run_id = secrets.token_hex(4)
        start_line = f"start {run_id}\n".encode()
        ack = f"utoe: start run={run_id}"
        deadline = self.clock() + self.timeout
        self.transport.write(b"\n" + start_line)  # the newline ends any junk the board holds
        last_send = last_rx = self.clock()
        collected = None  # the lines since the acknowledgement
        while True:
            now = self.clock()
            if now >= deadline:
                where = ("waiting for the board to acknowledge the start (is the firmware flashed and the "
                         "console at the right baud rate?)" if collected is None
                         else f"after {len(collected)} lines of the run")
                self.fail(f"no complete result within {self.timeout} s (timeout=), {where}", self.lines.tail())
            try:
                data = self.transport.read(min(0.2, deadline - now))
            except ConsoleClosed as e:
                self.fail(str(e), self.lines.tail())
            now = self.clock()
            if data:
                last_rx = now
            for line in self.lines.feed(data) if data else ():
                if collected is None:
                    if line.endswith(ack):
                        collected = []
                    elif line.startswith(READY) and now - last_send > 0.5:
                        # the board is idle and did not take our start (booted after it)
                        self.transport.write(start_line)
                        last_send = now
                    continue
                if line.startswith(READY):  # the run ended without its end line reaching us
                    return "\n".join(collected) + "\n", "the run ended but its 'utoe: end' line was lost"
                collected.append(line)
                if line.startswith(END):
                    log = "\n".join(collected) + "\n"
                    return log, incomplete(log)
            if collected is None and now - max(last_send, last_rx) >= RESEND_SECONDS:
                self.transport.write(start_line)  # silent board: its 'ready' may have been lost
                last_send = now
