"""Estimated latency: a cycle-approximate model of the board, fed with what
QEMU executed (emulated, counted by utoe's TCG plugin).

The model (boards with a [timing] section, see boards/*.toml and
boards/cores/*.toml):

  cycles = compute + flash_wait + cache_miss

  compute     Σ over instruction classes: executed count × the core's cycles
              for the class at zero wait states (the core's Technical
              Reference Manual: boards/cores/<core>.toml). Classes are the
              plugin's: alu, mul, mac, div, load, store, load_multiple and
              store_multiple (+ a cost per register moved), branch_taken,
              branch_not_taken, jump, fpu, other, and load_use: the stall of
              an instruction that uses the result of the load just before it.
  flash_wait  The flash's wait states at the board's clock (the MCU's
              reference manual), paid per flash read: the plugin simulates
              the flash's line buffer (flash_line_bytes, one line) on the real
              instruction-fetch addresses ("flash_i") and data-load addresses
              ("flash_d"); a miss is a flash read. A read of the line right
              after the previous one is hidden by a sequential prefetcher
              (flash_prefetch: instruction fetches only, as the STM32's) or
              costs flash_sequential_wait_states (the
              FE310's QSPI controller continuing its open read command);
              any other read costs flash_wait_states. Accesses to RAM pay
              ram_wait_states.
  cache_miss  Where the board has a cache in front of flash (the FE310's
              16 KiB instruction cache over QSPI, the RP2040's XIP cache, the
              STM32 ART accelerator, the SAMD NVM cache): the plugin simulates
              it on the real address stream ("icache" for fetches, "dcache"
              for data loads: size, ways, line size, LRU) and every miss adds
              the board's miss_cycles; a hit costs nothing beyond compute. A
              cache shared by code and data is simulated as two (a board file
              lists it under both): conflicts between the two streams are
              left out.

What it leaves out (why it is "estimated"): dual issue on the Cortex-M7 beyond
its per-class figures, bus contention between fetches and data accesses,
write buffers, interrupts, the width of a data load on a byte-wide flash
(the FE310 reads a byte per SPI frame: a word load is charged as one read),
and flash wait states hidden by a pipeline that was busy anyway. No figure
is fitted to a measured latency: each one in the board and core files names
the document it comes from.

QEMU's own machines (mps2-*, virt-rv32, sifive_e) have zero-wait [timing]
sections: their estimates are the cores' pipelines alone.

Xtensa has no QEMU stand-in here, so no instruction count and no estimate."""

import numbers

from .errors import BoardError, ConfigError

# The instruction classes of utoe's QEMU plugin; a core file gives cycles for
# each. "*_per_reg" are charged per register a multiple load/store moves
# (the plugin's "*_regs" counters); "load_use" per load-use stall.
CLASSES = ("alu", "mul", "mac", "div", "load", "store", "load_multiple", "load_multiple_per_reg", "store_multiple",
           "store_multiple_per_reg", "branch_taken", "branch_not_taken", "jump", "load_use", "fpu", "other")
# The plugin's counters that are not instructions: charged at the class named.
COUNTER_CLASS = {"load_multiple_regs": "load_multiple_per_reg", "store_multiple_regs": "store_multiple_per_reg"}
BREAKDOWN = ("compute", "flash_wait", "cache_miss")

def model(board):
    """What an estimate for this board uses, recorded in result.json:
    {"model": "cycles", "core", "clock_hz", "core_file", "cycles_per_class",
    "flash_wait_states", "flash_sequential_wait_states", "flash_line_bytes",
    "flash_prefetch", "ram_wait_states", "icache", "dcache"} from the board's
    [timing] (utoe.boards checks it: every board with a stand-in has one)."""
    if not board.clock_hz:
        raise BoardError(f"board '{board.name}': no clock_hz, so no latency estimate")
    timing = board.timing
    if not timing:
        raise BoardError(f"board '{board.name}': no [timing] section in {board.path}, so no latency estimate "
                         "(see boards/stm32f746g-disco.toml)")
    return {"model": "cycles", "core": board.core, "clock_hz": board.clock_hz,
            "core_file": timing["core_file"],
            "cycles_per_class": {c: timing["cycles_per_class"][c] for c in CLASSES},
            "flash_wait_states": timing["flash_wait_states"],
            # a read that continues the previous one (the FE310's QSPI merge); default: a read like any other
            "flash_sequential_wait_states": timing.get("flash_sequential_wait_states", timing["flash_wait_states"]),
            "flash_line_bytes": timing["flash_line_bytes"],
            "flash_prefetch": bool(timing["flash_prefetch"]),
            "ram_wait_states": timing["ram_wait_states"],
            "icache": _geometry(timing.get("icache")), "dcache": _geometry(timing.get("dcache"))}


