"""Spatial operators: TRANSPOSE_CONV, RESIZE_BILINEAR, BATCH_MATMUL, MIRROR_PAD, ...

Integer kernels with TFLite's reference semantics (see kernels.py)."""

KERNELS = {}
ACTIVATION_TYPES = {}
REFUSED = {}
