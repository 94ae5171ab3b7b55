"""Run the real SCons build of a project copy and read what it did."""

import os
import subprocess
import sys

STAGES = ("codegen", "app", "firmware", "sizes", "run", "measure", "report")


class Build:
    def __init__(self, root):
        self.root = str(root)

    def scons(self, *args, check=True, timeout=600):
        from tests.conftest import SHARED_MODELS

        # a project copy is not beside ../shared: say where the models are
        env = dict(os.environ, PYTHONPATH=self.root, UTOE_SHARED_MODELS=SHARED_MODELS)
        proc = subprocess.run([sys.executable, "-m", "SCons", "-Q", *args], cwd=self.root, capture_output=True,
                              text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"scons {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def stages(self, *args, **kw):
        """The stages (and their labels) a run of scons executed."""
        out = self.scons(*args, **kw).stdout
        return [tuple(line.split(None, 1)) for line in out.splitlines() if line.split(None, 1)[:1]
                and line.split(None, 1)[0] in STAGES and len(line.split(None, 1)) == 2]

    def path(self, *parts):
        return os.path.join(self.root, *parts)
