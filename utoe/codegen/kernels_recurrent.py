"""Recurrent building blocks: SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM.

Integer kernels with TFLite's reference semantics (see kernels.py)."""

KERNELS = {}
ACTIVATION_TYPES = {}
REFUSED = {}
