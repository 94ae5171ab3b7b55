"""Glue shared by the utoe site tools: turning utoe's errors into SCons build
errors (one line naming the culprit, no traceback), quiet progress lines
(and utoe.progress told which stage of which evaluation runs),
and the list of files a stage's own code lives in (so editing the code that
makes a product rebuilds that product)."""

import functools
import glob
import os
import sys
import threading
import traceback

import SCons.Errors
import SCons.Node
import SCons.Util
from SCons.Script import Action

from utoe import progress
from utoe.buildtree import DISK_ERRNOS
from utoe.errors import UtoeError
from utoe.files import remove

UTOE_DIR = os.path.dirname(os.path.abspath(__import__("utoe").__file__))


def module_files(*names):
    """Python files of utoe modules/packages, for explicit dependencies."""
    out = []
    for name in names:
        path = os.path.join(UTOE_DIR, *name.split("."))
        if os.path.isdir(path):
            out += sorted(glob.glob(os.path.join(path, "*.py")))
        else:
            out.append(path + ".py")
    return out


def utoe_action(func, label, varlist=()):
    """Wrap a (target, source, env) function as an SCons Action."""

    @functools.wraps(func)
    def run(target, source, env):
        what = env.subst("$UTOE_LABEL") if label else None
        if what is not None:
            progress.started(label, what)
        try:
            func(target, source, env)
            if label == "measure":
                progress.evaluation_done(what, "measured")
        except UtoeError as e:
            remove(*[str(t) for t in target])
            raise SCons.Errors.BuildError(errstr=f"utoe: {e}", exitstatus=2) from None
        except SCons.Errors.BuildError:
            raise
        except OSError as e:
            if e.errno not in DISK_ERRNOS:
                raise _internal(e, target, env, label, func) from None
            # a full disk, a read-only tree: the file system's fault, named, not a utoe bug
            remove(*[str(t) for t in target])
            where = e.filename or os.path.dirname(str(target[0]))
            if os.path.basename(str(where)).startswith(".tmp-"):  # utoe.files' temporary: name the product
                where = str(target[0])
            raise SCons.Errors.BuildError(errstr=f"utoe: {where}: {e.strerror}", exitstatus=2) from None
        except Exception as e:
            raise _internal(e, target, env, label, func) from None
        finally:
            if what is not None:
                progress.finished(label, what)
        return 0

    cmdstr = None if label is None else f"{label:<9}$UTOE_LABEL"
    return Action(run, cmdstr, varlist=list(varlist))


def _internal(e, target, env, label, func):
    """utoe's bug: say so in one line; the traceback with verbose=1."""
    remove(*[str(t) for t in target])
    if env.get("UTOE_VERBOSE"):
        traceback.print_exception(e, file=sys.stderr)
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return SCons.Errors.BuildError(
        errstr=f"utoe: internal error in the {label or func.__name__} stage ({type(e).__name__}"
               f"{': ' + first if first else ''}); this is a utoe bug"
               f"{'' if env.get('UTOE_VERBOSE') else ' (verbose=1 prints the traceback)'}",
        exitstatus=2)


def up_to_date_hook(result_labels):
    """For SCons's Progress(): a result.json found up to date is an
    evaluation done (utoe.progress); result_labels: {abspath: 'board/model'}."""

    def hook(node):
        label = result_labels.get(getattr(node, "abspath", None))
        if label and node.get_state() == SCons.Node.up_to_date:
            progress.evaluation_done(label, "up to date")

    return hook


def rebuild_if_changed_outside(nodes):
    """Remove each product whose bytes differ from what SCons recorded when it
    built it, so it is built again. SCons never checks a target's own content:
    after a SIGKILL (no .sconsign written) a stage's outputs can hold the
    killed invocation's content while the record says the previous one's, and
    a later run would use them as current."""
    for node in nodes:
        path = node.get_abspath()
        if not os.path.isfile(path):
            continue
        info = node.get_stored_info()
        recorded = getattr(getattr(info, "ninfo", None), "csig", None)
        # hashed here, not with node.get_csig(): that would memoize a value
        # SCons must compute afresh after building the node
        if recorded and SCons.Util.hash_file_signature(path) != recorded:
            remove(path)


# Python libraries that must not run in two SCons worker threads at once
# (`-j`): the reference runtimes (ai-edge-litert, onnxruntime, torch) the
# measure stage validates with. One lock for the whole process.
HEAVY_PYTHON = threading.Lock()


def serialised(func):
    """func, run under HEAVY_PYTHON."""

    @functools.wraps(func)
    def run(*args, **kw):
        with HEAVY_PYTHON:
            return func(*args, **kw)

    return run
