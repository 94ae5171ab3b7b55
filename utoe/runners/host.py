"""The host runner: the firmware is a process on this machine."""

import os
import signal
import subprocess

from .base import Runner


class HostRunner(Runner):
    name = "host"
    deterministic = True  # cached like any product; `scons ... rerun=1` forces a new run

    def execute(self, elf_path):
        if not os.access(elf_path, os.X_OK):
            self.fail(f"firmware {elf_path} is missing or not executable", "")
        try:
            proc = subprocess.run([elf_path], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            self.fail(f"no result within {self.timeout} s (timeout=); the process was killed", out)
        out = proc.stdout.decode(errors="replace")
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            self.fail(f"the firmware crashed ({sig})", out + proc.stderr.decode(errors="replace"))
        if proc.returncode != 0:
            self.fail(f"the firmware exited with status {proc.returncode}", out + proc.stderr.decode(errors="replace"))
        return out
