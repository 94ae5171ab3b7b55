"""SCons tool: the app stage (Jinja2 renders the harness configuration for a
board, model and mode). Depends on the settings as a Value and on the
templates, not on the model's codegen."""

import json
import os

from SCons.Script import Builder, Value
from utoe_scons import module_files, utoe_action

from utoe import __version__, app
from utoe.files import remove


def _emitter(target, source, env):
    app_dir = env.Dir(env["UTOE_APP_DIR"])
    target = [app_dir.File(f) for f in app.outputs(json.loads(env["UTOE_APP_OPTIONS"]))]
    source = [Value(env["UTOE_APP_OPTIONS"]), Value(__version__)] + [env.File(f) for f in app.template_files() + module_files("app")]
    return target, source


def _build(target, source, env):
    options = json.loads(env["UTOE_APP_OPTIONS"])
    app_dir = os.path.dirname(str(target[0]))
    # The pair's first product of a new configuration: a result of another
    # one (trials=, seed=) goes first, so not even a SIGKILL (no cleanup
    # runs) leaves it beside this configuration's products. A template edit
    # keeps it: an identical firmware still stops the chain.
    result = os.path.join(os.path.dirname(app_dir), "result.json")
    try:
        with open(result) as f:
            older = json.load(f)
    except (OSError, ValueError):
        older = None
    if isinstance(older, dict) and any(older.get(k) != options[k] for k in ("trials", "seed", "mode")):
        remove(result)
    app.render(app_dir, options)


def generate(env):
    env["BUILDERS"]["UtoeApp"] = Builder(action=utoe_action(_build, "app"), emitter=_emitter)


def exists(env):
    return True
