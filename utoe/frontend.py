"""Model import: a model file in, a Relax IRModule out.

Formats: TFLite (.tflite, recognised by its flatbuffer identifier), ONNX
(.onnx, parsed by the onnx package) and PyTorch exported programs (.pt2,
written by torch.export.save). Each has an importer in IMPORTERS; all give
the same thing: a Relax module whose weights are constants, and the source's
input and output names. Dynamic shapes are refused, naming the input: utoe
plans memory statically.

TVM's exceptions become errors that name the model file and the operator.
"""

import contextlib
import logging
import os
import re
import warnings
import zipfile

from .errors import ModelError

TFLITE_IDENT = b"TFL3"


def detect_format(path):
    """Return 'tflite', 'onnx' or 'pt2'; raise ModelError naming the file otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise ModelError(f"a model file is a path, not {type(path).__name__} {path!r:.40}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelError(f"model path is a directory, not a model file: {path}")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model file ({e.strerror or e})") from None
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


class _Records(logging.Handler):
    """Keeps what a logger says instead of printing it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _quiet_logger(name):
    """Hold back logger `name`'s records (returned, a list) instead of
    letting them reach stderr: torch.export.load logs the traceback of a
    file it cannot deserialize as a warning, then raises a RuntimeError that
    says "check the warnings above"."""
    logger, handler = logging.getLogger(name), _Records()
    # torch installs a stderr handler of its own on its loggers (torch._logging)
    saved = logger.handlers[:], logger.propagate
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        yield handler.records
    finally:
        logger.handlers[:], logger.propagate = saved


def _load_pt2(path):
    """torch.export.load, or a ModelError naming the file and torch's reason
    (in one line: the reason torch logged, not the traceback)."""
    import torch
    import torch.export  # its loggers and their handlers exist before they are held back

    with _quiet_logger("torch.export") as records:
        try:
            return torch.export.load(path)
        except Exception as e:  # torch raises RuntimeError, KeyError, zipfile/pickle errors, ...
            causes = [r.exc_info[1] for r in records if r.exc_info and r.exc_info[1] is not None]
            cause = causes[-1] if causes else e
            text = " ".join(str(cause).split())
            text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", text)  # c10's location prefix
            text = text.split(". This is an internal miniz error")[0]  # then a paragraph of speculation
            hint = ""
            if _torch_save_checkpoint(path):
                hint = ("; it looks like a torch.save checkpoint (weights or a pickled module), not a program: "
                        "write it with torch.export.save(torch.export.export(model, example_inputs), path)")
            raise ModelError(f"{path}: not a PyTorch exported program torch.export.load can read "
                             f"({type(cause).__name__}: {text or 'no reason given'}){hint}") from None


def _torch_save_checkpoint(path):
    """Is this zip what torch.save writes (<name>/data.pkl), not torch.export.save?"""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/data.pkl") for n in names) and not any(n.endswith("archive_format") for n in names)


def _import_pt2(path):
    from tvm.relax.frontend.torch import from_exported_program

    # torch's own deprecation notices about its pytree format, from loading
    # and from the decompositions TVM's frontend runs: not the user's concern
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ep = _load_pt2(path)
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


# Bytes per element of the TFLite tensor types utoe or TVM may meet
# (schema.fbs TensorType); constant data must be exactly shape x this.
_TFLITE_ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 2, 16: 4}
MAX_TENSOR_ELEMENTS = 2**31  # far beyond any microcontroller; a larger dimension is corruption


def _ints(length, as_numpy):
    """A flatbuffer int vector as a list ([] when the file leaves it out)."""
    return [int(x) for x in as_numpy()] if length else []


def tensor_name(tensor, index):
    """A TFLite tensor's name; a file may leave it out ('tensor_<index>' then)."""
    raw = tensor.Name()
    return raw.decode(errors="replace") if raw else f"tensor_{index}"


def _read_model_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ModelError(f"{path}: cannot read the model file ({e.strerror or e})") from None


def _verify_flatbuffer(path, buf):
    """Every offset, vector and string TFLite's schema defines lies inside the
    file (utoe.flatbuf), before anything reads it."""
    from .flatbuf import FlatbufferError, verify

    try:
        verify(buf)
    except FlatbufferError as e:
        raise ModelError(f"{path}: not a valid TFLite flatbuffer ({len(buf):,} bytes; {e}): truncated or "
                         "corrupted") from None


