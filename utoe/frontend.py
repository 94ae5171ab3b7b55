"""Model import: a model file in, a Relax IRModule out.

Detects the format from the file's contents (not its name), checks that TVM's
frontend can take every operator before handing the model over, and turns
TVM's exceptions into errors that name the model file and the operator.
"""

import os
import re

from .errors import ModelError

TFLITE_IDENT = b"TFL3"


def detect_format(path):
    """Return 'tflite' for a TFLite flatbuffer; raise ModelError otherwise."""
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelError(f"model path is a directory, not a model file: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) == 8 and head[4:8] == TFLITE_IDENT:
        return "tflite"
    raise ModelError(
        f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier at byte 4); "
        "utoe reads .tflite files"
    )


def _tflite_model(path):
    import tflite

    with open(path, "rb") as f:
        buf = f.read()
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        model.SubgraphsLength()
    except Exception as e:  # flatbuffers raises bare exceptions on garbage
        raise ModelError(f"{path}: malformed TFLite flatbuffer ({e})") from None
    return model


def tflite_operators(model):
    """[(index, op name, first output tensor name)] of subgraph 0."""
    import tflite

    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    sub = model.Subgraphs(0)
    ops = []
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"?").decode(errors="replace")
        out = sub.Tensors(op.Outputs(0)).Name().decode() if op.OutputsLength() else "?"
        ops.append((i, name, out))
    return ops


def _locate(ops, message):
    """Name where each operator quoted in TVM's message first sits."""
    quoted = re.findall(r"'([A-Z0-9_:]+)'", message)
    places = []
    for q in dict.fromkeys(quoted):
        for i, name, out in ops:
            if name == q:
                places.append(f"{q} (operator #{i}, output tensor '{out}')")
                break
    return places


def import_model(path):
    """Import a model file into a Relax IRModule.

    Returns (mod, format, (input names, output names))."""
    fmt = detect_format(path)
    model = _tflite_model(path)
    if model.SubgraphsLength() != 1:
        raise ModelError(f"{path}: {model.SubgraphsLength()} subgraphs; utoe compiles single-subgraph models")
    import tvm
    from tvm.relax.frontend.tflite import from_tflite

    try:
        mod = from_tflite(model)
    except tvm.error.OpNotImplemented as e:
        msg = str(e).strip().splitlines()
        text = " ".join(line for line in msg if "operators" in line or "not supported" in line) or msg[-1]
        places = _locate(tflite_operators(model), text)
        where = "; ".join(places) if places else text
        quantized = " quantized" if "quantized" in text else ""
        raise ModelError(
            f"{path}: TVM's TFLite frontend cannot import{quantized} operator(s): {where}"
        ) from None
    except Exception as e:  # the frontend raises many kinds on bad models
        last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: TVM could not import the model: {last}") from None
    return mod, fmt, io_names(model)


def io_names(model):
    """(input tensor names, output tensor names) of subgraph 0, in order."""
    sub = model.Subgraphs(0)
    names = lambda idx: [sub.Tensors(i).Name().decode(errors="replace") for i in idx]  # noqa: E731
    return (names(sub.InputsAsNumpy()), names(sub.OutputsAsNumpy()))
