"""Conformance cases: Recurrent building blocks: SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM.
(models/make_conformance.py collects them.)"""

# Case ids run by the default tests (the rest run under -m slow), and the
# cases utoe refuses with the words that must say why.
DEFAULT = set()
REFUSED = {}


def cases():
    return []
