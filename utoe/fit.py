"""Does a model fit a board? Checked three times, each with what is known then:

1. before compiling (`precheck`): the codegen's metadata gives lower bounds
   (the activation arena must be in RAM, the weights in flash);
2. at link time (`from_linker`): the linker script has the board's own RAM
   and flash lengths, so an overflow there is the board's overflow;
3. after the run (`assess`): data + bss + the measured peak stack against
   the board's RAM, text + rodata + data against its flash, with headroom.

A model that does not fit fails with both numbers, the need and the board's
size (FitError). Selecting hardware (`board=all`) records the same figures
instead of failing, so one table can say which boards fit."""

import json
import os
import re

from .errors import BuildError
from .files import remove, write_json, write_text


class FitError(BuildError):
    """The model needs more RAM or flash than the board has. `figures` holds
    {"ram"|"flash": {"need_bytes", "have_bytes"}} for the region(s) at fault."""

    def __init__(self, message, figures):
        super().__init__(message)
        self.figures = figures


def _fmt(n):
    if n >= 1024 ** 3:
        return f"{n:,} B ({n / 1024 ** 3:.1f} GiB)"
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def _fail(board, model, region, need, have, what):
    raise FitError(
        f"model '{model}' does not fit board '{board.name}': {region} needs {'at least ' if what else ''}"
        f"{_fmt(need)}{' (' + what + ')' if what else ''} but the board has {_fmt(have)}",
        {region.lower(): {"need_bytes": need, "have_bytes": have}})


def _arena(metadata):
    try:
        mem = metadata["memory"]
        n = mem["arena_bytes"] + (0 if mem.get("workspace_in_arena") else mem.get("workspace_pool_bytes", 0))
        if not isinstance(n, int) or isinstance(n, bool) or not isinstance(metadata["model"], str):
            raise TypeError
        return n
    except (KeyError, TypeError, AttributeError):
        raise BuildError("codegen metadata: no 'model' name or integer 'memory.arena_bytes' "
                         "(not a metadata.json written by this utoe's codegen?)") from None


def precheck(board, metadata):
    """Lower bounds from the codegen's metadata against the board's sizes;
    a board without sizes (the host: native, native64) against the host's
    limit (host_precheck)."""
    if board.ram_bytes is None:
        host_precheck(board, metadata)
        return
    arena = _arena(metadata)
    weights = metadata.get("weights_bytes")
    if not isinstance(weights, int) or isinstance(weights, bool):
        raise BuildError("codegen metadata: no integer 'weights_bytes' (not a metadata.json written by "
                         "this utoe's codegen?)")
    if arena > board.ram_bytes:
        _fail(board, metadata["model"], "RAM", arena, board.ram_bytes, "the activation arena alone")
    if metadata["weights_bytes"] > board.flash_bytes:
        _fail(board, metadata["model"], "flash", metadata["weights_bytes"], board.flash_bytes, "the weights alone")


# ---- the host (native, native64): no board sizes, but not unlimited --------
#
# A host firmware is a process whose activation arena is a static array. An
# arena larger than the machine's memory is compiled and linked all the same
# and then pages until the run's timeout, so it is refused before compiling,
# like an MCU's misfit, against min(physical RAM, HOST_ARENA_CAP). The cap,
# 4 GiB, is where the harness's tensor table stops counting (utoe_model.h holds
# a tensor's bytes in a uint32_t): beyond it the C would be wrong, not just
# slow; it is also over 40,000 times the largest arena benchmarked for the
# model zoo (98,304 B, benchmarks/results/spine.json).

HOST_ARENA_CAP = 4 * 1024 ** 3


def host_ram_bytes():
    """Physical RAM of this machine in bytes, or None if the OS does not say."""
    try:
        n = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return n if n > 0 else None


def host_limit():
    """(bytes, why): the largest activation arena a host run may have."""
    ram = host_ram_bytes()
    if ram is None or ram >= HOST_ARENA_CAP:
        return HOST_ARENA_CAP, ("utoe's cap for a host arena (the harness counts a tensor's bytes in 32 bits)"
                                + (f"; this host has {_fmt(ram)} of RAM" if ram else ""))
    return ram, f"this host's physical RAM (utoe's cap is {_fmt(HOST_ARENA_CAP)})"


def host_precheck(board, metadata, limit=None):
    """The activation arena against the host's limit (host_limit(), or
    `limit` = (bytes, why)): a FitError naming the model, both sizes and the
    limit's reason."""
    have, why = limit or host_limit()
    arena = _arena(metadata)
    if arena > have:
        src = (metadata.get("source") or {}).get("path")
        raise FitError(
            f"model '{metadata['model']}'{f' ({src})' if src else ''} cannot run on board '{board.name}' "
            f"(this host): its activation arena alone needs {_fmt(arena)} but a host arena is limited "
            f"to {_fmt(have)}: {why}",
            {"ram": {"need_bytes": arena, "have_bytes": have}})


