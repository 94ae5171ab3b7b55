"""Errors a user can fix. Each message names the culprit (file, board,
operator, limit) and, where there is one, the fix. They are caught once at the
edge (the CLI, the SCons actions) and shown without a traceback."""

import difflib


class UtoeError(Exception):
    """Base of every error utoe reports to a user."""


class ConfigError(UtoeError):
    """A bad command-line variable or option value."""


class ModelError(UtoeError):
    """A model file that is missing, malformed, or uses what cannot be compiled."""


class BoardError(UtoeError):
    """An unknown board or a malformed board file."""


class CodegenError(UtoeError):
    """The compiler stage failed on a model it could import."""


class BuildError(UtoeError):
    """The firmware did not compile or link."""


class RunError(UtoeError):
    """The firmware did not run to completion (crash, timeout, bad log)."""


def suggest(name, choices, what):
    """`unknown board 'hifive1' — did you mean 'hifive1b'?` style message."""
    choices = list(choices)
    # Case first (board=NATIVE means native), then spelling.
    close = [c for c in choices if c.lower() == name.lower()]
    close += [c for c in difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=3, cutoff=0.5)
              if c not in close]
    close = [next(o for o in choices if o.lower() == c.lower()) for c in close][:3]
    msg = f"unknown {what} '{name}'"
    if close:
        msg += " — did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    else:
        msg += f" (known: {', '.join(sorted(choices))})"
    return msg
