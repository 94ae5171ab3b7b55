"""Boards are data: one TOML file per board in boards/, checked against a
schema when loaded, so a malformed file fails naming the file and the field.
Adding a board is adding a file.

The stand-in rule. A board may name a QEMU stand-in ([qemu]): a machine that
runs the board's own binary. A stand-in needs the same or a superset ISA and
enough memory, not the same chip:

    board core                     stand-in (QEMU -M)       why
    Cortex-M0+ (ARMv6-M)           mps2-an385               its Cortex-M3 runs ARMv6-M code unchanged
    Cortex-M3 (ARMv7-M)            mps2-an385               the same ISA
    Cortex-M4, with or without FPU mps2-an386               Cortex-M4 with FPv4-SP: a superset of both
    Cortex-M7                      mps2-an500               Cortex-M7 with FPv5 (double precision)
    RV32IMAC/RV32IMC, <= 16 KiB RAM sifive_e,revb=true      the HiFive1 rev B's layout (code at 0x20010000)
    RV32IMAC/RV32IMC, more RAM     virt -bios none          RV32GC; code and data in its RAM at 0x80000000
    Xtensa LX6                     none                     Debian's QEMU has no ESP32 machine

So the instructions counted under QEMU are those of the real board's binary.
That binary is linked at the stand-in's addresses ([qemu] flash, ram) with the
board's own lengths ([memory]), so the board's lengths must fit in the
stand-in's regions. Checked here: the machine is one utoe knows (STAND_INS),
it runs the board's core, its QEMU system matches, and the memory fits. Not
checkable here: that the regions are where the machine really has memory (see
tests and `info mtree` in the QEMU monitor).

Timing data (issue 15), for utoe.estimate's cycle model. A board with a
stand-in has [timing]; Board.timing is that table plus "cycles_per_class"
(the core's boards/cores/<core>.toml [cycles]) and "core_file" (its path):

    cycles_per_class  cycles of one executed instruction of each plugin class on
                      the core at zero wait states; a load/store-multiple costs
                      load_multiple + N x load_multiple_per_reg; load_use is the
                      extra stall when the next instruction uses a load's result
    flash_wait_states extra cycles of one flash read (of flash_line_bytes bytes) at
                      the board's clock, as RIOT configures the flash
    flash_sequential_wait_states (optional) the same for a read at the address
                      right after the previous read (the FE310's QSPI merges it)
    flash_prefetch    a prefetcher reads the next line while the current one is
                      used: sequential instruction fetches do not wait
    ram_wait_states   extra cycles of an SRAM access
    icache / dcache   (optional) a cache in front of flash for instruction fetches /
                      data loads: size_bytes, ways, line_bytes, and miss_cycles, the
                      cycles a miss adds (the line fill). One cache that serves both
                      (SAMD21 NVM cache, RP2040 XIP cache, ESP32-C3 cache) appears as
                      both, with the same geometry.

Every figure's source (document, revision, table; the RIOT line that sets the
clock or the flash controller) is a comment next to it in the files; figures
not found in a document say so there."""

import os
import tomllib
from dataclasses import dataclass, field

from .errors import BoardError, suggest

BOARDS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "boards")
# Per-core cycle costs (boards/cores/<core>.toml), shared by the boards of that core.
CORES_DIR = os.path.join(BOARDS_DIR, "cores")

TYPES = ("native", "mcu", "qemu")
ARCHS = ("host", "armv6-m", "armv7-m", "armv7e-m", "armv7e-m+fp", "rv32imac", "rv32imc", "xtensa")
PLATFORMS = ("host", "cortex-m", "riscv", "riot", "xtensa")
# Keys of utoe.estimate's cycles-per-instruction model. "qemu-rv32" is the
# virt machine's own core (boards/virt-rv32.toml): one instruction per virtual cycle.
CORES = ("host", "cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "sifive-e31", "nuclei-bumblebee",
         "esp32c3-rv32imc", "qemu-rv32", "xtensa-lx6")
# Names the runner classes (utoe.runners) are registered under, real or planned.
RUNNER_NAMES = ("host", "qemu", "qemu-riot", "riot-native", "serial", "iotlab")

