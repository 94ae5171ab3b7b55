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
from .files import remove, write_json


class FitError(BuildError):
    """The model needs more RAM or flash than the board has. `figures` holds
    {"ram"|"flash": {"need_bytes", "have_bytes"}} for the region(s) at fault."""

    def __init__(self, message, figures):
        super().__init__(message)
        self.figures = figures


def _fmt(n):
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def _fail(board, model, region, need, have, what):
    raise FitError(
        f"model '{model}' does not fit board '{board.name}': {region} needs {'at least ' if what else ''}"
        f"{_fmt(need)}{' (' + what + ')' if what else ''} but the board has {_fmt(have)}",
        {region.lower(): {"need_bytes": need, "have_bytes": have}})


def precheck(board, metadata):
    """Lower bounds from the codegen's metadata against the board's sizes."""
    if board.ram_bytes is None:
        return
    mem = metadata["memory"]
    arena = mem["arena_bytes"] + (0 if mem.get("workspace_in_arena") else mem.get("workspace_pool_bytes", 0))
    if arena > board.ram_bytes:
        _fail(board, metadata["model"], "RAM", arena, board.ram_bytes, "the activation arena alone")
    if metadata["weights_bytes"] > board.flash_bytes:
        _fail(board, metadata["model"], "flash", metadata["weights_bytes"], board.flash_bytes, "the weights alone")


_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")
_NO_STACK = re.compile(r"utoe: the board's RAM leaves less than (\d+) bytes for the stack")


def from_linker(board, stderr, model="the model"):
    """Turn the linker's region overflow into a FitError; return if it is not one."""
    over = {m.group(1).upper(): int(m.group(2)) for m in _OVERFLOW.finditer(stderr or "")}
    if "RAM" in over:
        _fail(board, model, "RAM", board.ram_bytes + over["RAM"], board.ram_bytes,
              "data + bss, before any stack")
    flash = over.get("FLASH", over.get("ROM"))  # utoe's link.ld says FLASH, RIOT's Cortex-M scripts rom
    if flash is not None:
        _fail(board, model, "flash", board.flash_bytes + flash, board.flash_bytes, "")
    m = _NO_STACK.search(stderr or "")
    if m:
        _fail(board, model, "RAM", board.ram_bytes + 1, board.ram_bytes,
              f"data + bss leave under {int(m.group(1)):,} B for the stack")


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
# answer, not an error: the firmware stage writes unfit.json (and no
# firmware), the later stages see it and do nothing, and the measure stage
# writes a result whose status says "does-not-fit", with both numbers.

UNFIT = "unfit.json"


def record(pair_dir, board, error):
    write_json(f"{pair_dir}/{UNFIT}", {"schema": "utoe.unfit/1", "board": board.name,
                                       "message": str(error), "figures": error.figures})


def recorded(pair_dir):
    """The unfit record of a (board, model) build directory, or None."""
    path = f"{pair_dir}/{UNFIT}"
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def clear(pair_dir):
    remove(f"{pair_dir}/{UNFIT}")
