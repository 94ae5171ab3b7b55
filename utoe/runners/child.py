"""Child processes of a run (the firmware on the host, QEMU) that never
outlive it: the kernel kills a child whose parent dies (PR_SET_PDEATHSIG, so
a SIGKILLed SCons leaves no emulator writing into the build tree), and an
exception in the parent (Ctrl-C, a timeout) kills and reaps it before the
exception goes on."""

import ctypes
import signal
import subprocess
import sys

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run(cmd, timeout, env=None):
    """(returncode, stdout bytes, stderr bytes); raises subprocess.TimeoutExpired
    (with the output so far) after killing the child (timeout None: no limit)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, output=out, stderr=err) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, out, err
