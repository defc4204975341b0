"""The mathematics' own special values (the one-sided limits, and NaN outside the domain)."""

import math

import numpy as np
import pytest

from bcebench.reference import oracle
from bcebench.reference.exact import Spec

inf, nan = math.inf, math.nan

# (quantity, form, x, y, expected): each expected value is the limit named beside it.
CASES = [
    ("loss", "probs", 0.0, 1.0, inf),       # −ln p as p → 0
    ("loss", "probs", 1.0, 0.0, inf),       # −ln(1 − p) as p → 1
    ("loss", "probs", 1.0, 1.0, 0.0),       # −ln 1, the absent term 0·ln 0 = 0
    ("loss", "probs", 0.0, 0.0, 0.0),
    ("grad", "probs", 0.0, 0.0, 1.0),       # d/dp −ln(1 − p) = 1/(1 − p) at p = 0
    ("grad", "probs", 1.0, 1.0, -1.0),      # d/dp −ln p = −1/p at p = 1
    ("grad", "probs", 0.0, 0.5, -inf),      # −y/p as p → 0
    ("hess", "probs", 1.0, 0.0, inf),       # (1 − y)/(1 − p)² as p → 1
    ("hess", "probs", 0.0, 0.0, 1.0),
    ("loss", "logits", inf, 1.0, 0.0),      # log1p(e^−z) → 0
    ("loss", "logits", inf, 0.25, inf),     # (1 − y) z → ∞
    ("loss", "logits", -inf, 0.0, 0.0),
    ("grad", "logits", inf, 0.25, 0.75),    # σ(z) − y → 1 − y
    ("grad", "logits", -inf, 0.25, -0.25),  # → −y
    ("hess", "logits", -inf, 0.5, 0.0),
    ("loss", "probs", 1.5, 1.0, nan),       # p outside [0, 1]: outside the domain
    ("loss", "probs", -0.25, 0.0, nan),
    ("loss", "logits", nan, 1.0, nan),      # NaN in, NaN out
    ("grad", "logits", 1.0, nan, nan),
    ("loss", "logits", 1.0, inf, nan),      # a label that is not finite
]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("quantity, form, x, y, expected", CASES)
def test_special_value(quantity, form, x, y, expected, dtype):
    got = oracle.evaluate(Spec(quantity, form), np.array([x], dtype), np.array([y], dtype)).rounded[0]
    if math.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == expected


def test_focal_and_smoothing_limits():
    """Focal γ = 2, α = 1/4 at z = +∞ with y = 0: the loss is (1 − α)·∞ and the gradient
    (1 − α)(1 − y) = 0.75. Smoothing ε = 0.1 at z = +∞, y = 1: the gradient is 1 − y_ε = 0.05."""
    focal = Spec("grad", "logits", gamma=2.0, alpha=0.25)
    assert oracle.evaluate(focal, np.array([np.inf]), 0.0).rounded[0] == 0.75
    assert oracle.evaluate(Spec("loss", "logits", gamma=2.0, alpha=0.25), np.array([np.inf]), 0.0).rounded[0] == inf
    smoothed = oracle.exact_value(Spec("grad", "logits", smoothing=0.1), inf, 1.0)
    assert smoothed == 0.1 / 2  # ε/2 in float64, the exact value of ε being float64(0.1)


def test_bad_parameters_are_rejected():
    for kwargs in ({"gamma": -1.0}, {"alpha": 1.5, "gamma": 2.0}, {"alpha": 0.25}, {"smoothing": 2.0}):
        with pytest.raises(ValueError):
            Spec("loss", "logits", **kwargs)
    with pytest.raises(ValueError, match="no focal Hessian"):
        Spec("hess", "logits", gamma=2.0)
    with pytest.raises(ValueError, match="unsupported dtype"):
        oracle.evaluate(Spec("loss", "logits"), np.array([1], np.int32), 0.0)
