"""The qemu-riot runner (os=riot on a board whose chip QEMU emulates:
boards/<name>.toml [qemu] chip = true): the board's RIOT firmware itself, as
it would be flashed, booted on QEMU's emulation of the chip and driven over
its console (QEMU's serial on the runner's pipes) with the same live-console
protocol as a board on the desk (runners/console.py): it waits for
`start <id>`, evaluates, says `ready` again. Time is deterministic
(-icount shift=0) and utoe's TCG plugin counts the executed instructions per
function and per operator call (icount.json), as for a bare-metal firmware
on a stand-in.

Latency comes from those counts (utoe.estimate), never from RIOT's clock:
QEMU's sifive_e timer runs at 10 MHz where RIOT assumes 32,768 Hz, so RIOT's
time there runs ~305x fast. The instruction counts are emulated, the latency
estimated, RAM and flash measured from the firmware (RIOT's, the board's
memory map)."""

import os
import signal
import subprocess
import tempfile

from . import child
from .. import riot
from ..errors import RunError
from .qemu import QemuRunner, counted_run
from .console import READY, ConsoleClosed, Session, Transport

# Seconds QEMU gets to write the plugin's counts and exit once the run is over.
STOP_SECONDS = 30


class PipeTransport(Transport):
    """QEMU's serial on stdio: the runner writes its stdin and reads its stdout.

    Unlike a board on the desk, the emulated one boots when the run starts:
    what is written before the firmware's first 'ready' line is held back
    (the latest write only) and sent once the line arrives, since input to
    the UART while RIOT boots is lost (the start then waits for the session's
    re-send) or, on sifive_e, can end in a kernel panic ("Unhandled trap")."""

    def __init__(self, proc, what):
        self.proc = proc
        self.what = what
        self.booted = False
        self.seen = b""
        self.held = None

    def write(self, data):
        if not self.booted:
            self.held = data
            return
        self._send(data)

    def _send(self, data):
        try:
            os.write(self.proc.stdin.fileno(), data)
        except (BrokenPipeError, OSError):
            raise ConsoleClosed(f"{self.what} closed (QEMU exited)") from None

    def read(self, timeout):
        import select

        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        data = os.read(fd, 4096)
        if not data:
            raise ConsoleClosed(f"{self.what} closed (QEMU exited with status {self.proc.wait()})")
        if not self.booted:
            self.seen = (self.seen + data)[-4096:]
            if b"\n" + READY.encode() in b"\n" + self.seen:
                self.booted = True
                if self.held is not None:
                    self._send(self.held)
                    self.held = None
        return data


class QemuRiotRunner(QemuRunner):
    """The qemu runner's emulator, deterministic counts and kinds, with RIOT's
    firmware driven over its console instead of a bare-metal one over
    semihosting."""
    name = "qemu-riot"
    riot = True  # the firmware is riot_app built by RIOT's make, for the board itself

    def inputs(self):
        return dict(super().inputs(), os="riot")

    def command(self, elf_path, plugin_args):
        q = self.board.qemu
        if not q or not q.get("chip"):
            raise RunError(f"board '{self.board.name}': QEMU does not emulate its chip (no [qemu] with "
                           f"chip = true in {self.board.path}), so its RIOT firmware cannot run under QEMU")
        return [self.system(), "-M", q["machine"], *q.get("args", []), "-display", "none", "-monitor", "none",
                "-serial", "stdio", "-icount", "shift=0", "-kernel", elf_path, *plugin_args]

    def run(self, elf_path, log_path):
        riot.info(elf_path)  # a RIOT build, or a clear error
        pair_dir = os.path.dirname(os.path.abspath(log_path))
        return counted_run(os.path.abspath(elf_path), log_path, self.command, lambda cmd: self._session(cmd, pair_dir),
                           *self.plugin_memory())

    def _session(self, cmd, pair_dir):
        with tempfile.TemporaryFile(dir=pair_dir, prefix=".qemu-stderr") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                    preexec_fn=child._die_with_parent)
            machine = self.board.qemu["machine"]

            def fail(what, log_tail):
                code = proc.poll()
                err.seek(0)
                stderr = err.read().decode(errors="replace")
                if code is not None:
                    # QEMU 7.2 exits 0 on SIGINT/SIGTERM too: any exit before the run's end is a failure
                    what = f"QEMU ({machine}) exited with status {code} before the run completed ({what})"
                self.fail(what, log_tail + ("\n" + stderr if stderr.strip() else ""))

            try:
                log = Session(PipeTransport(proc, f"QEMU {machine}'s console"), self.timeout, fail).evaluate()
                # the run is over: QEMU's normal exit writes the plugin's counts
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    fail(f"did not exit within {STOP_SECONDS} s of SIGTERM after the run", log)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                for f in (proc.stdin, proc.stdout):
                    f.close()
        self.finished(log, "the console's log")
        return log
