"""Versions of the tools a product is made with, as build inputs and as
result.json's `tools`: a product depends on the version strings of what made
it (an upgraded compiler rebuilds the firmware, an upgraded QEMU re-runs the
emulation, a new reference runtime re-validates), and every result says which
ones they were.

Each version is read once per process (`cc --version` is a process start)."""

import functools
import os
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version

from . import __version__

# The reference implementation of each model format (utoe.reference): the
# result's `tools` key and the Python distribution whose version it records.
REFERENCE_RUNTIMES = {"tflite": ("litert", "ai-edge-litert"), "onnx": ("onnxruntime", "onnxruntime"),
                      "pt2": ("torch", "torch")}


@functools.lru_cache(maxsize=None)
def program(name):
    """First line of `<name> --version` ('not found' when it is not on PATH)."""
    path = shutil.which(name)
    if path is None:
        return "not found"
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (proc.stdout or proc.stderr or "").strip().splitlines()
    return lines[0].strip() if lines else "unknown"


@functools.lru_cache(maxsize=None)
def package(dist):
    """Installed version of a Python distribution, without importing it."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def reference_runtime(fmt):
    """(tools key, version) of the runtime that validates a model of format fmt."""
    key, dist = REFERENCE_RUNTIMES[fmt]
    return key, package(dist)


def firmware_inputs(board):
    """What a bare-metal/host firmware depends on besides its sources and
    flags: the compiler's version, the board's build facts (toolchain,
    platform, memory; not its description) and utoe's version."""
    return {"utoe": __version__, "cc": program(board.toolchain["cc"]), "toolchain": board.toolchain,
            "platform": board.platform, "arch": board.arch, "memory": board.memory}


def result_tools(settings, fmt):
    """result.json `tools` for one evaluation (utoe and tvm come from the
    codegen's metadata in utoe.measure): gcc, qemu and machine on a stand-in,
    the reference runtime, the RIOT tree."""
    from . import riot, runners

    board = settings.board
    out = {"gcc": program(board.toolchain["cc"])}
    if runners.RUNNERS[settings.runner].name in ("qemu", "qemu-riot") and board.qemu:
        out["qemu"] = program(board.qemu["system"])
        out["machine"] = " ".join([board.qemu["machine"], *board.qemu.get("args", [])])
    key, ver = reference_runtime(fmt)
    out[key] = ver
    if fmt == "tflite":  # the second reference, when the first cannot load a model (utoe.reference)
        out["tflite-micro"] = package("tflite-micro")
    if settings.riotbase:
        out["riot"] = riot.short_identity(settings.riotbase)
    return out
