"""SCons tool: the compiler stage. One TVM run per model and codegen options,
shared by every board (C is portable). Inputs: the model file's contents, the
options, the TVM version, the codegen code and templates.

TVM runs in a process of its own (`python -m utoe.codegen`, see
utoe/codegen/__main__.py): SCons runs Python actions in worker threads under
`-j`, where TVM fails. The child's one-line message is the build error; an
internal error keeps its traceback in the codegen directory."""

import os
import signal
import sys

import SCons.Errors
from SCons.Script import Builder, Value
from utoe_scons import UTOE_DIR, module_files, utoe_action

from utoe import __version__, codegen
from utoe.codegen import emit
from utoe.codegen.__main__ import EXIT_USER
from utoe.errors import CodegenError
from utoe.files import remove
from utoe.runners import child


def _emitter(target, source, env):
    out_dir = env.Dir(env["UTOE_CODEGEN_DIR"])
    target = [out_dir.File(f) for f in codegen.OUTPUTS]
    source = source + [Value(env["UTOE_CODEGEN_OPTIONS"]), Value(env["UTOE_TVM_VERSION"]), Value(__version__)]
    source += [env.File(f) for f in module_files("codegen", "frontend") + emit.template_files()]
    return target, source


def _build(target, source, env):
    out_dir = os.path.dirname(str(target[0]))
    cmd = [sys.executable, "-m", "utoe.codegen", str(source[0]), out_dir, env["UTOE_MODEL_NAME"],
           env["UTOE_CODEGEN_OPTIONS"]] + (["--verbose"] if env.get("UTOE_VERBOSE") else [])
    root = os.path.dirname(UTOE_DIR)  # the utoe SCons imported, not another installed one
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    try:
        # the child dies with SCons (even SIGKILLed) and with Ctrl-C: no TVM
        # left writing into the build tree
        returncode, _, stderr = child.run(cmd, timeout=None, env=child_env)
    except OSError as e:
        raise CodegenError(f"cannot start the codegen process ({e})") from None
    except BaseException:
        remove(*[str(t) for t in target])
        raise
    if returncode == 0:
        return
    remove(*[str(t) for t in target])
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("utoe: ")), None)
    if returncode in (-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL, -signal.SIGHUP):
        msg = f"utoe: codegen of '{env['UTOE_MODEL_NAME']}' interrupted ({signal.Signals(-returncode).name})"
    elif start is None:  # killed, or died before it could say anything
        tail = lines[-1] if lines else f"exit status {returncode}"
        msg = (f"utoe: internal error in codegen of '{env['UTOE_MODEL_NAME']}' (the codegen process "
               f"ended with status {returncode}: {tail}); this is a utoe bug, not a fault of the model")
    elif returncode == EXIT_USER:  # the model's fault or the user's: the child's message, as it said it
        msg = "\n".join(lines[start:])
    else:  # an internal error: its one line; the traceback is in the log (and on stderr with verbose=1)
        msg = lines[start]
        if env.get("UTOE_VERBOSE"):
            sys.stderr.write("\n".join(lines[start + 1:]) + "\n")
    raise SCons.Errors.BuildError(errstr=msg, exitstatus=2)


def tvm_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apache-tvm")
    except PackageNotFoundError:
        return "not installed"


def generate(env):
    env.SetDefault(UTOE_TVM_VERSION=tvm_version())
    env["BUILDERS"]["UtoeCodegen"] = Builder(
        action=utoe_action(_build, "codegen", ["UTOE_MODEL_NAME"]), emitter=_emitter
    )


def exists(env):
    return True
