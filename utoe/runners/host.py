"""The host runner: the firmware is a process on this machine."""

import os
import signal
import subprocess

from . import child
from .base import Runner


class HostRunner(Runner):
    name = "host"
    deterministic = True  # cached like any product; `scons ... rerun=1` forces a new run

    def execute(self, elf_path):
        if not os.access(elf_path, os.X_OK):
            self.fail(f"firmware {elf_path} is missing or not executable", "")
        try:
            returncode, stdout, stderr = child.run([elf_path], self.timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            self.fail(f"no result within {self.timeout} s (timeout=); the process was killed", out)
        out = stdout.decode(errors="replace")
        if returncode < 0:
            sig = signal.Signals(-returncode).name
            self.fail(f"the firmware crashed ({sig})", out + stderr.decode(errors="replace"))
        if returncode != 0:
            self.fail(f"the firmware exited with status {returncode}", out + stderr.decode(errors="replace"))
        self.finished(out, "the firmware exited 0 before its run was complete")
        return out
