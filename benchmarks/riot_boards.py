#!/usr/bin/env python3
"""LeNet-5 through RIOT on every U-TOE paper board, sized against the paper
(issue 14, item 4): RAM and flash of the RIOT firmware utoe builds, next to
U-TOE's published table (../shared/reference/utoe_paper_results.md).

    python3 benchmarks/riot_boards.py [--out benchmarks/results/riot_boards.json] [--boards a,b]

Build only, nothing runs: for each paper board, `scons board=<b> model=lenet5
runner=serial` up to sizes.json (the RIOT firmware and its sizes, classified
by the board's memory map: utoe/elfsize.py). The paper's KB are 1000 bytes
(every figure x 1000 is a whole number of 4-byte words; x 1024 is not);
Memory = RAM (data + bss of the whole firmware), Storage = flash (text + data).
Each figure is split into the model's share (RAM: the arena and the
workspace; flash: the weights and the operators' code) and RIOT's share
(everything else: kernel, stacks, drivers, stdio, libc, utoe's harness).
Targets: RAM at or below the paper, flash at or below the paper + 1 KB.
Where kernels=auto (the default) takes CMSIS-NN (Cortex-M4/M7: DSP), the
firmware is also built with kernels=tvm (utoe's own kernels, as the paper's
microTVM): CMSIS-NN's code and weight layout are what flash the paper lacks.
The ESP32 boards need Espressif's toolchain and vendor code, which RIOT's
offline kit does not carry: reported as not buildable here.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from utoe import boards, config, riot  # noqa: E402
from utoe.errors import UtoeError  # noqa: E402
from utoe.files import write_json  # noqa: E402
from benchmarks.paper import lenet5_boards as paper_lenet5  # noqa: E402 (U-TOE's LeNet-5 table)

MODEL = "lenet5"
KB = 1000  # the paper's unit
FLASH_SLACK = 1000  # target: flash <= paper + 1 KB
# Boards RIOT's offline kit cannot build (Espressif's toolchain and SDK).
NOT_IN_KIT = {"esp32-wroom-32", "esp32c3-devkit"}


NOTES = ("rpi-pico: RIOT's RP2040 linker script (cpu/rpx0xx/ldscripts/RP2040.ld) reserves 16 KiB of RAM "
         "(.pico-debug, 0x2003C000) for pico-debug on the second core whatever the application; it is RIOT's default "
         "for the board and in its RAM figure (ram_reserved). The paper's 28.704 KB is 16.384 + 12.320 KB, consistent "
         "with its figure including it too (the paper's other boards are ~11.3 KB; inferred, the paper does not say).",
         "Cortex-M4/M7 boards: kernels=auto (the default) takes CMSIS-NN, whose code costs flash over utoe's own "
         "kernels (flash_model: code); kernels_tvm is the same firmware with kernels=tvm, as the paper's microTVM.")


def build_sizes(build, board, base, kernels=None):
    """RIOT firmware for the board, up to sizes.json: (sizes, riot.json)."""
    pair = os.path.join(build, board, MODEL + (f"+kernels-{kernels}" if kernels else "") + "@serial")
    cmd = [sys.executable, "-m", "SCons", "-Q", f"build={build}", f"board={board}", f"model={MODEL}",
           "runner=serial", f"riotbase={base}", os.path.join(pair, "sizes.json")]
    cmd += [f"kernels={kernels}"] if kernels else []
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    with open(os.path.join(pair, "sizes.json")) as f:
        sizes = json.load(f)
    with open(os.path.join(pair, "riot.json")) as f:
        info = json.load(f)
    return sizes, info


def split(sizes):
    """RAM and flash in bytes, each with the model's and RIOT's share."""
    ram = sizes["ram"]["data"] + sizes["ram"]["bss"]
    flash = sizes["flash"]["text"] + sizes["flash"]["rodata"] + sizes["flash"]["data"]
    rm, fm = sizes["ram"]["model"], sizes["flash"]["model"]
    ram_model = rm["arena"] + rm["workspace"] + rm["other"]
    flash_model = fm["weights"] + fm["code"]
    return {"ram_bytes": ram, "ram_model": {"arena": rm["arena"], "workspace": rm["workspace"], "other": rm["other"],
                                            "total": ram_model},
            "ram_riot": ram - ram_model, "flash_bytes": flash,
            "flash_model": {"weights": fm["weights"], "code": fm["code"], "total": flash_model},
            "flash_riot": flash - flash_model}


# RAM a board's RIOT linker script reserves for something other than this
# firmware, by section name: RP2040.ld reserves 16 KiB at the top of RAM for
# pico-debug (a CMSIS-DAP adapter on the second core), unconditionally.
RESERVED_SECTIONS = (".pico-debug",)


def reserved(elf):
    """{section: bytes} of RESERVED_SECTIONS in the firmware (counted in its RAM)."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        return {sec.name: sec["sh_size"] for sec in ELFFile(f).iter_sections() if sec.name in RESERVED_SECTIONS}