# The archs a board with this core may declare (a Cortex-M4 or M7 with or without FPU).
CORE_ARCHS = {
    "host": ("host",),
    "cortex-m0": ("armv6-m",),
    "cortex-m0plus": ("armv6-m",),
    "cortex-m3": ("armv7-m",),
    "cortex-m4": ("armv7e-m", "armv7e-m+fp"),
    "cortex-m7": ("armv7e-m", "armv7e-m+fp"),
    "sifive-e31": ("rv32imac",),
    "nuclei-bumblebee": ("rv32imac",),
    "esp32c3-rv32imc": ("rv32imc",),
    "qemu-rv32": ("rv32imac", "rv32imc"),
    "xtensa-lx6": ("xtensa",),
}
# The bare-metal platform (C glue) for each arch; "riot" builds for any of them.
ARCH_PLATFORM = {"host": "host", "armv6-m": "cortex-m", "armv7-m": "cortex-m", "armv7e-m": "cortex-m",
                 "armv7e-m+fp": "cortex-m", "rv32imac": "riscv", "rv32imc": "riscv", "xtensa": "xtensa"}

# QEMU machines that can stand in for a board, by -M name (before any
# ",property"): (QEMU system, its CPU, the cores whose builds it runs unchanged).
# A new stand-in machine is one line here plus its boards/<machine>.toml.
STAND_INS = {
    "mps2-an385": ("qemu-system-arm", "Cortex-M3", ("cortex-m0", "cortex-m0plus", "cortex-m3")),
    "mps2-an386": ("qemu-system-arm", "Cortex-M4 with FPv4-SP",
                   ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4")),
    "mps2-an500": ("qemu-system-arm", "Cortex-M7 with FPv5-D16",
                   ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7")),
    # the BBC micro:bit's own chip (nRF51822): its RIOT firmware runs there unchanged
    "microbit": ("qemu-system-arm", "nRF51822 Cortex-M0", ("cortex-m0",)),
    "sifive_e": ("qemu-system-riscv32", "SiFive E31 (RV32IMAC)",
                 ("sifive-e31", "nuclei-bumblebee", "esp32c3-rv32imc", "qemu-rv32")),
    "virt": ("qemu-system-riscv32", "RV32GC", ("sifive-e31", "nuclei-bumblebee", "esp32c3-rv32imc", "qemu-rv32")),
}
# Debian package of each QEMU system binary.
QEMU_PACKAGES = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}

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
    "timing": (dict, False, None),
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
    "system": (str, True, tuple(QEMU_PACKAGES)),
    "debian_package": (str, True, tuple(QEMU_PACKAGES.values())),
    "args": (list, False, None),
    "flash": (dict, True, None),
    "ram": (dict, True, None),
    "tick_hz": (int, True, None),
    # The machine is the board's own chip (QEMU emulates its peripherals), not
    # a stand-in: os=riot runs the board's RIOT firmware itself there
    # (runner qemu-riot), linked for the board.
    "chip": (bool, False, None),
    # RIOT modules the firmware needs under this machine only (USEMODULE, e.g.
    # a timer backend for a peripheral QEMU lacks); a real board builds without.
    "riot_modules": (list, False, None),
}

# The timing model's data (issue 15): [timing] in a board file, the board's
# memory costs at its clock; boards/cores/<core>.toml, the core's cycles per
# executed instruction of each class (the QEMU plugin's classes, exactly).
# Every figure carries its source in a comment of its file. Every board with
# a [qemu] stand-in must have [timing] (a latency estimate is made from it);
# a QEMU machine's own board (type "qemu") has a documented zero-wait one.
TIMING_SCHEMA = {
    "cycles": (str, True, None),              # which boards/cores/<name>.toml
    "flash_wait_states": (int, True, None),   # extra cycles per flash read at clock_hz as RIOT sets it up
    "flash_line_bytes": (int, True, None),    # bytes one flash read returns
    "flash_prefetch": (bool, True, None),     # a sequential prefetcher hides the next line's wait states
    "ram_wait_states": (int, True, None),
    # a flash read at the address right after the previous one, where the flash
    # controller continues the open read (the FE310's QSPI); absent: as any read
    "flash_sequential_wait_states": (int, False, None),
    "icache": (dict, False, None),            # a cache in front of flash for instruction fetches
    "dcache": (dict, False, None),            # the same for data loads from flash
}
CACHE_SCHEMA = {
    "size_bytes": (int, True, None),
    "ways": (int, True, None),
    "line_bytes": (int, True, None),
    "miss_cycles": (int, True, None),         # cycles a miss adds: filling one line
}
CORE_FILE_SCHEMA = {"source": (str, True, None), "cycles": (dict, True, None)}
# The instruction classes of the QEMU plugin; a cores file gives each one's cycles.
CYCLE_CLASSES = ("alu", "mul", "mac", "div", "load", "store", "load_multiple", "load_multiple_per_reg",
                 "store_multiple", "store_multiple_per_reg", "branch_taken", "branch_not_taken", "jump",
                 "load_use", "fpu", "other")
