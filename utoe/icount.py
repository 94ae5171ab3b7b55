"""Instruction counts under QEMU, per function, without touching the firmware.

utoe's TCG plugin (qemu_plugin/utoe_icount.c) is built with the host's gcc
on first use (or by `python3 -m utoe.icount build` at set-up) into a cache
keyed by the source's hash. The runner gives it the firmware's functions
(`write_symbols`) and reads its counts back (`read_counts`).

Owners are the functions whose counts matter: the model's (operators, the
executor, the workspace allocator) and the harness's. Every other function,
library code such as memcpy or libgcc's division, counts for the owner that
called it (see the plugin's header).

Operators ("op": the model's operator functions, utoe_op_*) and the executor functions that call
them ("run") are marked in the syms file, so the plugin also records every
operator call in the order the executor made it, with its instructions: the
per-operator figures are attributed per call site, not per symbol, and stay
true when the compiler folds identical operator bodies into one.

Beside the instructions, every owner and every call carries a DETAIL
("utoe.icount/3"): the executed instructions by class (alu, mul, mac, div,
load, store, load/store_multiple and their registers, branch_taken,
branch_not_taken, jump, fpu, other, load_use), the instruction fetches and
data loads and stores per memory region (`regions`: the board's flash and RAM
on its stand-in, "other" for peripherals), and the accesses, misses and
sequential misses of each simulated cache (`caches`); the file's
"total_detail" sums them. The plugin's header says how each is counted."""

import hashlib
import os
import shutil
import subprocess
import sys
from collections import namedtuple

from .elfsize import OP_PREFIX, open_elf
from .errors import BuildError, RunError
from .files import read_json, remove, write_text

PLUGIN_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qemu_plugin", "utoe_icount.c")
OWNER_PREFIXES = ("utoe_", "TVMBackend")
SCHEMA = "utoe.icount/3"
RUN_FUNCTIONS = ("utoe_model_run", "utoe_model_run_op")


def _cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "utoe")


def plugin_path():
    """The built plugin, building it when the source changed."""
    with open(PLUGIN_SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    so = os.path.join(_cache_dir(), f"utoe_icount-{digest}.so")
    if os.path.exists(so):
        return so
    cc = shutil.which("gcc")
    if cc is None:
        raise BuildError("building utoe's QEMU plugin needs the host C compiler: apt-get install gcc")
    os.makedirs(os.path.dirname(so), exist_ok=True)
    tmp = f"{so}.{os.getpid()}.tmp"
    proc = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", tmp, PLUGIN_SOURCE],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        remove(tmp)
        raise BuildError(f"building {PLUGIN_SOURCE} failed:\n{proc.stderr.strip()}")
    os.replace(tmp, so)
    return so


def is_owner(name):
    return name == "main" or name.startswith(OWNER_PREFIXES)


def functions(elf_path):
    """[(start, end, name)] of the ELF's sized functions, by address; Thumb
    addresses without their mode bit; the first of overlapping symbols kept."""
    with open_elf(elf_path, RunError, "for per-function counts") as (elf, symtab):
        thumb = elf["e_machine"] == "EM_ARM"
        funcs = {}
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] != "STT_FUNC" or sym["st_size"] == 0 or not sym.name:
                continue
            start = sym["st_value"] & ~1 if thumb else sym["st_value"]
            funcs.setdefault(start, (start, start + sym["st_size"], sym.name))
    out, end = [], 0
    for start, stop, name in sorted(funcs.values()):
        if start >= end:
            out.append((start, stop, name))
            end = stop
    return out


def kind(name):
    """The plugin's kind of an owner: "op" (an operator), "run" (the executor
    calling operators) or "" (any other owner)."""
    if name.startswith(OP_PREFIX):
        return "op"
    return "run" if name in RUN_FUNCTIONS else ""


def write_symbols(elf_path, syms_path, owners=is_owner):
    """Write the plugin's syms file: the owner functions of the ELF, with
    their kind."""
    lines = [f"{start:x} {end:x} {name} {kind(name)}".rstrip()
             for start, end, name in functions(elf_path) if owners(name)]
    write_text(syms_path, "".join(line + "\n" for line in lines))
    return len(lines)


