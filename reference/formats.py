"""IEEE 754 binary formats and correct rounding into them.

A format is its precision p (significand bits, the implicit one included) and its exponent range
[emin, emax]. Every finite value of the format is m * 2**q with integer m, |m| < 2**p and
q >= emin - p + 1; below 2**emin the spacing stays 2**(emin - p + 1) (subnormals).

Rounding is round to nearest, ties to even, with IEEE overflow: a value at or beyond
max + spacing(max)/2 becomes inf (the tie at that point goes to inf, whose significand is even).

Two rounding routines, both exact:
- ``round_mpf``: an exact mpmath value (raw ``mpf`` tuple) to the format, in integer arithmetic.
- ``round_float64``: a float64 array to the format, in float64 arithmetic that is exact because it
  only scales by powers of two and rounds to an integer. A library's cast is never used for
  rounding: ml_dtypes before 0.7 rounded float64 -> bfloat16 twice (through float32), wrong beside
  ties, and no cast can be tried on every float64 input (``python -m bcebench.reference.cast_audit`` says
  whether the installed one is right on every float32 input and beside every tie). Casting a value
  that is already representable is exact and is how results get their dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import ml_dtypes
import numpy as np
from mpmath.libmp import finf, fnan, fninf, fnzero, from_man_exp, fzero

DTYPE_NAMES = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class Format:
    name: str
    precision: int
    emin: int
    emax: int
    dtype: np.dtype

    @property
    def quantum_min(self) -> int:
        """Exponent of the subnormal spacing, emin - p + 1."""
        return self.emin - self.precision + 1

    @property
    def max_finite(self) -> float:
        return math.ldexp(2**self.precision - 1, self.emax - self.precision + 1)

    @property
    def overflow_threshold(self) -> float:
        """max + spacing(max)/2: values at or above it round to inf. For float64 that is
        2**1024 − 2**970, itself beyond float64, so inf stands for it."""
        if self.name == "float64":
            return math.inf
        return math.ldexp(2**self.precision * 2 - 1, self.emax - self.precision)

    @property
    def bits_dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.dtype.itemsize == 2 else f"uint{8 * self.dtype.itemsize}")


FORMATS = {
    "float16": Format("float16", 11, -14, 15, np.dtype(np.float16)),
    "bfloat16": Format("bfloat16", 8, -126, 127, np.dtype(ml_dtypes.bfloat16)),
    "float32": Format("float32", 24, -126, 127, np.dtype(np.float32)),
    "float64": Format("float64", 53, -1022, 1023, np.dtype(np.float64)),
}


def format_of(dtype) -> Format:
    """The Format of a NumPy dtype (or its name); ValueError for any other dtype."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in FORMATS:
        raise ValueError(f"unsupported dtype {name!r}: expected one of {', '.join(DTYPE_NAMES)}")
    return FORMATS[name]


def _round_integer_ratio(num: int, den: int, tie_up: bool | None = None) -> int:
    """num/den (num >= 0, den > 0) rounded to the nearest integer; a tie goes to even, or up
    (tie_up=True) or down (tie_up=False) when the value is known to lie just beside it."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and (q % 2 == 1 if tie_up is None else tie_up)):
        q += 1
    return q


def round_fraction(value: Fraction, fmt: Format) -> float:
    """Correctly round an exact rational to ``fmt``; returned as the (exactly equal) Python float."""
    if value == 0:
        return 0.0
    sign = -1.0 if value < 0 else 1.0
    a = abs(value)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1  # now 2**e <= a < 2**(e+1)
    q = max(e, fmt.emin) - fmt.precision + 1
    scaled = a / (Fraction(2) ** q)
    m = _round_integer_ratio(scaled.numerator, scaled.denominator)
    return sign * _assemble(m, q, fmt)


def _assemble(m: int, q: int, fmt: Format) -> float:
    """m * 2**q as a float, inf past the format's largest finite value (m may have carried)."""
    if m.bit_length() + q > fmt.emax + 1:
        return math.inf
    return math.ldexp(m, q)


