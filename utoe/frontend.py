"""Model import: a model file in, a Relax IRModule out.

Formats: TFLite (.tflite, recognised by its flatbuffer identifier), ONNX
(.onnx, parsed by the onnx package) and PyTorch exported programs (.pt2,
written by torch.export.save). Each has an importer in IMPORTERS; all give
the same thing: a Relax module whose weights are constants, and the source's
input and output names. Dynamic shapes are refused, naming the input: utoe
plans memory statically.

TVM's exceptions become errors that name the model file and the operator.
"""

import os
import re
import warnings
import zipfile

from .errors import ModelError

TFLITE_IDENT = b"TFL3"


def detect_format(path):
    """Return 'tflite', 'onnx' or 'pt2'; raise ModelError naming the file otherwise."""
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelError(f"model path is a directory, not a model file: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) == 8 and head[4:8] == TFLITE_IDENT:
        return "tflite"
    if path.endswith(".pt2"):
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path}: not a PyTorch exported program (.pt2 files are zip archives "
                             "written by torch.export.save)")
        return "pt2"
    if path.endswith(".onnx"):
        _onnx_model(path)
        return "onnx"
    raise ModelError(
        f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier at byte 4); "
        "utoe reads .tflite, .onnx and .pt2 (torch.export) files"
    )


def _dynamic(path, name, shape, fix):
    return ModelError(f"{path}: input '{name}' has a dynamic dimension (shape {shape}); utoe compiles static "
                      f"shapes only — {fix}")


def _onnx_model(path):
    import onnx

    first = lambda e: str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__  # noqa: E731
    try:
        model = onnx.load(path)
    except Exception as e:  # protobuf raises many kinds
        raise ModelError(f"{path}: not an ONNX model ({first(e)})") from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ModelError(f"{path}: invalid ONNX model (onnx.checker: {first(e)})") from None
    return model


def _import_onnx(path):
    from tvm.relax.frontend.onnx import from_onnx

    model = _onnx_model(path)
    weights = {i.name for i in model.graph.initializer}
    shapes = {}
    for i in model.graph.input:
        if i.name in weights:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in i.type.tensor_type.shape.dim]
        if not all(isinstance(d, int) and d > 0 for d in dims):
            raise _dynamic(path, i.name, dims, "export with a fixed batch size (no dynamic_axes)")
        shapes[i.name] = dims
    # initializers become Relax constants, as from_tflite's weights
    mod = from_onnx(model, shape_dict=shapes, keep_params_in_input=False)
    return mod, (list(shapes), [o.name for o in model.graph.output])


def _import_pt2(path):
    import torch
    from tvm.relax.frontend.torch import from_exported_program

    # torch's own deprecation notices about its pytree format, from loading
    # and from the decompositions TVM's frontend runs: not the user's concern
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            ep = torch.export.load(path)
        except Exception as e:
            raise ModelError(f"{path}: torch.export.load cannot read it ({type(e).__name__}: {e})") from None
        sig = ep.graph_signature
        user = set(sig.user_inputs)
        for node in ep.graph.nodes:
            if node.op == "placeholder" and node.name in user:
                shape = list(node.meta["val"].shape)
                if not all(isinstance(d, int) for d in shape):
                    raise _dynamic(path, node.name, [d if isinstance(d, int) else str(d) for d in shape],
                                   "export without dynamic_shapes (torch.export.export(model, example))")
        # parameters and buffers become Relax constants, as from_tflite's weights
        mod = from_exported_program(ep, keep_params_as_input=False)
    return mod, (list(sig.user_inputs), list(sig.user_outputs))


def _tflite_model(path):
    import tflite

    with open(path, "rb") as f:
        buf = f.read()
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        model.SubgraphsLength()
    except Exception as e:  # flatbuffers raises bare exceptions on garbage
        raise ModelError(f"{path}: malformed TFLite flatbuffer ({e})") from None
    # A -1 in a TFLite shape *signature* only says the tensor may be resized;
    # its shape is what TFLite (and TFLite Micro) allocate, and what utoe
    # compiles. A shape without a size is dynamic.
    sub = model.Subgraphs(0)
    for i in sub.InputsAsNumpy():
        t = sub.Tensors(i)
        shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
        if any(d < 1 for d in shape):
            raise _dynamic(path, t.Name().decode(errors="replace"), [d if d >= 1 else "?" for d in shape],
                           "convert with a fixed batch size")
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
    if fmt != "tflite":
        try:
            mod, names = IMPORTERS[fmt](path)
        except ModelError:
            raise
        except Exception as e:  # the frontends raise many kinds on what they cannot take
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ModelError(f"{path}: TVM's {fmt} frontend could not import the model: {last}") from None
        return mod, fmt, names
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


# format -> importer(path) -> (Relax module, (input names, output names));
# TFLite goes through import_model itself (operator checks, error locations).
IMPORTERS = {"onnx": _import_onnx, "pt2": _import_pt2}
