"""One evaluation's settings, validated once.

Precedence: command line > board file > defaults. Every value that changes a
build product is here, so SCons can hand exactly the relevant ones to each
stage (codegen sees only codegen options; the app sees mode/trials/seed)."""

import os
from dataclasses import asdict, dataclass

from . import boards, firmware, models, riot
from .codegen import IMPORTERS, KERNELS  # the codegen's choices, named there once
from .codegen.planner import PLANNERS
from .errors import ConfigError

MODES = ("per-model", "per-operator")
DEFAULTS = {"mode": "per-model", "trials": 10, "seed": 1, "planner": "greedy", "importer": "auto", "timeout": 300,
            "kernels": "auto"}
# What the firmware of a board evaluated under QEMU (runner=qemu) is built on:
# riot (riot_app built by RIOT's make, as U-TOE deploys it; it runs under QEMU
# where QEMU emulates the board's chip, [qemu] chip = true: runner qemu-riot)
# or baremetal (utoe's own startup code, on the board's chip or a stand-in).
# Real boards (runner=serial, iotlab) always run RIOT; hosts never.
OSES = ("riot", "baremetal")
# The default is riot when a RIOT tree is there (riotbase=, $RIOTBASE, or the
# one ./setup.sh installs), as U-TOE evaluates, else baremetal (default_os).
# The pairs keep their names whatever the default: RIOT's under QEMU get
# '+os-riot', bare-metal ones none (Settings.variant). DEFAULT_OS is the
# fallback without a RIOT tree.
DEFAULT_OS = "baremetal"


def default_os(riotbase=None):
    """riot when a RIOT tree is there to build with, else baremetal."""
    try:
        riot.base(riotbase)
    except ConfigError:
        return "baremetal"
    return "riot"


@dataclass(frozen=True)
class Settings:
    board: boards.Board
    model: models.ModelSpec
    mode: str
    trials: int
    seed: int
    runner: str
    planner: str
    importer: str
    timeout: int
    kernels: str = DEFAULTS["kernels"]
    # The firmware's OS on a board evaluated under QEMU (OSES); "riot" on real-board runners.
    os: str = DEFAULT_OS
    # The RIOT tree the firmware is built with (runners that run riot_app), else None.
    riotbase: str = None
    # Options of the runner (port=, baudrate=, flash=, iotlab_...=), only those it takes.
    runner_options: dict = None

    def codegen_options(self):
        """What the C depends on (kernel_options: the kernel library on this board)."""
        return {"planner": self.planner, "importer": self.importer, **kernel_options(self.board, self.kernels)}

    def codegen_dir(self, build):
        """build/codegen/<model>-<planner>-<importer>[-<auto|cmsis-nn>-<ext>]:
        shared by every board whose codegen options are the same."""
        opts = self.codegen_options()
        cmsis = f"-{opts['kernels']}-{opts['cmsis_nn_arch']}" if opts["kernels"] != "tvm" else ""
        return f"{build}/codegen/{self.model.name}-{opts['planner']}-{opts['importer']}{cmsis}"

    def app_options(self, codegen_dir):
        riot_opts = riot.app_options(self.board, self.riotbase, codegen_dir) if self.riotbase else None
        return {"board": self.board.name, "model": self.model.name, "mode": self.mode,
                "trials": self.trials, "seed": self.seed,
                "layout": None if self.riotbase else firmware.layout(self.board), "riot": riot_opts}

    def stand_in_run(self):
        """os=riot on a board whose QEMU machine is a stand-in, not its chip:
        the RIOT firmware is built and sized (measured), and the run (its
        instruction counts, the latency estimated from them) is the bare-metal
        build's on the stand-in, since RIOT's firmware for the board's chip
        would not boot on another machine."""
        return self.runner == "qemu" and self.riotbase is not None

    def bare_metal(self):
        """These settings with the bare-metal build (the stand-in run's)."""
        from dataclasses import replace

        return replace(self, os="baremetal", riotbase=None)

    def variant(self):
        """What sets this evaluation's products apart beyond board and model:
        '+<option>' for each of mode=, planner=, importer= that is not the
        default ('+per-operator', '+planner-none', '+importer-tvm'), then
        '+os-riot' for RIOT's firmware under QEMU, then
        '@<runner>' when the runner is not the board's default. Empty for
        the defaults."""
        parts = [f"+{self.mode}"] if self.mode != DEFAULTS["mode"] else []
        parts += [f"+{k}-{getattr(self, k)}" for k in ("planner", "importer", "kernels")
              if getattr(self, k) != DEFAULTS[k]]
        if self.os == "riot" and self.runner in ("qemu", "qemu-riot"):
            parts.append("+os-riot")  # RIOT's firmware under QEMU: a pair of its own, whatever the default
        runner = "qemu" if self.runner == "qemu-riot" else self.runner  # os=riot's way of running 'qemu'
        if runner != self.board.runners[0]:
            parts.append(f"@{runner}")
        return "".join(parts)

    def pair_dir(self, build):
        """Where this evaluation's products go: build/<board>/<model><variant>
        (see variant()), so a per-operator run, another planner or importer,
        or a board run for real beside its stand-in keeps its own result and
        never replaces (or, failing, deletes) another's."""
        return f"{build}/{self.board.name}/{self.model.name}{self.variant()}"

    def describe(self):
        d = asdict(self)
        d["board"] = self.board.name
        d["model"] = self.model.name
        return d