def _check_tflite(path, buf, model):
    """What the verifier cannot see: indices between tables and data sizes.
    Raises ModelError naming the subgraph, tensor or operator at fault."""
    n_buffers, n_codes = model.BuffersLength(), model.OperatorCodesLength()
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{path}: the TFLite model has no subgraph")
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        n_tensors = sub.TensorsLength()
        for i in range(n_tensors):
            t = sub.Tensors(i)
            name = tensor_name(t, i)
            where = f"{path}: subgraph {g}, tensor {i} ('{name}')"
            shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
            if any(d < -1 for d in shape):
                raise ModelError(f"{where}: negative dimension in shape {shape}")
            elements = 1
            for d in shape:
                elements *= 1 if d == -1 else d  # -1: a dynamic size, named for inputs below; 0: no elements
            if elements > MAX_TENSOR_ELEMENTS:
                raise ModelError(f"{where}: shape {shape} has {elements:,} elements, over utoe's limit of "
                                 f"{MAX_TENSOR_ELEMENTS:,} (a corrupted file?)")
            b = t.Buffer()
            if not 0 <= b < max(n_buffers, 1):
                raise ModelError(f"{where}: buffer index {b} outside the model's {n_buffers} buffers")
            if b < n_buffers:
                buffer = model.Buffers(b)
                size = buffer.DataLength() if buffer is not None else 0
                if size == 0 and buffer is not None and buffer.Offset() > 1:  # data stored after the flatbuffer
                    if buffer.Offset() + buffer.Size() > len(buf):
                        raise ModelError(f"{where}: its data ({buffer.Size():,} bytes at offset {buffer.Offset():,})"
                                         f" lies outside the {len(buf):,}-byte file (truncated?)")
                    size = buffer.Size()
                item = _TFLITE_ITEMSIZE.get(t.Type())
                if size and item and -1 not in shape and size != elements * item:
                    raise ModelError(f"{where}: {size:,} bytes of data for shape {shape} ({elements * item:,} "
                                     "expected)")
        for kind, idx in (("input", sub.InputsAsNumpy() if sub.InputsLength() else []),
                          ("output", sub.OutputsAsNumpy() if sub.OutputsLength() else [])):
            for x in idx:
                if not 0 <= int(x) < n_tensors:
                    raise ModelError(f"{path}: subgraph {g}: {kind} tensor index {int(x)} outside its "
                                     f"{n_tensors} tensors")
        for k in range(sub.OperatorsLength()):
            op = sub.Operators(k)
            if not 0 <= op.OpcodeIndex() < n_codes:
                raise ModelError(f"{path}: subgraph {g}, operator {k}: opcode index {op.OpcodeIndex()} outside "
                                 f"the model's {n_codes} operator codes")
            for kind, idx in (("input", op.InputsAsNumpy() if op.InputsLength() else []),
                              ("output", op.OutputsAsNumpy() if op.OutputsLength() else [])):
                for x in idx:
                    if not (-1 if kind == "input" else 0) <= int(x) < n_tensors:
                        raise ModelError(f"{path}: subgraph {g}, operator {k}: {kind} tensor index {int(x)} "
                                         f"outside its {n_tensors} tensors")


def _tflite_model(path):
    import tflite

    buf = _read_model_file(path)
    _verify_flatbuffer(path, buf)
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        _check_tflite(path, buf, model)
    except ModelError:
        raise
    except Exception as e:  # flatbuffers raises bare exceptions on garbage the verifier let through
        raise ModelError(f"{path}: malformed TFLite flatbuffer ({type(e).__name__}: {e})") from None
    _refuse_control_flow(path, model)
    # A -1 in a TFLite shape *signature* only says the tensor may be resized;
    # its shape is what TFLite (and TFLite Micro) allocate, and what utoe
    # compiles. A shape without a size is dynamic.
    sub = model.Subgraphs(0)
    for i in _ints(sub.InputsLength(), sub.InputsAsNumpy):
        t = sub.Tensors(i)
        shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
        if any(d < 1 for d in shape):
            raise _dynamic(path, tensor_name(t, i), [d if d >= 1 else "?" for d in shape],
                           "convert with a fixed batch size")
    return model


# TFLite Micro's operators that call other subgraphs or keep state across
# invocations: utoe compiles one subgraph, run once per inference.
CONTROL_FLOW = {
    "IF": "runs one of two subgraphs", "WHILE": "runs subgraphs in a loop",
    "CALL_ONCE": "runs an initialisation subgraph once", "VAR_HANDLE": "names a resource variable",
    "READ_VARIABLE": "reads a resource variable", "ASSIGN_VARIABLE": "writes a resource variable",
}


