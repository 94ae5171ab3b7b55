"""Building with RIOT: the firmware for a real board (runner=serial, iotlab)
and for RIOT's native64 board is riot_app/ built by RIOT's make.

RIOT is not in any package registry: ./setup.sh installs it (the pinned
commit, from the offline kit or git) in third_party/riot/RIOT, which utoe
builds with by default; the `riotbase=` command-line variable, else the
RIOTBASE environment variable, selects another tree. utoe sets what RIOT's
make needs in its environment itself (environment()): the kit's git
configuration, so RIOT's package step clones the vendor code from the kit's
local repositories (no network), and picolibc on RISC-V boards. The harness and the model are the same C
as on the other platforms; RIOT brings the startup code, the clock (ztimer),
the console (stdio) and the flasher (`make flash-only`, the board's
programmer).

A build writes riot.json beside firmware.elf: the make command's variables,
so a runner can flash exactly what was built."""

import hashlib
import os
import shutil
import subprocess

from .errors import BuildError, ConfigError, RunError, suggest
from .files import read_json, remove, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_DIR = os.path.join(ROOT, "riot_app")
C_DIR = os.path.join(ROOT, "utoe", "c")
# Files of riot_app/ and of RIOT itself whose presence makes a tree RIOT's.
MARKERS = ("Makefile.include", "Makefile.base", "core", "boards")
# The evaluation runs in RIOT's main thread, whose stack riot_app/Makefile
# sets (THREAD_STACKSIZE_MAIN). On a board that stack is STACK_BYTES in all,
# sized from the peaks the harness measured (main's stack from its top: the
# thread's control block, RIOT's boot, the evaluation): LeNet-5 through RIOT
# under QEMU, 896 B on microbit (Cortex-M0) and 360 B on hifive1b; bare metal
# (the whole stack) over the zoo, at most 1,004 B (resnet8 on a Cortex-M4F,
# mps2-an386). STACK_BYTES keeps over 1.5 KB above every one of them for what
# the runs did not show: exception frames with the FPU's registers (104 B per
# level on a Cortex-M4F), a context switch's saved registers, other cores'
# frames. Before: RIOT's main stack (1.5 KiB) plus utoe's own thread's (5 KiB).
# On native (64-bit host libc, signal handlers on the thread's stack): RIOT's
# default main stack plus NATIVE_STACK_BYTES, as before.
STACK_BYTES = 2560
NATIVE_STACK_BYTES = 4096
# The line a failed flash or build quotes.
TAIL_LINES = 15
CLONE = "git clone https://github.com/RIOT-OS/RIOT"
# Where ./setup.sh installs RIOT: <INSTALL_DIR>/RIOT, and with the offline kit
# also <INSTALL_DIR>/pkgs (the vendor packages) and <INSTALL_DIR>/gitconfig.
INSTALL_DIR = os.path.join(ROOT, "third_party", "riot")
KIT_GITCONFIG = "gitconfig"


def installed():
    """The RIOT tree ./setup.sh installed, or None."""
    path = os.path.join(INSTALL_DIR, "RIOT")
    return path if os.path.isdir(path) else None


def base(value=None):
    """The RIOT tree to build with: `value` (riotbase=), else $RIOTBASE, else
    the tree ./setup.sh installed. Raises ConfigError naming what is wrong."""
    path = value or os.environ.get("RIOTBASE") or installed()
    if not path:
        raise ConfigError(f"RIOT is not installed: run ./setup.sh (it installs RIOT in {INSTALL_DIR}), "
                          f"or point riotbase=<dir> (or the RIOTBASE environment variable) "
                          f"to a RIOT checkout ({CLONE})")
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise ConfigError(f"RIOTBASE={path}: no such directory ({CLONE})")
    missing = [m for m in MARKERS if not os.path.exists(os.path.join(path, m))]
    if missing:
        raise ConfigError(f"RIOTBASE={path} is not a RIOT tree (it has no {', '.join(missing)}); "
                          f"point it to a RIOT checkout ({CLONE})")
    return path


def check_board(riotbase, board):
    """The board's RIOT name, checked against the RIOT tree."""
    name = board.riot_board
    if not name:
        raise ConfigError(f"board '{board.name}' has no RIOT board (field 'riot_board' in {board.path})")
    known = sorted(d for d in os.listdir(os.path.join(riotbase, "boards"))
                   if os.path.isfile(os.path.join(riotbase, "boards", d, "Makefile.features")))
    if name not in known:
        raise ConfigError(f"board '{board.name}': RIOT at {riotbase} has no board '{name}' "
                          f"({suggest(name, known, 'RIOT board')}); field 'riot_board' in {board.path}")
    return name


