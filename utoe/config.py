"""One evaluation's settings, validated once.

Precedence: command line > board file > defaults. Every value that changes a
build product is here, so SCons can hand exactly the relevant ones to each
stage (codegen sees only codegen options; the app sees mode/trials/seed)."""

from dataclasses import asdict, dataclass

from . import boards, firmware, models
from .codegen.planner import PLANNERS
from .errors import ConfigError

MODES = ("per-model", "per-operator")
DEFAULTS = {"mode": "per-model", "trials": 10, "seed": 1, "planner": "greedy", "importer": "auto", "timeout": 300}
IMPORTERS = ("auto", "utoe", "tvm")


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

    def codegen_options(self):
        return {"planner": self.planner, "importer": self.importer}

    def app_options(self):
        return {"board": self.board.name, "model": self.model.name, "mode": self.mode,
                "trials": self.trials, "seed": self.seed, "layout": firmware.layout(self.board)}

    def describe(self):
        d = asdict(self)
        d["board"] = self.board.name
        d["model"] = self.model.name
        return d


def _int(name, value, lo, hi):
    try:
        n = int(str(value), 0)
    except ValueError:
        raise ConfigError(f"{name}={value}: not a whole number") from None
    if not lo <= n <= hi:
        raise ConfigError(f"{name}={value}: out of range [{lo}, {hi}]")
    return n


def settings(board, model, mode=None, trials=None, seed=None, runner=None, planner=None, importer=None,
             timeout=None):
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
    runner = runner or b.runners[0]
    if runner not in b.runners:
        raise ConfigError(f"runner={runner}: board '{b.name}' runs with {', '.join(b.runners)}")
    from .runners import RUNNERS
    if runner not in RUNNERS:
        why = ("it has no QEMU stand-in, so it is evaluated on the board itself" if not b.qemu
               else "that runner drives the board itself")
        raise ConfigError(f"board '{b.name}': {why} (runner={'|'.join(b.runners)}), and runner '{runner}' "
                          f"is not available in this utoe yet (have: {', '.join(sorted(RUNNERS))})")
    return Settings(
        board=b,
        model=m,
        mode=mode,
        trials=_int("trials", DEFAULTS["trials"] if trials is None else trials, 1, 100000),
        seed=_int("seed", DEFAULTS["seed"] if seed is None else seed, 0, 0xFFFFFFFF),
        runner=runner,
        planner=planner,
        importer=importer,
        timeout=_int("timeout", DEFAULTS["timeout"] if timeout is None else timeout, 1, 86400),
    )