def kernel_options(board, kernels="auto"):
    """The codegen options kernels= resolves to on a board: {"kernels": "tvm"}
    (utoe's own kernels), or {"kernels": "auto" | "cmsis-nn", "cmsis_nn_arch":
    ext} on an Arm Cortex-M core, whose extensions (plain, dsp, mve) set
    CMSIS-NN's code paths and scratch sizes, so its codegen is per extension
    set. auto on a core without DSP is utoe's own kernels (cmsis_nn.preferred)."""
    from . import cmsis_nn

    arch = cmsis_nn.arch_of(board.toolchain.get("cflags"))
    if kernels == "tvm" or arch is None or kernels == "auto" and arch == "plain":  # auto uses none there
        return {"kernels": "tvm"}
    return {"kernels": kernels, "cmsis_nn_arch": arch}


def _int(name, value, lo, hi):
    text = str(value).strip()
    # Decimal only: trials=010 is ten, and 0x10 is not a count anyone types.
    if not text.isdecimal() or not text.isascii():
        raise ConfigError(f"{name}={_short(value)}: expected a non-negative decimal integer")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(hi)):  # int() of 4,300+ digits is a ValueError; this is out of range anyway
        raise ConfigError(f"{name}={_short(value)}: out of range [{lo}, {hi}]")
    n = int(digits, 10)
    if not lo <= n <= hi:
        raise ConfigError(f"{name}={_short(value)}: out of range [{lo}, {hi}]")
    return n


