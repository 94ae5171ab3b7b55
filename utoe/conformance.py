"""Does utoe compile a model bit-exact? One model, compiled, built for the
host, run once and compared with the reference interpreter (TFLite's
BUILTIN_REF for .tflite), without SCons or a build tree:

    from utoe.conformance import check
    check("net.tflite")  # -> Outcome(status="pass", ...)

`status` is "pass" (integers bit-exact, floats within the reference's
tolerance), "refused" (utoe said why in one line before building: an
operator or type it does not compile), "unvalidated" (utoe compiled and ran
it but the reference interpreter cannot load the model, so nothing checks
the numbers) or "fail" (anything else: a compiler error, a crash, a
traceback, a wrong number). The conformance matrix
(models/make_conformance.py, benchmarks/conformance.py, docs/operators.md)
is this function over single-operator models.
"""

import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field

from . import boards, codegen, reference
from .diagnose import host_run
from .errors import UtoeError

SEED = 1


@dataclass
class Outcome:
    status: str  # pass | refused | unvalidated | fail
    detail: str = ""  # the refusal's line, or what failed
    importer: str = None  # utoe-integer or tvm-relax
    compile_s: float = 0.0  # TVM codegen, seconds
    max_abs_error: float = None
    exact: bool = None
    extra: dict = field(default_factory=dict)


def check(model_path, name="model", board="native", timeout=60, kernels="auto"):
    """Compile, build, run and validate one model on a board (kernels= as the
    build's: on an Arm core, auto calls CMSIS-NN where it is exact)."""
    from .config import kernel_options

    board = boards.get(board)
    with tempfile.TemporaryDirectory(prefix="utoe-conformance-") as tmp:
        cg = os.path.join(tmp, "codegen")
        t0 = time.perf_counter()
        try:
            meta = codegen.generate(model_path, cg, name, kernel_options(board, kernels))
        except UtoeError as e:
            return Outcome("refused", str(e).splitlines()[0], compile_s=time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - the matrix counts it
            return Outcome("fail", f"codegen: {type(e).__name__}: {e}\n{traceback.format_exc()}",
                           compile_s=time.perf_counter() - t0)
        compile_s = time.perf_counter() - t0
        importer = meta["options"]["importer_used"] if "options" in meta else None
        try:
            run = host_run(board, cg, name, SEED, timeout)

            result = {"seed": SEED, "outputs": [{"index": i, "bytes_hex": run.outputs[i][1].hex()}
                                                for i in sorted(run.outputs)]}
            v = reference.validate(meta, result)
        except UtoeError as e:
            return Outcome("fail", str(e).splitlines()[0] if str(e) else type(e).__name__, importer, compile_s)
        except Exception as e:  # noqa: BLE001
            return Outcome("fail", f"{type(e).__name__}: {e}", importer, compile_s)
    if v["ok"] is None:  # the reference interpreter could not run the model: utoe's run stands unchecked
        return Outcome("unvalidated", f"{model_path}: {v.get('unavailable') or 'no reference'}", importer, compile_s)
    status = "pass" if v["ok"] else "fail"
    detail = "" if v["ok"] else f"max abs error {v['max_abs_error']:g} against {v['reference']}"
    extra = {"reference": v["reference"],
             "libraries": sorted({op["library"] for op in meta["operators"] if op.get("library")})}
    if "primary_unavailable" in v:
        extra["primary_unavailable"] = v["primary_unavailable"]
    return Outcome(status, detail, importer, compile_s, v["max_abs_error"], v["exact"], extra)
