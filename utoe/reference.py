"""Validation: does the compiled model compute what the source model does?

The same seeded input the firmware used (utoe.inputs) goes through a
reference implementation on the host, and the firmware's outputs (from its
log, in result.json) are compared with the reference's:

- TFLite models: ai-edge-litert's interpreter with TFLite's *reference*
  kernels (OpResolverType.BUILTIN_REF). Its default path (XNNPACK) and its
  optimized kernels differ from TFLite's reference int8 arithmetic, which
  TFLite Micro and CMSIS-NN reproduce, by up to 5 LSB.

- ONNX models: onnxruntime on the CPU.
- PyTorch exported programs: the program's own module, run by torch.

Integer outputs must be bit-exact; float outputs within a relative tolerance.
"""

import numpy as np

from .errors import UtoeError
from .inputs import DTYPES, generate_inputs

FLOAT_RTOL = 1e-5
FLOAT_ATOL = 1e-6  # floor for outputs near zero


class ValidationError(UtoeError):
    """The firmware's outputs differ from the reference's."""


class ReferenceUnavailable(UtoeError):
    """The reference implementation itself cannot load or run the model (an
    operator version it does not know, a quantization it refuses): the run's
    figures stand, its outputs are not validated."""


def _tflite_reference(model_path, inputs, metadata):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=model_path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     num_threads=1)
    it.allocate_tensors()
    # By position: the interpreter lists a subgraph's inputs and outputs in the
    # file's order, as utoe's metadata does; names may be absent or repeated.
    ins, outs_d = it.get_input_details(), it.get_output_details()
    if len(ins) != len(metadata["inputs"]) or len(outs_d) != len(metadata["outputs"]):
        raise ValidationError(f"{model_path}: the reference has {len(ins)} inputs and {len(outs_d)} outputs, "
                              f"the compiled model {len(metadata['inputs'])} and {len(metadata['outputs'])}")
    for spec, value, d in zip(metadata["inputs"], inputs, ins):
        if int(np.prod(d["shape"])) != int(np.prod(spec["shape"])):
            raise ValidationError(f"{model_path}: input '{spec['name']}' has shape {list(d['shape'])} in the "
                                  f"reference, {spec['shape']} in the compiled model")
        it.set_tensor(d["index"], value.reshape(d["shape"]))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in outs_d]


# TFLite Micro's interpreter (the tflite-micro package: TFLM's kernels built
# for the host) is the second reference for TFLite models, used when
# BUILTIN_REF cannot load a model (it refuses per-axis quantization on some
# tensors TFLite Micro accepts, e.g. person_detect's). It runs in a child
# process: a native crash in it must not take utoe down. Its int8
# FULLY_CONNECTED rounds twice where BUILTIN_REF (and utoe) round once, so
# models with FULLY_CONNECTED can differ by 1 LSB against it.
TFLM_REFERENCE = "tflite-micro"

_TFLM_CHILD = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model, ins, outs, n_out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
it = runtime.Interpreter.from_file(model)
data = np.load(ins)
for i in range(len(data.files)):
    it.set_input(data[f"x{i}"], i)
it.invoke()
np.savez(outs, **{f"y{i}": it.get_output(i) for i in range(n_out)})
"""


def _tflm_reference(model_path, inputs, metadata):
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="utoe-tflm-") as tmp:
        ins, outs = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(ins, **{f"x{i}": v.reshape(spec["shape"]) for i, (spec, v) in
                         enumerate(zip(metadata["inputs"], inputs))})
        proc = subprocess.run([sys.executable, "-c", _TFLM_CHILD, model_path, ins, outs,
                               str(len(metadata["outputs"]))], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or "").strip().splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit status {proc.returncode}"
            raise RuntimeError(why)
        data = np.load(outs)
        return [data[f"y{i}"] for i in range(len(metadata["outputs"]))]


def _onnx_reference(model_path, inputs, metadata):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    feed = {spec["name"]: value.reshape(spec["shape"]) for spec, value in zip(metadata["inputs"], inputs)}
    return sess.run([spec["name"] for spec in metadata["outputs"]], feed)


def _torch_reference(model_path, inputs, metadata):
    import warnings

    import torch

    with warnings.catch_warnings():  # torch's own deprecation notices about its pytree format
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.export.load(model_path).module()
    with torch.no_grad():
        out = module(*[torch.from_numpy(v.reshape(spec["shape"]).copy())
                       for spec, v in zip(metadata["inputs"], inputs)])
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.numpy() for o in outs]


REFERENCES = {"tflite": ("tflite-builtin-ref", _tflite_reference),
              "onnx": ("onnxruntime-cpu", _onnx_reference),
              "pt2": ("torch-export", _torch_reference)}


def reference_outputs(metadata, seed):
    """The reference's outputs for the seeded input: (reference name, [arrays])."""
    fmt = metadata["source"]["format"]
    if fmt not in REFERENCES:
        raise ValidationError(f"no reference implementation for {fmt} models")
    name, run = REFERENCES[fmt]
    specs = [(t["dtype"], tuple(t["shape"])) for t in metadata["inputs"]]
    path = metadata["source"]["path"]
    try:
        return name, run(path, generate_inputs(specs, seed), metadata)
    except ValidationError:
        raise
    except Exception as e:  # noqa: BLE001 - the runtime's own refusal, in any of its exception types
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        why = next((line for line in lines if "rror" in line or "not" in line.lower()), lines[0] if lines else "")
        raise ReferenceUnavailable(f"{name} cannot run {path}: {why or type(e).__name__}") from None


