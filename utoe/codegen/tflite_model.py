"""A TFLite flatbuffer read into plain Python data: tensors with their
quantization, constant buffers as numpy arrays, operators with options.
Used by utoe's integer importer (codegen/integer.py)."""

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

TENSOR_TYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


@dataclass
class QTensor:
    index: int
    name: str
    shape: tuple
    dtype: str
    scales: np.ndarray = None  # float32, per tensor (len 1) or per channel
    zero_points: np.ndarray = None  # int64
    qdim: int = 0
    data: np.ndarray = None  # constant contents, or None

    @property
    def quantized(self):
        return self.scales is not None and len(self.scales) > 0

    @property
    def scale(self):
        return float(self.scales[0])

    @property
    def zero_point(self):
        return int(self.zero_points[0])


@dataclass
class QOp:
    index: int
    name: str
    inputs: list  # tensor indices (-1 = absent optional input)
    outputs: list
    options: dict = field(default_factory=dict)


@dataclass
class QModel:
    path: str
    tensors: list
    ops: list
    inputs: list
    outputs: list


def _options(op, name):
    import tflite

    table = op.BuiltinOptions()
    if table is None:
        return {}
    cls_name = {
        "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
        "FULLY_CONNECTED": "FullyConnectedOptions", "AVERAGE_POOL_2D": "Pool2DOptions",
        "MAX_POOL_2D": "Pool2DOptions", "SOFTMAX": "SoftmaxOptions", "ADD": "AddOptions",
        "RESHAPE": "ReshapeOptions", "SUB": "SubOptions", "MUL": "MulOptions", "SPLIT": "SplitOptions",
        "SPLIT_V": "SplitVOptions", "UNPACK": "UnpackOptions", "PACK": "PackOptions",
        "CONCATENATION": "ConcatenationOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
        "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions", "STRIDED_SLICE": "StridedSliceOptions",
        "LEAKY_RELU": "LeakyReluOptions", "GATHER": "GatherOptions", "DEPTH_TO_SPACE": "DepthToSpaceOptions",
        "SPACE_TO_DEPTH": "SpaceToDepthOptions", "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
        "ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions",
        "TRANSPOSE_CONV": "TransposeConvOptions", "RESIZE_BILINEAR": "ResizeBilinearOptions",
        "BATCH_MATMUL": "BatchMatMulOptions", "MIRROR_PAD": "MirrorPadOptions",
        "SVDF": "SVDFOptions", "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
    }.get(name)
    if cls_name is None:
        return {}
    opt = getattr(tflite, cls_name)()
    opt.Init(table.Bytes, table.Pos)
    out = {}
    for attr in ("Padding", "StrideW", "StrideH", "DilationWFactor", "DilationHFactor", "FusedActivationFunction",
                 "DepthMultiplier", "FilterWidth", "FilterHeight", "Beta", "KeepNumDims", "WeightsFormat",
                 "NumSplits", "Num", "Axis", "ValuesCount", "KeepDims", "BeginMask", "EndMask", "EllipsisMask",
                 "NewAxisMask", "ShrinkAxisMask", "Offset", "Alpha", "BatchDims", "BlockSize",
                 "AlignCorners", "HalfPixelCenters", "OutputType",
                 "AdjX", "AdjY", "Mode", "Rank", "CellClip", "ProjClip", "TimeMajor"):
        if hasattr(opt, attr):
            out[attr] = getattr(opt, attr)()
    return out


def type_name(code):
    """TFLite's name of a TensorType code (UINT32 for 15), or the number."""
    from tflite.TensorType import TensorType

    names = {v: k for k, v in vars(TensorType).items() if not k.startswith("_") and isinstance(v, int)}
    return names.get(code, f"#{code}")


def read(path, model):
    """QModel of subgraph 0 of an already parsed tflite.Model."""
    from ..frontend import _ints, tensor_name, tflite_operators

    sub = model.Subgraphs(0)
    tensors = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        ttype = t.Type()
        if ttype not in TENSOR_TYPES:
            raise ModelError(f"{path}: tensor {i} ('{tensor_name(t, i)}') has TFLite type {type_name(ttype)}, "
                             f"which utoe does not compile (it takes {', '.join(type_name(k) for k in TENSOR_TYPES)})")
        q = t.Quantization()
        scales = zps = None
        qdim = 0
        if q is not None and q.ScaleLength() > 0:
            scales = q.ScaleAsNumpy().astype(np.float32)
            zps = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(len(scales), np.int64)
            qdim = q.QuantizedDimension()
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if t.ShapeSignatureLength() and any(int(d) < 0 for d in t.ShapeSignatureAsNumpy()[1:]):
            raise ModelError(f"{path}: tensor '{tensor_name(t, i)}' has a dynamic shape; utoe needs static shapes")
        data = None
        buf = model.Buffers(t.Buffer())
        if buf is not None and buf.DataLength() > 0:
            raw = buf.DataAsNumpy().tobytes()
            data = np.frombuffer(raw, dtype=np.dtype(TENSOR_TYPES[ttype]).newbyteorder("<")).reshape(shape)
        tensors.append(QTensor(i, tensor_name(t, i), shape, TENSOR_TYPES[ttype], scales, zps, qdim,
                               data))
    ops = []
    for (i, name, _), k in zip(tflite_operators(model), range(sub.OperatorsLength())):
        op = sub.Operators(k)
        ops.append(QOp(i, name, _ints(op.InputsLength(), op.InputsAsNumpy), _ints(op.OutputsLength(), op.OutputsAsNumpy),
                       _options(op, name)))
    return QModel(path, tensors, ops, _ints(sub.InputsLength(), sub.InputsAsNumpy),
                  _ints(sub.OutputsLength(), sub.OutputsAsNumpy))

