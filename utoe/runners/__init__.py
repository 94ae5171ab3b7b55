"""Runner registry: one explicit table, name -> class."""

from ..errors import ConfigError
from .host import HostRunner
from .qemu import QemuRunner

RUNNERS = {cls.name: cls for cls in (HostRunner, QemuRunner)}


def get(name, board, timeout):
    if name not in RUNNERS:
        raise ConfigError(f"runner '{name}' is not available (have: {', '.join(sorted(RUNNERS))})")
    return RUNNERS[name](board, timeout)
