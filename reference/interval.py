"""Rigorous interval arithmetic on mpmath's raw values: just what the oracle's formulas need.

An interval is a pair (lo, hi) of raw mpf tuples with lo <= exact <= hi. Every operation rounds
its lower end down and its upper end up. libmp's add, sub, mul and div are correctly rounded in
each direction, and its exp and log honour the directed rounding they are asked for: the same
footing mpmath's own interval context (``mpmath.iv``) stands on. ``log1p`` is written here
because mpmath's generic one returns the approximation t - t**2/2 for tiny t, which is not a bound.

Operands are finite; the oracle deals with infinities and NaN before it builds intervals.
"""

from __future__ import annotations

from mpmath.libmp import (
    fone,
    fzero,
    mpf_add,
    mpf_cmp,
    mpf_div,
    mpf_exp,
    mpf_log,
    mpf_mul,
    mpf_neg,
    mpf_shift,
    mpf_sub,
    round_ceiling,
    round_floor,
)

Interval = tuple[tuple, tuple]

DOWN, UP = round_floor, round_ceiling


def point(value: tuple) -> Interval:
    return (value, value)


def is_point(a: Interval) -> bool:
    return a[0] == a[1]


def mag(value: tuple) -> int:
    """An exponent m with |value| < 2**m (value nonzero and finite)."""
    return value[2] + value[3]


def add(a: Interval, b: Interval, prec: int) -> Interval:
    return (mpf_add(a[0], b[0], prec, DOWN), mpf_add(a[1], b[1], prec, UP))


def neg(a: Interval) -> Interval:
    return (mpf_neg(a[1]), mpf_neg(a[0]))


def sub(a: Interval, b: Interval, prec: int) -> Interval:
    return (mpf_sub(a[0], b[1], prec, DOWN), mpf_sub(a[1], b[0], prec, UP))


def _min(values):
    best = values[0]
    for v in values[1:]:
        if mpf_cmp(v, best) < 0:
            best = v
    return best


def _max(values):
    best = values[0]
    for v in values[1:]:
        if mpf_cmp(v, best) > 0:
            best = v
    return best


def _nonnegative(a: Interval) -> bool:
    return mpf_cmp(a[0], fzero) >= 0


def mul(a: Interval, b: Interval, prec: int) -> Interval:
    if _nonnegative(a) and _nonnegative(b):
        return (mpf_mul(a[0], b[0], prec, DOWN), mpf_mul(a[1], b[1], prec, UP))
    pairs = [(x, y) for x in a for y in b]
    return (
        _min([mpf_mul(x, y, prec, DOWN) for x, y in pairs]),
        _max([mpf_mul(x, y, prec, UP) for x, y in pairs]),
    )


def div(a: Interval, b: Interval, prec: int) -> Interval:
    """a / b for an interval b that lies strictly above 0."""
    if mpf_cmp(b[0], fzero) <= 0:
        raise ZeroDivisionError("interval divisor must be positive")
    if _nonnegative(a):
        return (mpf_div(a[0], b[1], prec, DOWN), mpf_div(a[1], b[0], prec, UP))
    if mpf_cmp(a[1], fzero) <= 0:
        return (mpf_div(a[0], b[0], prec, DOWN), mpf_div(a[1], b[1], prec, UP))
    return (mpf_div(a[0], b[0], prec, DOWN), mpf_div(a[1], b[0], prec, UP))


def exp(a: Interval, prec: int) -> Interval:
    return (mpf_exp(a[0], prec, DOWN), mpf_exp(a[1], prec, UP))


def log(a: Interval, prec: int) -> Interval:
    """ln a for an interval that lies strictly above 0."""
    return (mpf_log(a[0], prec, DOWN), mpf_log(a[1], prec, UP))


def _log1p_bound(t: tuple, prec: int, rnd: str) -> tuple:
    """A bound on ln(1 + t), 0 <= t <= 1, below (rnd=DOWN) or above (rnd=UP).

    For t < 2**(-2 prec - 8): t - t**2/2 <= ln(1 + t) <= t, and t**2/2 is below the precision.
    Otherwise 1 + t is rounded in the same direction with prec + |mag t| + 8 bits, so that its
    rounding error (2**-(prec + |mag t| + 8)) is 2**-(prec + 8) relative to ln(1 + t) ~ t.
    """
    if t == fzero:
        return fzero
    extra = max(0, -mag(t))
    if extra > 2 * prec + 8:
        if rnd == UP:
            return t
        return mpf_sub(t, mpf_shift(mpf_mul(t, t, prec, UP), -1), prec, DOWN)
    return mpf_log(mpf_add(fone, t, prec + extra + 8, rnd), prec, rnd)


def log1p(a: Interval, prec: int) -> Interval:
    """ln(1 + a) for 0 <= a <= 1."""
    return (_log1p_bound(a[0], prec, DOWN), _log1p_bound(a[1], prec, UP))


def _expm1_bound(t: tuple, prec: int, rnd: str) -> tuple:
    """A bound on e^t − 1, −1 <= ... t <= 0, below (rnd=DOWN) or above (rnd=UP).

    For |t| < 2**(-2 prec - 8): t <= e^t − 1 <= t + t**2/2 (the series alternates). Otherwise e^t
    is rounded the same way with prec + |mag t| + 8 bits before 1 is taken off, which keeps the
    error 2**-(prec + 8) relative to e^t − 1 ~ t.
    """
    if t == fzero:
        return fzero
    extra = max(0, -mag(t))
    if extra > 2 * prec + 8:
        if rnd == DOWN:
            return t
        return mpf_add(t, mpf_shift(mpf_mul(t, t, prec, UP), -1), prec, UP)
    return mpf_sub(mpf_exp(t, prec + extra + 8, rnd), fone, prec, rnd)


def expm1(a: Interval, prec: int) -> Interval:
    """e^a − 1 for a <= 0."""
    return (_expm1_bound(a[0], prec, DOWN), _expm1_bound(a[1], prec, UP))


def power(a: Interval, exponent: tuple, prec: int) -> Interval:
    """a ** g = exp(g ln a) for a > 0 and an exact g >= 0; exactly 1 when g = 0."""
    if exponent == fzero:
        return point(fone)
    return exp(mul(point(exponent), log(a, prec), prec), prec)


def scale(a: Interval, factor: tuple, prec: int) -> Interval:
    """An exact factor times an interval."""
    return mul(point(factor), a, prec)
