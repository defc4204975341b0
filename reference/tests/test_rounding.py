"""Correct rounding, as a property and at the edges: ties, subnormals, overflow."""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcebench.reference import cast_audit, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import (
    DTYPE_NAMES,
    FORMATS,
    as_dtype,
    from_bits,
    parse_decimal,
    round_float64,
    round_fraction,
    round_mpf,
    to_mpf,
)

SPECS = [Spec(q, f) for q in ("loss", "grad", "hess") for f in ("logits", "probs")] + [
    Spec("loss", "logits", gamma=2.0, alpha=0.25),
    Spec("grad", "logits", gamma=2.0, alpha=0.25),
    Spec("loss", "probs", gamma=1.5),
    Spec("grad", "probs", gamma=0.5),
    Spec("loss", "logits", smoothing=0.1),
    Spec("grad", "probs", smoothing=0.2),
]


def finite_values(dtype: str):
    """Finite values of the dtype, drawn by bit pattern (so subnormals and extremes appear)."""
    fmt = FORMATS[dtype]
    width = 8 * fmt.dtype.itemsize
    return st.integers(0, 2**width - 1).map(lambda b: float(from_bits([b], fmt)[0])).filter(math.isfinite)


def neighbours(value: float, fmt) -> list[float]:
    """The format's values next to a finite value, one step down and one step up in magnitude."""
    if value == 0:
        smallest = math.ldexp(1.0, fmt.quantum_min)
        return [-smallest, smallest]
    bits = int(as_dtype([value], fmt).view(fmt.bits_dtype)[0])
    return [float(from_bits([bits - 1], fmt)[0]), float(from_bits([bits + 1], fmt)[0])]


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("spec", SPECS, ids=str)
@given(data=st.data())
def test_result_is_the_nearest_value(spec, dtype, data):
    """|rounded − exact| is at most half an ULP and neither neighbour is closer."""
    fmt = FORMATS[dtype]
    if spec.form == "probs":
        x = data.draw(finite_values(dtype).filter(lambda v: 0 < v < 1))
    else:
        x = data.draw(finite_values(dtype))
    y = data.draw(st.sampled_from([0.0, 1.0]) | finite_values(dtype).filter(lambda v: 0 <= v <= 1))
    rounded = float(oracle.evaluate(spec, as_dtype([x], fmt), as_dtype([y], fmt)).rounded[0])
    exact = oracle.exact_value(spec, x, y, bits=4 * fmt.precision)
    if math.isinf(rounded):
        threshold = mpmath.ldexp(2 ** (fmt.precision + 1) - 1, fmt.emax - fmt.precision)
        assert abs(exact) >= threshold
        return
    with mpmath.workprec(8 * fmt.precision + 2200):
        distance = abs(mpmath.mpf(rounded) - exact)
        for neighbour in neighbours(rounded, fmt):
            if math.isfinite(neighbour):
                assert distance <= abs(mpmath.mpf(neighbour) - exact)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@given(data=st.data())
def test_three_rounding_routines_agree(dtype, data):
    """round_fraction (rationals), round_mpf (integers) and round_float64 (float arithmetic)
    give the same result, for any float64 value: ties, subnormals and overflow included."""
    fmt = FORMATS[dtype]
    value = data.draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
    expected = round_fraction(Fraction(value), fmt)
    assert round_mpf(to_mpf(value), fmt) == expected
    assert round_float64(np.array([value]), fmt)[0] == expected


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_ties_go_to_even_and_overflow_threshold_to_inf(dtype):
    fmt = FORMATS[dtype]
    one_ulp = math.ldexp(1.0, 1 - fmt.precision)
    assert round_fraction(Fraction(1) + Fraction(one_ulp) / 2, fmt) == 1.0  # tie: 1 is even
    assert round_fraction(Fraction(1) + Fraction(3 * one_ulp) / 2, fmt) == 1 + 2 * one_ulp
    assert round_fraction(Fraction(fmt.overflow_threshold), fmt) == math.inf
    below = Fraction(fmt.overflow_threshold) - Fraction(1, 2**2000)
    assert round_fraction(below, fmt) == fmt.max_finite
    smallest = math.ldexp(1.0, fmt.quantum_min)
    assert round_fraction(Fraction(smallest) / 2, fmt) == 0.0  # tie with 0: 0 is even
    assert round_fraction(Fraction(smallest) * 3 / 4, fmt) == smallest