_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")
_NO_STACK = re.compile(r"utoe: the board's RAM leaves less than (\d+) bytes for the stack")
_MAP_RAM = re.compile(r"^RAM\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)", re.M)
_MAP_BSS_END = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+__bss_end = \.", re.M)


def static_from_map(map_text):
    """Bytes of RAM the linker placed before the stack (data + bss, with
    their alignment), from its map file: __bss_end - ORIGIN(RAM). None if
    the map does not say (no map, another linker script)."""
    ram, end = _MAP_RAM.search(map_text or ""), _MAP_BSS_END.search(map_text or "")
    if not ram or not end:
        return None
    return int(end.group(1), 16) - int(ram.group(1), 16)


def from_linker(board, stderr, model="the model", map_text=None):
    """Turn the linker's region overflow into a FitError; return if it is not one.

    map_text: the link's map file (written even when the link fails); with
    it, a failed stack assertion reports the real need, data + bss (from the
    map) + the least stack the link asked for; without it the need is
    unknown (None), never made up."""
    over = {m.group(1).upper(): int(m.group(2)) for m in _OVERFLOW.finditer(stderr or "")}
    if "RAM" in over:
        _fail(board, model, "RAM", board.ram_bytes + over["RAM"], board.ram_bytes,
              "data + bss, before any stack")
    flash = over.get("FLASH", over.get("ROM"))  # utoe's link.ld says FLASH, RIOT's Cortex-M scripts rom
    if flash is not None:
        _fail(board, model, "flash", board.flash_bytes + flash, board.flash_bytes, "")
    m = _NO_STACK.search(stderr or "")
    if m:
        min_stack = int(m.group(1))
        static = static_from_map(map_text)
        if static is not None:
            _fail(board, model, "RAM", static + min_stack, board.ram_bytes,
                  f"data + bss {static:,} B + the least stack, {min_stack:,} B")
        raise FitError(
            f"model '{model}' does not fit board '{board.name}': data + bss leave under {min_stack:,} B of its "
            f"{_fmt(board.ram_bytes)} RAM for the stack (how much RAM it needs is unknown: the linker did not say)",
            {"ram": {"need_bytes": None, "have_bytes": board.ram_bytes}})


def assess(ram_need, flash_need, ram_have, flash_have):
    """Fit of measured figures against a board's sizes: {"fits", "ram": {...},
    "flash": {...}}, or None for a board without sizes (the host)."""
    if ram_have is None or flash_have is None:
        return None
    rows = {}
    for region, need, have in (("ram", ram_need, ram_have), ("flash", flash_need, flash_have)):
        rows[region] = {"need_bytes": need, "have_bytes": have, "headroom_bytes": have - need,
                        "headroom_pct": round(100.0 * (have - need) / have, 2)}
    return {"fits": all(r["headroom_bytes"] >= 0 for r in rows.values()), **rows}


# ---- recording instead of failing (hardware selection, board=all) --------
#
# When a board is one of many candidates, a model that does not fit it is an
# answer, not an error. The firmware stage always writes fit.json, a declared
# product: {"linked": true} for a firmware that was built, or the misfit
# (message and figures). When it does not fit, every product of the stages
# that cannot run (firmware.elf, sizes.json, run.log, ...) is written as a
# placeholder (placeholders()): empty, or the fit record for .json, so SCons
# sees them made and a second identical run does no work. The later stages
# see the record and do nothing else, and the measure stage writes a result
# whose status says "does-not-fit", with both numbers.

FIT = "fit.json"
SCHEMA = "utoe.fit/1"


def linked(pair_dir, board):
    """The firmware was built: the board's link took it."""
    write_json(f"{pair_dir}/{FIT}", {"schema": SCHEMA, "board": board.name, "linked": True})


def record(pair_dir, board, error):
    write_json(f"{pair_dir}/{FIT}", {"schema": SCHEMA, "board": board.name, "linked": False,
                                     "message": str(error), "figures": error.figures})


def recorded(pair_dir):
    """The misfit record of a (board, model) build directory, or None (it
    fits, or its firmware was not built yet)."""
    path = f"{pair_dir}/{FIT}"
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return None if doc.get("linked") else doc


def placeholders(paths, unfit):
    """Products of a stage that does not run because the model does not fit:
    .json files get the fit record, others are empty (an empty firmware.elf
    is no firmware anyone could flash)."""
    for p in paths:
        if str(p).endswith(".json"):
            write_json(p, unfit)
        else:
            write_text(p, "")


def clear(pair_dir):
    remove(f"{pair_dir}/{FIT}")