def round_mpf(value: tuple, fmt: Format, beside: int = 0) -> float:
    """Correctly round a raw mpmath value (sign, man, exp, bc) to ``fmt``, as an equal Python float.

    Infinities keep their sign and NaN stays NaN. A zero keeps its sign; a nonzero value that
    rounds to zero becomes a zero of its own sign, as IEEE 754 says.

    ``beside`` = +1 or −1 rounds a number known to lie strictly above or below ``value``, by an
    amount too small to matter except at a tie (which then goes that way) or at zero (which
    then takes that sign): how a strict bound of an irrational value is rounded.
    """
    sign, man, exp, bc = value
    if not man:
        if beside and value in (fzero, fnzero):
            return 0.0 if beside > 0 else -0.0
        return _special(value)
    e = exp + bc - 1  # 2**e <= |value| < 2**(e+1)
    if e < fmt.quantum_min - 1:  # below half the smallest subnormal
        return -0.0 if sign else 0.0
    if e > fmt.emax:
        return -math.inf if sign else math.inf
    q = max(e, fmt.emin) - fmt.precision + 1
    shift = q - exp
    if shift <= 0:
        m = man << -shift
    else:
        m = _round_integer_ratio(man, 1 << shift, None if not beside else (beside > 0) != bool(sign))
    result = _assemble(m, q, fmt)
    return -result if sign else result


def _special(value: tuple) -> float:
    if value == fzero:
        return 0.0
    if value == fnzero:
        return -0.0
    if value == finf:
        return math.inf
    if value == fninf:
        return -math.inf
    if value == fnan:
        return math.nan
    raise ValueError(f"not an mpf value: {value!r}")


def parse_decimal(text: str, fmt: Format) -> float:
    """A decimal literal ('0.999', '-1e-30', 'inf', 'nan') correctly rounded to ``fmt`` in one step."""
    lowered = text.strip().lower()
    if lowered in ("nan", "+nan", "-nan"):
        return math.nan
    if lowered in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if lowered in ("-inf", "-infinity"):
        return -math.inf
    try:
        exact = Fraction(lowered)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a decimal number: {text!r}") from None
    rounded = round_fraction(exact, fmt)
    if rounded == 0 and lowered.startswith("-"):
        return -0.0
    return rounded


def parse_bits(text: str, fmt: Format) -> float:
    """A bit pattern of ``fmt`` written in hex ('0x3f800000') as the float it encodes; ValueError
    for anything else, a pattern wider than the format included."""
    try:
        bits = int(text, 16)
    except ValueError:
        raise ValueError(f"not a hex bit pattern: {text!r}") from None
    width = 8 * fmt.dtype.itemsize
    if not 0 <= bits < 1 << width:
        raise ValueError(f"bit pattern {text} does not fit {fmt.name} ({width} bits)")
    return float(from_bits([bits], fmt)[0])


def parse_input(text: str, fmt: Format) -> float:
    """A decimal literal rounded to ``fmt`` (``parse_decimal``), or a hex bit pattern of ``fmt``."""
    if text.strip().lower().startswith(("0x", "-0x", "+0x")):
        return parse_bits(text.strip(), fmt)
    return parse_decimal(text, fmt)


def to_mpf(value: float) -> tuple:
    """The exact raw mpmath value of a finite Python float."""
    m, e = math.frexp(value)
    return from_man_exp(int(m * 2**53), e - 53)


def round_float64(values: np.ndarray, fmt: Format) -> np.ndarray:
    """Correctly round float64 values to ``fmt``; the result is float64, every element representable.

    x = s * 2**q with q = max(exponent(x), emin) - p + 1; rint(s) rounds to nearest even; both
    scalings by 2**q are exact, so the one rounding is rint's.
    """
    values = np.asarray(values, dtype=np.float64)
    if fmt.name == "float64":
        return values.copy()
    _, e = np.frexp(values)  # |x| in [2**(e-1), 2**e)
    q = np.maximum(e - 1, fmt.emin) - fmt.precision + 1
    with np.errstate(over="ignore", invalid="ignore"):  # a carry past float64's range is inf
        rounded = np.ldexp(np.rint(np.ldexp(values, -q)), q)
        overflow = np.abs(rounded) > fmt.max_finite
    return np.where(overflow, np.copysign(np.inf, values), rounded)


def as_dtype(values, fmt: Format) -> np.ndarray:
    """Cast values that are already representable in ``fmt`` to its dtype (exact)."""
    return np.asarray(values, dtype=np.float64).astype(fmt.dtype)


def bits_of(array: np.ndarray) -> np.ndarray:
    """The IEEE bit patterns of an array of one of the formats, as unsigned integers."""
    fmt = format_of(array.dtype)
    return np.ascontiguousarray(array).view(fmt.bits_dtype)


def from_bits(bits, fmt: Format) -> np.ndarray:
    """The array of ``fmt`` whose bit patterns are ``bits``."""
    return np.asarray(bits).astype(fmt.bits_dtype).view(fmt.dtype)
