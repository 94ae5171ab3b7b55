"""The QEMU runner: the board's bare-metal firmware on its stand-in machine
(boards/<name>.toml, [qemu]), with deterministic time (-icount shift=0), the
console and exit over semihosting, and utoe's TCG plugin counting executed
instructions per function (icount.json beside the log).

Latency on a stand-in is not the board's: it is estimated from the counted
instructions (utoe.estimate), and the counts themselves are emulated."""

import os
import shutil
import subprocess

from . import child
from .. import icount
from ..errors import RunError
from ..files import remove, write_text
from .base import Runner


def counted_run(elf_path, log_path, command, execute, regions=None, caches=()):
    """Run a firmware under QEMU with utoe's instruction-count plugin:
    command(elf, plugin_args) is QEMU's command line, execute(cmd) runs it and
    returns the log; regions and caches are the plugin's (icount.qemu_args).
    icount.json lands beside log_path; a run that fails, or leaves no
    well-formed counts, leaves neither file."""
    counts_path = os.path.join(os.path.dirname(os.path.abspath(log_path)), "icount.json")
    syms_path = counts_path + ".syms"
    remove(counts_path)
    icount.write_symbols(elf_path, syms_path)
    cmd = command(elf_path, icount.qemu_args(icount.plugin_path(), syms_path, counts_path, regions, caches))
    try:
        log = execute(cmd)
        icount.read_counts(counts_path)  # present and well-formed, or RunError
    except BaseException:
        remove(counts_path, log_path)
        raise
    finally:
        remove(syms_path)
    write_text(log_path, log)
    return log


class QemuRunner(Runner):
    name = "qemu"
    deterministic = True
    kinds = {"latency": "estimated", "ram": "measured", "flash": "measured", "instructions": "emulated"}
    # Files the run writes beside run.log.
    products = ("icount.json",)

    def inputs(self):
        """The board's [qemu] section (machine, args, regions, tick), the
        plugin's memory regions and caches (from [timing]) and the emulator's
        version: a change to any re-runs QEMU."""
        from .. import tools

        q = self.board.qemu or {}
        return {"qemu": q, "qemu_version": tools.program(q["system"]) if q else None,
                "plugin": icount.plugin_options(*self.plugin_memory())}

    def plugin_memory(self):
        """(regions, caches) the plugin counts and simulates: the board's
        flash and RAM at the stand-in's addresses, its [timing] caches."""
        return icount.board_regions(self.board), icount.board_caches(self.board)

    def system(self):
        """The board's QEMU program (its [qemu] system), or RunError naming the package."""
        q = self.board.qemu
        system = shutil.which(q["system"])
        if system is None:
            raise RunError(f"board '{self.board.name}': '{q['system']}' not found — install the Debian package "
                           f"'{q['debian_package']}' (apt-get install {q['debian_package']})")
        return system

    def command(self, elf_path, plugin_args):
        q = self.board.qemu
        if not q:
            raise RunError(f"board '{self.board.name}' has no QEMU stand-in; choose another runner "
                           f"(board '{self.board.name}' runs with: {', '.join(self.board.runners)})")
        return [self.system(), "-M", q["machine"], *q.get("args", []), "-nographic", "-monitor", "none",
                "-serial", "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                "-kernel", elf_path, *plugin_args]

    def run(self, elf_path, log_path):
        return counted_run(elf_path, log_path, self.command, self._qemu, *self.plugin_memory())

    def _qemu(self, cmd):
        try:
            returncode, stdout, stderr = child.run(cmd, self.timeout)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{self.board.qemu['machine']} gave no result within {self.timeout} s (timeout=); "
                      "QEMU was killed", (e.stdout or b"").decode(errors="replace"))
        out = stdout.decode(errors="replace")
        err = stderr.decode(errors="replace")
        if returncode != 0:
            if "utoe: fault" in out:
                what = "the firmware faulted"
            elif "Lockup" in err:
                what = "the firmware faulted and locked up (a fault inside the fault handler)"
            else:
                what = f"QEMU exited with status {returncode}"
            self.fail(what, out + err)
        # QEMU 7.2 exits 0 when SIGINT/SIGTERM stop it: only a complete log is a finished run.
        self.finished(out, "QEMU exited 0 before the firmware finished (stopped by a signal?)")
        return out
