#!/usr/bin/env python3
"""The float path's activation arena against TFLite Micro's, per model.

    python3 benchmarks/float_arena.py [--out benchmarks/results/float_arena.json]

For each float model of the zoo (models/registry.toml: sine, sinus, the
LeNet-5 of the ONNX and PyTorch front ends; the zoo's lenet5, float in and
out with int8 inside, for the mixed case) it prints utoe's arena (bytes of
the activation arena metadata.json reports, operator workspace included),
the same before lower.shrink_temporaries (TVM's temporaries as they come),
the planner's lower bound, and TFLite Micro's arena head (the non-persistent
part its greedy planner lays out: the figure utoe's arena compares with).

TFLite Micro cannot read ONNX or PyTorch files: for LeNet-5 the script
writes its TFLite twin (lenet5_float.tflite: the ONNX file's weights in
TFLite's NHWC layout; CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED), which
utoe compiles too and which is checked against TFLite's reference
interpreter. TFLite Micro's figure is measured with the `tflite-micro`
package when it imports (pip install tflite-micro), otherwise taken from
../shared/reference/tflm_arena.md for the files it lists, otherwise left out.

The price, measured once (QEMU, mps2-an386 Cortex-M4F, trials=1): LeNet-5
(lenet5_onnx) went from 4,900,527 to 5,339,645 instructions per inference
(+9%: the first convolution, SAME-padded, reads its input through a bounds
test per tap, as TFLite Micro's reference kernel does, instead of a padded
copy; the second, VALID, got 1% faster), and its measured RAM from 45,616 to
23,816 bytes.
"""

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "models"))

import numpy as np  # noqa: E402

from utoe import models as zoo  # noqa: E402
from utoe.files import write_json  # noqa: E402

FLOAT_MODELS = ("sine", "sinus", "lenet5_onnx", "lenet5_torch",
                "lenet5")  # float in and out, int8 inside (QUANTIZE ... DEQUANTIZE): utoe's integer path
TFLM_TABLE = os.path.join(ROOT, "..", "shared", "reference", "tflm_arena.md")


def lenet5_tflite(onnx_path, out_path):
    """The TFLite twin of models/lenet5.onnx: same weights, NHWC layout (the
    first FULLY_CONNECTED's columns permuted from C,H,W to H,W,C order so it
    computes the same function). Returns out_path."""
    import onnx
    from onnx import numpy_helper

    from tflite_builder import BuiltinOperator as OP, Model, TensorType

    w = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in onnx.load(onnx_path).graph.initializer}
    F32 = TensorType.FLOAT32
    m = Model(description="LeNet-5 float (twin of models/lenet5.onnx, NHWC)")
    x = m.tensor("image", [1, 28, 28, 1], F32)

    def const(name, arr):
        return m.tensor(name, list(arr.shape), F32, data=arr)

    def conv(x, name, wt, b, shape, padding):
        y = m.tensor(name, shape, F32)
        m.operator(OP.CONV_2D, [x, const(name + "/w", wt.transpose(0, 2, 3, 1).copy()), const(name + "/b", b)], [y],
                   options=("Conv2DOptions", {"Padding": padding, "StrideW": 1, "StrideH": 1,
                                              "FusedActivationFunction": 1, "DilationWFactor": 1,
                                              "DilationHFactor": 1}))
        return y

    def pool(x, name, shape):
        y = m.tensor(name, shape, F32)
        m.operator(OP.MAX_POOL_2D, [x], [y], options=("Pool2DOptions", {
            "Padding": 1, "StrideW": 2, "StrideH": 2, "FilterWidth": 2, "FilterHeight": 2,
            "FusedActivationFunction": 0}))
        return y

    def fc(x, name, wt, b, act):
        y = m.tensor(name, [1, wt.shape[0]], F32)
        m.operator(OP.FULLY_CONNECTED, [x, const(name + "/w", wt), const(name + "/b", b)], [y],
                   options=("FullyConnectedOptions", {"FusedActivationFunction": act}))
        return y

    h = conv(x, "conv1", w["features.0.weight"], w["features.0.bias"], [1, 28, 28, 6], 0)  # SAME: pad 2
    h = pool(h, "pool1", [1, 14, 14, 6])
    h = conv(h, "conv2", w["features.3.weight"], w["features.3.bias"], [1, 10, 10, 16], 1)  # VALID
    h = pool(h, "pool2", [1, 5, 5, 16])
    flat = m.tensor("flatten", [1, 400], F32)
    shape = m.tensor("flatten/shape", [2], TensorType.INT32, data=np.array([1, 400], np.int32))
    m.operator(OP.RESHAPE, [h, shape], [flat])
    w1 = w["classifier.1.weight"].reshape(120, 16, 5, 5).transpose(0, 2, 3, 1).reshape(120, 400).copy()
    h = fc(flat, "fc1", w1, w["classifier.1.bias"], 1)
    h = fc(h, "fc2", w["classifier.3.weight"], w["classifier.3.bias"], 1)
    y = fc(h, "logits", w["classifier.5.weight"], w["classifier.5.bias"], 0)
    m.io([x], [y])
    m.signature("serving_default", {"image": x}, {"logits": y})
    with open(out_path, "wb") as f:
        f.write(m.serialize())
    return out_path


