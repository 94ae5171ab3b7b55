"""The app stage: Jinja2 renders what configures the harness for one board,
model and mode (utoe_config.h). The harness C itself never changes per build;
RIOT's app Makefile is rendered here too once the RIOT platform exists."""

import os

import jinja2

from . import __version__
from .files import write_text

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "app")
OUTPUTS = ("utoe_config.h",)


def template_files():
    return sorted(os.path.join(TEMPLATES, f) for f in os.listdir(TEMPLATES) if f.endswith(".j2"))


def render(app_dir, options):
    """Render every app template into app_dir. options: board, model, mode, trials, seed."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    ctx = dict(options, version=__version__)
    written = []
    for name in OUTPUTS:
        path = os.path.join(app_dir, name)
        write_text(path, env.get_template(name + ".j2").render(ctx))
        written.append(path)
    return written