def _refuse_control_flow(path, model):
    found = [(i, name) for i, name, _ in tflite_operators(model) if name in CONTROL_FLOW]
    if found:
        parts = "; ".join(f"{name} (operator #{i}): {CONTROL_FLOW[name]}" for i, name in found)
        raise ModelError(f"{path}: {parts} — utoe compiles one subgraph run once per inference, without "
                         "control flow or state kept across inferences")


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
        out = tensor_name(sub.Tensors(op.Outputs(0)), op.Outputs(0)) if op.OutputsLength() else "?"
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


def _numbered_params(mod):
    """mod with main's parameters renamed x0, x1, ...: TVM's frontends name
    them after the model's inputs ('serving_default_x:0', any bytes at all),
    and TVM's C back end pastes those names into C identifiers. The model's
    own names stay in metadata.json (the importer's io names)."""
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    fn = mod["main"]
    new = [relax.Var(f"x{i}", p.ty) for i, p in enumerate(fn.params)]

    @mutator
    class Rename(PyExprMutator):
        def __init__(self, mapping):
            super().__init__()
            self.mapping = mapping

        def visit_var_(self, op):
            return self.mapping.get(op, op)

    body = Rename(dict(zip(fn.params, new))).visit_expr(fn.body)
    mod["main"] = relax.Function(new, body, fn.ret_ty, fn.is_pure, fn.attrs, fn.span)
    return mod


def import_model(path):
    """Import a model file into a Relax IRModule.

    Returns (mod, format, (input names, output names))."""
    mod, fmt, names = _import_model(path)
    return _numbered_params(mod), fmt, names


def _import_model(path):
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
        mod = from_tflite(model, op_converter=_converter_class())
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


_CONVERTER = None


def _converter_class():
    """TVM's TFLite operator converter with its bugs in TVM 0.27 fixed:

    - EXPAND_DIMS calls relax.op.expand_dims(x, axis, 1), a signature Relax
      does not have (TypeError "expand_dims() takes 2 positional arguments");
      here it is expand_dims(x, [axis]), axis counted as TFLite does (a
      negative one from the end of the output's dimensions);
    - FULLY_CONNECTED with int8 weights and float32 activations (a hybrid,
      dynamic-range model), which it cannot take, is computed as TFLite's
      kernel does (hybrid_fully_connected);
    - DEQUANTIZE of a constant (weight-only quantization) is folded at
      import (TVM's converter takes it for a run-time tensor: KeyError)."""
    global _CONVERTER
    if _CONVERTER is None:
        import numpy as np
        from tflite.TensorType import TensorType
        from tvm import relax
        from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

        class Converter(OperatorConverter):
            def convert_fully_connected(self, op):
                ins = self.get_input_tensors(op)
                if ins[0].tensor.Type() == TensorType.FLOAT32 and ins[1].tensor.Type() == TensorType.INT8:
                    return hybrid_fully_connected(self, op, ins)
                return super().convert_fully_connected(op)

            def convert_dequantize(self, op):
                # a constant (weights quantized once, DEQUANTIZEd at the start): folded here, as
                # TFLite's reference computes it (scale * (q - zero point), rounded once to float32);
                # TVM's converter looks a constant up as a run-time tensor and fails
                x = self.get_input_tensors(op)[0]
                if self.has_expr(x.tensor_idx) or x.tensor.Type() not in (TensorType.INT8, TensorType.INT16):
                    return super().convert_dequantize(op)
                q = x.tensor.Quantization()
                values = np.asarray(self.get_tensor_value(x)).astype(np.float64)
                scales = q.ScaleAsNumpy().astype(np.float64)
                zps = q.ZeroPointAsNumpy().astype(np.float64) if q.ZeroPointLength() else np.zeros_like(scales)
                if len(scales) > 1:
                    shape = [1] * values.ndim
                    shape[q.QuantizedDimension()] = -1
                    scales, zps = scales.reshape(shape), zps.reshape(shape)
                return relax.const(((values - zps) * scales).astype(np.float32), "float32")

            def check_unsupported_ops(self):
                # TVM refuses every dynamic-range operator up front; hybrid FULLY_CONNECTED is ours
                keep = [i for i in range(self.subgraph.OperatorsLength())
                        if not self._hybrid_fc(self.subgraph.Operators(i))]
                sub = self.subgraph
                self.subgraph = _OperatorsView(sub, keep)
                try:
                    super().check_unsupported_ops()
                finally:
                    self.subgraph = sub

            def _hybrid_fc(self, op):
                if self.get_op_code_str(op) != "FULLY_CONNECTED":
                    return False
                ins = self.get_input_tensors(op)
                return len(ins) >= 2 and ins[0].tensor.Type() == TensorType.FLOAT32 \
                    and ins[1].tensor.Type() == TensorType.INT8

            def convert_expand_dims(self, op):
                x, axis_t = self.get_input_tensors(op)
                axis = int(np.asarray(self.get_tensor_value(axis_t)).reshape(-1)[0])
                rank = len(x.tensor.ShapeAsNumpy()) if x.tensor.ShapeLength() else 0
                if not -1 - rank <= axis <= rank:
                    raise ValueError(f"EXPAND_DIMS: axis {axis} outside [{-1 - rank}, {rank}]")
                return relax.op.expand_dims(self.get_tensor_expr(x), [axis % (rank + 1)])

        _CONVERTER = Converter
    return _CONVERTER


