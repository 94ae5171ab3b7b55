"""A failed invocation never leaves the previous configuration's result.json
beside the new configuration's products: a pair built with trials=3, then
asked for trials=4 with a fault on the way (a real link error, a real
template error), has no result.json afterwards, and the report shows nothing
of it. utoe's stages are function actions with several targets: SCons reports
their failure's node as a list."""

import json
import shutil

import pytest

from tests.scons_helpers import Build

SINE = ("board=native", "model=sine")
# a harness whose link fails (an undefined function a constructor calls), after the app and objects built
LINK_FAULT = ("\nextern void utoe_no_such_function(void);\n"
              "static void __attribute__((constructor, used)) utoe_broken(void) { utoe_no_such_function(); }\n")


@pytest.mark.parametrize("fault", ["link", "app"])
def test_a_failed_build_leaves_no_older_result(project_copy, fault):
    build = Build(project_copy)
    build.scons(*SINE, "trials=3", "report")
    pair = project_copy / "build" / "native" / "sine"
    assert json.loads((pair / "result.json").read_text())["trials"] == 3
    if fault == "link":
        (project_copy / "utoe" / "c" / "utoe_eval.c").open("a").write(LINK_FAULT)
    else:  # the app stage itself fails (Jinja2 syntax error)
        (project_copy / "utoe" / "templates" / "app" / "utoe_config.h.j2").open("a").write("{% if %}\n")
    proc = build.scons(*SINE, "trials=4", "report", check=False)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    stages = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "app" in stages and "run" not in stages and "report" not in stages, out
    if fault == "link":
        assert "utoe_no_such_function" in err and "firmware" in stages
        assert "#define UTOE_CONFIG_TRIALS 4u" in (pair / "app" / "utoe_config.h").read_text()
    # trials=3's result must not sit beside trials=4's products, nor the report of it
    assert not (pair / "result.json").exists(), (pair / "result.json").read_text()[:200]
    assert not (project_copy / "build" / "report" / "report.json").exists()


def test_a_failure_in_another_pair_leaves_no_half_rebuilt_result(project_copy, tmp_path):
    """-j2, a new model and trials=4: while TVM recompiles the model, the
    native pair's app is rebuilt and the QEMU board's pair fails to compile
    (a broken Cortex-M platform file); the build stops before the native pair
    runs, so its old result (old weights, trials=3) would sit beside the new
    products. None of the native pair's own products failed: the old cleanup
    kept that result."""
    for tool, pkg in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("qemu-system-arm", "qemu-system-arm")):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (apt-get install {pkg})")
    from tests.test_scons_build import perturbed_weights

    model = tmp_path / "a.tflite"
    shutil.copy(project_copy / "models" / "sine.tflite", model)
    build = Build(project_copy)
    both = ("board=native,mps2-an386", f"model={model}")
    build.scons(*both, "trials=3")
    pair = project_copy / "build" / "native" / "a"
    assert json.loads((pair / "result.json").read_text())["trials"] == 3
    model.write_bytes(perturbed_weights(model.read_bytes()))
    (project_copy / "utoe" / "c" / "platform" / "cortex-m.c").open("a").write("\n#error utoe test: broken\n")
    proc = build.scons("-j2", *both, "trials=4", check=False)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 2, out + err
    assert "utoe test: broken" in err and "Traceback" not in out + err
    lines = out.splitlines()
    assert "app      native/a" in lines and "codegen  a" in lines, out
    assert "#define UTOE_CONFIG_TRIALS 4u" in (pair / "app" / "utoe_config.h").read_text()
    if "measure  native/a" in lines:  # a rare schedule: the native pair ended before the failure; then it is new
        assert json.loads((pair / "result.json").read_text())["trials"] == 4
        return
    assert not (pair / "result.json").exists(), (pair / "result.json").read_text()[:300]


def test_sigkill_after_a_new_configuration_began_leaves_no_older_result(project_copy):
    """SIGKILL runs no cleanup: the moment trials=4's app is written, the
    trials=3 result must already be gone (the run stage, which drops it too,
    comes later)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import SHARED_MODELS

    build = Build(project_copy)
    build.scons(*SINE, "trials=3")
    pair = project_copy / "build" / "native" / "sine"
    config = pair / "app" / "utoe_config.h"
    env = dict(os.environ, PYTHONPATH=str(project_copy), UTOE_SHARED_MODELS=SHARED_MODELS)
    proc = subprocess.Popen([sys.executable, "-m", "SCons", "-Q", *SINE, "trials=4"], cwd=project_copy, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()

    def written():  # SCons removes a target before rebuilding it: the file may vanish between two looks
        try:
            return config.read_text()
        except FileNotFoundError:
            return ""

    while "UTOE_CONFIG_TRIALS 4u" not in written():
        assert proc.poll() is None and time.time() - t0 < 120, proc.communicate()
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    if (pair / "result.json").exists():  # only if the build reached its measure first: then it is trials=4's
        assert json.loads((pair / "result.json").read_text())["trials"] == 4, out
    # a template edit (same configuration) keeps the result: an identical firmware stops the chain
    build.scons(*SINE, "trials=4")
    (project_copy / "utoe" / "templates" / "app" / "utoe_config.h.j2").open("a").write("/* edited */\n")
    assert [stage for stage, _ in build.stages(*SINE, "trials=4")] == ["app"]
    assert json.loads((pair / "result.json").read_text())["trials"] == 4
