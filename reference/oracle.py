"""The oracle: correctly rounded BCE quantities in float16, bfloat16, float32 and float64.

Correct rounding is made certain by Ziv's strategy. ``exact.interval`` returns a rigorous
interval around the exact value at a working precision; if both ends round to the same value of
the target format (round to nearest, ties to even, subnormals and overflow as IEEE 754 says), that
value is the correctly rounded result. Otherwise the precision doubles. Results that are exactly
representable (σ(0) = 1/2, a gradient that is exactly 0, the rational derivatives of the
probability form) come out of ``exact`` as point intervals, rounded as they are. Every other
result is irrational (Lindemann–Weierstrass: e^z is transcendental for rational z ≠ 0), so it
lies strictly inside its interval and is never a tie: each end is rounded as a strict bound
(``round_mpf(..., beside=±1)``). That matters when the value sits astronomically close to a tie:
the focal loss at z = 32800, y = 0, γ = 2, α = 1/4 in float16 is 24600 − 1.5·24600·e^−32800, just
below the tie 24600, and is decided at 38 bits instead of the 47,000 it would take to see the
gap.

Inputs are arrays of the target dtype, taken at their exact binary value. For float16, bfloat16
and float32 the float64 fast path (``fastpath``) decides almost every element and the mpmath path
takes the rest, bit for bit the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
from mpmath.libmp import fnan, fzero, mpf_add, mpf_shift, mpf_sub

from bcebench.reference import exact, fastpath, fenv
from bcebench.reference import interval as iv
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, Format, as_dtype, format_of, round_mpf, to_mpf

MAX_PRECISION = 1 << 16
DOUBLE_DOUBLE_BITS = 120


class UndecidedRounding(ArithmeticError):
    """The interval still straddled a rounding boundary at MAX_PRECISION bits."""


def _start_precision(fmt: Format) -> int:
    """2p + 16 bits: the first try decides all but ~2**-(p+16) of the inputs, and for float64
    the midpoint then carries a double-double (~106 bits) of the exact value."""
    return 2 * fmt.precision + 16


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def decide_scalar(spec: Spec, x: float, y: float, fmt: Format) -> tuple[float, iv.Interval]:
    """(correctly rounded value as a float, the deciding interval) for one exact input pair."""
    prec = _start_precision(fmt)
    while prec <= MAX_PRECISION:
        bounds = exact.interval(spec, x, y, prec)
        if iv.is_point(bounds):
            return round_mpf(bounds[0], fmt), bounds
        lo, hi = round_mpf(bounds[0], fmt, beside=+1), round_mpf(bounds[1], fmt, beside=-1)
        if _same(lo, hi):
            return lo, bounds
        prec *= 2
    raise UndecidedRounding(f"{spec} at x={x!r}, y={y!r}: undecided at {MAX_PRECISION} bits")


def exact_value(spec: Spec, x: float, y: float, bits: int = 160) -> mpmath.mpf:
    """The exact value to ``bits`` bits (relative), as an mpmath number carrying all its bits
    (made without rounding to the context precision); NaN and ±inf as such."""
    prec = bits + 16
    while prec <= MAX_PRECISION:
        lo, hi = exact.interval(spec, x, y, prec)
        if lo == fnan or lo == hi:
            return mpmath.mp.make_mpf(lo)
        width = mpf_sub(hi, lo, 16, iv.UP)
        middle = _midpoint((lo, hi), prec)
        if middle != fzero and iv.mag(width) <= iv.mag(middle) - bits:
            return mpmath.mp.make_mpf(middle)
        prec *= 2
    raise UndecidedRounding(f"{spec} at x={x!r}, y={y!r}: not resolved at {MAX_PRECISION} bits")


@dataclass
class Reference:
    """The oracle's answer for an array of inputs.

    ``rounded`` has the input's dtype. ``exact`` + ``exact_lo`` (float64, unevaluated sum)
    approximate the exact value: to about 2**-106 relative for float64 targets; for the narrower
    ones, where the fast path decided, to 2**-48 relative or 2**-1000 absolute, whichever is larger
    (past |z| = 700 it reports e^-700 for a smaller value). Both are far below the target's ULP,
    which is what error measurement needs; ``rounded`` is exact either way.
    ``mpmath_count`` is the number of elements the mpmath path decided, ``slow`` their flat indices
    where ``evaluate`` made the answer.
    """

    rounded: np.ndarray
    exact: np.ndarray
    exact_lo: np.ndarray
    mpmath_count: int
    slow: np.ndarray | None = None


def evaluate(spec: Spec, x, y, *, fast: bool = True, known: tuple | None = None) -> Reference:
    """Correctly rounded ``spec`` at every (x, y); x fixes the dtype, y broadcasts against it.
    ``known``: (flat indices, rounded as float64, exact, exact_lo) of the elements the mpmath path
    decided for these very inputs before (``reference.cache``'s tables on disk), taken instead of
    deciding them again when the fast path leaves exactly those indices pending. It computes in IEEE
    754's default floating-point environment, whatever the thread's is (``fenv.ours``)."""
    with fenv.ours():
        return _evaluate(spec, x, y, fast, known)


def _evaluate(spec: Spec, x, y, fast: bool, known: tuple | None) -> Reference:
    x = np.asarray(x)
    fmt = format_of(x.dtype)
    labels = np.asarray(y)
    shape = np.broadcast_shapes(x.shape, labels.shape)
    xs = np.broadcast_to(x, shape).ravel()
    ys = labels.ravel() if labels.size == 1 else np.broadcast_to(labels, shape).ravel()
    if fast and fastpath.supports(spec, fmt, ys):
        rounded, approx, decided = fastpath.evaluate(spec, xs, ys, fmt)
        slow = np.flatnonzero(~decided)
    else:
        rounded, approx, slow = np.empty(xs.size, dtype=fmt.dtype), np.empty(xs.size), np.arange(xs.size)
    approx_lo = np.zeros(xs.size)
    if fast and slow.size:  # NaN in gives NaN out for every quantity (exact.special_value): no need to ask mpmath
        with np.errstate(invalid="ignore"):  # ml_dtypes warns when it widens a NaN
            nan = np.isnan(xs[slow].astype(np.float64))
        rounded[slow[nan]], approx[slow[nan]] = np.nan, np.nan
        slow = slow[~nan]
    if known is not None and np.array_equal(known[0], slow):
        rounded[slow], approx[slow], approx_lo[slow] = as_dtype(known[1], fmt), known[2], known[3]
    else:
        for i in slow:
            label = ys[0] if ys.size == 1 else ys[i]
            value, bounds = decide_scalar(spec, float(xs[i]), float(label), fmt)
            rounded[i] = value
            approx[i], approx_lo[i] = _double_double(bounds)
    return Reference(
        rounded=rounded.reshape(shape),
        exact=approx.reshape(shape),
        exact_lo=approx_lo.reshape(shape),
        mpmath_count=int(slow.size),
        slow=slow,
    )


def _midpoint(bounds: iv.Interval, prec: int) -> tuple:
    """(lo + hi)/2 rounded to ``prec`` bits (an exact sum could need 2**100 bits when the ends
    differ hugely in scale)."""
    return mpf_shift(mpf_add(bounds[0], bounds[1], prec, "n"), -1)


def _double_double(bounds: iv.Interval) -> tuple[float, float]:
    """The interval's midpoint as hi + lo, two float64 values."""
    middle = bounds[0] if iv.is_point(bounds) else _midpoint(bounds, DOUBLE_DOUBLE_BITS)
    head = round_mpf(middle, FORMATS["float64"])
    if not math.isfinite(head):
        return head, 0.0
    tail = round_mpf(mpf_sub(middle, to_mpf(head), DOUBLE_DOUBLE_BITS, "n"), FORMATS["float64"])
    return head, tail
