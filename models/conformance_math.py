"""Conformance cases: Elementwise math on int8 (EXP, LOG, RSQRT, ELU, LOG_SOFTMAX, L2_NORMALIZATION, DIV, ...).
(models/make_conformance.py collects them.)"""

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = set()
REFUSED = {}


def cases():
    return []
