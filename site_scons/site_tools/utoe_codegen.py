"""SCons tool: the compiler stage. One TVM run per model and codegen options,
shared by every board (C is portable). Inputs: the model file's contents, the
options, the TVM version, the codegen code and templates."""

import json
import os

from SCons.Script import Builder, Value
from utoe_scons import module_files, utoe_action

from utoe import __version__, codegen
from utoe.codegen import emit


def _emitter(target, source, env):
    out_dir = env.Dir(env["UTOE_CODEGEN_DIR"])
    target = [out_dir.File(f) for f in codegen.OUTPUTS]
    source = source + [Value(env["UTOE_CODEGEN_OPTIONS"]), Value(env["UTOE_TVM_VERSION"]), Value(__version__)]
    source += [env.File(f) for f in module_files("codegen", "frontend") + emit.template_files()]
    return target, source


def _build(target, source, env):
    out_dir = os.path.dirname(str(target[0]))
    codegen.generate(str(source[0]), out_dir, env["UTOE_MODEL_NAME"], json.loads(env["UTOE_CODEGEN_OPTIONS"]))


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
