"""`utoe`: a thin wrapper over SCons, run from anywhere.

    utoe board=native model=sinus report
    utoe board=list

is `scons -Q -C <utoe checkout> ...`, run in this process (the SCons this
Python imports; Ctrl-C while SCons starts is one line, not a traceback): the
build tree stays in the checkout (build/) unless build=<dir> is given.
Relative paths in model=, build= and compare= mean what they mean in the directory
`utoe` was started in, not in the checkout SCons runs from."""

import importlib.util
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


MODEL_SUFFIXES = (".tflite", ".onnx", ".pt2")


def _from_cwd(arg, cwd):
    """model=/build= with paths relative to cwd made absolute (SCons runs in
    the checkout); zoo names and other variables pass unchanged."""
    key, sep, value = arg.partition("=")
    if not sep or key not in ("model", "build", "compare") or not value.strip():  # build= empty: SConstruct refuses it
        return arg
    if key in ("build", "compare"):
        return f"{key}={os.path.join(cwd, value)}"
    parts = []
    for m in value.split(","):
        looks_like_path = os.sep in m or m.endswith(MODEL_SUFFIXES) or os.path.isfile(os.path.join(cwd, m))
        parts.append(os.path.join(cwd, m) if looks_like_path and not os.path.isabs(m) else m)
    return "model=" + ",".join(parts)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not os.path.exists(os.path.join(ROOT, "SConstruct")):
        print(f"utoe: error: no SConstruct in {ROOT}; the utoe CLI runs from a source checkout "
              "(pip install -e .)", file=sys.stderr)
        return 2
    if importlib.util.find_spec("SCons") is None:
        print("utoe: error: scons not found — pip install scons", file=sys.stderr)
        return 2
    cwd = os.getcwd()
    sys.argv = ["scons", "-Q", "-C", ROOT, *[_from_cwd(a, cwd) for a in argv]]
    # SCons runs in this process. While it imports itself it has no handler of
    # its own: Ctrl-C (or kill) there would print a KeyboardInterrupt traceback.
    previous = {s: signal.signal(s, _interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    # A Ctrl-C that lands in a callback Python cannot raise from (importlib's
    # module-lock weakref, while SCons still imports) would be printed as
    # "Exception ignored ... Traceback" and then lost: it is the interrupt.
    sys.unraisablehook = _unraisable
    import SCons.Script

    for s, handler in previous.items():
        signal.signal(s, handler)
    try:
        SCons.Script.main()  # exits with SCons's status
    except KeyboardInterrupt:  # before SCons's own handling starts (its option parser, say)
        print("utoe: interrupted (SIGINT) while starting SCons; nothing was built", file=sys.stderr)
        return 2


def _unraisable(info, default=sys.unraisablehook):
    if issubclass(info.exc_type, KeyboardInterrupt):
        _interrupted(signal.SIGINT, None)
    default(info)


def _interrupted(signum, frame):
    print(f"utoe: interrupted ({signal.Signals(signum).name}) while starting SCons; nothing was built",
          file=sys.stderr)
    os._exit(2)


if __name__ == "__main__":
    sys.exit(main())