def identity(riotbase):
    """What identifies the RIOT tree's contents for dependency tracking:
    '<path>@<state>'. The state is the git commit (read from .git), plus
    '+edits-<digest>' when the tree has uncommitted edits (git's status and
    diff against HEAD, and the untracked files' contents), so editing a RIOT
    file rebuilds the firmware. A tree without .git (a release tarball, the
    vendored kit) is '<VERSION>+tree-<digest>' of every file's path, size and
    modification time (RIOT's own build/ and bin/ folders left out)."""
    git = os.path.join(riotbase, ".git")
    if not os.path.exists(git):
        return f"{riotbase}@{_version(riotbase)}+tree-{_tree_digest(riotbase)}"
    commit = "no-git"
    try:
        if os.path.isfile(git):  # a worktree: "gitdir: <path>"
            with open(git) as f:
                git = os.path.join(riotbase, f.read().split(":", 1)[1].strip())
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_path = os.path.join(git, ref)
            if os.path.exists(ref_path):
                with open(ref_path) as f:
                    commit = f.read().strip()
            else:
                commit = _packed_ref(git, ref) or ref
        else:
            commit = head
    except OSError:
        pass
    edits = _edits_digest(riotbase)
    return f"{riotbase}@{commit}" + (f"+edits-{edits}" if edits else "")


def short_identity(riotbase):
    """The state part of identity(), commit shortened: result.json's tools.riot."""
    state = identity(riotbase).rsplit("@", 1)[1]
    commit, plus, rest = state.partition("+")
    return (commit[:12] if len(commit) == 40 else commit) + plus + rest


def _version(riotbase):
    try:
        with open(os.path.join(riotbase, "VERSION")) as f:
            text = f.read().strip()  # "RIOT_VERSION ?= 2026.10-devel-371-gc8bd52ff13", or the bare version
    except OSError:
        return "no-version"
    return text.rsplit("=", 1)[-1].strip() or "no-version"


# Folders RIOT's build writes into its own tree (packages, tools): not edits.
_BUILD_DIRS = ("build", "bin", "__pycache__")


