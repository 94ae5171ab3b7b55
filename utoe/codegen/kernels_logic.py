"""Comparisons, logical operators, SELECT_V2, CAST and the other operators on bool and int32 tensors.

Integer kernels with TFLite's reference semantics (see kernels.py)."""

KERNELS = {}
ACTIVATION_TYPES = {}
REFUSED = {}
