"""Elementwise math on int8 (EXP, LOG, RSQRT, ELU, LOG_SOFTMAX, L2_NORMALIZATION, DIV, ...).

Integer kernels with TFLite's reference semantics (see kernels.py)."""

KERNELS = {}
ACTIVATION_TYPES = {}
REFUSED = {}