# Integer fields that may be 0 (every other one must be positive; a region's
# origin is checked against the address space instead).
ZERO_ALLOWED = ("flash_wait_states", "ram_wait_states", "flash_sequential_wait_states")


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
    # [timing], with the core's cycles per class merged in under
    # "cycles_per_class" and the cores file under "core_file"; None
    # for a board without one (host, a QEMU machine, no stand-in).
    timing: dict = field(default=None)


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
        if typ is int and key != "origin" and (value < 0 or value == 0 and key not in ZERO_ALLOWED):
            raise BoardError(f"{where}: field '{key}' is {value}; it must be "
                             + ("zero or positive" if key in ZERO_ALLOWED else "positive"))


def _check_regions(data, where):
    for table, schema in (("memory", MEMORY_SCHEMA), ("qemu", QEMU_SCHEMA)):
        if table not in data:
            continue
        _check(data[table], schema, f"{where} [{table}]")
        for region in ("flash", "ram"):
            _check(data[table][region], REGION_SCHEMA, f"{where} [{table}] {region}")
            r = data[table][region]
            if r["origin"] < 0 or r["origin"] + r["length"] > 1 << 32:
                raise BoardError(f"{where}: {table}.{region} (origin {r['origin']:#x}, length {r['length']:#x}) "
                                 "is outside the 32-bit address space")
    if "memory" in data:
        for region in ("flash", "ram"):
            length, key = data["memory"][region]["length"], f"{region}_bytes"
            if key not in data:
                raise BoardError(f"{where}: missing field '{key}' (memory.{region}.length is {length})")
            if data[key] != length:
                raise BoardError(f"{where}: field '{key}' is {data[key]} but memory.{region}.length is {length}; "
                                 "they must agree")


def _check_consistency(data, where):
    """Fields that must agree with each other: core, arch, platform, flags, runners."""
    core, arch, platform = data["core"], data["arch"], data["platform"]
    if arch not in CORE_ARCHS[core]:
        raise BoardError(f"{where}: field 'arch' is '{arch}' but a {core} core is {' or '.join(CORE_ARCHS[core])}")
    if platform not in (ARCH_PLATFORM[arch], "riot"):
        raise BoardError(f"{where}: field 'platform' is '{platform}' but arch '{arch}' builds for platform "
                         f"'{ARCH_PLATFORM[arch]}' (or 'riot')")
    cflags = data["toolchain"]["cflags"]
    if ARCH_PLATFORM[arch] == "cortex-m":
        if f"-mcpu={core}" not in cflags:
            raise BoardError(f"{where}: field 'toolchain.cflags' lacks '-mcpu={core}' (field 'core' is '{core}')")
        if ("-mfloat-abi=hard" in cflags) != arch.endswith("+fp"):
            want = "'-mfloat-abi=hard' and an -mfpu" if arch.endswith("+fp") else "no '-mfloat-abi=hard'"
            raise BoardError(f"{where}: field 'toolchain.cflags' must have {want} for arch '{arch}'")
    if ARCH_PLATFORM[arch] == "riscv" and f"-march={arch}" not in cflags:
        raise BoardError(f"{where}: field 'toolchain.cflags' lacks '-march={arch}' (field 'arch' is '{arch}')")
    for runner in data["runners"]:
        if runner not in RUNNER_NAMES:
            raise BoardError(f"{where}: field 'runners': " + suggest(runner, RUNNER_NAMES, "runner"))
    if data["type"] == "qemu" and "qemu" not in data:
        raise BoardError(f"{where}: missing table [qemu], required for a board of type 'qemu'")
    if ("qemu" in data) != ("qemu" in data["runners"]):
        raise BoardError(f"{where}: field 'runners' " + ("lacks 'qemu' but the board has a [qemu] stand-in"
                         if "qemu" in data else "has 'qemu' but the board has no [qemu] stand-in"))
    if ("iotlab_arch" in data) != ("iotlab" in data["runners"]):
        raise BoardError(f"{where}: field 'runners' " + ("lacks 'iotlab' but field 'iotlab_arch' is set"
                         if "iotlab_arch" in data else "has 'iotlab' but field 'iotlab_arch' is missing"))


