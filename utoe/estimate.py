"""Estimated latency: executed instructions (counted under QEMU, emulated)
× cycles per instruction (this per-core model) ÷ the board's clock.

The model is one CPI per core, derived from each core's documented pipeline
timings and a fixed instruction mix, the same for every core and never fitted
to measured latencies. The mix is that of int8 inference kernels (utoe's own
and CMSIS-NN's inner loops): 35 % loads and stores, 15 % taken branches, the
rest single-cycle ALU and multiply-accumulate. Per core:

  cortex-m0plus  2-stage pipeline; loads/stores 2 cycles (+1), taken
                 branches 2 (+1), single-cycle multiplier:
                 1 + 0.35 + 0.15                                   = 1.50
  cortex-m0      3-stage pipeline; loads/stores 2 cycles (+1), taken
                 branches 3 (+2), single-cycle multiplier:
                 1 + 0.35 + 0.15×2                                 = 1.65
  cortex-m3,     3-stage pipeline; a load costs 2 cycles but adjacent loads
  cortex-m4      pipeline to 1 each (+0.5 on average), taken branches
                 refill the pipeline (+2): 1 + 0.35×0.5 + 0.15×2   = 1.48
  cortex-m7      6-stage dual-issue with a branch predictor: Arm quotes
                 about 1.6× the M4's throughput per clock on the same code
                 (CoreMark/MHz 5.01 vs 3.42 → 1.48 / 1.46)         = 1.01
  sifive-e31,    5-stage (E31) / 2-stage (Bumblebee) in-order RV32 with
  nuclei-bumble- branch prediction; loads +1 when used next (half the
  bee,           time), mispredicts +3 on ~30 % of taken branches:
  esp32c3-rv32imc 1 + 0.35×0.5 + 0.15×0.3×3                        = 1.31

What it leaves out, and why estimates are labelled "estimated": flash wait
states and caches (an MCU at 80+ MHz runs from flash through a cache or a
prefetcher; the HiFive1's code runs from QSPI flash behind a 16 KiB cache),
memory contention, and interrupts. Xtensa has no QEMU stand-in here, so no
instruction count and no estimate."""

import numbers

from .errors import BoardError, ConfigError

CPI = {
    "cortex-m0": 1.65,
    "cortex-m0plus": 1.50,
    "cortex-m3": 1.48,
    "cortex-m4": 1.48,
    "cortex-m7": 1.01,
    "sifive-e31": 1.31,
    "nuclei-bumblebee": 1.31,
    "esp32c3-rv32imc": 1.31,
    # QEMU's virt machine is no hardware: its "clock" is the virtual 1 GHz
    # instruction clock of -icount shift=0, one instruction per cycle.
    "qemu-rv32": 1.0,
}


def cpi(board):
    if board.core not in CPI:
        raise BoardError(f"board '{board.name}': no cycles-per-instruction model for core '{board.core}' "
                         f"(have: {', '.join(sorted(CPI))})")
    return CPI[board.core]


def model(board):
    """What an estimate for this board uses: {"core", "cpi", "clock_hz"}."""
    if not board.clock_hz:
        raise BoardError(f"board '{board.name}': no clock_hz, so no latency estimate")
    return {"core": board.core, "cpi": cpi(board), "clock_hz": board.clock_hz}


def ms(instructions, est):
    """Estimated milliseconds for a number of executed instructions; `est`
    is what model(board) gives. Anything else is a ConfigError."""
    num = numbers.Real
    if not isinstance(est, dict) or not isinstance(est.get("cpi"), num) or not isinstance(est.get("clock_hz"), num) \
            or est["clock_hz"] <= 0 or est["cpi"] <= 0:
        raise ConfigError(f"latency estimate {est!r:.80}: expected {{'cpi': > 0, 'clock_hz': > 0}} "
                          "(utoe.estimate.model(board))")
    if not isinstance(instructions, num) or isinstance(instructions, bool) or instructions < 0:
        raise ConfigError(f"instructions {instructions!r:.40}: expected a count >= 0")
    return instructions * est["cpi"] * 1000.0 / est["clock_hz"]
