"""Boards are data: one TOML file per board in boards/, checked against a
schema when loaded, so a malformed file fails naming the file and the field.
Adding a board is adding a file.

A board may name a QEMU stand-in ([qemu]): a machine that runs the board's
own binary. A stand-in needs the same or a superset ISA and enough memory,
not the same chip: an ARMv6-M build for a Cortex-M0+ board runs unchanged on
the Cortex-M3 of mps2-an385, so the instructions counted are the real
binary's. The firmware for a stand-in is linked at the stand-in's addresses
with the board's lengths, so the board's lengths must fit in the stand-in's
regions (checked here)."""

import os
import tomllib
from dataclasses import dataclass, field

from .errors import BoardError, suggest

BOARDS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "boards")

TYPES = ("native", "mcu", "qemu")
ARCHS = ("host", "armv6-m", "armv7-m", "armv7e-m", "armv7e-m+fp", "rv32imac", "rv32imc", "xtensa")
PLATFORMS = ("host", "cortex-m", "riscv", "riot", "xtensa")
# Keys of utoe.estimate's cycles-per-instruction model.
CORES = ("host", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "sifive-e31", "nuclei-bumblebee",
         "esp32c3-rv32imc", "qemu-rv32", "xtensa-lx6")

# field: (type, required, allowed values or None)
SCHEMA = {
    "name": (str, True, None),
    "type": (str, True, TYPES),
    "description": (str, True, None),
    "core": (str, True, CORES),
    "arch": (str, True, ARCHS),
    "platform": (str, True, PLATFORMS),
    "runners": (list, True, None),
    "clock_hz": (int, False, None),
    "ram_bytes": (int, False, None),
    "flash_bytes": (int, False, None),
    "riot_board": (str, False, None),
    "iotlab_arch": (str, False, None),
    "toolchain": (dict, True, None),
    "qemu": (dict, False, None),
    "memory": (dict, False, None),
}
TOOLCHAIN_SCHEMA = {
    "cc": (str, True, None),
    "debian_package": (str, True, None),
    "cflags": (list, True, None),
    "ldflags": (list, True, None),
    "libs": (list, False, None),
}
REGION_SCHEMA = {"origin": (int, True, None), "length": (int, True, None)}
MEMORY_SCHEMA = {"flash": (dict, True, None), "ram": (dict, True, None)}
QEMU_SCHEMA = {
    "machine": (str, True, None),
    "system": (str, True, ("qemu-system-arm", "qemu-system-riscv32")),
    "debian_package": (str, True, None),
    "args": (list, False, None),
    "flash": (dict, True, None),
    "ram": (dict, True, None),
    "tick_hz": (int, True, None),
}


@dataclass(frozen=True)
class Board:
    name: str
    type: str
    description: str
    core: str
    arch: str
    platform: str
    runners: tuple
    toolchain: dict
    path: str
    clock_hz: int = None
    ram_bytes: int = None
    flash_bytes: int = None
    riot_board: str = None
    iotlab_arch: str = None
    qemu: dict = None
    memory: dict = field(default=None)


def _check(data, schema, where):
    for key in data:
        if key not in schema:
            raise BoardError(f"{where}: " + suggest(key, schema, "field"))
    for key, (typ, required, allowed) in schema.items():
        if key not in data:
            if required:
                raise BoardError(f"{where}: missing required field '{key}'")
            continue
        value = data[key]
        if typ is int and isinstance(value, bool) or not isinstance(value, typ):
            raise BoardError(f"{where}: field '{key}' must be {typ.__name__}, not {type(value).__name__} ({value!r})")
        if allowed is not None and value not in allowed:
            raise BoardError(f"{where}: field '{key}' is '{value}'; one of: {', '.join(allowed)}")
        if typ is list and not all(isinstance(v, str) for v in value):
            raise BoardError(f"{where}: field '{key}' must be a list of strings")


def load(path):
    where = os.path.relpath(path) if os.path.isabs(path) else path
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{where}: not valid TOML: {e}") from None
    _check(data, SCHEMA, where)
    _check(data["toolchain"], TOOLCHAIN_SCHEMA, f"{where} [toolchain]")
    stem = os.path.splitext(os.path.basename(path))[0]
    if data["name"] != stem:
        raise BoardError(f"{where}: field 'name' is '{data['name']}' but the file is named '{stem}.toml'")
    if not data["runners"]:
        raise BoardError(f"{where}: field 'runners' is empty; a board needs at least one runner")
    if data["type"] != "native":
        for key in ("clock_hz", "ram_bytes", "flash_bytes", "memory"):
            if key not in data:
                raise BoardError(f"{where}: missing field '{key}', required for a board of type '{data['type']}'")
    for table, schema in (("memory", MEMORY_SCHEMA), ("qemu", QEMU_SCHEMA)):
        if table in data:
            _check(data[table], schema, f"{where} [{table}]")
            for region in ("flash", "ram"):
                _check(data[table][region], REGION_SCHEMA, f"{where} [{table}] {region}")
    if "memory" in data:
        for region in ("flash", "ram"):
            length = data["memory"][region]["length"]
            if data[f"{region}_bytes"] != length:
                raise BoardError(f"{where}: field '{region}_bytes' is {data[region + '_bytes']} but "
                                 f"memory.{region}.length is {length}; they must agree")
    if "qemu" in data and "memory" in data:
        for region in ("flash", "ram"):
            need, have = data["memory"][region]["length"], data["qemu"][region]["length"]
            if need > have:
                raise BoardError(f"{where}: the board's {region} ({need} bytes) does not fit its stand-in "
                                 f"'{data['qemu']['machine']}' ({region} {have} bytes): choose a stand-in "
                                 "with enough memory")
    data["runners"] = tuple(data["runners"])
    return Board(path=os.path.abspath(path), **data)


def names(directory=BOARDS_DIR):
    return sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".toml"))


def get(name, directory=BOARDS_DIR):
    known = names(directory)
    if name not in known:
        raise BoardError(suggest(name, known, "board") + " — `scons board=list` lists them")
    return load(os.path.join(directory, name + ".toml"))


def all_boards(directory=BOARDS_DIR):
    return [get(n, directory) for n in names(directory)]


def listing(directory=BOARDS_DIR):
    """A table of every board, for `scons board=list`."""
    from tabulate import tabulate

    rows = []
    for b in all_boards(directory):
        rows.append([b.name, b.type, b.core, f"{b.clock_hz / 1e6:g}" if b.clock_hz else "-",
                     f"{b.ram_bytes / 1024:g}" if b.ram_bytes else "-",
                     f"{b.flash_bytes / 1024:g}" if b.flash_bytes else "-",
                     b.qemu["machine"] if b.qemu else "-", b.riot_board or "-", b.iotlab_arch or "-",
                     ", ".join(b.runners)])
    return tabulate(rows, headers=["board", "type", "core", "MHz", "RAM KiB", "flash KiB", "QEMU stand-in",
                                   "RIOT board", "IoT-LAB", "runners"], disable_numparse=True)
