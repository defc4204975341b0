"""The exact quantities of BCE as rigorous intervals, and the mathematics' own special values.

For a logit z, p = σ(z), a label y and optional focal parameters (γ, α), with the label weights
c₊ = α·y and c₋ = (1 − α)(1 − y) (α absent: c₊ = y, c₋ = 1 − y) and
softplus sp(z) = ln(1 + e^z), so that ln p = −sp(−z) and ln(1 − p) = −sp(z):

    loss, logits   c₊ σ(−z)^γ sp(−z) + c₋ σ(z)^γ sp(z)         (γ = 0: sp(z) − y z)
    grad, logits   c₋ σ(z)^γ [γ σ(−z) sp(z) + σ(z)] − c₊ σ(−z)^γ [γ σ(z) sp(−z) + σ(−z)]
                                                                (γ = 0: σ(z) − y)
    hess, logits   (c₊ + c₋) σ(z) σ(−z)
    loss, probs    c₊ (1 − p)^γ (−ln p) + c₋ p^γ (−ln(1 − p))
    grad, probs    c₊ [−γ (1 − p)^(γ−1) (−ln p) − (1 − p)^γ / p] + c₋ [γ p^(γ−1) (−ln(1 − p)) + p^γ / (1 − p)]
                                                                (γ = 0: (p − y) / (p (1 − p)))
    hess, probs    c₊ / p² + c₋ / (1 − p)²

Each is written so that no term cancels for y in [0, 1] but where the mathematics does (p ≈ y in
the gradient), and a rational result is one exact numerator over one exact denominator, so an
exactly representable result comes out as a point interval. Where a result tends to an exact
value (c₋|z|, c₋ or −c₊ as |z| grows) it is that exact part plus a small part computed to full
relative precision, so a value astronomically close to a tie of the exact part is decided by the
sign of the small part, at the first precision that resolves the small part itself. At the
symmetric point (z = 0, p = 1/2) the loss and the focal gradient are factored, (c₊ + c₋)·2^−γ ln 2,
(c₋ − c₊)·2^−γ (γ ln 2 + 1)/2 for logits and (c₋ − c₊)·2^(1−γ) (γ ln 2 + 1) for probabilities, so
that an exact zero (c₊ = −c₋ or c₊ = c₋, labels outside [0, 1]) is a point; elsewhere no
combination of these transcendental terms with rational coefficients is exactly zero.

Special values are the mathematics', a term with a zero coefficient being absent (0·ln 0 = 0):
NaN in x or y gives NaN; a label that is not finite gives NaN; z = ±inf gives the limit
(loss c₋·∞ or c₊·∞, gradient c₋ or −c₊, Hessian 0); p = 0 and p = 1 give the one-sided limits;
p outside [0, 1] is outside the domain and gives NaN. Labels outside [0, 1] are evaluated by the
same formulas (they are polynomials in y); the identities of the design hold only inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mpmath.libmp import (
    finf,
    fnan,
    fninf,
    fone,
    fzero,
    mpf_add,
    mpf_cmp,
    mpf_div,
    mpf_mul,
    mpf_shift,
    mpf_sub,
)

from bcebench.reference import interval as iv
from bcebench.reference.formats import to_mpf

QUANTITIES = ("loss", "grad", "hess")
FORMS = ("logits", "probs")
HALF = mpf_shift(fone, -1)


@dataclass(frozen=True)
class Spec:
    """What to compute: quantity and form, focal parameters γ and α, label smoothing ε, and the
    weights of PyTorch's BCE: ``weight`` w multiplies the loss, ``pos_weight`` w₊ its positive
    term, so that c₊ = w w₊ y and c₋ = w (1 − y).

    The parameters are taken at their exact float64 value. The label with smoothing is
    y(1 − ε) + ε/2, exactly. Derivatives are with respect to the form's input (z or p).
    """

    quantity: str
    form: str
    gamma: float | None = None
    alpha: float | None = None
    smoothing: float | None = None
    weight: float | None = None
    pos_weight: float | None = None

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise ValueError(f"unknown quantity {self.quantity!r}: expected one of {', '.join(QUANTITIES)}")
        if self.form not in FORMS:
            raise ValueError(f"unknown form {self.form!r}: expected logits or probs")
        if self.gamma is not None and not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {self.gamma}")
        if self.alpha is not None and not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.alpha is not None and self.gamma is None:
            raise ValueError("alpha weights the focal loss: give gamma too")
        if self.smoothing is not None and not 0 <= self.smoothing <= 1:
            raise ValueError(f"smoothing must lie in [0, 1], got {self.smoothing}")
        if self.quantity == "hess" and self.gamma is not None:
            raise ValueError("the oracle has no focal Hessian: hess takes no gamma")
        for name in ("weight", "pos_weight"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    @property
    def focal(self) -> bool:
        return self.gamma is not None and self.gamma != 0


def _exact(op, a: tuple, b: tuple) -> tuple:
    return op(a, b, 0)


def label_weights(spec: Spec, y: tuple) -> tuple[tuple, tuple]:
    """(c₊, c₋): the exact weights of the positive (ln p) and negative (ln(1 − p)) terms."""
    if spec.smoothing is not None:
        eps = to_mpf(spec.smoothing)
        y = mpf_add(_exact(mpf_mul, y, mpf_sub(fone, eps, 0)), mpf_shift(eps, -1), 0)
    c_pos, c_neg = y, mpf_sub(fone, y, 0)
    if spec.alpha is not None:
        alpha = to_mpf(spec.alpha)
        c_pos = _exact(mpf_mul, alpha, c_pos)
        c_neg = _exact(mpf_mul, mpf_sub(fone, alpha, 0), c_neg)
    if spec.pos_weight is not None:
        c_pos = _exact(mpf_mul, to_mpf(spec.pos_weight), c_pos)
    if spec.weight is not None:
        weight = to_mpf(spec.weight)
        c_pos, c_neg = _exact(mpf_mul, weight, c_pos), _exact(mpf_mul, weight, c_neg)
    return c_pos, c_neg


def _signed_inf(weight: tuple) -> tuple:
    """weight · ∞ with 0 · ∞ = 0 (the term is absent)."""
    sign = mpf_cmp(weight, fzero)
    return fzero if sign == 0 else (finf if sign > 0 else fninf)


def special_value(spec: Spec, x: float, y: float) -> tuple | None:
    """The exact result where x or y is not an ordinary point of the formulas, else None."""
    if math.isnan(x) or not math.isfinite(y):
        return fnan
    c_pos, c_neg = label_weights(spec, to_mpf(y))
    gamma_zero = not spec.focal
    if spec.form == "logits":
        if math.isfinite(x):
            return None
        if spec.quantity == "hess":
            return fzero
        positive_end = x > 0
        if spec.quantity == "loss":
            return _signed_inf(c_neg if positive_end else c_pos)
        return c_neg if positive_end else _negate(c_pos)
    if not 0 <= x <= 1:
        return fnan
    if 0 < x < 1:
        return None
    at_zero = x == 0
    singular, other = (c_pos, c_neg) if at_zero else (c_neg, c_pos)
    if spec.quantity == "loss":
        return _signed_inf(singular)
    if mpf_cmp(singular, fzero) != 0:
        inf = _signed_inf(singular)
        if spec.quantity == "grad" and at_zero:
            return finf if inf == fninf else fninf
        return inf
    if spec.quantity == "hess":
        return other
    if not gamma_zero:
        return fzero
    return other if at_zero else _negate(other)


def _negate(value: tuple) -> tuple:
    return mpf_sub(fzero, value, 0)


def interval(spec: Spec, x: float, y: float, prec: int) -> iv.Interval:
    """An interval around the exact quantity at (x, y), from arithmetic at ``prec`` bits."""
    special = special_value(spec, x, y)
    if special is not None:
        return iv.point(special)
    c_pos, c_neg = label_weights(spec, to_mpf(y))
    gamma = to_mpf(spec.gamma or 0.0)
    if spec.form == "logits":
        return _logits(spec, to_mpf(x), c_pos, c_neg, gamma, prec)
    return _probs(spec, to_mpf(x), c_pos, c_neg, gamma, prec)


def _sigmoid_pair(z: tuple, prec: int) -> tuple[iv.Interval, iv.Interval]:
    """(σ(z), σ(−z)) from one e = e^−|z|: 1/(1 + e) and e/(1 + e), positive terms only."""
    e = iv.exp(iv.point(_negate(_abs(z))), prec)
    big = iv.div(iv.point(fone), iv.add(iv.point(fone), e, prec), prec)
    small = iv.mul(e, big, prec)
    return (small, big) if z[0] else (big, small)


def _abs(v: tuple) -> tuple:
    return _negate(v) if v[0] else v


def _max0(v: tuple) -> tuple:
    return fzero if v[0] or v == fzero else v


def _weighted_difference(c_neg: tuple, neg_term: iv.Interval, c_pos: tuple, pos_term: iv.Interval, prec: int):
    return iv.sub(iv.scale(neg_term, c_neg, prec), iv.scale(pos_term, c_pos, prec), prec)


def _logits(spec: Spec, z: tuple, c_pos: tuple, c_neg: tuple, gamma: tuple, prec: int) -> iv.Interval:
    if spec.quantity == "hess":  # (c₊ + c₋) σ(z) σ(−z)
        return iv.scale(iv.mul(*_sigmoid_pair(z, prec), prec), mpf_add(c_pos, c_neg, 0), prec)
    if spec.quantity == "grad" and not spec.focal:
        # c₋σ(z) − c₊σ(−z) = c₋ − (c₊ + c₋)σ(−z) for z >= 0 and −c₊ + (c₊ + c₋)σ(z) for z < 0: an exact
        # part and a small one, so that a value astronomically close to a tie of the exact part
        # (z = 34880, y = −2832 in float16: 2833 − e^−34880) stays strictly on its side.
        small = iv.scale(_sigmoid_pair(_negate(_abs(z)), prec)[0], mpf_add(c_pos, c_neg, 0), prec)
        return iv.add(iv.point(_negate(c_pos)), small, prec) if z[0] else iv.sub(iv.point(c_neg), small, prec)
    if spec.focal:
        return _focal_logits(spec.quantity, z, c_pos, c_neg, gamma, prec)
    # c₊ sp(−z) + c₋ sp(z) = c_dom |z| + (c₊ + c₋) ln(1 + e^−|z|): an exact part and a small one.
    a = _abs(z)
    c_dom = c_pos if z[0] else c_neg
    tail = iv.log1p(iv.exp(iv.point(_negate(a)), prec), prec)
    return iv.add(iv.point(mpf_mul(c_dom, a, 0)), iv.scale(tail, mpf_add(c_pos, c_neg, 0), prec), prec)


def _focal_logits(quantity: str, z: tuple, c_pos: tuple, c_neg: tuple, gamma: tuple, prec: int) -> iv.Interval:
    """The focal loss and gradient at a = |z| as an exact part plus a small part.

    With L = ln(1 + e^−a), D = 1 − σ(a)^γ = −expm1(−γL), and c_dom the weight of the term that
    grows with a (c₋ for z >= 0, c₊ for z < 0):
        loss = c_dom a + [c_dom L − c_dom D (a + L) + c_oth σ(−a)^γ L]
        grad = ±(c_dom + [c_dom (γσ(−a)(a + L) − σ(−a) − D (γσ(−a)(a + L) + σ(a)))
                          − c_oth σ(−a)^γ (γσ(a)L + σ(−a))])
    The bracket is computed to full relative precision however small it is, so a result
    astronomically close to a tie of the exact part (c₋ z, c₋) stays strictly on its side.
    """
    if z == fzero:
        # σ(0)^γ sp(0) = 2^−γ ln 2 and σ(0)^γ (γ σ(0) sp(0) + σ(0)) = 2^−γ (γ ln 2 + 1) / 2, the
        # same in both terms: one exact coefficient, so that an exact zero is a point.
        ln2 = iv.log1p(iv.point(fone), prec)
        power = iv.exp(iv.scale(ln2, _negate(gamma), prec), prec)
        if quantity == "loss":
            return iv.scale(iv.mul(power, ln2, prec), mpf_add(c_pos, c_neg, 0), prec)
        core = iv.add(iv.scale(ln2, gamma, prec), iv.point(fone), prec)
        factor = iv.mul(power, core, prec)
        return iv.scale(iv.scale(factor, HALF, prec), mpf_sub(c_neg, c_pos, 0), prec)
    a = _abs(z)
    c_dom, c_oth = (c_pos, c_neg) if z[0] else (c_neg, c_pos)
    tail = iv.log1p(iv.exp(iv.point(_negate(a)), prec), prec)  # L
    s_big, s_small = _sigmoid_pair(a, prec)
    shortfall = iv.neg(iv.expm1(iv.scale(tail, _negate(gamma), prec), prec))  # D
    softplus_a = iv.add(iv.point(a), tail, prec)
    small_power = iv.exp(iv.scale(softplus_a, _negate(gamma), prec), prec)  # σ(−a)^γ
    if quantity == "loss":
        small = iv.add(
            iv.scale(iv.sub(tail, iv.mul(shortfall, softplus_a, prec), prec), c_dom, prec),
            iv.scale(iv.mul(small_power, tail, prec), c_oth, prec),
            prec,
        )
        return iv.add(iv.point(mpf_mul(c_dom, a, 0)), small, prec)
    lift = iv.scale(iv.mul(s_small, softplus_a, prec), gamma, prec)  # γσ(−a)(a + L)
    dominant = iv.sub(iv.sub(lift, s_small, prec), iv.mul(shortfall, iv.add(lift, s_big, prec), prec), prec)
    other = iv.mul(small_power, iv.add(iv.scale(iv.mul(s_big, tail, prec), gamma, prec), s_small, prec), prec)
    grad = iv.add(iv.point(c_dom), _weighted_difference(c_dom, dominant, c_oth, other, prec), prec)
    return iv.neg(grad) if z[0] else grad


def _probs(spec: Spec, p: tuple, c_pos: tuple, c_neg: tuple, gamma: tuple, prec: int) -> iv.Interval:
    q = mpf_sub(fone, p, 0)
    if spec.quantity == "hess":
        p2, q2 = _exact(mpf_mul, p, p), _exact(mpf_mul, q, q)
        numerator = mpf_add(_exact(mpf_mul, c_pos, q2), _exact(mpf_mul, c_neg, p2), 0)
        return _exact_ratio(numerator, _exact(mpf_mul, p2, q2), prec)
    if spec.quantity == "grad" and not spec.focal:
        numerator = mpf_sub(_exact(mpf_mul, c_neg, p), _exact(mpf_mul, c_pos, q), 0)
        return _exact_ratio(numerator, _exact(mpf_mul, p, q), prec)
    minus_ln_p = iv.neg(iv.log(iv.point(p), prec))
    minus_ln_q = iv.neg(iv.log(iv.point(q), prec))
    if spec.quantity == "loss":
        if p == HALF:  # both terms are 2^−γ ln 2: one exact coefficient, so that an exact zero is a point
            return iv.scale(iv.mul(iv.power(iv.point(HALF), gamma, prec), minus_ln_p, prec),
                            mpf_add(c_pos, c_neg, 0), prec)
        pos, neg = minus_ln_p, minus_ln_q
        if spec.focal:
            pos = iv.mul(iv.power(iv.point(q), gamma, prec), pos, prec)
            neg = iv.mul(iv.power(iv.point(p), gamma, prec), neg, prec)
        return iv.add(iv.scale(pos, c_pos, prec), iv.scale(neg, c_neg, prec), prec)
    if p == HALF:
        # Both brackets are ±2^(1−γ) (γ ln 2 + 1) at p = 1/2.
        core = iv.add(iv.scale(minus_ln_p, gamma, prec), iv.point(fone), prec)
        factor = iv.mul(iv.power(iv.point(HALF), mpf_sub(gamma, fone, 0), prec), core, prec)
        return iv.scale(factor, mpf_sub(c_neg, c_pos, 0), prec)
    gamma_minus_one = mpf_sub(gamma, fone, 0)
    pos = iv.add(  # γ (1 − p)^(γ−1) (−ln p) + (1 − p)^γ / p, entering with a minus sign
        iv.scale(iv.mul(iv.power(iv.point(q), gamma_minus_one, prec), minus_ln_p, prec), gamma, prec),
        iv.div(iv.power(iv.point(q), gamma, prec), iv.point(p), prec),
        prec,
    )
    neg = iv.add(  # γ p^(γ−1) (−ln(1 − p)) + p^γ / (1 − p)
        iv.scale(iv.mul(iv.power(iv.point(p), gamma_minus_one, prec), minus_ln_q, prec), gamma, prec),
        iv.div(iv.power(iv.point(p), gamma, prec), iv.point(q), prec),
        prec,
    )
    return _weighted_difference(c_neg, neg, c_pos, pos, prec)


def _exact_ratio(numerator: tuple, denominator: tuple, prec: int) -> iv.Interval:
    """An exact rational, rounded once each way: a representable result is a point."""
    return (mpf_div(numerator, denominator, prec, iv.DOWN), mpf_div(numerator, denominator, prec, iv.UP))
