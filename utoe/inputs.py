"""The Python twin of the harness's input generator (docs/protocol.md):
the same seed gives the same bytes as the C, so the host can feed the
reference interpreter exactly what the firmware computed on."""

import numpy as np

from .errors import ConfigError, ModelError

DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
          "int32": np.int32, "int64": np.int64, "bool": np.bool_}


def xorshift32(seed, n):
    """The next n states of xorshift32 from seed (0 -> 0x9E3779B9)."""
    x = (seed or 0x9E3779B9) & 0xFFFFFFFF
    out = np.empty(n, dtype=np.uint32)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x
    return out


def generate_inputs(specs, seed):
    """specs: [(dtype name, shape)] in input order -> list of numpy arrays.
    A seed outside [0, 2**32) is a ConfigError; a spec that is not a (dtype
    name, shape of non-negative ints) pair or a dtype the harness cannot
    generate is a ModelError."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed <= 0xFFFFFFFF:
        raise ConfigError(f"seed={seed!r:.40}: expected an integer in [0, 4294967295]")
    try:
        specs = [(dtype, tuple(int(d) for d in shape)) for dtype, shape in specs]
    except (TypeError, ValueError):
        raise ModelError("input specs: expected [(dtype name, shape)] in input order, as metadata.json's "
                         "inputs give them") from None
    for i, (dtype, shape) in enumerate(specs):
        if dtype not in DTYPES:
            raise ModelError(f"input {i}: no input generator for dtype {dtype!r:.40} "
                             f"(have: {', '.join(DTYPES)})")
        if any(d < 0 for d in shape):
            raise ModelError(f"input {i}: shape {list(shape)} has a negative dimension")
    sizes = [int(np.prod(shape, dtype=np.int64)) for _, shape in specs]
    states = xorshift32(seed, sum(sizes))
    arrays, at = [], 0
    for (dtype, shape), n in zip(specs, sizes):
        x = states[at : at + n]
        at += n
        if dtype == "float32":
            v = (x >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0) * np.float32(2.0) - np.float32(1.0)
        elif dtype in ("int8", "uint8"):
            v = (x >> np.uint32(24)).astype(np.uint8).view(DTYPES[dtype])
        elif dtype == "int16":
            v = (x >> np.uint32(16)).astype(np.uint16).view(np.int16)
        elif dtype == "int32":
            v = x.view(np.int32)
        elif dtype == "int64":
            v = x.view(np.int32).astype(np.int64)
        elif dtype == "bool":
            v = ((x >> np.uint32(31)) & np.uint32(1)).astype(np.bool_)
        else:
            raise ValueError(f"no input generator for dtype {dtype}")
        arrays.append(np.ascontiguousarray(v.astype(DTYPES[dtype], copy=False)).reshape(shape))
    return arrays
