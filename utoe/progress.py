"""Progress of a build with several evaluations (board=all, several models,
-j): which stage of which evaluation runs, and how many evaluations are
done of how many.

Two faces, chosen by whether the output is a terminal:
- a terminal: a live line drawn by rich (a bar, n/N, the stages running
  now, -j runs several), kept below the stage lines SCons prints;
- anything else (a pipe, a CI log): plain lines only, no escape codes and
  no carriage returns: SCons's stage lines as before, and when an
  evaluation is measured, 'utoe: [3/16] hifive1b/lenet5 measured'.
With one evaluation there is nothing to count: no progress output at all.

An evaluation is done when its result.json is written or found up to date
(SConstruct reports those through SCons's Progress hook). The stage
wrapper (utoe_scons.utoe_action) calls started()/finished() from SCons's
worker threads: every method takes the lock. `current` is the build's one
Progress, set by SConstruct; None (tests of one stage, no SConstruct) makes
every hook a no-op."""

import sys
import threading

current = None


def setup(total, stream=None, fancy=None):
    """Create the build's Progress. fancy: None = rich when the stream is a terminal."""
    global current
    current = Progress(total, stream, fancy)
    return current


class Progress:
    def __init__(self, total, stream=None, fancy=None):
        self.total = total
        self.stream = stream or sys.stdout
        if fancy is None:
            isatty = getattr(self.stream, "isatty", None)
            fancy = bool(isatty and isatty())
        self.fancy = fancy and total > 1
        self.done = set()
        self.running = []  # (stage, label), in the order they started
        self.lock = threading.Lock()
        self._live = None
        self._task = None

    # ---------------------------------------------------------------- hooks

    def started(self, stage, label):
        with self.lock:
            self.running.append((stage, label))
            self._draw()

    def finished(self, stage, label):
        with self.lock:
            if (stage, label) in self.running:
                self.running.remove((stage, label))
            self._draw()

    def evaluation_done(self, label, how):
        """label: 'board/model'; how: 'measured' (this run) or 'up to date'."""
        with self.lock:
            if label in self.done:
                return
            self.done.add(label)
            if self.total > 1 and not self.fancy and how != "up to date":
                print(f"utoe: [{len(self.done)}/{self.total}] {label} {how}", file=self.stream, flush=True)
            self._draw()

    def close(self):
        """Stop the live display (before the report's tables are printed)."""
        with self.lock:
            if self._live is not None:
                self._draw()
                self._live.stop()
                self._live = None

    # ---------------------------------------------------------------- rich

    def _draw(self):
        if not self.fancy:
            return
        if self._live is None:
            if len(self.done) >= self.total:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, SpinnerColumn, TextColumn, \
                TimeElapsedColumn

            console = Console(file=self.stream)
            self._live = Bar(SpinnerColumn(), TextColumn("evaluations"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("{task.description}"), console=console,
                             redirect_stdout=True, redirect_stderr=True, transient=False)
            self._task = self._live.add_task("", total=self.total)
            self._live.start()
        now = ", ".join(f"{stage} {label}" for stage, label in self.running[-3:])
        more = f" (+{len(self.running) - 3})" if len(self.running) > 3 else ""
        self._live.update(self._task, completed=len(self.done), description=f"{now}{more}", refresh=True)


def started(stage, label):
    if current is not None:
        current.started(stage, label)


def finished(stage, label):
    if current is not None:
        current.finished(stage, label)


def evaluation_done(label, how):
    if current is not None:
        current.evaluation_done(label, how)


def close():
    if current is not None:
        current.close()
