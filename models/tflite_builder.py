"""A small TFLite flatbuffer writer on the `tflite` package's generated builders.

The project writes its own models (models/make_sine.py, models/make_zoo.py)
without TensorFlow. This module holds what they share: a `Model` collects
buffers, tensors (with optional quantization), operators with their builtin
options, one subgraph and signature defs, and `Model.serialize()` writes them
as a TFLite schema-3 flatbuffer in a fixed order, so the same calls always
give the same bytes. Constant payloads are 16-byte aligned, as the TFLite
converter writes them, so they can be read in place.

    m = Model(description="...")
    x = m.tensor("x", [1, 4], TensorType.INT8, quantization=Quantization([0.1], [-3]))
    w = m.tensor("w", [2, 4], TensorType.INT8, data=w_int8, quantization=...)
    ...
    m.operator(BuiltinOperator.FULLY_CONNECTED, [x, w, b], [y], version=4,
               options=("FullyConnectedOptions", {"FusedActivationFunction": 1}))
    m.io([x], [y]); m.signature("serving_default", {"x": x}, {"y": y})
    data = m.serialize()

Buffer 0 is the schema's empty sentinel; activations point at it.
"""

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator  # noqa: F401  (re-exported for callers)
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType  # noqa: F401

# BuiltinOperator values above this are stored in OperatorCode.builtin_code
# only; deprecated_builtin_code holds this placeholder (schema 3a).
PLACEHOLDER_FOR_GREATER_OP_CODES = 127

NUMPY_DTYPE = {
    TensorType.FLOAT32: np.dtype("<f4"),
    TensorType.INT32: np.dtype("<i4"),
    TensorType.INT8: np.dtype("i1"),
    TensorType.UINT8: np.dtype("u1"),
    TensorType.INT16: np.dtype("<i2"),
    TensorType.INT64: np.dtype("<i8"),
}


@dataclass
class Quantization:
    """Affine quantization: real = scale * (q - zero_point). One scale and
    zero point per tensor, or one per slice along `axis` (per-channel)."""

    scale: list
    zero_point: list
    axis: int = 0

    def __post_init__(self):
        self.scale = [float(np.float32(s)) for s in self.scale]
        self.zero_point = [int(z) for z in self.zero_point]
        assert len(self.scale) == len(self.zero_point) >= 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: list
    type: int
    buffer: int
    quantization: Quantization = None
    shape_signature: list = None


@dataclass
class Operator:
    opcode_index: int
    inputs: list
    outputs: list
    options: tuple = None  # (options table name, {field: value}) or None


