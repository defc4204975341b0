"""Bulk correct rounding to float16, bfloat16 and float32 through float64 with an error bound.

Each quantity is computed in float64 from the stable formula, together with a bound B on its
absolute error: B = K·u·S + F, where u = 2**-53 and S is the sum of the magnitudes of the terms
whose rounding errors enter. K counts one rounding per arithmetic operation and an error of up to
4 ulps (8u) for each of NumPy's exp, log, log1p and power (their documented accuracy is within
1 ulp): K = 32 for BCE and its weighted forms (they need at most 25), and 48 + 10γ for the focal
loss, whose σ^γ carries γ times σ's error of 10u (it needs at most 43 + 10γ). F = 2**-1000 covers
float64 underflow and the clip of e^±z at |z| = 700; with weights or a focal factor the terms that
underflow are scaled by the coefficients, 1 + γ and the softplus, so F is multiplied by
(|c₊| + |c₋|)(1 + γ)(1 + |z|). Both are far below the narrow formats' smallest subnormal
(2**-149). Labels must be float32 values, so that y·z and p − y of narrow inputs are exact or
rounded once; labels outside [0, 1] are covered too: their terms take opposite signs, and S sums
the terms' absolute values. The tests check the bound itself against the exact values, as well as
the final bits.

A value is decided when the whole interval [v − B, v + B] lies strictly inside the rounding cell
of v's nearest format value; the rest (a few in a million, and every special input) go to the
mpmath path. For float32 the hardware's own conversion tells (``decide_by_cast``: both ends of a
slightly wider interval convert to one float32 value), in IEEE 754's default floating-point
environment, which ``oracle.evaluate`` sets (``fenv``); float16 and bfloat16 scale by the binade
(``decide``). Work goes a block at a time (BLOCK elements: widened from the input's dtype, every
temporary in cache), and the loss of plain BCE runs in place.

A result that rounds to zero also needs the sign of the exact value, which float64
loses when it underflows (σ(z) − 1 at z = 800 is −e^−800, a negative zero in every format). Each
quantity is a sum of two terms, a coefficient times a positive factor (the loss c₊·A + c₋·B, the
gradient c₋·P − c₊·Q, the Hessian (c₊ + c₋)·σ(z)σ(−z), and the same in the probability form), and
the coefficients' signs are exact: where both terms have one sign (or none), that is the sign;
where both coefficients are zero the value is identically zero and is +0; where the signs differ
only a value beyond its bound proves the sign, and the element otherwise goes to mpmath. The
result is therefore bit-identical to mpmath's, only faster.

A weight or α makes many exact values lie a hair above or below a half-way point: the weighted loss
of z = −x is c·x + c·log1p(e^−x), and 0.75·x or 3·x of a float32 x is often a half-way point of
float32, the rest far below the bound. For the weighted and focal losses the undecided elements
are therefore tried once more with the value split into an exact lead c·|z| and a small tail whose
own bound (and, past the clip, proven sign) decides on which side of the half-way point the exact
value lies (``split_loss``, ``decide_split``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from bcebench.reference.exact import Spec
from bcebench.reference.formats import Format

UNIT_ROUNDOFF = 2.0**-53
SAFETY_FACTOR = 32
UNDERFLOW_FLOOR = 2.0**-1000
BLOCK = 1 << 14  # float64 temporaries of 128 KiB stay in cache


FOCAL_GAMMA_MAX = 4.0  # past it the bound's 10γ dominates and the interval path is as quick
PARAMETER_RANGE = (2.0**-256, 2.0**256)  # no coefficient product under- or overflows float64


def supports(spec: Spec, fmt: Format, y: np.ndarray) -> bool:
    """Whether the fast path proves its results for ``spec``, ``fmt`` and the labels y; the only
    gate, so that every other spec takes the interval path.

    Covered: float16, bfloat16 and float32 (float64 needs more than float64); labels that are
    float32 values (NaN and ±inf included, which go to mpmath element by element), inside or outside
    [0, 1]; in the logit form loss, gradient and Hessian of BCE, with PyTorch's ``weight`` and
    ``pos_weight`` and the focal loss (γ <= 4, α) in any combination; in the probability form plain
    BCE only. Every nonzero parameter factor (weight, pos_weight, α, 1 − α) must lie in
    [2**-256, 2**256], so that the coefficients c₊ = w·w₊·α·y and c₋ = w·(1 − α)(1 − y) neither
    underflow nor overflow float64. Not covered: label smoothing (y(1 − ε) + ε/2 is not a float32
    value), γ > 4, and the weighted or focal probability form.
    """
    return (
        fmt.name != "float64"
        and spec.smoothing is None
        and not (extended(spec) and spec.form == "probs")
        and (spec.gamma is None or spec.gamma <= FOCAL_GAMMA_MAX)
        and all(_in_range(factor) for factor in _parameter_factors(spec))
        and _float32_values(y)
    )


def _float32_values(y: np.ndarray) -> bool:
    """Every label a float32 value (or NaN): by its dtype, or else element by element."""
    if str(y.dtype) in ("float16", "bfloat16", "float32"):
        return True
    return bool(np.all((y.astype(np.float32) == y) | np.isnan(y)))


def extended(spec: Spec) -> bool:
    """Whether the spec has a weight, a pos_weight or a focal factor."""
    return spec.weight is not None or spec.pos_weight is not None or spec.gamma is not None


def _parameter_factors(spec: Spec) -> list[float]:
    alpha = [] if spec.alpha is None else [spec.alpha, 1.0 - spec.alpha]
    return [f for f in (spec.weight, spec.pos_weight, *alpha) if f is not None]


def _in_range(factor: float) -> bool:
    return factor == 0 or PARAMETER_RANGE[0] <= abs(factor) <= PARAMETER_RANGE[1]


def safety_factor(spec: Spec) -> float:
    """K of the bound: 32 for BCE and its weighted forms, 48 + 10γ for the focal loss."""
    return 48.0 + 10.0 * spec.gamma if spec.focal else float(SAFETY_FACTOR)


CLIP = 700.0  # e^±700 stays on exp's fast path and e^-700 < 2**-1000, the bound's floor


def _sigmoid_pair(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(σ(z), σ(−z)) = (1/(1 + e^−z), 1/(1 + e^z)) with z clipped to ±700: relative error
    3 ulps inside, and outside an absolute error below e^−700 < 2**-1000. The clip also keeps
    exp off its slow path near the ends of its range (beyond ±708: 10-20x slower here)."""
    clipped = np.clip(z, -CLIP, CLIP)
    return 1.0 / (1.0 + np.exp(-clipped)), 1.0 / (1.0 + np.exp(clipped))


