"""Conformance cases: Comparisons, logical operators, SELECT_V2, CAST and the other operators on bool and int32 tensors.
(models/make_conformance.py collects them.)"""

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = set()
REFUSED = {}


def cases():
    return []
