"""Makes the project's `utoe` package importable from SConstruct and the
site tools, whether or not it was pip-installed."""

import os
import sys

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _root not in sys.path:
    sys.path.insert(0, _root)
