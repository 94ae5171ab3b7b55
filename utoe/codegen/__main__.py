"""The compiler stage as its own process:

    python -m utoe.codegen MODEL_PATH OUT_DIR NAME OPTIONS_JSON [--verbose]

SCons runs Python actions in worker threads under `-j`, and TVM is not safe
there (two codegens at once fail inside TVM). Each codegen therefore runs in
a process of its own. Exit status:

  0  done;
  3  the model's fault or the user's (a UtoeError): one line on stderr;
  4  an internal error (any other exception): one line on stderr naming the
     log in OUT_DIR that keeps the traceback (printed too with --verbose).

An internal failure is never reported as the model's fault. Ctrl-C and
SIGTERM end the process at once (TVM's C++ would otherwise hold them until it
returns), and the parent reports the interruption; they are not errors."""

import json
import os
import signal
import sys
import traceback

EXIT_USER = 3
EXIT_INTERNAL = 4
INTERNAL_LOG = "codegen-error.log"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    verbose = "--verbose" in argv
    args = [a for a in argv if a != "--verbose"]
    if len(args) != 4:
        print("usage: python -m utoe.codegen MODEL_PATH OUT_DIR NAME OPTIONS_JSON [--verbose]", file=sys.stderr)
        return 2
    model_path, out_dir, name, options = args
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    log = os.path.join(out_dir, INTERNAL_LOG)
    try:
        from ..errors import UtoeError
        from . import generate

        if os.path.exists(log):
            os.unlink(log)
        generate(model_path, out_dir, name, json.loads(options))
    except UtoeError as e:
        print(f"utoe: {e}", file=sys.stderr)
        return EXIT_USER
    except BaseException as e:  # noqa: BLE001 - anything else is utoe's bug, not the model's
        text = traceback.format_exc()
        os.makedirs(out_dir, exist_ok=True)
        with open(log, "w", encoding="utf-8") as f:
            f.write(f"codegen of {model_path} ({name}, options {options}):\n{text}")
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"utoe: internal error in codegen of '{name}' ({model_path}; {type(e).__name__}{': ' + first if first else ''}); "
              f"this is a utoe bug, not a fault of the model; traceback in {log}"
              + ("" if verbose else " (verbose=1 prints it)"), file=sys.stderr)
        if verbose:
            print(text, file=sys.stderr, end="")
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