# An LRU cache the plugin simulates: `side` "i" (instruction fetches) or "d"
# (data loads; stores are write-through, no-allocate), on the accesses to the
# region named `region`; size and line in bytes. A line buffer is a cache of
# one line (size == line, ways == 1).
Cache = namedtuple("Cache", "name side size ways line region")

CLASSES = ("alu", "mul", "mac", "div", "load", "store", "load_multiple", "store_multiple", "load_multiple_regs",
           "store_multiple_regs", "branch_taken", "branch_not_taken", "jump", "fpu", "other", "load_use")


def plugin_options(regions, caches=()):
    """The plugin's arguments for memory regions and caches: regions is
    {name: (lo, hi)} ([lo, hi), in address order or not), caches Cache
    tuples (or 6-tuples in Cache's order). Returns the option strings, e.g.
    ["regions=flash:0-400000,ram:20000000-20400000",
     "cache=icache:i:16384:2:32:flash"]."""
    opts = []
    if regions:
        for name, (lo, hi) in regions.items():
            if not name or any(c in name for c in ":,=") or name == "other" or not 0 <= lo < hi:
                raise ValueError(f"bad region {name!r}: ({lo:#x}, {hi:#x})")
        opts.append("regions=" + ",".join(f"{name}:{lo:x}-{hi:x}" for name, (lo, hi) in regions.items()))
    for cache in caches:
        c = Cache(*cache)
        if c.side not in ("i", "d") or not regions or c.region not in regions or c.size % (c.ways * c.line):
            raise ValueError(f"bad cache {c} (regions: {', '.join(regions or ())})")
        opts.append(f"cache={c.name}:{c.side}:{c.size}:{c.ways}:{c.line}:{c.region}")
    return opts


def board_regions(board):
    """{"flash": (lo, hi), "ram": (lo, hi)}: the board's memories at its
    stand-in's addresses ([qemu] flash, ram), where its firmware runs."""
    q = board.qemu or {}
    return {name: (q[name]["origin"], q[name]["origin"] + q[name]["length"])
            for name in ("flash", "ram") if name in q}


def board_caches(board):
    """The caches of the board's [timing] section, as the plugin simulates
    them (the names utoe.estimate reads back):
      "icache": [timing.icache], instruction fetches from flash;
      "dcache": [timing.dcache], data loads from flash;
      "flash_i", "flash_d": the flash's line buffer (flash_line_bytes, one
        line), on instruction fetches and on data loads from flash: its misses
        are the flash reads that pay the wait states, its seq_misses those a
        sequential prefetcher (flash_prefetch) hides.
    None without a [timing] section."""
    timing = getattr(board, "timing", None) or {}
    caches = []
    for name, side in (("icache", "i"), ("dcache", "d")):
        c = timing.get(name)
        if c:
            caches.append(Cache(name, side, c["size_bytes"], c["ways"], c["line_bytes"], "flash"))
    line = timing.get("flash_line_bytes")
    if line:
        caches += [Cache("flash_i", "i", line, 1, line, "flash"), Cache("flash_d", "d", line, 1, line, "flash")]
    return caches


def qemu_args(plugin_so, syms_path, out_path, regions=None, caches=()):
    """QEMU's arguments loading the plugin (commas inside an argument doubled,
    as QEMU's option syntax escapes them)."""
    opts = [f"syms={syms_path}", f"out={out_path}", *plugin_options(regions, caches)]
    return ["-plugin", ",".join([plugin_so.replace(",", ",,")] + [o.replace(",", ",,") for o in opts]), "-d", "plugin"]


def read_counts(path):
    doc = read_json(path, RunError)
    if (not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("functions"), dict)
            or not isinstance(doc.get("sequence"), list) or not isinstance(doc.get("total_detail"), dict)):
        raise RunError(f"{path}: not an instruction count file ('{SCHEMA}')")
    return doc


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(plugin_path())
    else:
        sys.exit("usage: python3 -m utoe.icount build")
