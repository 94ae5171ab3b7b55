"""Conformance cases: int16 activations with int8 weights (TFLite's 16x8
quantization). (models/make_conformance.py collects them.)"""

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = set()
REFUSED = {}


def cases():
    return []
