"""The build tree (build=) as a resource shared by every utoe invocation that
names it: checked before anything is built, and held by one invocation at a
time.

- `check`: the tree (and the directory SCons keeps its record in, the
  .sconsign file) can be written and has at least MIN_FREE_BYTES free, so a
  full disk or a read-only tree is one line up front instead of a stage, or
  SCons's own record, failing half-way.
- `lock`: an exclusive flock(2) on <build>/.utoe.lock for the life of the
  process. Two invocations on one tree (two terminals, an editor building on
  save) would otherwise write the same products, temporary files and
  .sconsign at once. The second one waits (or, with wait=no, fails at once)
  naming the tree and the holder's pid. The kernel drops the lock when the
  holder exits, however it ends (SIGKILL included): no stale lock to clean.
"""

import errno
import fcntl
import os
import tempfile

from .errors import UtoeError

LOCK = ".utoe.lock"
# Far more than a small model's whole tree (sine: 0.25 MB, lenet5: 0.6 MB),
# few enough to be no burden: below it a build is likely to stop half-way.
MIN_FREE_BYTES = 4_000_000

# errno values that are the disk's or the permissions' fault, never utoe's
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}

_held = []  # open lock descriptors: kept for the life of the process


class BuildTreeError(UtoeError):
    """The build tree cannot be used: not writable, full, or in use."""


def _shown(path):
    return path.rstrip("/") + "/"


def mb(nbytes):
    return f"{nbytes / 1e6:.1f} MB"


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def space(path):
    """'67.1 MB, 12 files free' (what is free on path's file system)."""
    try:
        st = os.statvfs(path)
    except OSError as e:
        return f"free space unknown: {e.strerror}"
    files = f", {st.f_favail} files" if st.f_files else ""
    return f"{mb(st.f_bavail * st.f_frsize)}{files} free"


def full(path):
    """Whether path's file system has (nearly) no room left for a build."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < MIN_FREE_BYTES or (st.f_files > 0 and st.f_favail == 0)


def check(build, sconsign_dir=None, need_space=True):
    """Raise BuildTreeError unless build (and sconsign_dir) can be written
    and (need_space) have MIN_FREE_BYTES free."""
    for d in dict.fromkeys([build, sconsign_dir or build]):
        try:
            os.makedirs(d, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".utoe-probe-", dir=d)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise BuildTreeError(f"build tree {_shown(d)} is not writable ({e.strerror}); "
                                 "choose another with build=<dir>") from None
        free = free_bytes(d)
        if need_space and free < MIN_FREE_BYTES:
            raise BuildTreeError(f"build tree {_shown(d)}: only {mb(free)} free on its file system, utoe needs at "
                                 f"least {mb(MIN_FREE_BYTES)}; free some space or choose another with build=<dir>")


def _holder(fd):
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


def lock(build, wait=True, say=None):
    """Take the build tree's lock for the rest of this process's life.
    Busy: say() one line and wait, or raise BuildTreeError (wait=False)."""
    path = os.path.join(build, LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise BuildTreeError(f"build tree {_shown(build)}: cannot open its lock {path} ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        msg = f"build tree {_shown(build)} is in use by another utoe (pid {_holder(fd)})"
        if not wait:
            os.close(fd)
            raise BuildTreeError(f"{msg}; wait=no: not waiting") from None
        if say:
            say(f"utoe: {msg}; waiting (wait=no to fail at once)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except KeyboardInterrupt:
            os.close(fd)
            raise BuildTreeError(f"{msg}; interrupted while waiting for it") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held.append(fd)
    return fd
