"""The RIOT native runner: RIOT's native64 board is a Linux process, so its
console is a pseudo-terminal this runner opens for it, driven with the same
live-console protocol as a real board's serial port (runners/console.py)."""

import os
import pty
import signal
import subprocess
import tty

from .. import riot
from ..files import write_text
from .base import Runner
from .console import FdTransport, Session


class RiotNativeRunner(Runner):
    name = "riot-native"
    riot = True  # the firmware is riot_app built by RIOT's make
    deterministic = True  # a process on this host, cached like the host runner's; rerun=1 runs again

    def run(self, elf_path, log_path):
        riot.info(elf_path)  # a RIOT build, or a clear error
        if not os.access(elf_path, os.X_OK):
            self.fail(f"firmware {elf_path} is missing or not executable", "")
        elf_path = os.path.abspath(elf_path)
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no \n -> \r\n: the bytes as the firmware wrote them
        try:
            proc = subprocess.Popen([elf_path], stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                                    start_new_session=True, cwd=os.path.dirname(elf_path))
        finally:
            os.close(slave)
        transport = FdTransport(master, f"the {self.board.riot_board} process's console")

        def fail(what, tail):
            code = proc.poll()
            if code is not None and code < 0:
                what = f"the firmware crashed ({signal.Signals(-code).name})"
            elif code is not None:
                what = f"the firmware exited with status {code} before the run completed"
            self.fail(what, tail)

        try:
            log = Session(transport, self.timeout, fail).evaluate()
        finally:
            _stop(proc)
            os.close(master)
        write_text(log_path, log)
        return log


def _stop(proc):
    """End the firmware's process group (RIOT native never exits by itself)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
