"""A build tree on a full disk or a read-only file system, for real: a small
tmpfs, one that runs out of room (inodes) during the build, a read-only bind
mount of a tree that already built. Each ends in one `utoe:` line, exit
status 2, no traceback, and no result.json that looks complete."""

import contextlib
import subprocess

import pytest

from tests.scons_helpers import Build

SINE = ("board=native", "model=sine", "trials=2")


@contextlib.contextmanager
def mounted(where, *args):
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip() or proc.returncode}): needs root and mount rights")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def tmpfs(where, options):
    return mounted(where, "-t", "tmpfs", "-o", options, "tmpfs")


def assert_one_line_fault(proc):
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err and "Exception ignored" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("utoe: "), err
    return last


def test_too_little_free_space_fails_before_building(project_copy, tmp_path):
    build = Build(project_copy)
    with tmpfs(tmp_path / "small", "size=1m") as small:
        proc = build.scons(*SINE, f"build={small}/b", "report", check=False)
        last = assert_one_line_fault(proc)
        assert err_lines(proc) == [last]
        assert last.startswith(f"utoe: error: build tree {small}/b/: only 1.0 MB free on its file system, utoe needs "
                               "at least 4.0 MB"), last
        assert proc.stdout.strip() == ""  # nothing was built


def err_lines(proc):
    return proc.stderr.strip().splitlines()


def test_a_disk_that_fills_up_during_the_build(project_copy, tmp_path):
    """Plenty of bytes, too few inodes: the build passes the up-front check
    and runs out of room half-way; SCons's record cannot be written either."""
    build = Build(project_copy)
    with tmpfs(tmp_path / "full", "size=64m,nr_inodes=20") as full:
        proc = build.scons(*SINE, f"build={full}/b", "report", check=False)
        last = assert_one_line_fault(proc)
        assert "No space left on device" in proc.stderr
        assert last.startswith(f"utoe: error: cannot write SCons's record {full}/b/.sconsign.dblite (No space left on "
                               "device"), last
        assert not (full / "b" / "native" / "sine" / "result.json").exists()
        assert not (full / "b" / "report" / "report.json").exists()


def test_a_read_only_tree_that_is_up_to_date(project_copy, tmp_path):
    build = Build(project_copy)
    tree = tmp_path / "tree"
    build.scons(*SINE, f"build={tree}", "report")
    result = (tree / "native" / "sine" / "result.json").read_bytes()
    with mounted(tree, "--bind", str(tree)):
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(tree)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        proc = build.scons(*SINE, f"build={tree}", "report", check=False)
        last = assert_one_line_fault(proc)
        assert err_lines(proc) == [last]
        assert last == (f"utoe: error: build tree {tree}/ is not writable (Read-only file system); choose another "
                        "with build=<dir>"), last
    # the tree is untouched and still current once writable again
    assert (tree / "native" / "sine" / "result.json").read_bytes() == result
    assert build.stages(*SINE, f"build={tree}") == []
