"""RAM and flash of a firmware, read from its ELF with pyelftools.

RAM is static (.data + .bss) here, plus the peak stack the run measures;
flash is .text + .rodata + .data (the initial values of .data live in flash).
Both are split into the model's share and the rest (harness, platform, libc,
OS) by symbol: the arena, the workspace pool, the parameters, TVM's operators
and the executor are all named by utoe's codegen.

A section's kind comes from what it is, not its name, so every linker script
is read alike (utoe's bare-metal link.ld, RIOT's Cortex-M and RISC-V ones,
the host's): allocated or not, with contents or not (.bss), and — when the
memory map the firmware was linked with is given — whether its address lies
in RAM or in flash. Without a map, writable means RAM. The map matters on
RIOT's RISC-V script, whose .rodata is writable but lies in flash (RAM-only
classification would count the weights as RAM), and the symbols matter on
RIOT's Cortex-M script, which puts .rodata inside .text: the parameters are
weights, the operators code, the arena RAM, whatever section holds them."""

import contextlib

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from .errors import BuildError

# The workspace lives inside the arena; these are its bookkeeping variables.
MODEL_RAM = {"arena": ("utoe_arena",), "workspace": ("utoe_ws_base", "utoe_ws_size", "utoe_ws_top")}
MODEL_WEIGHT_PREFIX = "utoe_param_"
# The operators' functions, called directly by the executor (utoe.codegen.lower.direct_calls):
# named here once for the codegen that writes them and the tools that count and size them.
OP_PREFIX = "utoe_op_"
# CMSIS-NN's functions (arm_*; utoe_sr_arm_* where compiled twice, for
# single rounding) are the kernels of the operators that call them.
# The integer kernels' shared helpers (utoe/c/utoe_kernels.h, static in ops.c),
# run inside the operators that call them.
KERNEL_HELPERS = ("utoe_requant", "utoe_mbqm")
MODEL_CODE_PREFIXES = (OP_PREFIX, "utoe_model_", "TVMBackend", "utoe_operator_names", "utoe_operator_outputs",
                       "utoe_inputs", "utoe_outputs", "arm_", "utoe_sr_arm_") + KERNEL_HELPERS


def _region(address, regions):
    """'ram' or 'flash': the region of the memory map holding the address, or None."""
    for name in ("ram", "flash"):
        r = (regions or {}).get(name)
        if r and r["origin"] <= address < r["origin"] + r["length"]:
            return name
    return None


def _classify(section, regions=None):
    """'text', 'rodata' (flash only), 'data' (RAM, its initial values in
    flash), 'bss' (RAM, no contents), or None (not loaded)."""
    flags = section["sh_flags"]
    if not flags & SH_FLAGS.SHF_ALLOC or section["sh_size"] == 0:
        return None
    if section["sh_type"] == "SHT_NOBITS":
        return "bss"
    region = _region(section["sh_addr"], regions)
    in_ram = region == "ram" if region else bool(flags & SH_FLAGS.SHF_WRITE)
    if in_ram:
        return "data"
    if flags & SH_FLAGS.SHF_EXECINSTR:
        return "text"
    return "rodata"


@contextlib.contextmanager
def open_elf(elf_path, error, purpose):
    """(ELFFile, its symbol table) of a firmware; `error` (a UtoeError class)
    names the file when it cannot be read or has no symbols."""
    try:
        f = open(elf_path, "rb")
    except OSError as e:
        raise error(f"cannot read firmware {elf_path}: {e.strerror}") from None
    with f:
        try:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            if symtab is None:
                raise error(f"{elf_path}: no symbol table (stripped?); utoe needs symbols {purpose}")
            yield elf, symtab  # pyelftools reads lazily: a truncated file fails in the caller's loop
        except ELFError as e:
            raise error(f"{elf_path}: not a readable ELF firmware ({e})") from None


def sizes(elf_path, regions=None):
    """The firmware's RAM and flash (the sizes.json document). `regions`:
    the memory map it was linked with, {"flash": {"origin", "length"}, "ram":
    {...}} (utoe.firmware.link_regions), or None (a host program: sections
    are classified by their flags)."""
    with open_elf(elf_path, BuildError, "to split sizes") as (elf, symtab):
        totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
        kind_of = {}
        for i, sec in enumerate(elf.iter_sections()):
            kind = _classify(sec, regions)
            kind_of[i] = kind
            if kind:
                totals[kind] += sec["sh_size"]
        ram_model = {"arena": 0, "workspace": 0, "other": 0}
        flash_model = {"weights": 0, "code": 0}
        seen = set()
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if not isinstance(shndx, int) or sym["st_size"] == 0:
                continue
            key = (sym.name, sym["st_value"])
            if key in seen:
                continue
            seen.add(key)
            kind, size, name = kind_of.get(shndx), sym["st_size"], sym.name
            if not kind:
                continue
            group = next((g for g, names in MODEL_RAM.items() if name in names), None)
            if group:
                if kind in ("bss", "data"):
                    ram_model[group] += size
                continue
            if not name.startswith((MODEL_WEIGHT_PREFIX,) + MODEL_CODE_PREFIXES):
                continue
            # the model's: its bytes in RAM are the model's RAM, in flash its weights or code
            if kind in ("bss", "data"):
                ram_model["other"] += size
            if kind in ("text", "rodata", "data"):
                flash_model["weights" if name.startswith(MODEL_WEIGHT_PREFIX) else "code"] += size
    ram_total = totals["data"] + totals["bss"]
    flash_total = totals["text"] + totals["rodata"] + totals["data"]
    return {
        "schema": "utoe.sizes/1",
        "elf": elf_path,
        "ram": {"data": totals["data"], "bss": totals["bss"], "model": ram_model,
                "rest": ram_total - sum(ram_model.values())},
        "flash": {"text": totals["text"], "rodata": totals["rodata"], "data": totals["data"],
                  "model": flash_model, "rest": flash_total - sum(flash_model.values())},
    }