@dataclass
class Model:
    description: str
    subgraph_name: str = "main"
    buffers: list = field(default_factory=lambda: [None])  # buffer 0: the empty sentinel
    tensors: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    opcodes: list = field(default_factory=list)  # [builtin code, version]
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    signatures: list = field(default_factory=list)
    subgraphs: list = field(default_factory=list)  # more subgraphs (control flow): Models sharing buffers, opcodes

    # ------------------------------------------------------------ building

    def subgraph(self, name):
        """A further subgraph (index 1, 2, ... in the order asked): build it
        like a Model (tensor, operator, io); it shares this model's buffers
        and operator codes."""
        sub = Model(self.description, name, buffers=self.buffers, opcodes=self.opcodes)
        self.subgraphs.append(sub)
        return sub

    def buffer(self, payload):
        """Add a buffer holding `payload` (bytes); returns its index."""
        self.buffers.append(bytes(payload))
        return len(self.buffers) - 1

    def tensor(self, name, shape, type, data=None, quantization=None, shape_signature=None):
        """Add a tensor; `data` (array or bytes) makes it a constant with its
        own buffer, otherwise it uses buffer 0. Returns the Tensor."""
        buf = 0
        if data is not None:
            if isinstance(data, np.ndarray):
                arr = np.array(data, dtype=NUMPY_DTYPE[type], order="C")  # keeps 0-d shapes
                assert list(arr.shape) == list(shape), (name, arr.shape, shape)
                data = arr.tobytes()
            buf = self.buffer(data)
        t = Tensor(len(self.tensors), name, [int(d) for d in shape], type, buf, quantization, shape_signature)
        self.tensors.append(t)
        return t

    def operator(self, code, inputs, outputs, version=1, options=None):
        """Add an operator (tensors or indices; -1 for an omitted optional
        input). The operator code's version is the largest asked for."""
        for entry in self.opcodes:
            if entry[0] == code:
                entry[1] = max(entry[1], version)
                opcode_index = self.opcodes.index(entry)
                break
        else:
            self.opcodes.append([code, version])
            opcode_index = len(self.opcodes) - 1
        op = Operator(opcode_index, [_index(t) for t in inputs], [_index(t) for t in outputs], options)
        self.operators.append(op)
        return op

    def io(self, inputs, outputs):
        self.inputs = [_index(t) for t in inputs]
        self.outputs = [_index(t) for t in outputs]

    def signature(self, key, inputs, outputs):
        """A SignatureDef: {name: tensor} for inputs and outputs."""
        self.signatures.append(
            (key, [(n, _index(t)) for n, t in inputs.items()], [(n, _index(t)) for n, t in outputs.items()])
        )

    # ------------------------------------------------------------ writing

    def serialize(self):
        b = flatbuffers.Builder(4096)

        # Buffers (payloads first: vectors cannot be built inside a table).
        buffer_offsets = []
        for payload in self.buffers:
            data = bytes_vector(b, payload) if payload is not None else None
            tflite.BufferStart(b)
            if data is not None:
                tflite.BufferAddData(b, data)
            buffer_offsets.append(tflite.BufferEnd(b))

        subgraphs = [m._subgraph(b) for m in [self] + self.subgraphs]

        opcode_offsets = []
        for code, version in self.opcodes:
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, PLACEHOLDER_FOR_GREATER_OP_CODES))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, version)
            opcode_offsets.append(tflite.OperatorCodeEnd(b))

        signature_offsets = [self._signature(b, *sig) for sig in self.signatures]

        opcodes_vec = offset_vector(b, tflite.ModelStartOperatorCodesVector, opcode_offsets)
        subgraphs_vec = offset_vector(b, tflite.ModelStartSubgraphsVector, subgraphs)
        buffers_vec = offset_vector(b, tflite.ModelStartBuffersVector, buffer_offsets)
        sigs_vec = None
        if self.signatures:
            sigs_vec = offset_vector(b, tflite.ModelStartSignatureDefsVector, signature_offsets)
        description = b.CreateString(self.description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, opcodes_vec)
        tflite.ModelAddSubgraphs(b, subgraphs_vec)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffers_vec)
        if sigs_vec is not None:
            tflite.ModelAddSignatureDefs(b, sigs_vec)
        model = tflite.ModelEnd(b)
        b.Finish(model, file_identifier=b"TFL3")
        return bytes(b.Output())

    def _subgraph(self, b):
        tensor_offsets = [self._tensor(b, t) for t in self.tensors]
        op_offsets = [self._operator(b, op) for op in self.operators]
        sub_tensors = offset_vector(b, tflite.SubGraphStartTensorsVector, tensor_offsets)
        sub_inputs = int_vector(b, tflite.SubGraphStartInputsVector, self.inputs)
        sub_outputs = int_vector(b, tflite.SubGraphStartOutputsVector, self.outputs)
        sub_ops = offset_vector(b, tflite.SubGraphStartOperatorsVector, op_offsets)
        sub_name = b.CreateString(self.subgraph_name)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, sub_tensors)
        tflite.SubGraphAddInputs(b, sub_inputs)
        tflite.SubGraphAddOutputs(b, sub_outputs)
        tflite.SubGraphAddOperators(b, sub_ops)
        tflite.SubGraphAddName(b, sub_name)
        return tflite.SubGraphEnd(b)

    def _tensor(self, b, t):
        quant = _quantization(b, t.quantization) if t.quantization is not None else None
        name_off = b.CreateString(t.name) if t.name is not None else None  # TFLite allows a nameless tensor
        shape_off = int_vector(b, tflite.TensorStartShapeVector, t.shape)
        sig_off = None
        if t.shape_signature is not None:
            sig_off = int_vector(b, tflite.TensorStartShapeSignatureVector, t.shape_signature)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape_off)
        if sig_off is not None:
            tflite.TensorAddShapeSignature(b, sig_off)
        tflite.TensorAddType(b, t.type)
        tflite.TensorAddBuffer(b, t.buffer)
        if name_off is not None:
            tflite.TensorAddName(b, name_off)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        return tflite.TensorEnd(b)

    def _operator(self, b, op):
        options = None
        if op.options is not None:
            table, fields = op.options
            # strings first: a vector cannot be built inside a table
            fields = {k: b.CreateString(v) if isinstance(v, str) else v for k, v in fields.items()}
            getattr(tflite, f"{table}Start")(b)
            for fname, value in fields.items():
                getattr(tflite, f"{table}Add{fname}")(b, value)
            options = getattr(tflite, f"{table}End")(b)
        in_off = int_vector(b, tflite.OperatorStartInputsVector, op.inputs)
        out_off = int_vector(b, tflite.OperatorStartOutputsVector, op.outputs)
        mids = getattr(op, "intermediates", None)  # tensor indices (the integer LSTM's), when set
        mids_off = int_vector(b, tflite.OperatorStartIntermediatesVector, mids) if mids else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, op.opcode_index)
        tflite.OperatorAddInputs(b, in_off)
        tflite.OperatorAddOutputs(b, out_off)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(BuiltinOptions, op.options[0]))
            tflite.OperatorAddBuiltinOptions(b, options)
        if mids_off is not None:
            tflite.OperatorAddIntermediates(b, mids_off)
        return tflite.OperatorEnd(b)

    def _signature(self, b, key, inputs, outputs):
        def tensor_map(name, index):
            name_off = b.CreateString(name)
            tflite.TensorMapStart(b)
            tflite.TensorMapAddName(b, name_off)
            tflite.TensorMapAddTensorIndex(b, index)
            return tflite.TensorMapEnd(b)

        sig_in = offset_vector(b, tflite.SignatureDefStartInputsVector, [tensor_map(n, i) for n, i in inputs])
        sig_out = offset_vector(b, tflite.SignatureDefStartOutputsVector, [tensor_map(n, i) for n, i in outputs])
        sig_key = b.CreateString(key)
        tflite.SignatureDefStart(b)
        tflite.SignatureDefAddInputs(b, sig_in)
        tflite.SignatureDefAddOutputs(b, sig_out)
        tflite.SignatureDefAddSignatureKey(b, sig_key)
        tflite.SignatureDefAddSubgraphIndex(b, 0)
        return tflite.SignatureDefEnd(b)


