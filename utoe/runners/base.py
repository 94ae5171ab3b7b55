"""What every runner does: take a firmware, run it once with a timeout, and
return the console log. Runners are classes looked up by name from the
board's data (`runners = [...]`), never an if/elif chain."""

from ..errors import RunError
from ..files import write_text

TAIL_LINES = 20


def tail(text, n=TAIL_LINES):
    lines = (text or "").rstrip().splitlines()[-n:]
    return "\n".join("    " + line for line in lines) if lines else "    (no output)"


class Runner:
    """Base class. Subclasses set `name`, `deterministic` and the kinds of
    figure they produce, and implement `execute`."""

    name = None
    # Whether a second run of the same firmware gives the same log, so the
    # build may cache it (host, QEMU) or must always re-run (real boards).
    deterministic = True
    kinds = {"latency": "measured", "ram": "measured", "flash": "measured"}
    # Files a run writes beside run.log (build products too), e.g. icount.json.
    products = ()

    # Whether the firmware is riot_app built with RIOT (else utoe's own build).
    riot = False
    # Runner options it accepts (command-line variables: port=, flash=, ...).
    options = ()

    def __init__(self, board, timeout, options=None):
        self.board = board
        self.timeout = timeout
        self.opts = dict(options or {})

    def inputs(self):
        """What a run's log depends on besides the firmware (a build input of
        the run stage): e.g. the emulator's machine and version."""
        return {}

    def execute(self, elf_path):
        """Run the firmware; return the log text or raise RunError."""
        raise NotImplementedError

    def run(self, elf_path, log_path):
        """Run and write the log atomically; on failure no log is left."""
        log = self.execute(elf_path)
        write_text(log_path, log)
        return log

    def finished(self, log, why):
        """Fail unless the log is a complete run (docs/protocol.md): an exit
        status of 0 alone proves nothing (QEMU exits 0 on SIGINT/SIGTERM).
        A run whose trials failed is complete: measure reports it."""
        from ..protocol import ProtocolError, parse_log

        try:
            run = parse_log(log)
        except ProtocolError as e:
            self.fail(f"{why}: {e}", log)
        if run.begin is None or run.status is None:
            self.fail(f"{why}: the log has no 'utoe: {'begin' if run.begin is None else 'end'}' line", log)

    def fail(self, what, log):
        raise RunError(f"board '{self.board.name}' ({self.name} runner): {what}; log tail:\n{tail(log)}")
