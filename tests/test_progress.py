"""utoe.progress: n of N evaluations and the stage running, drawn by rich on
a terminal (a real pseudo-terminal here), plain lines in a log."""

import io
import os
import pty
import re
import select
import subprocess
import sys

from tests.conftest import ROOT, SHARED_MODELS
from utoe.progress import Progress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_plain_lines_count_what_was_measured():
    out = io.StringIO()
    p = Progress(3, out)
    assert not p.fancy  # a StringIO is no terminal
    p.started("run", "a/x")
    p.finished("run", "a/x")
    p.evaluation_done("a/x", "measured")
    p.evaluation_done("b/x", "up to date")  # counted, not printed: a no-op run stays quiet
    p.evaluation_done("c/x", "measured")
    p.evaluation_done("c/x", "measured")  # once
    p.close()
    assert out.getvalue() == "utoe: [1/3] a/x measured\nutoe: [3/3] c/x measured\n"


def test_one_evaluation_has_nothing_to_count():
    out = io.StringIO()
    p = Progress(1, out)
    p.evaluation_done("a/x", "measured")
    assert out.getvalue() == ""


def test_a_log_stays_plain(report_build):
    proc = report_build.scons("report", "rerun=yes")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert "utoe: [2/2] native/lenet5 measured" in lines or "utoe: [2/2] native/sinus measured" in lines, out
    assert lines.index("measure  native/sinus") < lines.index(next(ln for ln in lines if ln.endswith("sinus measured")))
    # nothing to do: nothing counted aloud
    again = report_build.scons("report")
    assert "utoe: [" not in again.stdout


def _over_a_terminal(args, timeout=300):
    """Run scons with stdout and stderr on a pseudo-terminal; (status, output)."""
    main, sub = pty.openpty()
    env = dict(os.environ, UTOE_SHARED_MODELS=SHARED_MODELS, COLUMNS="120", TERM="xterm")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "SCons", "-Q", *args], cwd=ROOT, stdin=sub, stdout=sub,
                            stderr=sub, env=env)
    os.close(sub)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for {timeout} s: {out[-2000:]!r}")
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closed: scons ended
            break
        if not data:
            break
        out += data
    os.close(main)
    return proc.wait(), out.decode("utf-8", "replace")


def test_a_terminal_shows_a_live_count_and_the_stage(report_build):
    status, out = _over_a_terminal([*report_build.args, "report", "rerun=yes"])
    assert status == 0, out
    assert "\x1b[" in out  # rich drew it
    text = ANSI.sub("", out)
    assert re.search(r"evaluations .*0/2", text) and re.search(r"evaluations .*2/2", text), text
    # the line names the stage and the evaluation it is running
    assert re.search(r"evaluations .*[12]/2 \S+ measure native/lenet5", text), text
    assert "utoe: [" not in text  # the plain lines are the log's, not the terminal's
    assert "written: " in text.split("evaluations")[-1]  # the live line ended before the tables


def test_a_result_found_up_to_date_counts_as_done(report_build):
    # lenet5's result is built again, sinus's is current: sinus counts (SCons's Progress hook), unspoken
    (report_build.build / "native" / "lenet5" / "result.json").unlink()
    proc = report_build.scons("report")
    assert proc.returncode == 0, proc.stderr
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("utoe: [")] == [
        "utoe: [2/2] native/lenet5 measured"]
