"""ULP and absolute error against the oracle, subnormal-aware, and the special-value rules."""

import math

import numpy as np
import pytest

from bcebench.reference import metrics, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS

F32 = FORMATS["float32"]


def test_ulp_normal_subnormal_zero_and_beyond_max():
    values = np.array([1.0, 1.5, 2.0**-126, 2.0**-130, 0.0, 1e39, -3.0])
    expected = [2.0**-23, 2.0**-23, 2.0**-149, 2.0**-149, 2.0**-149, 2.0**104, 2.0**-22]
    assert metrics.ulp(values, F32).tolist() == expected


def test_ulp_read_from_the_exponent_bits_is_frexp_and_ldexp_s_bit_for_bit():
    """The spacing is read from float64's exponent field and written as float64 bits; it must be what
    frexp and ldexp give (the definition it replaced) at every kind of float64: normal and subnormal
    values over the whole range, both zeros, infinities, NaN, the extremes, in every format."""
    rng = np.random.default_rng(20261205)
    values = rng.standard_normal(1 << 16) * 10.0 ** rng.integers(-323, 308, 1 << 16)
    values = np.concatenate([values, [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 2.0**-1022, 1.7976931348623157e308]])
    for fmt in FORMATS.values():
        _, e = np.frexp(values)
        definition = np.ldexp(1.0, np.where(values == 0, fmt.emin, np.clip(e - 1, fmt.emin, fmt.emax))
                              - fmt.precision + 1)
        assert metrics.ulp(values, fmt).view(np.uint64).tolist() == definition.view(np.uint64).tolist(), fmt.name


def test_signature_codes_name_the_signatures():
    """The codes a sweep counts are the names the gate prints."""
    spec = Spec("loss", "logits")
    ref = reference_at(spec, [-200.0, 50.0, 1.0, 100.0, -np.inf], [1.0, 1.0, 1.0, 1.0, 1.0])
    got = np.array([np.nan, 0.0, 0.5, np.inf, 1.0], np.float32)
    failing = np.ones(5, dtype=bool)
    names = metrics.signatures(got, ref, failing)
    assert metrics.SIGNATURE_NAMES[metrics.signature_codes(got, ref, failing)].tolist() == names.tolist()
    assert names.tolist() == ["nan", "lost-tail", "inaccurate", "overflow", "wrong-infinity"]


def reference_at(spec, x, y):
    return oracle.evaluate(spec, np.asarray(x, np.float32), np.asarray(y, np.float32))


def test_correctly_rounded_result_is_within_half_ulp_and_one_step_is_about_one_ulp():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 10, 2000).astype(np.float32)
    ref = reference_at(Spec("loss", "logits"), z, 1.0)
    exact_errors = metrics.ulp_error(ref.rounded, ref)
    assert exact_errors.max() <= 0.5
    stepped = np.nextafter(ref.rounded, np.float32(np.inf))
    errors = metrics.ulp_error(stepped, ref)
    assert np.all((errors >= 0.5) & (errors <= 1.5))


def test_error_in_the_subnormal_range_uses_the_subnormal_spacing():
    """float32 loss at z = 100, y = 1 is e^-100 ≈ 3.72e-44, 26.5 subnormal spacings (1.4e-45):
    returning 0 (flushing) is an error of 26.5 ULPs, not of ~2**23."""
    ref = reference_at(Spec("loss", "logits"), [100.0], [1.0])
    flushed = np.zeros(1, np.float32)
    error = metrics.ulp_error(flushed, ref)[0]
    assert error == pytest.approx(math.exp(-100) / 2.0**-149, rel=1e-6)
    assert metrics.abs_error(flushed, ref)[0] == pytest.approx(math.exp(-100), rel=1e-6)


