"""`utoe`: a thin wrapper over SCons, run from anywhere.

    utoe board=native model=sinus report
    utoe board=list

is `scons -Q -C <utoe checkout> ...`: the build tree stays in the checkout
(build/, or build=<dir>)."""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not os.path.exists(os.path.join(ROOT, "SConstruct")):
        print(f"utoe: error: no SConstruct in {ROOT}; the utoe CLI runs from a source checkout "
              "(pip install -e .)", file=sys.stderr)
        return 2
    scons = shutil.which("scons")
    if scons is None:
        print("utoe: error: scons not found — pip install scons", file=sys.stderr)
        return 2
    os.execv(scons, [scons, "-Q", "-C", ROOT, *argv])


if __name__ == "__main__":
    sys.exit(main())