@pytest.mark.parametrize(("dtype", "value"), [
    ("bfloat16", 1 + 2**-8 + 2**-30),  # just above the tie between 1 and 1 + 2**-7
    ("float16", 1 + 2**-11 + 2**-40),  # just above the tie between 1 and 1 + 2**-10
])
def test_round_float64_rounds_once(dtype, value):
    """A value just past a tie, by less than float32 resolves: rounded once it goes up; rounded
    first to float32 (which lands on the tie) and then to the format it would go to even, 1. The
    expected value is round_fraction's, in exact rationals."""
    fmt = FORMATS[dtype]
    assert round_float64(np.array([value]), fmt)[0] == round_fraction(Fraction(value), fmt) > 1
    assert np.float32(value) == 1 + math.ldexp(1, -fmt.precision)  # the tie a second rounding meets


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_representable_value_casts_exactly(dtype):
    """What the project takes from the library's cast (as_dtype): a value already in the format
    keeps its bits, for every pattern of the format (NaN payloads aside)."""
    fmt = FORMATS[dtype]
    patterns = np.arange(1 << 16, dtype=np.uint32)
    with np.errstate(invalid="ignore"):  # ml_dtypes warns when it widens a NaN
        values = from_bits(patterns, fmt).astype(np.float64)
    back = as_dtype(values, fmt).view(fmt.bits_dtype).astype(np.uint32)
    assert np.array_equal(back[~np.isnan(values)], patterns[~np.isnan(values)])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cast_audit_finds_a_double_rounding_and_passes_a_single_one(dtype):
    """The audit that says whether a library's cast may replace round_float64 (python -m
    reference.cast_audit) catches a planted cast that rounds through float32, and finds no fault
    in round_float64 itself."""
    fmt = FORMATS[dtype]
    ties = cast_audit.tie_neighbourhoods(fmt)
    twice = cast_audit.mismatches(ties, fmt, lambda v, f: v.astype(np.float32).astype(f.dtype))
    once = cast_audit.mismatches(ties, fmt, lambda v, f: round_float64(v, f).astype(f.dtype))
    assert twice.size > 0 and once.size == 0


def test_decimal_is_rounded_once():
    """'1.00048828125000001' is just above the float16 tie 1 + 2**-11: one rounding gives
    1 + 2**-10; rounding first to float64 (which gives the tie) and then to float16 gives 1."""
    text = "1.00048828125000001"
    assert float(text) == 1 + 2**-11
    assert parse_decimal(text, FORMATS["float16"]) == 1 + 2**-10
    assert math.copysign(1, parse_decimal("-0", FORMATS["float32"])) == -1
    with pytest.raises(ValueError, match="not a decimal"):
        parse_decimal("abc", FORMATS["float32"])


def test_subnormal_and_overflowing_results():
    """float32 loss at z = 100, y = 1 is e^-100 ≈ 3.7e-44: subnormal. float16 loss at
    z = 65504, y = -1 is 2·65504: overflows to inf. float32 ∂L/∂p at p = 2**-149, y = 1 is
    -2**149: overflows to -inf. Each equals the correct rounding of the exact value."""
    cases = [
        (Spec("loss", "logits"), "float32", 100.0, 1.0),
        (Spec("loss", "logits"), "float16", 65504.0, -1.0),
        (Spec("grad", "probs"), "float32", 2.0**-149, 1.0),
        (Spec("hess", "probs"), "float16", 2.0**-24, 1.0),
    ]
    for spec, dtype, x, y in cases:
        fmt = FORMATS[dtype]
        rounded = float(oracle.evaluate(spec, as_dtype([x], fmt), as_dtype([y], fmt)).rounded[0])
        exact = oracle.exact_value(spec, x, y)
        assert rounded == round_mpf(exact._mpf_, fmt)
    assert 0 < float(oracle.evaluate(Spec("loss", "logits"), np.float32([100]), 1.0).rounded[0]) < 2.0**-126
