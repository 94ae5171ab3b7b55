import math

import pytest

from utoe.stats import summary, t975


def test_known_values():
    s = summary([1, 2, 3, 4, 5])
    assert s["n"] == 5
    assert s["mean"] == 3.0
    assert s["median"] == 3.0
    assert s["min"] == 1.0 and s["max"] == 5.0
    half = 2.776445105 * math.sqrt(2.5) / math.sqrt(5)   # sample variance 2.5
    lo, hi = s["ci95"]
    assert lo == pytest.approx(3 - half, abs=1e-12)
    assert hi == pytest.approx(3 + half, abs=1e-12)
    assert half == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5), rel=2e-4)


def test_single_value_interval_is_the_value():
    s = summary([97.751])
    assert s["ci95"] == [97.751, 97.751]
    assert s["mean"] == s["median"] == s["min"] == s["max"] == 97.751


def test_even_count_median_and_constant_values():
    assert summary([4, 1, 3, 2])["median"] == 2.5
    s = summary([7.5] * 10)
    assert s["ci95"] == [7.5, 7.5]


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
    with pytest.raises(ValueError):
        summary([])
    with pytest.raises(ValueError):
        summary([1.0, float("nan")])
    with pytest.raises(ValueError):
        summary(["1"])
    with pytest.raises(ValueError):
        t975(0)