def _tree_digest(riotbase):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(riotbase):
        dirs[:] = sorted(d for d in dirs if d not in _BUILD_DIRS and d != ".git")
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            h.update(f"{os.path.relpath(path, riotbase)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _edits_digest(riotbase):
    """Digest of the uncommitted edits of a git tree ('' when it is clean,
    'unknown' when git cannot tell)."""
    git = ["git", "-c", "safe.directory=*", "-C", riotbase]
    try:
        status = subprocess.run(git + ["status", "--porcelain=v1", "-z", "--untracked-files=all"],
                                capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if status.returncode != 0:
            return "unknown"
        if not status.stdout:
            return ""
        diff = subprocess.run(git + ["diff", "HEAD", "--binary"], capture_output=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    h = hashlib.sha256(status.stdout + b"\0" + diff.stdout)
    for entry in status.stdout.split(b"\0"):
        if entry.startswith(b"?? "):  # untracked: git diff does not show them
            path = os.path.join(riotbase, os.fsdecode(entry[3:]))
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def _packed_ref(git, ref):
    try:
        with open(os.path.join(git, "packed-refs")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None


def app_options(board, riotbase, codegen_dir):
    """What the app stage renders into utoe.mk (app.render's options["riot"])."""
    from .firmware import cmsis_nn_include_dirs, tvm_include_dirs

    return {"board": check_board(riotbase, board), "c_dir": C_DIR, "model_dir": os.path.abspath(codegen_dir),
            "tvm_includes": tvm_include_dirs(), "cmsis_nn_includes": cmsis_nn_include_dirs(),
            "stack_bytes": stack_bytes(board)}


def stack_bytes(board):
    """UTOE_STACK_BYTES for the board: main's whole stack on a board, what
    native adds to RIOT's default."""
    return NATIVE_STACK_BYTES if (board.riot_board or "").startswith("native") else STACK_BYTES


def app_files():
    """riot_app/'s own files (the firmware depends on them)."""
    out = []
    for root, _, files in os.walk(APP_DIR):
        if os.path.basename(root) in ("bin",):
            continue
        out += [os.path.join(root, f) for f in files if f == "Makefile" or f.endswith((".c", ".h", ".mk"))]
    return sorted(out)


def make_vars(riotbase, riot_board, app_dir, bindirbase):
    return {"RIOTBASE": riotbase, "BOARD": riot_board, "UTOE_APP_DIR": os.path.abspath(app_dir),
            "BINDIRBASE": os.path.abspath(bindirbase), "CC_NOCOLOR": "1"}


def kit_gitconfig(riotbase):
    """The offline kit's git configuration when the tree is a kit's
    (<dest>/RIOT beside <dest>/gitconfig and <dest>/pkgs), else None. A kit
    moved since its configuration was written (it names the kit's directory)
    gets it rewritten by the kit's own script, when the kit has it."""
    dest = os.path.dirname(os.path.abspath(riotbase))
    path = os.path.join(dest, KIT_GITCONFIG)
    if not (os.path.isfile(path) and os.path.isfile(os.path.join(dest, "pkgs", "MANIFEST"))):
        return None
    with open(path) as f:
        first = f.readline()
    script = os.path.join(dest, "riot-kit.sh")
    if f"from {os.path.join(dest, 'pkgs')}\n" not in first and os.path.isfile(script):
        subprocess.run(["sh", script, "config", dest], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return path


def needs_picolibc(board):
    """RIOT's RISC-V boards built with the riscv64-unknown-elf toolchain
    (fe310: hifive1b; gd32v: sipeed-longan-nano) need picolibc: Debian's
    toolchain has no newlib. The ESP32-C3 builds with Espressif's toolchain
    and its own libc."""
    from .boards import ARCH_PLATFORM

    return ARCH_PLATFORM.get(board.arch) == "riscv" and not (board.riot_board or "").startswith("esp")


def environment(board, riotbase, qemu=False):
    """What utoe puts into RIOT make's environment for this board and tree.
    FEATURES_REQUIRED goes there, not on the command line, where it would
    replace the application's own required features; so does USEMODULE, for
    a firmware that runs under QEMU (`qemu`: the board's [qemu] riot_modules,
    what the emulated chip lacks), which the app's `USEMODULE +=` extends."""
    env = {}
    modules = (board.qemu or {}).get("riot_modules", []) if qemu else []
    if modules:
        env["USEMODULE"] = " ".join(os.environ.get("USEMODULE", "").split() + list(modules))
    gitconfig = kit_gitconfig(riotbase)
    if gitconfig:
        env["GIT_CONFIG_GLOBAL"] = gitconfig
    if needs_picolibc(board):
        features = os.environ.get("FEATURES_REQUIRED", "").split()
        env["FEATURES_REQUIRED"] = " ".join(features + ([] if "picolibc" in features else ["picolibc"]))
    return env


def _make(variables, targets, what, error, timeout=None, extra=None, env_vars=None):
    cmd = ["make", "--no-print-directory", "-C", APP_DIR, *targets] + [f"{k}={v}" for k, v in variables.items()]
    cmd += [f"{k}={v}" for k, v in (extra or {}).items()]
    env = dict(os.environ, RIOT_CI_BUILD="1", **(env_vars or {}))  # CI: no interactive prompts, no colour
    env.pop("MAKEFLAGS", None)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise error(f"{what}: 'make' not found — install the Debian package 'make'") from None
    except subprocess.TimeoutExpired:
        raise error(f"{what}: did not finish within {timeout} s") from None
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        out = text.strip().splitlines()
        tail = "\n".join("    " + line for line in out[-TAIL_LINES:])
        hint = ""
        if "Could not resolve host" in text or "unable to access 'http" in text:
            hint = ("\n  RIOT fetches this board's vendor code from the internet while building, and the fetch "
                    "failed: build once with a network, or build with the RIOT tree ./setup.sh installs from the offline "
                    "kit (its packages are local git repositories)")
        raise error(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}{hint}")
    return proc.stdout


def build(board, riotbase, app_dir, elf_path, qemu=False):
    """Build riot_app for the board (`qemu`: to run under QEMU's emulation of
    its chip, see environment()); copy the ELF to elf_path and write riot.json."""
    riot_board = check_board(riotbase, board)
    pair_dir = os.path.dirname(os.path.abspath(elf_path))
    variables = make_vars(riotbase, riot_board, app_dir, os.path.join(pair_dir, "riot"))
    env_vars = environment(board, riotbase, qemu)
    info_path = os.path.join(pair_dir, "riot.json")
    remove(elf_path, info_path)
    jobs = str(max(1, os.cpu_count() or 1))
    _make(variables, ["all", f"-j{jobs}"], f"board '{board.name}': building RIOT's '{riot_board}' firmware",
          BuildError, env_vars=env_vars)
    built = os.path.join(variables["BINDIRBASE"], riot_board, "utoe.elf")
    if not os.path.isfile(built):
        raise BuildError(f"board '{board.name}': RIOT's make succeeded but left no {built}")
    tmp = elf_path + ".tmp"
    shutil.copyfile(built, tmp)
    shutil.copymode(built, tmp)
    write_json(info_path, {"riot_board": riot_board, "make": variables, "env": env_vars, "elf": built})
    os.replace(tmp, elf_path)
    return elf_path


def info(elf_path):
    """riot.json of a RIOT firmware (RunError if the firmware was not built with RIOT)."""
    path = os.path.join(os.path.dirname(os.path.abspath(elf_path)), "riot.json")
    if not os.path.isfile(path):
        raise RunError(f"{elf_path} was not built with RIOT (no {path}); this runner needs a RIOT build")
    return read_json(path, RunError)


def flash(board, elf_path, port=None, timeout=300):
    """Flash the firmware with RIOT's `make flash-only` (the board's programmer)."""
    i = info(elf_path)
    extra = {"PORT": port} if port else {}
    _make(i["make"], ["flash-only"], f"board '{board.name}': flashing with RIOT's programmer "
          f"(make flash-only BOARD={i['riot_board']})", RunError, timeout=timeout, extra=extra,
          env_vars=i.get("env") or environment(board, i["make"]["RIOTBASE"]))
