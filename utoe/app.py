"""The app stage: Jinja2 renders what configures the harness for one board,
model and mode (utoe_config.h). The harness C itself never changes per build.
A bare-metal build also gets its linker script (link.ld), a RIOT build the
make fragment riot_app/Makefile includes (utoe.mk: where the model's C is)."""

import os

from . import __version__
from .codegen.emit import template_env
from .files import write_text

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "app")
OUTPUTS = ("utoe_config.h",)
BARE_METAL_OUTPUTS = ("link.ld",)  # rendered from options["layout"] (firmware.layout)
RIOT_OUTPUTS = ("utoe.mk",)  # rendered from options["riot"] (riot.app_options)


def outputs(options):
    """The file names render() writes for these options."""
    return (OUTPUTS + (BARE_METAL_OUTPUTS if options.get("layout") else ())
            + (RIOT_OUTPUTS if options.get("riot") else ()))


def template_files():
    return sorted(os.path.join(TEMPLATES, f) for f in os.listdir(TEMPLATES) if f.endswith(".j2"))


def render(app_dir, options):
    """Render the app's files into app_dir. options: board, model, mode, trials,
    seed, layout (the bare-metal memory layout, or None on hosted platforms),
    riot (paths for riot_app/Makefile, or None when not built with RIOT)."""
    env = template_env(TEMPLATES)
    ctx = dict(options, version=__version__)
    layout = options.get("layout")
    if layout:
        ctx.update(layout)
    written = []
    for name in outputs(options):
        path = os.path.join(app_dir, name)
        write_text(path, env.get_template(name + ".j2").render(ctx))
        written.append(path)
    return written