def _geometry(c):
    if not c:
        return None
    return {k: c[k] for k in ("size_bytes", "ways", "line_bytes", "miss_cycles")}


def _n(d, key, where):
    v = d.get(key, 0) if isinstance(d, dict) else None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ConfigError(f"{where}: '{key}' must be a count >= 0, not {v!r:.40}")
    return v


def cycles(detail, est, where="instruction detail"):
    """Estimated cycles of what the plugin counted (one DETAIL of
    "utoe.icount/3": {"classes", "fetch", "load", "store", "caches"}):
    {"cycles", "compute", "flash_wait", "cache_miss"}, integers."""
    if not isinstance(detail, dict) or not isinstance(detail.get("classes"), dict):
        raise ConfigError(f"{where}: expected the plugin's detail {{'classes': ..., ...}}, not {detail!r:.60}")
    cpc = est["cycles_per_class"]
    compute = 0
    for key in detail["classes"]:
        cls = COUNTER_CLASS.get(key, key)
        if cls not in cpc:
            raise ConfigError(f"{where}: instruction class '{key}' has no cycles in {est.get('core_file')}")
        compute += _n(detail["classes"], key, f"{where}: classes") * cpc[cls]
    caches = detail.get("caches") or {}
    loads, stores = detail.get("load") or {}, detail.get("store") or {}
    cache_miss = flash_wait = 0
    # instruction fetches from flash: through the instruction cache, else the flash's line buffer
    if est["icache"]:
        cache_miss += _misses(caches, "icache", where) * est["icache"]["miss_cycles"]
    else:
        flash_wait += _flash_reads(caches, "flash_i", est, where, est["flash_prefetch"])
    # data loads from flash: through the data cache, else the flash's line buffer
    if est["dcache"]:
        cache_miss += _misses(caches, "dcache", where) * est["dcache"]["miss_cycles"]
    else:
        flash_wait += _flash_reads(caches, "flash_d", est, where, False)
    flash_wait += (_n(loads, "ram", f"{where}: load") + _n(stores, "ram", f"{where}: store")) * est["ram_wait_states"]
    compute, flash_wait, cache_miss = (int(round(x)) for x in (compute, flash_wait, cache_miss))
    return {"cycles": compute + flash_wait + cache_miss, "compute": compute, "flash_wait": flash_wait,
            "cache_miss": cache_miss}


def _cache(caches, name, where):
    c = caches.get(name)
    if not isinstance(c, dict):
        raise ConfigError(f"{where}: the plugin simulated no cache '{name}' (a run without the board's memory model)")
    return c


def _misses(caches, name, where):
    return _n(_cache(caches, name, where), "misses", f"{where}: caches.{name}")


def _flash_reads(caches, name, est, where, prefetch):
    """Wait cycles of the flash reads behind the line buffer `name`: a read
    that starts a new stream pays flash_wait_states; one that continues the
    previous (the next line) is hidden by a prefetcher (`prefetch`: the
    STM32's flash prefetch serves instruction fetches only) or pays
    flash_sequential_wait_states."""
    c = _cache(caches, name, where)
    misses, seq = _n(c, "misses", f"{where}: caches.{name}"), _n(c, "seq_misses", f"{where}: caches.{name}")
    seq_cost = 0 if prefetch else est["flash_sequential_wait_states"]
    return (misses - seq) * est["flash_wait_states"] + seq * seq_cost


def ms(cycles, est):
    """Milliseconds of a number of cycles at the board's clock; `est` is what
    model(board) gives. Anything else is a ConfigError."""
    num = numbers.Real
    if not isinstance(est, dict) or not isinstance(est.get("clock_hz"), num) or est["clock_hz"] <= 0:
        raise ConfigError(f"latency estimate {est!r:.80}: expected {{'clock_hz': > 0, ...}} "
                          "(utoe.estimate.model(board))")
    if not isinstance(cycles, num) or isinstance(cycles, bool) or cycles < 0:
        raise ConfigError(f"cycles {cycles!r:.40}: expected a count >= 0")
    return cycles * 1000.0 / est["clock_hz"]