def kb(n):
    return f"{n / KB:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "riot_boards.json"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench-riot-boards"))
    ap.add_argument("--boards", default="", help="comma-separated subset of the paper's boards")
    a = ap.parse_args()
    try:
        base = riot.base()
    except UtoeError as e:
        sys.exit(f"benchmark: {e}")
    paper = paper_lenet5()
    names = [n for n in paper if not a.boards or n in a.boards.split(",")]
    figures = {"notes": NOTES, "model": MODEL, "riot": riot.short_identity(base), "unit": "bytes; the paper's KB = 1000 B",
               "main_stack_bytes": riot.STACK_BYTES,
               "targets": {"ram": "<= paper", "flash": f"<= paper + {FLASH_SLACK} B"}, "boards": {}}
    rows = []
    for name in names:
        p = paper[name]
        pram, pflash = round(p["memory_kb"] * KB), round(p["storage_kb"] * KB)
        entry = {"core": p["core"], "paper_ram_bytes": pram, "paper_flash_bytes": pflash}
        if name in NOT_IN_KIT:
            entry["status"] = "not buildable here: RIOT's ESP32 boards need Espressif's toolchain and SDK (not in the kit)"
            figures["boards"][name] = entry
            rows.append([name, "-", kb(pram), "-", "-", "-", "-", kb(pflash), "-", "-", "-", "not built (ESP32)", "-"])
            continue
        b = boards.get(name)
        sizes, info = build_sizes(a.build, name, base)
        s = split(sizes)
        s["ram_reserved"] = reserved(sizes["elf"])
        ram_ok = s["ram_bytes"] <= pram
        flash_ok = s["flash_bytes"] <= pflash + FLASH_SLACK
        entry.update(s, riot_board=info["riot_board"], ram_delta=s["ram_bytes"] - pram,
                     flash_delta=s["flash_bytes"] - pflash, ram_ok=ram_ok, flash_ok=flash_ok,
                     status="built", board_ram_bytes=b.ram_bytes, board_flash_bytes=b.flash_bytes,
                     kernels=config.kernel_options(b, "auto")["kernels"])
        alt = "-"
        if entry["kernels"] != "tvm":  # auto took CMSIS-NN: its code and weight layout cost flash
            t = split(build_sizes(a.build, name, base, "tvm")[0])
            entry["kernels_tvm"] = {k: t[k] for k in ("ram_bytes", "flash_bytes", "flash_model", "flash_riot")}
            entry["kernels_tvm"].update(flash_delta=t["flash_bytes"] - pflash, ram_ok=t["ram_bytes"] <= pram,
                                        flash_ok=t["flash_bytes"] <= pflash + FLASH_SLACK)
            alt = f"{kb(t['flash_bytes'])} ({t['flash_bytes'] - pflash:+d})"
        figures["boards"][name] = entry
        rows.append([name, kb(s["ram_bytes"]), kb(pram), f"{s['ram_bytes'] - pram:+d}",
                     kb(s["ram_model"]["total"]), kb(s["ram_riot"]),
                     kb(s["flash_bytes"]), kb(pflash), f"{s['flash_bytes'] - pflash:+d}",
                     f"{kb(s['flash_model']['weights'])}+{kb(s['flash_model']['code'])}", kb(s["flash_riot"]),
                     ("RAM ok" if ram_ok else "RAM over") + ", " + ("flash ok" if flash_ok else "flash over"), alt])
        print(f"built {name}", file=sys.stderr)
    print(tabulate(rows, headers=["board", "RAM KB", "paper", "diff B", "model", "RIOT",
                                  "flash KB", "paper", "diff B", "model (w+code)", "RIOT", "target",
                                  "flash, kernels=tvm"],
                   disable_numparse=True))
    write_json(a.out, figures)
    print(f"\nwritten: {os.path.relpath(a.out)}")


if __name__ == "__main__":
    main()
