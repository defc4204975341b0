"""A second reference, written apart from the oracle on other libraries: Arb ball arithmetic
(python-flint) for the values and MPFR (gmpy2) for the rounding.

Nothing here comes from ``reference``: the quantities are the definitions themselves,

    L = −[c₊ (1 − p)^γ ln p + c₋ p^γ ln(1 − p)],   c₊ = w·w₊·α·y_ε,   c₋ = w·(1 − α)(1 − y_ε),

with y_ε = y(1 − ε) + ε/2 and p = σ(z) = 1/(1 + e^−z) in the logit form, and the derivatives are
the coefficients of Arb's power series in the input (z or p), not formulas derived by hand. The
one change from the textbook form is ln p = −softplus(−z), with softplus(u) = u + ln(1 + e^−u)
for u > 0 and ln(1 + e^u) otherwise, and Arb's log1p for its value (the ball 1 + e^−|u| would
lose e^−|u|). The ball is computed at rising precision until both of its ends
round to the same format value (rounding is monotone, so everything inside rounds alike); MPFR
rounds each end with the format's precision, exponent range and subnormals. Only ordinary points
are covered (finite z, p strictly inside (0, 1), finite y): the special values are the oracle's
own rules and are tested against the design's table elsewhere.
"""

from __future__ import annotations

import gmpy2
from flint import arb, arb_series, ctx

# (precision, MPFR emin, MPFR emax): MPFR's significands lie in [1/2, 1), so emax = IEEE emax + 1
# and emin = IEEE emin − p + 2 (the smallest subnormal is 2**(emin − 1)).
MPFR_FORMATS = {
    "float16": (11, -23, 16),
    "bfloat16": (8, -132, 128),
    "float32": (24, -148, 128),
    "float64": (53, -1073, 1024),
}
START_BITS = 64
MAX_BITS = 1 << 17  # e^−34880 beside a tie of float16 needs about 50,000 bits


class Undecided(ArithmeticError):
    """The ball still straddled a rounding boundary at MAX_BITS."""


def correctly_rounded(quantity: str, form: str, dtype: str, x: float, y: float, gamma=None, alpha=None,
                      smoothing=None, weight=None, pos_weight=None) -> float:
    """The correctly rounded value of the quantity at the exact float values x and y."""
    bits = START_BITS
    old = ctx.prec
    try:
        while bits <= MAX_BITS:
            ctx.prec = bits
            series = _series(form, x, y, gamma, alpha, smoothing, weight, pos_weight, _ORDER[quantity])
            value = _coefficient(series, _ORDER[quantity] - 1) * _FACTORIAL[quantity]
            if not value.is_finite():  # a ball too wide to have finite ends at this precision
                bits *= 2
                continue
            lower, upper = _round(value.lower(), dtype), _round(value.upper(), dtype)
            if lower == upper and str(lower) == str(upper):  # the same value and the same zero sign
                return lower
            bits *= 2
    finally:
        ctx.prec = old
    raise Undecided(f"{quantity} {form} {dtype} x={x!r} y={y!r}: undecided at {MAX_BITS} bits")


_ORDER = {"loss": 1, "grad": 2, "hess": 3}
_FACTORIAL = {"loss": 1, "grad": 1, "hess": 2}


def _coefficient(series: arb_series, k: int) -> arb:
    """The k-th coefficient; Arb leaves out trailing coefficients that are exactly zero."""
    coefficients = series.coeffs()
    return coefficients[k] if k < len(coefficients) else arb(0)


def _coefficients(y, alpha, smoothing, weight, pos_weight) -> tuple[arb, arb]:
    label = arb(y)
    if smoothing is not None:
        label = label * (1 - arb(smoothing)) + arb(smoothing) / 2
    c_pos, c_neg = label, 1 - label
    if alpha is not None:
        c_pos, c_neg = arb(alpha) * c_pos, (1 - arb(alpha)) * c_neg
    if pos_weight is not None:
        c_pos = arb(pos_weight) * c_pos
    if weight is not None:
        c_pos, c_neg = arb(weight) * c_pos, arb(weight) * c_neg
    return c_pos, c_neg


def _log1p(series: arb_series, order: int) -> arb_series:
    """ln(1 + f) with its constant term from Arb's log1p, which keeps a tiny f(0)."""
    return arb_series([_coefficient(series, 0).log1p(), *(1 + series).log().coeffs()[1:order]], prec=order)


def _softplus(u: arb_series, order: int) -> arb_series:
    """ln(1 + e^u) = u + ln(1 + e^−u) where u(0) > 0, else ln(1 + e^u): the exponential that is
    taken is at most 1, so no derivative is a difference of huge terms."""
    if _coefficient(u, 0) > 0:
        return u + _log1p((-u).exp(), order)
    return _log1p(u.exp(), order)


def _series(form, x, y, gamma, alpha, smoothing, weight, pos_weight, order) -> arb_series:
    """The loss as a power series in the input, to ``order`` terms."""
    c_pos, c_neg = _coefficients(y, alpha, smoothing, weight, pos_weight)
    t = arb_series([arb(x), 1], prec=order)
    if form == "logits":
        ln_p, ln_q = -_softplus(-t, order), -_softplus(t, order)  # p = σ(z) = 1/(1 + e^−z)
    else:
        ln_p, ln_q = t.log(), (1 - t).log()
    if gamma is None or gamma == 0:
        return -(c_pos * ln_p + c_neg * ln_q)
    g = arb(gamma)
    return -(c_pos * (g * ln_q).exp() * ln_p + c_neg * (g * ln_p).exp() * ln_q)


def _round(value: arb, dtype: str) -> float:
    """An exact Arb point rounded to the format by MPFR (nearest, ties to even, subnormals)."""
    precision, emin, emax = MPFR_FORMATS[dtype]
    mantissa, exponent = (int(v) for v in value.mid().man_exp())
    if mantissa == 0:
        return 0.0
    sign = -1.0 if mantissa < 0 else 1.0
    top = abs(mantissa).bit_length() + exponent  # |value| < 2**top
    if top < emin - 2:
        return sign * 0.0
    if top > emax + 2:
        return sign * float("inf")
    with gmpy2.context(precision=abs(mantissa).bit_length() + 1, emin=-(1 << 20), emax=1 << 20):
        exact = gmpy2.mul_2exp(gmpy2.mpfr(mantissa), exponent)
    with gmpy2.context(precision=precision, emin=emin, emax=emax, subnormalize=True):
        rounded = +exact
    return float(rounded) if rounded != 0 else sign * 0.0