def _check_stand_in(data, where):
    """The stand-in machine runs the board's core and holds its memory."""
    q = data["qemu"]
    machine = q["machine"].split(",")[0]
    if machine not in STAND_INS:
        raise BoardError(f"{where}: [qemu] field 'machine': " + suggest(machine, STAND_INS, "stand-in machine")
                         + " (a new one goes into utoe.boards.STAND_INS)")
    system, cpu, cores = STAND_INS[machine]
    if q["system"] != system:
        raise BoardError(f"{where}: [qemu] field 'system' is '{q['system']}' but machine '{machine}' is {system}'s")
    if q["debian_package"] != QEMU_PACKAGES[system]:
        raise BoardError(f"{where}: [qemu] field 'debian_package' is '{q['debian_package']}' but {system} "
                         f"comes in '{QEMU_PACKAGES[system]}'")
    if data["core"] not in cores:
        fits = [m for m, (_, _, c) in STAND_INS.items() if data["core"] in c]
        raise BoardError(f"{where}: [qemu] machine '{machine}' ({cpu}) cannot run a {data['core']} build: a stand-in "
                         "needs the same ISA or a superset" + (f"; use {' or '.join(fits)}" if fits else
                                                                "; no known machine can, so drop [qemu]"))
    for region in ("flash", "ram"):
        need, have = data["memory"][region]["length"], q[region]["length"]
        if need > have:
            raise BoardError(f"{where}: the board's {region} ({need} bytes) does not fit its stand-in "
                             f"'{q['machine']}' ({region} {have} bytes): choose a stand-in with enough memory")


