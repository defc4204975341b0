"""Closed forms, against SymPy's own evaluation at 60 digits: L(z = 0, y) = ln 2 for every y,
σ(0) = 1/2 (so ∂L/∂z at 0 is 1/2 − y), the Hessian 1/4 at z = 0, and L(p = y, y) = H(y)."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st

from bcebench.reference import oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import DTYPE_NAMES, FORMATS, as_dtype, round_mpf

DIGITS = 60
AGREEING_DIGITS = 45  # exact_value carries 160 bits (48 digits)


def sympy_value(expr) -> mpmath.mpf:
    with mpmath.workdps(DIGITS):
        return mpmath.mpf(str(sp.N(expr, DIGITS)))


def assert_matches(spec: Spec, x: float, y: float, expected: mpmath.mpf, dtype: str) -> None:
    got = oracle.exact_value(spec, x, y)
    with mpmath.workdps(DIGITS):
        assert abs(got - expected) <= abs(expected) * mpmath.mpf(10) ** -AGREEING_DIGITS
    fmt = FORMATS[dtype]
    rounded = oracle.evaluate(spec, as_dtype([x], fmt), as_dtype([y], fmt)).rounded
    with mpmath.workprec(4 * fmt.precision + 64):
        assert float(rounded[0]) == round_mpf(mpmath.mpf(expected)._mpf_, fmt)


labels = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 0.1, 0.9, 0.999])


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(y=labels)
def test_loss_at_zero_logit_is_ln2(dtype, y):
    y = float(as_dtype([y], FORMATS[dtype])[0])
    assert_matches(Spec("loss", "logits"), 0.0, y, sympy_value(sp.log(2)), dtype)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(y=labels)
def test_gradient_at_zero_logit_is_half_minus_label(dtype, y):
    y = float(as_dtype([y], FORMATS[dtype])[0])
    expected = sympy_value(sp.Rational(1, 2) - sp.Rational(y))
    if expected == 0:
        assert oracle.exact_value(Spec("grad", "logits"), 0.0, y) == 0
    else:
        assert_matches(Spec("grad", "logits"), 0.0, y, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_hessian_at_zero_logit_is_quarter(dtype):
    assert_matches(Spec("hess", "logits"), 0.0, 0.3, sympy_value(sp.Rational(1, 4)), dtype)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@given(y=st.sampled_from([0.25, 0.5, 0.75, 0.1, 0.9, 0.999, 0.001]))
def test_loss_at_p_equal_y_is_entropy(dtype, y):
    y = float(as_dtype([y], FORMATS[dtype])[0])
    assume(0 < y < 1)  # 0.999 is 1 in bfloat16, where H is 0·ln 0
    label = sp.Rational(y)
    entropy = -(label * sp.log(label) + (1 - label) * sp.log(1 - label))
    assert_matches(Spec("loss", "probs"), y, y, sympy_value(entropy), dtype)


def test_sigmoid_at_zero_is_exactly_half():
    """σ(0) − y is an exact dyadic: the oracle returns it as a point, for a label of 0 too."""
    value = oracle.exact_value(Spec("grad", "logits"), 0.0, 0.0)
    assert value == mpmath.mpf(0.5)
    assert np.all(oracle.evaluate(Spec("grad", "logits"), np.zeros(3, np.float32), 0.0).rounded == 0.5)


@pytest.mark.parametrize("quantity, order", [("loss", 0), ("grad", 1), ("hess", 2)])
def test_weight_and_pos_weight_follow_pytorchs_definition(quantity, order):
    """PyTorch documents −w[w₊ y ln σ(z) + (1 − y) ln(1 − σ(z))]; the oracle's c₊ = w w₊ y and
    c₋ = w(1 − y) must give that loss and, by mpmath's numerical differentiation at 60 digits, its
    derivatives (an independent route to the closed forms)."""
    spec = Spec(quantity, "logits", weight=0.75, pos_weight=3.0)
    for z, y in ((2.5, 0.25), (-7.0, 1.0), (0.125, 0.5)):
        with mpmath.workdps(DIGITS):
            def documented(t, y=y):
                s = 1 / (1 + mpmath.exp(-t))
                return -mpmath.mpf(0.75) * (3 * y * mpmath.log(s) + (1 - y) * mpmath.log(1 - s))

            expected = mpmath.diff(documented, mpmath.mpf(z), order)
        got = oracle.exact_value(spec, z, y)
        with mpmath.workdps(DIGITS):
            assert abs(got - expected) <= abs(expected) * mpmath.mpf(10) ** -40
