"""Which operator first computes something else than the reference?

When a run's outputs differ from the reference, a diagnosis build of the same
generated model traces every operator's output (UTOE_CONFIG_TRACE) on the
host; each is compared with the tensor of the same name that TFLite's
reference interpreter computed for the same input. The first operator whose
output differs is the culprit (later ones inherit its error)."""

import os
import tempfile

import numpy as np

from . import app, firmware
from .inputs import DTYPES, generate_inputs
from .protocol import parse_log
from .runners.host import HostRunner
from .runners.qemu import QemuRunner


def _reference_tensors(metadata, seed):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=metadata["source"]["path"], num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    specs = [(t["dtype"], tuple(t["shape"])) for t in metadata["inputs"]]
    # inputs by position, tensors by name or, nameless, by utoe's tensor_<i>
    # (utoe.frontend.tensor_name): names may be absent or repeated
    for d, value in zip(it.get_input_details(), generate_inputs(specs, seed)):
        it.set_tensor(d["index"], value.reshape(d["shape"]))
    it.invoke()
    return {d["name"] or f"tensor_{d['index']}": d["index"] for d in it.get_tensor_details()}, it


def host_run(board, codegen_dir, model, seed, timeout=300, trace=False):
    """Build a generated model for the board outside any build tree (utoe's
    bare-metal firmware), run one trial (on this host, or under the board's
    QEMU stand-in when the board is not the host) and return the checked
    RunLog (per-operator with every operator's output when trace is set)."""
    with tempfile.TemporaryDirectory(prefix="utoe-host-") as tmp:
        app_dir = os.path.join(tmp, "app")
        app.render(app_dir, {"board": board.name, "model": model, "mode": "per-operator" if trace else "per-model",
                             "trials": 1, "seed": seed, "trace": trace, "layout": firmware.layout(board)})
        elf = firmware.build(board, app_dir, codegen_dir, os.path.join(tmp, "firmware.elf"))
        if board.platform == "host":
            log = HostRunner(board, timeout).execute(elf)
        else:
            log = QemuRunner(board, timeout).run(elf, os.path.join(tmp, "run.log"))
    run = parse_log(log)
    run.check()
    return run


def trace(board, codegen_dir, metadata, seed, timeout=300):
    """Run a tracing build on the host; {operator index: (dtype, bytes)}."""
    return host_run(board, codegen_dir, metadata["model"], seed, timeout, trace=True).traces


def first_divergence(board, codegen_dir, metadata, seed):
    """(operator index, operator name, tensor name, max abs error) of the first
    operator whose output differs from the reference's, or None."""
    traces = trace(board, codegen_dir, metadata, seed)
    names, it = _reference_tensors(metadata, seed)
    for op in metadata["operators"]:
        tensor = op["outputs"][0]
        if tensor not in names or op["index"] not in traces:
            continue  # a tensor TFLite does not have (TVM's fused intermediates)
        dtype, data = traces[op["index"]]
        got = np.frombuffer(data, dtype=DTYPES[dtype])
        ref = np.asarray(it.get_tensor(names[tensor])).reshape(-1)
        if got.shape != ref.shape:
            continue
        if not np.array_equal(got, ref.astype(got.dtype)):
            err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
            return op["index"], op["name"], tensor, err
    return None