def _index(t):
    return t if isinstance(t, int) else t.index


def _quantization(b, q):
    scale = float_vector(b, tflite.QuantizationParametersStartScaleVector, q.scale)
    b.StartVector(8, len(q.zero_point), 8)
    for z in reversed(q.zero_point):
        b.PrependInt64(z)
    zero_point = b.EndVector()
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale)
    tflite.QuantizationParametersAddZeroPoint(b, zero_point)
    tflite.QuantizationParametersAddQuantizedDimension(b, q.axis)
    return tflite.QuantizationParametersEnd(b)


# ---------------------------------------------------------------- vectors


def bytes_vector(builder, data, alignment=16):
    """A [ubyte] vector whose payload is `alignment`-aligned, as the TFLite
    converter does, so float32 constants can be read in place."""
    data = bytes(data)
    builder.StartVector(1, len(data), alignment)
    builder.head = builder.head - len(data)
    builder.Bytes[builder.head : builder.head + len(data)] = data
    return builder.EndVector()


def int_vector(builder, start_fn, values):
    start_fn(builder, len(values))
    for v in reversed(values):
        builder.PrependInt32(v)
    return builder.EndVector()


def float_vector(builder, start_fn, values):
    start_fn(builder, len(values))
    for v in reversed(values):
        builder.PrependFloat32(v)
    return builder.EndVector()


def offset_vector(builder, start_fn, offsets):
    start_fn(builder, len(offsets))
    for o in reversed(offsets):
        builder.PrependUOffsetTRelative(o)
    return builder.EndVector()