def _load_toml(path, where, what):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{where}: not valid TOML: {e}") from None
    except OSError as e:
        raise BoardError(f"{where}: cannot read the {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise BoardError(f"{where}: not valid TOML: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except ValueError as e:  # e.g. an integer of 4,300+ digits, which Python refuses to convert
        raise BoardError(f"{where}: not a usable {what} ({str(e).split(';')[0]})") from None


def cores_dir(board_dir):
    """Where a board directory's cores files are: its own cores/ if it has
    one (a test's copy), else utoe's."""
    own = os.path.join(board_dir, "cores")
    return own if os.path.isdir(own) else CORES_DIR


def load_core(name, directory=CORES_DIR):
    """The cycles per instruction class of boards/cores/<name>.toml, checked:
    every class of CYCLE_CLASSES, each a non-negative number, nothing else."""
    path = os.path.join(directory, name + ".toml")
    where = os.path.relpath(path)
    if not os.path.exists(path):
        known = sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".toml")) if os.path.isdir(directory) \
            else []
        raise BoardError(f"{where}: no such cores file (" + suggest(name, known, "cores file") + ")")
    data = _load_toml(path, where, "cores file")
    _check(data, CORE_FILE_SCHEMA, where)
    cycles = data["cycles"]
    for key in cycles:
        if key not in CYCLE_CLASSES:
            raise BoardError(f"{where} [cycles]: " + suggest(key, CYCLE_CLASSES, "instruction class"))
    for key in CYCLE_CLASSES:
        if key not in cycles:
            raise BoardError(f"{where} [cycles]: missing required field '{key}'")
        value = cycles[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BoardError(f"{where} [cycles]: field '{key}' must be a number, not {type(value).__name__} "
                             f"({value!r})")
        if not value >= 0 or value == float("inf"):  # also NaN, which TOML allows
            raise BoardError(f"{where} [cycles]: field '{key}' is {value}; it must be a finite number, not negative")
    return {"source": data["source"], "cycles": dict(cycles), "path": path}


def _check_timing(data, where, board_dir):
    """[timing]: required for a board with a stand-in; its fields, its
    caches, and its cores file (which must be the board's core's). Returns
    the Board's timing dict, or None."""
    if "timing" not in data:
        if "qemu" in data:
            raise BoardError(f"{where}: missing table [timing], required for a board with a [qemu] stand-in "
                             "(the cycle model's flash wait states, caches and core; see boards/stm32f746g-disco.toml)")
        return None
    t = data["timing"]
    if not isinstance(t, dict):
        raise BoardError(f"{where}: field 'timing' must be a table, not {type(t).__name__}")
    _check(t, TIMING_SCHEMA, f"{where} [timing]")
    for cache in ("icache", "dcache"):
        if cache in t:
            _check(t[cache], CACHE_SCHEMA, f"{where} [timing.{cache}]")
            c = t[cache]
            if c["size_bytes"] % (c["ways"] * c["line_bytes"]):
                raise BoardError(f"{where} [timing.{cache}]: size_bytes {c['size_bytes']} is not a multiple of "
                                 f"ways × line_bytes ({c['ways']} × {c['line_bytes']})")
    if t["cycles"] != data["core"]:
        raise BoardError(f"{where} [timing]: field 'cycles' is '{t['cycles']}' but the board's core is "
                         f"'{data['core']}'; they must agree (boards/cores/{data['core']}.toml)")
    try:
        core = load_core(t["cycles"], cores_dir(board_dir))
    except BoardError as e:
        raise BoardError(f"{where} [timing] field 'cycles': {e}") from None
    timing = {k: (dict(v) if isinstance(v, dict) else v) for k, v in t.items()}
    timing["cycles_per_class"] = core["cycles"]
    # the cores file by name: relative to the project (boards/cores/<core>.toml), so
    # that whatever records it is the same in every checkout; absolute elsewhere
    root = os.path.dirname(BOARDS_DIR)
    inside = os.path.commonpath([root, os.path.abspath(core["path"])]) == root
    timing["core_file"] = os.path.relpath(core["path"], root) if inside else os.path.abspath(core["path"])
    return timing


def load(path):
    where = os.path.relpath(path) if os.path.isabs(path) else path
    data = _load_toml(path, where, "board file")
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
    _check_regions(data, where)
    _check_consistency(data, where)
    if "qemu" in data:
        if "memory" not in data:
            raise BoardError(f"{where}: missing table [memory], required for a board with a [qemu] stand-in")
        _check_stand_in(data, where)
    data["timing"] = _check_timing(data, where, os.path.dirname(os.path.abspath(path)))
    data["runners"] = tuple(data["runners"])
    return Board(path=os.path.abspath(path), **data)


def names(directory=BOARDS_DIR):
    return sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".toml"))


def get(name, directory=BOARDS_DIR):
    known = names(directory)
    if not isinstance(name, str):
        raise BoardError(f"a board name is a string, not {type(name).__name__} {name!r:.40}")
    if name not in known:
        raise BoardError(suggest(name, known, "board") + " — `scons board=list` lists them")
    return load(os.path.join(directory, name + ".toml"))


def all_boards(directory=BOARDS_DIR):
    return [get(n, directory) for n in names(directory)]


def stand_in(board):
    """The [qemu] table of the machine that runs this board's binary (a Board
    or a board name), or None: no stand-in, the board runs only for real."""
    if isinstance(board, str):
        board = get(board)
    return board.qemu


def listing(directory=BOARDS_DIR):
    """A table of every board, for `scons board=list`."""
    from tabulate import tabulate

    rows = []
    for b in all_boards(directory):
        q = stand_in(b)
        rows.append([b.name, b.type, b.core, f"{b.clock_hz / 1e6:g}" if b.clock_hz else "-",
                     f"{b.ram_bytes / 1024:g}" if b.ram_bytes else "-",
                     f"{b.flash_bytes / 1024:g}" if b.flash_bytes else "-",
                     q["machine"] if q else "-", b.riot_board or "-", b.iotlab_arch or "-",
                     ", ".join(b.runners)])
    return tabulate(rows, headers=["board", "type", "core", "MHz", "RAM KiB", "flash KiB", "QEMU stand-in",
                                   "RIOT board", "IoT-LAB", "runners"], disable_numparse=True)