def build_dir(value, top):
    """The build= directory, created if absent: an absolute path. ConfigError
    when it is empty, names a file, is the checkout `top` or holds it (utoe
    never writes into the source tree), or cannot be created."""
    text = str(value or "").strip()
    if not text:
        raise ConfigError("build= is empty: give the build directory (default: build)")
    path = os.path.abspath(os.path.join(top, os.path.expanduser(text)))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"build={value}: {path} is a file, not a directory; give a directory for the "
                          "build products (default: build)")
    real, real_top = os.path.realpath(path), os.path.realpath(top)
    if real == real_top or real_top.startswith(real.rstrip(os.sep) + os.sep):
        raise ConfigError(f"build={value}: {path} is {'the checkout' if real == real_top else 'above the checkout'}"
                          "; the build products need a directory of their own (default: build)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        where = f": {e.filename}" if e.filename and e.filename != path else ""
        raise ConfigError(f"build={value}: cannot create the build directory {path} "
                          f"({e.strerror or e}{where})") from None
    return path


def _short(value):
    """A value as a message quotes it: a 5,000-digit number is not a line."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text):,} characters)"


# Runner options that are numbers, checked here (not first in the middle of a run): (low, high)
RUNNER_NUMBERS = {"baudrate": (50, 20_000_000), "iotlab_duration": (1, 7 * 24 * 60), "iotlab_exp": (1, 2**63 - 1)}


def settings(board, model, mode=None, trials=None, seed=None, runner=None, planner=None, importer=None,
             timeout=None, riotbase=None, runner_options=None, kernels=None, os_name=None):
    for key, value in (("board", board), ("model", model)):
        if not isinstance(value, str):
            raise ConfigError(f"{key}= takes a name (a string), not {type(value).__name__} {value!r:.40}")
    b = boards.get(board)
    m = models.resolve(model)
    mode = mode or DEFAULTS["mode"]
    if mode not in MODES:
        raise ConfigError(f"mode={mode}: choose one of {', '.join(MODES)}")
    planner = planner or DEFAULTS["planner"]
    if planner not in PLANNERS:
        raise ConfigError(f"planner={planner}: choose one of {', '.join(PLANNERS)}")
    importer = importer or DEFAULTS["importer"]
    if importer not in IMPORTERS:
        raise ConfigError(f"importer={importer}: choose one of {', '.join(IMPORTERS)}")
    kernels = kernels or DEFAULTS["kernels"]
    if kernels not in KERNELS:
        raise ConfigError(f"kernels={kernels}: choose one of {', '.join(KERNELS)}")
    if kernels == "cmsis-nn":
        from . import cmsis_nn

        if cmsis_nn.arch_of(b.toolchain.get("cflags")) is None:
            raise ConfigError(f"kernels=cmsis-nn: board '{b.name}' has a {b.core} core; CMSIS-NN's kernels are for "
                              f"Arm Cortex-M cores (kernels=auto or tvm uses utoe's own)")
    runner = runner or b.runners[0]
    if runner not in b.runners:
        raise ConfigError(f"runner={runner}: board '{b.name}' runs with {', '.join(b.runners)}")
    os_ = os_name or default_os(riotbase)
    if os_ not in OSES:
        raise ConfigError(f"os={os_}: choose one of {', '.join(OSES)}")
    from .runners import RUNNERS
    riot_runner = bool(RUNNERS.get(runner) and RUNNERS[runner].riot)
    if riot_runner:  # a real board (serial, iotlab) or RIOT native: RIOT's firmware, whatever os= says
        if os_name == "baremetal":
            raise ConfigError(f"os=baremetal: runner={runner} runs firmware built by RIOT (os=baremetal applies to "
                              "runner=qemu)")
        os_ = "riot"
    elif runner != "qemu" or not b.riot_board:
        # os= is the firmware of a RIOT board under QEMU: the host, and QEMU's own machines
        # (sifive_e, mps2-*), have no RIOT build, so a board list may mix them with os=riot
        os_ = "baremetal"
    elif os_ == "riot" and (b.qemu or {}).get("chip"):
        runner = "qemu-riot"  # the board's RIOT firmware on QEMU's emulation of its chip
    if runner not in RUNNERS:
        raise ConfigError(f"board '{b.name}': runner '{runner}' is not available in this utoe "
                          f"(have: {', '.join(sorted(RUNNERS))})")
    cls = RUNNERS[runner]
    given = {k: v for k, v in (runner_options or {}).items() if v not in (None, "")}
    stray = sorted(set(given) - set(cls.options))
    if stray:
        takers = {k: [n for n, c in sorted(RUNNERS.items()) if k in c.options] for k in stray}
        raise ConfigError("; ".join(f"{k}= applies to runner={'|'.join(takers[k]) or '?'}, not runner={runner}"
                                    for k in stray))
    for k, (lo, hi) in RUNNER_NUMBERS.items():
        if k in given:
            given[k] = str(_int(k, given[k], lo, hi))
    base = None
    if cls.riot or os_ == "riot":  # os=riot on a stand-in: RIOT's firmware sized, the bare-metal one run
        try:
            base = riot.base(riotbase)
        except ConfigError as e:
            what = (f"board '{b.name}' with os=riot runs firmware built by RIOT under QEMU" if runner == "qemu-riot"
                    else f"board '{b.name}' with os=riot builds its firmware with RIOT" if not cls.riot
                    else f"board '{b.name}': it has no QEMU stand-in, so it is evaluated on the board itself "
                    f"(runner={'|'.join(b.runners)}) with firmware built by RIOT" if not b.qemu and b.type == "mcu"
                    else f"board '{b.name}' with runner={runner} runs firmware built by RIOT")
            raise ConfigError(f"{what}: {e}") from None
        riot.check_board(base, b)
    return Settings(
        board=b,
        model=m,
        mode=mode,
        trials=_int("trials", DEFAULTS["trials"] if trials is None else trials, 1, 100000),
        seed=_int("seed", DEFAULTS["seed"] if seed is None else seed, 0, 0xFFFFFFFF),
        runner=runner,
        planner=planner,
        importer=importer,
        kernels=kernels,
        os=os_,
        timeout=_int("timeout", DEFAULTS["timeout"] if timeout is None else timeout, 1, 86400),
        riotbase=base,
        runner_options=given,
    )
