import itertools
import math
import os
import random
import subprocess
import sys

import pytest

from utoe.errors import UtoeError
from utoe.stats import StatsError, summary, t975

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_known_values():
    s = summary([1, 2, 3, 4, 5])
    assert s["n"] == 5
    assert s["mean"] == 3.0
    assert s["median"] == 3.0
    assert s["min"] == 1.0 and s["max"] == 5.0
    lo, hi = s["ci95"]
    assert 1.0 <= lo < 3.0 < hi <= 5.0


def _bootstrap_by_enumeration(values):
    """The percentile bootstrap's limit (B -> infinity), computed exactly and
    independently of utoe.stats: every one of the n^n equally likely
    resamples, its mean, and the 2.5 % and 97.5 % points of that distribution."""
    n = len(values)
    means = sorted(math.fsum(c) / n for c in itertools.product(values, repeat=n))
    return means[int(0.025 * len(means))], means[int(0.975 * len(means)) - 1]


def test_skewed_small_sample_interval_stays_positive():
    """One slow trial among fast ones: Student's t interval of this sample
    is [-4.8, 14.4] ms (mean 4.8, s 8.5, t(0.975, 4) = 2.776): a negative
    latency. The interval must stay within the data, hence above zero."""
    vals = [1.0, 1.0, 1.0, 1.0, 20.0]
    s = summary(vals)
    lo, hi = s["ci95"]
    assert 0 < 1.0 <= lo < s["mean"] < hi <= 20.0
    # and it is the bootstrap distribution's 95 % range (B = 1999 resamples
    # against all 3125 resamples enumerated): within a few resamples' worth
    exact_lo, exact_hi = _bootstrap_by_enumeration(vals)
    assert (lo, hi) == (exact_lo, pytest.approx(exact_hi, abs=3.8 + 1e-9))


@pytest.mark.parametrize("vals", [
    [0.0001, 0.0001, 0.0002, 0.05],          # sub-ms model, one preempted trial
    [3.0, 0.5],                             # n = 2: t interval is mean ± 12.7 · s / √2
    [0.0, 0.0, 0.0, 7.0],                   # 0-tick trials on a coarse timer
    [2.0, 2.1, 1.9, 2.0, 2.05, 2.0, 60.0],  # a GC pause
])
def test_interval_is_never_negative_nor_wider_than_the_data(vals):
    lo, hi = summary(vals)["ci95"]
    assert min(vals) <= lo <= hi <= max(vals)
    assert lo >= 0


def test_two_values_interval_is_their_range():
    """n = 2: resample means are a, (a+b)/2, b with probabilities 1/4, 1/2,
    1/4, so the 2.5 % and 97.5 % points are a and b."""
    assert summary([3.0, 0.5])["ci95"] == [0.5, 3.0]


def test_interval_is_deterministic_and_reproducible():
    """The interval is a cached build product: it must not change between
    runs, processes or the trials' order."""
    vals = [0.2, 0.3, 0.25, 0.9, 0.21, 0.22, 0.4, 0.23, 0.2, 1.7]
    a = summary(vals)
    assert a == summary(list(vals)) == summary(list(reversed(vals)))
    out = subprocess.run(
        [sys.executable, "-c", f"from utoe.stats import summary; print(repr(summary({vals!r})['ci95']))"],
        capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == repr(a["ci95"])


def test_interval_covers_the_mean_of_a_known_population():
    """Coverage: samples of 10 trials drawn from an exponential latency
    (mean 1) -- a skewed, positive distribution. A 95 % interval of n = 10 by
    the percentile bootstrap covers the true mean about 90 % of the time (the
    bootstrap's known small-sample shortfall); it must not be far off."""
    rnd = random.Random(7)
    hits = 0
    for _ in range(200):
        lo, hi = summary([rnd.expovariate(1.0) for _ in range(10)])["ci95"]
        hits += lo <= 1.0 <= hi
    assert 0.82 <= hits / 200 <= 0.99, hits


def test_operator_statistics_can_skip_the_interval():
    assert summary([1.0, 2.0], ci=False)["ci95"] is None


def test_single_value_interval_is_the_value():
    s = summary([97.751])
    assert s["ci95"] == [97.751, 97.751]
    assert s["mean"] == s["median"] == s["min"] == s["max"] == 97.751


def test_even_count_median_and_constant_values():
    assert summary([4, 1, 3, 2])["median"] == 2.5
    s = summary([7.5] * 10)
    assert s["ci95"] == [7.5, 7.5]
    s = summary([0.1] * 3)  # all equal: exactly the value (fsum / 3 would round past it)
    assert s["ci95"] == [0.1, 0.1] and s["mean"] == 0.1


def test_order_does_not_matter_and_is_deterministic():
    a = summary([0.1, 0.2, 0.3, 0.4, 10.0])
    b = summary([10.0, 0.4, 0.3, 0.2, 0.1])
    assert a == b
    assert a == summary([0.1, 0.2, 0.3, 0.4, 10.0])


def _t_density(x, dof):
    c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(dof * math.pi)
    return c * (1 + x * x / dof) ** (-(dof + 1) / 2)


def _t_cdf(t, dof, n=4000):
    """P(T <= t) for t > 0: Student's density integrated by Simpson's rule,
    independent of utoe.stats' table and expansion."""
    h = t / n
    s = _t_density(0, dof) + _t_density(t, dof)
    s += 4 * sum(_t_density((2 * i - 1) * h, dof) for i in range(1, n // 2 + 1))
    s += 2 * sum(_t_density(2 * i * h, dof) for i in range(1, n // 2))
    return 0.5 + s * h / 3


@pytest.mark.parametrize("dof", [*range(1, 41), 45, 60, 90, 120, 250, 1000, 10**6])
def test_t_quantile_is_the_975_point_of_students_t(dof):
    """t975(dof) is where Student's t CDF (integrated here) reaches 0.975:
    to 1e-9 for the 9-decimal table (dof <= 30), to the documented 1e-6 for
    the Cornish-Fisher expansion beyond it."""
    t = t975(dof)
    error = (_t_cdf(t, dof) - 0.975) / _t_density(t, dof)  # distance of t from the true quantile
    assert abs(error) < (1e-9 if dof <= 30 else 1e-6), (dof, t, error)


def test_t_quantile_tends_to_normal():
    assert t975(10**6) == pytest.approx(1.959963985, abs=1e-5)
    # monotone decreasing across the table/approximation boundary
    assert t975(29) > t975(30) > t975(31) > t975(32)


def test_bad_input():
    """Bad input is a UtoeError naming the problem (a ValueError too)."""
    for bad in ([], [1.0, float("nan")], ["1"], [float("inf")], None, "12"):
        with pytest.raises(UtoeError) as e:
            summary(bad)
        assert isinstance(e.value, (StatsError, ValueError))
    with pytest.raises(UtoeError, match="no values"):
        summary([])
    with pytest.raises(UtoeError):
        t975(0)