def compare(metadata, result, reference_name, expected):
    """Compare result.json's outputs with the reference's arrays."""
    worst, exact, ok, rows = 0.0, True, True, []
    for spec, out, ref in zip(metadata["outputs"], result["outputs"], expected):
        got = np.frombuffer(bytes.fromhex(out["bytes_hex"]), dtype=DTYPES[spec["dtype"]]).reshape(ref.shape)
        ref = np.asarray(ref)
        if got.dtype.kind == "f":
            err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            within = bool(np.all(err <= FLOAT_ATOL + FLOAT_RTOL * np.abs(ref.astype(np.float64))))
        else:
            err = np.abs(got.astype(np.int64) - ref.astype(np.int64))
            within = bool(np.all(err == 0))
        max_err = float(err.max()) if err.size else 0.0
        same = bool(np.array_equal(got, ref))
        rows.append({"index": out["index"], "max_abs_error": max_err, "exact": same, "ok": within})
        worst, exact, ok = max(worst, max_err), exact and same, ok and within
    tolerance = "bit-exact for integers; float: |d| <= %g + %g*|ref|" % (FLOAT_ATOL, FLOAT_RTOL)
    return {"reference": reference_name, "seed": result["seed"], "max_abs_error": worst, "exact": exact,
            "ok": ok, "tolerance": tolerance, "outputs": rows}


def validate(metadata, result):
    """The validation record; when the reference cannot run the model,
    {"ok": None, "unavailable": why}: the figures stand, unvalidated."""
    try:
        name, expected = reference_outputs(metadata, result["seed"])
    except ReferenceUnavailable as e:
        fmt = metadata["source"]["format"]
        second = _second_reference(metadata, result["seed"]) if fmt == "tflite" else None
        if isinstance(second, list):
            v = compare(metadata, result, TFLM_REFERENCE, second)
            v["primary_unavailable"] = str(e)
            return v
        why = str(e) + (f"; {TFLM_REFERENCE} cannot either: {second}" if second else "")
        return {"reference": REFERENCES[fmt][0], "seed": result["seed"], "max_abs_error": None, "exact": None,
                "ok": None, "unavailable": why}
    return compare(metadata, result, name, expected)


def _second_reference(metadata, seed):
    """TFLite Micro's outputs for the seeded input, or why it could not run
    (a string; None when the tflite-micro package is not installed)."""
    import importlib.util

    if importlib.util.find_spec("tflite_micro") is None:
        return None
    specs = [(t["dtype"], tuple(t["shape"])) for t in metadata["inputs"]]
    try:
        return _tflm_reference(metadata["source"]["path"], generate_inputs(specs, seed), metadata)
    except Exception as e:  # noqa: BLE001 - its refusal or crash, said in the unavailable line
        return str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__


def check(result, board, codegen_dir, result_path):
    """Fail loudly when the outputs differ: remove the result and raise a
    ValidationError; on the host, name the first operator that differs."""
    v = result["validation"]
    if v["ok"]:
        return
    if v["ok"] is None:  # the reference could not run it: said once, the figures stand
        print(f"utoe: warning: {result['board']}/{result['model']}: outputs not validated: {v['unavailable']}")
        return
    from .files import remove

    remove(result_path)
    where = ""
    if board.platform == "host" and result.get("runner") == "host":
        import json
        import os

        from .diagnose import first_divergence

        with open(os.path.join(codegen_dir, "metadata.json")) as f:
            meta = json.load(f)
        found = first_divergence(board, codegen_dir, meta, result["seed"])
        if found:
            index, name, tensor, err = found
            where = f"; the first operator that differs is #{index} {name} (output '{tensor}', max abs error {err:g})"
    raise ValidationError(
        f"{result['board']}/{result['model']}: outputs differ from {v['reference']} "
        f"(max abs error {v['max_abs_error']:g}, {v['tolerance']}){where}")