def test_special_value_rules():
    # exact values: +inf (L(p=0, y=1)), NaN (NaN in), an overflow to inf, a finite 0.6931...
    spec = Spec("loss", "probs")
    ref = reference_at(spec, [0.0, np.nan, 2.0**-149, 0.5], [1.0, 1.0, 1.0, 1.0])
    assert np.isinf(ref.rounded[0]) and np.isnan(ref.rounded[1])
    got = np.array([np.inf, np.nan, 103.28, 0.6931472], np.float32)
    errors = metrics.ulp_error(got, ref)
    assert errors[0] == 0 and errors[1] == 0 and errors[3] <= 0.5
    assert metrics.mismatch(got, ref).tolist() == ["", "", "", ""]
    wrong = np.array([-np.inf, 0.0, np.inf, np.nan], np.float32)
    assert metrics.mismatch(wrong, ref).tolist() == ["inf", "missing-nan", "inf", "nan"]
    assert np.all(np.isinf(metrics.ulp_error(wrong, ref)))
    clamped = np.array([100.0, np.nan, 103.28, 0.6931472], np.float32)  # a clamp at 100 hides +inf
    assert metrics.mismatch(clamped, ref).tolist() == ["finite", "", "", ""]


def test_overflowing_exact_value_matched_by_inf():
    """float32 ∂L/∂p at p = 2**-149, y = 1 is −2**149: it overflows, so −inf is exact."""
    ref = reference_at(Spec("grad", "probs"), [2.0**-149], [1.0])
    assert ref.rounded[0] == -np.inf
    assert metrics.ulp_error(np.array([-np.inf], np.float32), ref)[0] == 0
    assert metrics.mismatch(np.array([np.finfo(np.float32).min], np.float32), ref)[0] == "finite"


def test_signed_zeros_are_equal_unless_asked():
    """σ(z) − 1 at z = 200 is −e^-200: correctly rounded it is −0 in float32."""
    ref = reference_at(Spec("grad", "logits"), [200.0], [1.0])
    assert ref.rounded[0] == 0 and np.signbit(ref.rounded[0])
    positive_zero = np.zeros(1, np.float32)
    assert metrics.ulp_error(positive_zero, ref)[0] < 1e-40  # e^-200 / 2**-149
    assert metrics.mismatch(positive_zero, ref, signed_zeros=True)[0] == "zero-sign"
    assert np.isinf(metrics.ulp_error(positive_zero, ref, signed_zeros=True)[0])


def test_each_failure_signature_comes_from_its_planted_fault_and_none_from_the_exact_answer():
    """One planted fault per signature, on float32 inputs of the logit loss: NaN, the wrong
    infinity, an overflow, a number where the result is NaN, a ceiling returned at three inputs,
    0 for a normal result (the lost tail of z = −30, y = 0: 9.4e-14) and for a subnormal one
    (z = −100, y = 0: 3.7e-44), a result off by a factor 1.001, and −0 for +0."""
    from bcebench.reference import metrics, oracle
    from bcebench.reference.exact import Spec

    z = np.array([1, -np.inf, 50, np.nan, 2, 3, 4, -30, -100, 5, 0], dtype=np.float32)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    y[1] = 1.0  # z = −∞, y = 1: the loss is +∞
    ref = oracle.evaluate(Spec("loss", "logits"), z, y)
    got = ref.rounded.copy()
    got[0], got[1], got[2], got[3] = np.nan, -np.inf, np.inf, 1.0
    got[4] = got[5] = got[6] = 7.0
    got[7], got[8], got[9] = 0.0, 0.0, got[9] * np.float32(1.001)
    planted = ["nan", "wrong-infinity", "overflow", "missing-nan", "clamped", "clamped", "clamped", "lost-tail",
               "flushed-subnormal", "inaccurate"]
    kinds = metrics.signatures(got, ref, np.array([True] * 10 + [False]))
    assert kinds.tolist() == [*planted, ""]
    assert set(planted) | {"raised", "zero-sign"} == set(metrics.SIGNATURES)
    exact_answer_fails = ~(metrics.ulp_error(ref.rounded, ref) <= 0.5)  # the correctly rounded values fail nothing
    assert not exact_answer_fails.any() and set(metrics.signatures(ref.rounded, ref, exact_answer_fails)) == {""}
    negative_zero = oracle.evaluate(Spec("loss", "logits"), np.array([200.0], np.float32), np.float32(1.0))
    assert metrics.signatures(-negative_zero.rounded, negative_zero, np.array([True])).tolist() == ["zero-sign"]
