"""Summary statistics of repeated trials, in plain Python (no scipy).

`summary(values)` gives what U-TOE's per-model table shows: mean, median,
min, max and the 95 % confidence interval of the mean,

    mean ± t(0.975, n-1) · s / sqrt(n)      (s: sample standard deviation, n-1)

The Student t quantile t(0.975, dof) is taken from a table for dof 1..30
(values computed to 9 decimals by numerical integration of the t density;
they agree with every published table) and, for dof > 30, from the
Cornish-Fisher expansion of Abramowitz & Stegun 26.7.5 around the normal
quantile z = 1.959963984540054, whose error there is below 1e-6 (so
at most 5e-7 relative on the interval's half-width).

Everything is deterministic: the same values in the same order give the same
floats on every run and platform.
"""

import math
import numbers
import statistics

# t(0.975, dof) for dof = 1..30.
_T975 = (
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836,
    2.446911851, 2.364624252, 2.306004135, 2.262157163, 2.228138852,
    2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546,
    2.119905299, 2.109815578, 2.100922040, 2.093024054, 2.085963447,
    2.079613845, 2.073873068, 2.068657610, 2.063898562, 2.059538553,
    2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
)

_Z975 = 1.959963984540054


def t975(dof):
    """Two-sided 95 % Student t quantile, t(0.975, dof), for dof >= 1."""
    if not isinstance(dof, int) or isinstance(dof, bool) or dof < 1:
        raise ValueError(f"degrees of freedom must be an integer >= 1, not {dof!r}")
    if dof <= len(_T975):
        return _T975[dof - 1]
    z, v = _Z975, float(dof)
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


def summary(values):
    """Summarise a non-empty sequence of numbers.

    Returns a dict {"n", "mean", "median", "min", "max", "ci95": [lo, hi]}
    (floats; ci95 is the 95 % Student-t interval of the mean, [v, v] for a
    single value). Raises ValueError for an empty sequence or a value that is
    not a finite number.
    """
    vals = [_number(v) for v in values]
    n = len(vals)
    if n == 0:
        raise ValueError("summary() of no values")
    mean = math.fsum(vals) / n
    if n == 1:
        lo = hi = mean
    else:
        var = math.fsum((v - mean) ** 2 for v in vals) / (n - 1)
        half = t975(n - 1) * math.sqrt(var) / math.sqrt(n)
        lo, hi = mean - half, mean + half
    return {
        "n": n,
        "mean": mean,
        "median": float(statistics.median(vals)),
        "min": min(vals),
        "max": max(vals),
        "ci95": [lo, hi],
    }


def _number(v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"not a number: {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"not a finite number: {v!r}")
    return f
