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


@pytest.mark.parametrize("dof, t", [
    (1, 12.706204736), (2, 4.302652730), (9, 2.262157163),
    (30, 2.042272456), (40, 2.021075390), (60, 2.000297822),
    (120, 1.979930405),
])
def test_t_quantile(dof, t):
    assert t975(dof) == pytest.approx(t, abs=1e-7)


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
