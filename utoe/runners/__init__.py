"""Runner registry: one explicit table, name -> class."""

from ..errors import ConfigError
from .host import HostRunner
from .iotlab import IotlabRunner
from .qemu import QemuRunner
from .qemu_riot import QemuRiotRunner
from .riot_native import RiotNativeRunner
from .serial import SerialRunner

RUNNERS = {cls.name: cls for cls in (HostRunner, QemuRunner, QemuRiotRunner, RiotNativeRunner, SerialRunner, IotlabRunner)}


def get(name, board, timeout, options=None):
    if name not in RUNNERS:
        raise ConfigError(f"runner '{name}' is not available (have: {', '.join(sorted(RUNNERS))})")
    return RUNNERS[name](board, timeout, options)