def utoe_arena(path, shrink=True):
    """(arena bytes, lower bound, workspace pool bytes) of utoe's plan."""
    from utoe.codegen import generate, lower

    saved = lower.shrink_temporaries
    if not shrink:
        lower.shrink_temporaries = lambda prim: prim
    try:
        with tempfile.TemporaryDirectory(prefix="utoe-arena-") as tmp:
            meta = generate(path, tmp, "m")
    finally:
        lower.shrink_temporaries = saved
    mem = meta["memory"]
    return mem["arena_bytes"], mem["arena_lower_bound_bytes"], mem["workspace_pool_bytes"], \
        meta["options"]["importer_used"]


def tflm_measured(path):
    """TFLite Micro's arena head for a .tflite file, or None without the
    tflite-micro package."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    it = runtime.Interpreter.from_file(path, arena_size=4 << 20)
    d = it.get_input_details(0)
    it.set_input(np.zeros(d["shape"], dtype=d["dtype"]), 0)
    it.invoke()
    # print_allocations writes from C++ to the process's stdout or stderr
    with tempfile.TemporaryFile(mode="w+") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            it.print_allocations()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
        log.seek(0)
        text = log.read()
    m = re.search(r"Arena allocation head (\d+) bytes", text)
    return int(m.group(1)) if m else None


def tflm_table():
    """{file name: arena head} from ../shared/reference/tflm_arena.md."""
    out = {}
    with contextlib.suppress(OSError), open(TFLM_TABLE, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[0].endswith(".tflite") and cells[2].isdigit():
                out[cells[0]] = int(cells[2])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "float_arena.json"))
    args = ap.parse_args()
    from utoe.conformance import check

    table = tflm_table()
    rows = []
    with tempfile.TemporaryDirectory(prefix="utoe-float-arena-") as tmp:
        twin = lenet5_tflite(os.path.join(ROOT, "models", "lenet5.onnx"), os.path.join(tmp, "lenet5_float.tflite"))
        twin_check = check(twin, name="lenet5_float")
        twin_tflm = tflm_measured(twin)
        entries = [(name, zoo.resolve(name).path) for name in FLOAT_MODELS] + [("lenet5_float (TFLite twin)", twin)]
        for name, path in entries:
            with contextlib.redirect_stderr(io.StringIO()):
                arena, bound, pool, importer = utoe_arena(path)
                before = utoe_arena(path, shrink=False)[0]
            if path.endswith(".tflite"):
                tflm = tflm_measured(path)
                source = "measured (tflite-micro)" if tflm is not None else None
                if tflm is None and os.path.basename(path) in table:
                    tflm, source = table[os.path.basename(path)], "shared/reference/tflm_arena.md"
            else:  # ONNX / PyTorch: TFLite Micro's figure for the TFLite twin
                tflm, source = twin_tflm, "measured on lenet5_float.tflite (tflite-micro)" if twin_tflm else None
            rows.append({"model": name, "file": os.path.basename(path), "importer": importer,
                         "utoe_arena_bytes": arena, "utoe_arena_before_shrink_bytes": before,
                         "lower_bound_bytes": bound, "workspace_pool_bytes": pool,
                         "tflm_arena_head_bytes": tflm, "tflm_source": source,
                         "ratio": round(arena / tflm, 3) if tflm else None})
    print(f"{'model':28s} {'utoe':>7s} {'before':>7s} {'bound':>7s} {'TFLM':>7s} {'ratio':>6s}  TFLM figure")
    for r in rows:
        print(f"{r['model']:28s} {r['utoe_arena_bytes']:7d} {r['utoe_arena_before_shrink_bytes']:7d} "
              f"{r['lower_bound_bytes']:7d} {r['tflm_arena_head_bytes'] or '-':>7} {r['ratio'] or '-':>6}  "
              f"{r['tflm_source'] or 'n/a'}")
    print(f"lenet5_float.tflite against TFLite's BUILTIN_REF: {twin_check.status}"
          f" (max abs error {twin_check.max_abs_error})")
    write_json(args.out, {"schema": "utoe.float_arena/1", "rows": rows,
                          "lenet5_float_tflite_check": {"status": twin_check.status,
                                                         "max_abs_error": twin_check.max_abs_error}})
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
