"""A structural verifier for TFLite flatbuffers, in Python.

The `tflite` package reads a flatbuffer by trusting every offset in it: a
truncated or corrupted file makes it read past the end (struct.error) or read
garbage that turns into absurd shapes, and LiteRT's native interpreter can
crash on a file its own verifier lets through. So before utoe (or TVM, or the
reference interpreter) reads a model, every table, vtable, vector and string
that TFLite's schema (schema.fbs) defines and that anyone here reads is
checked to lie inside the file, as flatbuffers' own C++ Verifier does. Option
tables (builtin_options and other unions) are checked as tables (header,
vtable, field offsets), not field by field.

`verify(buf)` raises FlatbufferError naming the table and field at fault."""

import struct

MAX_DEPTH = 64
MAX_TABLES = 1_000_000  # a guard against offset loops, far above any real model


class FlatbufferError(ValueError):
    """The buffer is not a structurally valid TFLite flatbuffer."""


# Field kinds: ("scalar", size), ("string",), ("vector", element size),
# ("tables", schema name or None), ("table", schema name or None).
S1, S2, S4, S8 = ("scalar", 1), ("scalar", 2), ("scalar", 4), ("scalar", 8)
STRING = ("string",)


def V(size):
    return ("vector", size)


def T(name=None):
    return ("table", name)


def TT(name=None):
    return ("tables", name)


# Field order as in TFLite's schema.fbs (the field index is the vtable slot).
SCHEMA = {
    "Model": [("version", S4), ("operator_codes", TT("OperatorCode")), ("subgraphs", TT("SubGraph")),
              ("description", STRING), ("buffers", TT("Buffer")), ("metadata_buffer", V(4)),
              ("metadata", TT("Metadata")), ("signature_defs", TT("SignatureDef"))],
    "OperatorCode": [("deprecated_builtin_code", S1), ("custom_code", STRING), ("version", S4),
                     ("builtin_code", S4)],
    "SubGraph": [("tensors", TT("Tensor")), ("inputs", V(4)), ("outputs", V(4)), ("operators", TT("Operator")),
                 ("name", STRING), ("debug_metadata_index", S4)],
    "Tensor": [("shape", V(4)), ("type", S1), ("buffer", S4), ("name", STRING),
               ("quantization", T("QuantizationParameters")), ("is_variable", S1), ("sparsity", T()),
               ("shape_signature", V(4)), ("has_rank", S1), ("variant_tensors", TT())],
    "QuantizationParameters": [("min", V(4)), ("max", V(4)), ("scale", V(4)), ("zero_point", V(8)),
                               ("details_type", S1), ("details", T()), ("quantized_dimension", S4)],
    "Operator": [("opcode_index", S4), ("inputs", V(4)), ("outputs", V(4)), ("builtin_options_type", S1),
                 ("builtin_options", T()), ("custom_options", V(1)), ("custom_options_format", S1),
                 ("mutating_variable_inputs", V(1)), ("intermediates", V(4)),
                 ("large_custom_options_offset", S8), ("large_custom_options_size", S8),
                 ("builtin_options_2_type", S1), ("builtin_options_2", T()), ("debug_metadata_index", S4)],
    "Buffer": [("data", V(1)), ("offset", S8), ("size", S8)],
    "Metadata": [("name", STRING), ("buffer", S4)],
    "SignatureDef": [("inputs", TT("TensorMap")), ("outputs", TT("TensorMap")), ("signature_key", STRING),
                     ("deprecated_tag", STRING), ("subgraph_index", S4)],
    "TensorMap": [("name", STRING), ("tensor_index", S4)],
}


class _Verifier:
    def __init__(self, buf):
        self.buf = buf
        self.n = len(buf)
        self.tables = 0

    def fail(self, where, what):
        raise FlatbufferError(f"{where}: {what}")

    def u32(self, pos, where):
        if not 0 <= pos <= self.n - 4:
            self.fail(where, f"offset at byte {pos:,} lies outside the {self.n:,}-byte file")
        return struct.unpack_from("<I", self.buf, pos)[0]

    def target(self, pos, where):
        """The position a uoffset at pos points to."""
        to = pos + self.u32(pos, where)
        if to >= self.n:
            self.fail(where, f"points to byte {to:,}, past the end of the {self.n:,}-byte file")
        return to

    def vector(self, pos, elem, where):
        """(start, length) of a vector at pos, checked to fit the file."""
        length = self.u32(pos, where)
        start = pos + 4
        if start + length * elem > self.n:
            self.fail(where, f"a vector of {length:,} x {elem} bytes at byte {pos:,} runs past the end of the "
                             f"{self.n:,}-byte file (truncated?)")
        return start, length

    def table(self, pos, name, where, depth):
        self.tables += 1
        if depth > MAX_DEPTH or self.tables > MAX_TABLES:
            self.fail(where, "tables nested too deep or too many (an offset loop?)")
        if not 0 <= pos <= self.n - 4:
            self.fail(where, f"table at byte {pos:,} lies outside the {self.n:,}-byte file")
        vt = pos - struct.unpack_from("<i", self.buf, pos)[0]
        if not 0 <= vt <= self.n - 4:
            self.fail(where, f"vtable at byte {vt:,} lies outside the file")
        vt_size, inline = struct.unpack_from("<HH", self.buf, vt)
        if vt_size < 4 or vt_size % 2 or vt + vt_size > self.n:
            self.fail(where, f"vtable of {vt_size} bytes at byte {vt:,} is malformed")
        if inline < 4 or pos + inline > self.n:
            self.fail(where, f"table of {inline} bytes at byte {pos:,} runs past the end of the file")
        slots = (vt_size - 4) // 2
        offsets = struct.unpack_from(f"<{slots}H", self.buf, vt + 4)
        for k, off in enumerate(offsets):
            if off and off + 1 > inline:
                self.fail(where, f"field {k} at offset {off} lies outside its {inline}-byte table")
        fields = SCHEMA.get(name) or []
        for k, (field, kind) in enumerate(fields):
            off = offsets[k] if k < slots else 0
            if not off:
                continue
            fpos, here = pos + off, f"{where}.{field}"
            size = kind[1] if kind[0] == "scalar" else 4
            if off + size > inline:
                self.fail(here, f"{size}-byte field at offset {off} lies outside its {inline}-byte table")
            if kind[0] == "scalar":
                continue
            to = self.target(fpos, here)
            if kind[0] == "string":
                start, length = self.vector(to, 1, here)
                if start + length >= self.n or self.buf[start + length] != 0:
                    self.fail(here, f"string at byte {to:,} is not terminated inside the file")
            elif kind[0] == "vector":
                self.vector(to, kind[1], here)
            elif kind[0] == "table":
                self.table(to, kind[1], here, depth + 1)
            else:  # a vector of tables
                start, length = self.vector(to, 4, here)
                for i in range(length):
                    self.table(self.target(start + 4 * i, f"{here}[{i}]"), kind[1], f"{here}[{i}]", depth + 1)


def verify(buf):
    """Raise FlatbufferError unless buf is a structurally valid TFLite model."""
    if len(buf) < 8:
        raise FlatbufferError(f"{len(buf)} bytes: too short for a flatbuffer")
    v = _Verifier(buf)
    v.table(v.target(0, "root"), "Model", "model", 0)