class _OperatorsView:
    """A TFLite subgraph showing only the operators at `keep`."""

    def __init__(self, sub, keep):
        self._sub, self._keep = sub, keep

    def OperatorsLength(self):  # noqa: N802 - flatbuffer API
        return len(self._keep)

    def Operators(self, i):  # noqa: N802
        return self._sub.Operators(self._keep[i])

    def __getattr__(self, name):
        return getattr(self._sub, name)


def hybrid_fully_connected(conv, op, ins):
    """A hybrid FULLY_CONNECTED (float32 input and output, int8 weights with
    a per-tensor or per-channel scale, float32 bias) as Relax, computing what
    TFLite's kernel computes (fully_connected.cc EvalHybridDense with
    portable_tensor_utils.cc; TFLite Micro has no hybrid kernel):

      per batch row: range = max(|min x|, |max x|); scale s = range / 127
        (1 when range is 0); q = clamp(round(x * (127 / range)), -127, 127),
        round half away from zero;
      acc = sum q * w (int32, exact); out = bias + float(acc) * (s * w_scale)
        (w_scale per output row when per-channel); then the fused activation.

    With asymmetric_quantize_inputs each row is quantized to [-128, 127] with
    a zero point as TFLite's PortableAsymmetricQuantizeFloats does (in
    double), and acc loses zero point x the weight row's sum. Shuffled weight
    formats are refused by name."""
    import numpy as np
    import tvm
    from tflite.FullyConnectedOptions import FullyConnectedOptions
    from tvm import relax

    x, w = ins[0], ins[1]
    opts = FullyConnectedOptions()
    table = op.BuiltinOptions()
    opts.Init(table.Bytes, table.Pos)
    if opts.WeightsFormat() != 0:
        raise tvm.error.OpAttributeUnImplemented("'FULLY_CONNECTED' with shuffled weights is not supported")
    wv = np.asarray(conv.get_tensor_value(w)).astype(np.int8)
    q = w.tensor.Quantization()
    scales = q.ScaleAsNumpy().astype(np.float32) if q is not None and q.ScaleLength() else np.ones(1, np.float32)
    zps = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else np.zeros(1)
    if np.any(zps != 0):
        raise tvm.error.OpAttributeUnImplemented("hybrid 'FULLY_CONNECTED' with non-zero weight zero points "
                                                 "is not supported")
    units, depth = wv.shape
    x_shape = [int(d) for d in x.tensor.ShapeAsNumpy()]
    batch = int(np.prod(x_shape)) // depth
    f32 = lambda v: relax.const(np.float32(v), "float32")  # noqa: E731
    xe = relax.op.reshape(conv.get_tensor_expr(x), [batch, depth])
    wconst = relax.const(np.ascontiguousarray(wv.T), "int8")
    ws = relax.const(scales.reshape(1, -1) if len(scales) > 1 else scales.reshape(1, 1), "float32")
    if opts.AsymmetricQuantizeInputs():
        qx, s, offset = _asymmetric_rows(conv, xe, batch, depth)
        acc = relax.op.matmul(qx, wconst, out_dtype="int32")
        row_sums = relax.const(wv.astype(np.int32).sum(axis=1).reshape(1, -1), "int32")
        acc = relax.op.subtract(acc, relax.op.multiply(row_sums, offset))
    else:
        rng = relax.op.maximum(relax.op.abs(relax.op.min(xe, axis=1, keepdims=True)),
                               relax.op.abs(relax.op.max(xe, axis=1, keepdims=True)))
        zero = relax.op.equal(rng, f32(0))
        v = relax.op.multiply(xe, relax.op.divide(f32(127), relax.op.where(zero, f32(1), rng)))
        qx = relax.op.astype(relax.op.minimum(relax.op.maximum(_round_half_away(v), f32(-127)), f32(127)), "int8")
        acc = relax.op.matmul(qx, wconst, out_dtype="int32")
        s = relax.op.where(zero, f32(1), relax.op.divide(rng, f32(127)))
    out = relax.op.multiply(relax.op.astype(acc, "float32"), relax.op.multiply(s, ws))
    if len(ins) == 3 and ins[2].tensor_idx != -1:
        out = relax.op.add(relax.const(np.asarray(conv.get_tensor_value(ins[2]), np.float32), "float32"), out)
    out = conv.convert_fused_activation_function(out, opts.FusedActivationFunction())
    if opts.KeepNumDims():
        out = relax.op.reshape(out, x_shape[:-1] + [units])
    return out