def values_and_bounds(spec: Spec, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """(value, error bound, applicable) for float64 inputs x and float32-valued labels y."""
    value, bound, applicable = _values_and_bounds(spec, x, y, _unit_labels(y))
    return value, bound, np.isfinite(value) if applicable is None else applicable


def _values_and_bounds(spec: Spec, x: np.ndarray, y: np.ndarray, unit: bool,
                       widened: float = 1.0) -> tuple[np.ndarray, ...]:
    """``values_and_bounds`` (``unit``: every label in [0, 1]) with the bound times ``widened``, and
    applicable None for the plain loss of the logit form: there an
    infinite or NaN z or y makes the value infinite or NaN (max(z, 0) − y z is ∞ − ∞, 0·∞ or ±∞,
    and the tail is finite), which ``decide`` and ``decide_by_cast`` leave undecided."""
    plain = spec.quantity == "loss" and spec.form == "logits" and not extended(spec)
    with np.errstate(all="ignore"):
        if plain:
            value, magnitude = _logits(spec.quantity, x, y, unit)
            return value, _bound(spec, x, y, magnitude, widened), None
        applicable = np.isfinite(y)
        if spec.form == "logits":
            applicable &= np.isfinite(x)
            if spec.gamma is not None:
                value, magnitude = _focal_logits(spec, x, y)
            elif spec.weight is not None or spec.pos_weight is not None:
                value, magnitude = _weighted_logits(spec, x, y)
            else:
                value, magnitude = _logits(spec.quantity, x, y, unit)
        else:
            applicable &= (x > 0) & (x < 1)
            value, magnitude = _probs(spec.quantity, x, y)
        bound = _bound(spec, x, y, magnitude, widened)
        applicable &= np.isfinite(value)  # an infinite or NaN bound decides nothing (``decide``)
    return value, bound, applicable


def _bound(spec: Spec, x: np.ndarray, y: np.ndarray, magnitude: np.ndarray, widened: float) -> np.ndarray:
    """B = K·u·S + F times ``widened`` (>= 1: a bound still), as (S + F/(Ku))·Ku where F is one
    number: no product then falls to a float64 subnormal, which the processor computes a hundred
    times slower."""
    scale, floor = safety_factor(spec) * UNIT_ROUNDOFF * widened, _floor(spec, x, y) * widened
    if np.isscalar(floor):
        bound = magnitude + floor / scale
        bound *= scale
        return bound
    return magnitude * scale + floor


def _floor(spec: Spec, x: np.ndarray, y: np.ndarray):
    """F of the bound: 2**-1000, scaled for weights and the focal factor by (|c₊| + |c₋|)(1 + γ)(1 + |z|)."""
    if not extended(spec):
        return UNDERFLOW_FLOOR
    c_pos, c_neg = _coefficients(spec, y)
    return (np.abs(c_pos) + np.abs(c_neg)) * ((1.0 + (spec.gamma or 0.0)) * UNDERFLOW_FLOOR) * (1.0 + np.abs(x))


def proven_sign(spec: Spec, x: np.ndarray, y: np.ndarray, value: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """+1 or −1 where the sign of the exact value is certain, 0 where it is not; +1 for a value that
    is identically zero (both coefficients zero, or p = y in p − y), which is +0.

    With the terms' signs a and b (each −1, 0 or +1), a + b is nonzero exactly where both terms
    have one sign or one of them is absent, and then has the value's sign; a + b = 0 is either no
    term at all (a = 0: +0) or terms of opposite signs, where only |value| > bound proves the sign."""
    if spec.quantity == "grad" and spec.form == "probs":
        return np.where(x >= y, 1.0, -1.0)  # (p − y)/(p(1 − p)); p and y are exact
    if _never_negative(spec, _unit_labels(y)):
        return np.ones_like(value)
    pos_factor, neg_factor = parameter_signs(spec)
    first, second = np.sign(y), np.sign(1.0 - y)  # 1 − y of a float32 y has the exact sign
    if pos_factor != 1.0:
        first *= pos_factor
    if neg_factor != 1.0:
        second *= neg_factor
    if spec.quantity == "grad":  # c₋·P − c₊·Q
        first, second = second, -first
    sign = np.sign(first + second)
    undecided = np.flatnonzero(sign == 0)
    if undecided.size:
        certain = np.where(np.abs(value[undecided]) > bound[undecided], np.sign(value[undecided]), 0.0)
        sign[undecided] = np.where(first[undecided] == 0, 1.0, certain)
    return sign


def _never_negative(spec: Spec, unit: bool) -> bool:
    """Whether every exact value is +0 or positive: a loss or Hessian whose two coefficients are
    non-negative and not both zero (positive parameter factors, ``unit``: labels in [0, 1]), the
    common case."""
    pos_factor, neg_factor = parameter_signs(spec)
    return spec.quantity != "grad" and pos_factor > 0 and neg_factor > 0 and unit


def parameter_signs(spec: Spec) -> tuple[float, float]:
    """The exact signs of w·w₊·α and w·(1 − α), the parameter factors of c₊ and c₋ (no product of
    factors in PARAMETER_RANGE underflows, so the rounded products have the exact signs)."""
    pos_factor, neg_factor = coefficient_factors(spec)
    return float(np.sign(pos_factor)), float(np.sign(neg_factor))


def coefficient_factors(spec: Spec) -> tuple[float, float]:
    """(w·w₊·α, w·(1 − α)), the parameter factors of c₊ and c₋, each parameter 1 where absent
    (without α both α and 1 − α are 1)."""
    weight = 1.0 if spec.weight is None else spec.weight
    pos_weight = 1.0 if spec.pos_weight is None else spec.pos_weight
    alpha, one_minus_alpha = (1.0, 1.0) if spec.alpha is None else (spec.alpha, 1.0 - spec.alpha)
    return weight * pos_weight * alpha, weight * one_minus_alpha


def _logits(quantity: str, z: np.ndarray, y: np.ndarray, unit: bool) -> tuple[np.ndarray, np.ndarray]:
    if quantity == "loss":
        # max(z, 0) − y z + log1p(e^−|z|): the softplus never overflows; y z is exact (24 + 24
        # bits), so max(z, 0) − y z is rounded once, relative to itself. For y in [0, 1] both terms
        # are non-negative and the magnitude is the value itself.
        tail = np.abs(z)
        np.negative(tail, out=tail)
        np.maximum(tail, -CLIP, out=tail)
        np.exp(tail, out=tail)
        np.log1p(tail, out=tail)  # absolute error < e^-700 past the clip
        linear = np.maximum(z, 0.0)
        linear -= y * z
        if unit:
            linear += tail
            return linear, linear
        magnitude = np.abs(linear)
        magnitude += tail
        linear += tail
        return linear, magnitude
    s, s_minus = _sigmoid_pair(z)
    if quantity == "grad":
        # σ(z) − y = (1 − y) σ(z) − y σ(−z): for y = 1 no cancellation against 1.
        pos, neg = (1.0 - y) * s, y * s_minus
        return pos - neg, np.abs(pos) + np.abs(neg)
    hess = s * s_minus
    return hess, hess


def _unit_labels(y: np.ndarray) -> bool:
    """Every label in [0, 1] (a NaN makes the minimum NaN, and fails it)."""
    return bool(y.size) and 0.0 <= y.min() and y.max() <= 1.0


def _softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z) = max(z, 0) + log1p(e^−|z|), both terms non-negative."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.minimum(np.abs(z), CLIP)))


def _coefficients(spec: Spec, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c₊, c₋) = (w·w₊·α·y, w·(1 − α)(1 − y)), the factors of the ln p and ln(1 − p) terms
    (``coefficient_factors``): at most four roundings each."""
    pos_factor, neg_factor = coefficient_factors(spec)
    return pos_factor * y, neg_factor * (1.0 - y)


def _weighted_logits(spec: Spec, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With c₊ = w·w₊·y and c₋ = w·(1 − y) (exact in float64: w and w₊ are the spec's float64
    values, y a float32 value, so each product carries at most one rounding): loss
    c₊·softplus(−z) + c₋·softplus(z), gradient c₋σ(z) − c₊σ(−z), Hessian (c₊ + c₋)σ(z)σ(−z). The magnitude
    sums the terms' absolute values: with a label outside [0, 1] they take opposite signs."""
    c_pos, c_neg = _coefficients(spec, y)
    if spec.quantity == "loss":
        # a zero weight times an infinite softplus is no term at all
        pos = np.where(c_pos == 0, 0.0, c_pos * _softplus(-z))
        neg = np.where(c_neg == 0, 0.0, c_neg * _softplus(z))
        return pos + neg, np.abs(pos) + np.abs(neg)
    s, s_minus = _sigmoid_pair(z)
    if spec.quantity == "grad":
        pos, neg = c_neg * s, c_pos * s_minus
        return pos - neg, np.abs(pos) + np.abs(neg)
    both = s * s_minus
    pos, neg = c_pos * both, c_neg * both
    return pos + neg, np.abs(pos) + np.abs(neg)


def _focal_logits(spec: Spec, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The focal loss c₊σ(−z)^γ softplus(−z) + c₋σ(z)^γ softplus(z), c₊ = w·w₊·α·y,
    c₋ = w·(1 − α)(1 − y) (each parameter 1 where absent), and its gradient c₋σ^γ(γσ(−z)softplus(z) + σ) − c₊σ(−z)^γ(γσ
    softplus(−z) + σ(−z)) (reference.derive proves both). Every group is a product of non-negative
    factors and a coefficient, each with a relative error of a few u (σ^γ: γ times σ's), so the
    magnitude is the sum of the groups' absolute values; the Hessian is not covered (the oracle has
    none)."""
    gamma = spec.gamma
    c_pos, c_neg = _coefficients(spec, y)
    s, s_minus = _sigmoid_pair(z)
    up, down = _softplus(z), _softplus(-z)
    if spec.quantity == "loss":
        pos = np.where(c_pos == 0, 0.0, c_pos * s_minus**gamma * down)
        neg = np.where(c_neg == 0, 0.0, c_neg * s**gamma * up)
        return pos + neg, np.abs(pos) + np.abs(neg)
    rise = np.where(c_neg == 0, 0.0, c_neg * s**gamma * (gamma * s_minus * up + s))
    fall = np.where(c_pos == 0, 0.0, c_pos * s_minus**gamma * (gamma * s * down + s_minus))
    return rise - fall, np.abs(rise) + np.abs(fall)


def _probs(quantity: str, p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = 1.0 - p
    if quantity == "loss":
        # −y ln p − (1 − y) ln(1 − p), with log1p(−p) for ln(1 − p) so that p ≪ 1 keeps its digits.
        pos, neg = -y * np.log(p), -(1.0 - y) * np.log1p(-p)
        return pos + neg, np.abs(pos) + np.abs(neg)
    if quantity == "grad":
        grad = (p - y) / (p * q)
        return grad, np.abs(grad)
    pos, neg = y / (p * p), (1.0 - y) / (q * q)
    return pos + neg, np.abs(pos) + np.abs(neg)


SHORT_BITS = 29  # c with at most 29 significant bits times z with at most 24 is exact in float64


def splits(spec: Spec) -> bool:
    """Whether ``split_loss`` covers the spec: the weighted and focal losses in the logit form."""
    return spec.form == "logits" and spec.quantity == "loss" and extended(spec)


def hard_label_coefficients(spec: Spec) -> tuple[float, float]:
    """(c₊ at y = 1, c₋ at y = 0) = (w·w₊·α, w·(1 − α)) computed exactly (each parameter 1 where
    absent, and without α both α and 1 − α), NaN where the exact coefficient is not a float64 value, or has more than 29
    significant bits."""
    weight = Fraction(1 if spec.weight is None else spec.weight)
    pos_weight = Fraction(1 if spec.pos_weight is None else spec.pos_weight)
    alpha, one_minus_alpha = (1, 1) if spec.alpha is None else (Fraction(spec.alpha), 1 - Fraction(spec.alpha))
    pair = (weight * pos_weight * alpha, weight * one_minus_alpha)
    return tuple(float(c) if Fraction(float(c)) == c and _short(float(c)) else np.nan for c in pair)


def _short(c: float) -> bool:
    mantissa, _ = math.frexp(c)
    return float(mantissa * 2**SHORT_BITS).is_integer()


def split_loss(spec: Spec, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lead, tail, tail bound, tail sign, exact) with loss = lead + tail, for finite z and hard
    labels (the sweeps'; other elements are not exact).

    On the side where the loss grows (z > 0 for y = 0, z < 0 for y = 1) it is c·softplus(|z|)
    times σ(|z|)^γ for the focal loss, c the hard-label coefficient: lead = c·|z|, exact since c has
    at most 29 significant bits and z at most 24. With σ = σ(|z|) and t = log1p(e^−|z|) the tail
    is c·t (weights) or c·|z|·(σ^γ − 1) + c·σ^γ·t (focal), where σ^γ − 1 = expm1(γ·log1p(−σ(−|z|)))
    keeps its digits. Its bound is 32u times the terms' magnitudes plus, for the clip at |z| = 700,
    c·(1 + γ|z|)·2**-1000. The sign is proven where that bound cannot show it: positive for the
    weighted loss and γ = 0, negative where min(γ, 1)·|z| > 2: with s = σ(−|z|) in (e^−|z|/2,
    e^−|z|), (1 − s)^γ − 1 <= −min(γ, 1)·s and t < e^−|z|, so the focal tail is below
    c·e^−|z|·(1 − min(γ, 1)·|z|/2)."""
    magnitude = np.abs(z)
    at_one, at_zero = hard_label_coefficients(spec)
    c = np.where((y == 1) & (z < 0), at_one, np.where((y == 0) & (z > 0), at_zero, 0.0))
    lead = c * magnitude
    clipped = np.minimum(magnitude, CLIP)
    t = np.log1p(np.exp(-clipped))
    gamma = 0.0 if spec.gamma is None else spec.gamma
    if gamma == 0.0:
        tail = c * t
        terms, sign = tail, np.ones_like(tail)
    else:
        far = 1.0 / (1.0 + np.exp(clipped))  # σ(−|z|)
        drop, kept = c * magnitude * np.expm1(gamma * np.log1p(-far)), c * (1.0 - far) ** gamma * t
        tail, terms = drop + kept, np.abs(drop) + kept
        sign = np.where(min(gamma, 1.0) * magnitude > 2, -1.0, 0.0)
    bound = terms * (safety_factor(spec) * UNIT_ROUNDOFF) + c * (1.0 + gamma * magnitude) * UNDERFLOW_FLOOR
    return lead, tail, bound, sign, np.isfinite(lead) & (lead > 0)


def decide_split(lead, tail, bound, sign, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """(rounded, decided) for positive lead + tail with lead exact, as ``decide`` does for a single
    value: in units s of the spacing, the exact value is s_lead + t with t in [t − b, t + b] (b =
    twice the bound, which covers the roundings of t ± b), or of the proven sign. A candidate r
    (the two integers around s_lead + t) is the answer when the exact value lies inside its cell:
    the cell's ends minus s_lead are exact (Sterbenz: both ends within a factor 2 of s_lead), and
    the tail is compared with them, so a tie lead decides by the sign of the tail alone."""
    with np.errstate(all="ignore"):
        _, e = np.frexp(lead + tail)
        np.maximum(e, fmt.emin + 1, out=e)
        shift = fmt.precision - e
        s_lead, t, b = np.ldexp(lead, shift), np.ldexp(tail, shift), np.ldexp(2.0 * bound, shift)
        rounded = np.zeros_like(lead)
        decided = np.zeros(lead.shape, dtype=bool)
        base = np.floor(s_lead + t)
        for r in (base, base + 1.0):
            lower = r - np.where((r == 2.0 ** (fmt.precision - 1)) & (e > fmt.emin + 1), 0.25, 0.5)
            upper = r + 0.5
            gap_lo, gap_hi = lower - s_lead, upper - s_lead
            sterbenz = (upper <= 2.0 * s_lead) & (s_lead <= 2.0 * lower)
            above = (t - b > gap_lo) | ((sign > 0) & (gap_lo <= 0))
            below = (t + b < gap_hi) | ((sign < 0) & (gap_hi >= 0))
            value = np.ldexp(r, -shift)
            inside = sterbenz & above & below & (value <= fmt.max_finite) & ~decided
            rounded[inside], decided[inside] = value[inside], True
    return rounded, decided


def decide(value: np.ndarray, bound: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """(rounded, decided): value rounded to ``fmt`` (as float64), and where the bound proves it.

    With |value| = m 2**e (m in [1/2, 1)) and e' = max(e, emin + 1), s = |value| 2**(p − e') is
    |value| in units of its spacing and r = rint(s). The cell of r is (r − 1/2, r + 1/2), except
    at the bottom of a normal binade (r = 2**(p−1), e' > emin + 1), where the spacing below
    halves and the cell starts at r − 1/4. Past the largest finite value the cell of inf is
    [overflow threshold, ∞). A zero keeps the sign of value: the caller proves it.
    """
    with np.errstate(all="ignore"):
        _, e = np.frexp(value)
        np.maximum(e, fmt.emin + 1, out=e)
        shift = fmt.precision - e
        s = np.ldexp(np.abs(value), shift)
        r = np.rint(s)
        lower = r - np.where((r == 2.0 ** (fmt.precision - 1)) & (e > fmt.emin + 1), 0.25, 0.5)
        b = np.ldexp(bound, shift)
        decided = (s - b > lower) & (s + b < r + 0.5)
        rounded = np.copysign(np.ldexp(r, -shift), value)
        overflow = np.abs(rounded) > fmt.max_finite
        if overflow.any():
            rounded[overflow] = np.copysign(np.inf, value[overflow])
            decided[overflow] = np.abs(value[overflow]) - bound[overflow] >= fmt.overflow_threshold
        decided &= np.isfinite(value)
    return rounded, decided


CAST_MARGIN = 1.125


def decide_by_cast(value: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rounded to float32, decided), for float32 targets and a margin B' = 9B/8 (CAST_MARGIN times
    the bound B): ``decide`` in five passes instead of twenty.

    With that margin, low = fl(v − B') <= v − B and high = fl(v + B') >= v + B: every bound has
    B >= 32u|v| (K >= 32, and the magnitude it scales is at least |v|), so B/8 >= 4u|v| covers the
    rounding of B' (u B') and of v ± B' (u(|v| + B')). The exact value lies in [low, high]; where both
    ends round to one float32 value, the cell of that value (an interval: round to nearest, ties to
    even, subnormals and overflow to ±inf as IEEE 754 says, which the hardware's conversion does in
    the default environment ``fenv.ours`` sets) holds the whole of [low, high], and the exact value
    rounds to it. A NaN value makes both ends NaN, and an infinite one an infinite margin (its
    magnitude is at least |v|) and low NaN: NaN equals nothing. A zero keeps the sign of low: the
    caller proves it."""
    low = value - margin
    high = value + margin
    low32 = low.astype(np.float32)
    return low32, low32 == high.astype(np.float32)


def evaluate(spec: Spec, x: np.ndarray, y: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rounded in the format's dtype, exact approximation, decided) for flat x in its format and
    flat labels y of x's size or of size 1 (one label for all), in blocks that stay in cache."""
    rounded = np.empty(x.size, dtype=fmt.dtype)
    approx = np.empty(x.size)
    decided = np.empty(x.size, dtype=bool)
    single = y.size == 1
    with np.errstate(all="ignore"):  # ml_dtypes warns when it widens a NaN; casts overflow to ±inf
        labels = y.astype(np.float64) if single else None
        unit = _unit_labels(y)
        positive = _never_negative(spec, unit)
        by_cast = fmt.name == "float32"
        for start in range(0, x.size, BLOCK):
            block = slice(start, start + BLOCK)
            z = x[block].astype(np.float64)
            labels_here = np.broadcast_to(labels, z.shape) if single else y[block].astype(np.float64)
            value, bound, applicable = _values_and_bounds(spec, z, labels_here, unit, CAST_MARGIN if by_cast else 1.0)
            result, ok = decide_by_cast(value, bound) if by_cast else decide(value, bound, fmt)
            if applicable is not None:
                ok &= applicable
            zero = result == 0
            if positive and zero.any():
                np.abs(result, out=result)  # a zero is +0; a decided result is not negative
            elif not positive and zero.any():
                zero = np.flatnonzero(zero)
                sign = proven_sign(spec, z[zero], labels_here[zero], value[zero], bound[zero])
                result[zero] = np.copysign(0.0, sign)
                ok[zero] &= sign != 0
            if splits(spec):  # never the plain loss: applicable is an array
                _decide_ties(spec, z, labels_here, applicable & ~ok, fmt, result, ok)
            rounded[block], approx[block], decided[block] = result, value, ok
    return rounded, approx, decided


def _decide_ties(spec: Spec, x, y, undecided, fmt: Format, result: np.ndarray, ok: np.ndarray) -> None:
    """Decide, in place, the undecided elements that the lead/tail split can."""
    index = np.flatnonzero(undecided)
    if index.size == 0:
        return
    with np.errstate(all="ignore"):
        lead, tail, bound, sign, exact = split_loss(spec, x[index], y[index])
        rounded, decided = decide_split(lead, tail, bound, sign, fmt)
    decided &= exact
    result[index[decided]] = rounded[decided]
    ok[index[decided]] = True