def _round_half_away(v, dtype="float32"):
    """TfLiteRound (std::round) exactly: trunc, then one step away from zero
    when the dropped fraction is at least a half."""
    import numpy as np
    from tvm import relax

    t = relax.op.trunc(v)
    half = relax.op.greater_equal(relax.op.abs(relax.op.subtract(v, t)), relax.const(np.dtype(dtype).type(0.5), dtype))
    return relax.op.add(t, relax.op.where(half, relax.op.sign(v), relax.op.zeros_like(v)))


def _asymmetric_rows(conv, xe, batch, depth):
    """Per row: (int8 q, float32 scale, int32 zero point) as TFLite's
    PortableAsymmetricQuantizeFloats computes them. The scale and zero point
    are computed in double, as there, inside one operator (a TE function:
    utoe's executor keeps no float64 tensor); the rest in float32."""
    import numpy as np
    import tvm
    from tvm import relax, te

    def params(x):
        k = te.reduce_axis((0, depth), "k")
        lo = te.compute((batch,), lambda b: te.min(x[b, k], axis=k), "row_min")
        k2 = te.reduce_axis((0, depth), "k2")
        hi = te.compute((batch,), lambda b: te.max(x[b, k2], axis=k2), "row_max")

        def f(b, j):
            f64 = lambda v: tvm.tirx.const(v, "float64")  # noqa: E731
            rmin = tvm.tirx.min(lo[b], tvm.tirx.const(0, "float32")).astype("float64")
            rmax = tvm.tirx.max(hi[b], tvm.tirx.const(0, "float32")).astype("float64")
            same = rmin == rmax
            scale = tvm.tirx.Select(same, f64(1), (rmax - rmin) / f64(255))
            zp_min = f64(-128) - rmin / scale
            zp_max = f64(127) - rmax / scale
            err_min = f64(128) + tvm.tirx.abs(rmin / scale)
            err_max = f64(127) + tvm.tirx.abs(rmax / scale)
            zp = tvm.tirx.Select(err_min < err_max, zp_min, zp_max)
            t = tvm.tirx.trunc(zp)
            rounded = t + tvm.tirx.Select(tvm.tirx.abs(zp - t) >= f64(0.5),
                                          tvm.tirx.Select(zp < f64(0), f64(-1), f64(1)), f64(0))
            nudged = tvm.tirx.Select(zp <= f64(-128), f64(-128), tvm.tirx.Select(zp >= f64(127), f64(127), rounded))
            offset = tvm.tirx.Select(same, f64(0), nudged)
            return tvm.tirx.Select(j == 0, tvm.tirx.Select(same, tvm.tirx.const(1, "float32"), scale.astype("float32")),
                                   offset.astype("float32"))

        return te.compute((batch, 2), f, "asymmetric_params")

    p = conv.bb.emit_te(params, conv.bb.emit(xe))
    s = relax.op.strided_slice(p, axes=[1], begin=[0], end=[1])
    off_f = relax.op.strided_slice(p, axes=[1], begin=[1], end=[2])
    f32 = lambda v: relax.const(np.float32(v), "float32")  # noqa: E731
    v = relax.op.add(off_f, relax.op.multiply(xe, relax.op.divide(f32(1), s)))
    q = relax.op.minimum(relax.op.maximum(_round_half_away(v), f32(-128)), f32(127))
    return relax.op.astype(q, "int8"), s, relax.op.astype(off_f, "int32")


def io_names(model):
    """(input tensor names, output tensor names) of subgraph 0, in order."""
    sub = model.Subgraphs(0)
    names = lambda idx: [tensor_name(sub.Tensors(i), i) for i in idx]  # noqa: E731
    return (names(_ints(sub.InputsLength(), sub.InputsAsNumpy)), names(_ints(sub.OutputsLength(), sub.OutputsAsNumpy)))


# format -> importer(path) -> (Relax module, (input names, output names));
# TFLite goes through import_model itself (operator checks, error locations).
IMPORTERS = {"onnx": _import_onnx, "pt2": _import_pt2}
