"""Bulk correct rounding to float16, bfloat16 and float32 through float64 with an error bound.

Each quantity is computed in float64 from the stable formula, together with a bound B on its
absolute error: B = K·u·S + 2**-1000, where u = 2**-53, S is the sum of the magnitudes of the
terms whose rounding errors enter, and K = 32. Labels must be float32 values, so that y·z and
p − y of narrow inputs are exact or rounded once. K covers, with room to spare, one rounding per
arithmetic operation and an error of up to 4 ulps (8u) for each of NumPy's exp, log and log1p
(their documented accuracy is within 1 ulp); the 2**-1000 covers float64 underflow, far below
the narrow formats' smallest subnormal (2**-149). The tests check the bound itself against the
exact values, as well as the final bits.

A value is decided when the whole interval [v − B, v + B] lies strictly inside the rounding cell
of v's nearest format value; the rest (a few in a million, and every special input) go to the
mpmath path. A result that rounds to zero also needs the sign of the exact value, which float64
loses when it underflows (σ(z) − 1 at z = 800 is −e^−800, a negative zero in every format): it is
proven from the operands instead (the loss and the Hessian are positive for y in [0, 1], p − y has
the sign of its exact float64 difference, σ(z) − y with y = 1 is negative and with y = 0
positive), and where no such proof applies the element goes to mpmath too. The result is
therefore bit-identical to mpmath's, only faster.

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

from reference.exact import Spec
from reference.formats import Format

UNIT_ROUNDOFF = 2.0**-53
SAFETY_FACTOR = 32
UNDERFLOW_FLOOR = 2.0**-1000
BLOCK = 1 << 14  # float64 temporaries of 128 KiB stay in cache


FOCAL_GAMMA_MAX = 4.0  # σ^γ multiplies σ's relative error by γ: up to 4 it stays inside the bound


def supports(spec: Spec, fmt: Format, y: np.ndarray) -> bool:
    """The fast path covers loss, gradient and Hessian without smoothing, for narrow formats and
    labels that are float32 values; in the logit form also weights, pos_weight and the focal loss
    (γ <= 4, loss and gradient)."""
    extended = spec.weight is not None or spec.pos_weight is not None or spec.gamma is not None
    return (
        fmt.name != "float64"
        and spec.smoothing is None
        and not (extended and spec.form == "probs")
        and (spec.gamma is None or spec.gamma <= FOCAL_GAMMA_MAX)
        and bool(np.all((y.astype(np.float32) == y) | np.isnan(y)))
    )


CLIP = 700.0  # e^±700 stays on exp's fast path and e^-700 < 2**-1000, the bound's floor


def _sigmoid_pair(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(σ(z), σ(−z)) = (1/(1 + e^−z), 1/(1 + e^z)) with z clipped to ±700: relative error
    3 ulps inside, and outside an absolute error below e^−700 < 2**-1000. The clip also keeps
    exp off its slow path near the ends of its range (beyond ±708: 10-20x slower here)."""
    clipped = np.clip(z, -CLIP, CLIP)
    return 1.0 / (1.0 + np.exp(-clipped)), 1.0 / (1.0 + np.exp(clipped))


def values_and_bounds(spec: Spec, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """(value, error bound, applicable) for float64 inputs x and float32-valued labels y."""
    with np.errstate(all="ignore"):
        if spec.form == "logits" and spec.gamma is not None:
            applicable = np.isfinite(x) & np.isfinite(y)
            value, magnitude = _focal_logits(spec, x, y)
        elif spec.form == "logits" and (spec.weight is not None or spec.pos_weight is not None):
            applicable = np.isfinite(x) & np.isfinite(y)
            value, magnitude = _weighted_logits(spec, x, y)
        elif spec.form == "logits":
            applicable = np.isfinite(x) & np.isfinite(y)
            value, magnitude = _logits(spec.quantity, x, y)
        else:
            applicable = (x > 0) & (x < 1) & np.isfinite(y)
            value, magnitude = _probs(spec.quantity, x, y)
        bound = magnitude * (SAFETY_FACTOR * UNIT_ROUNDOFF) + UNDERFLOW_FLOOR
        applicable &= np.isfinite(value)
    return value, bound, applicable


def proven_sign(spec: Spec, x: np.ndarray, y: np.ndarray, value: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """+1 or −1 where the sign of the exact value is certain, 0 where it is not."""
    if spec.quantity == "grad" and spec.form == "probs":
        return np.sign(x - y)
    if spec.quantity == "hess" and spec.form == "logits":
        return np.ones_like(value)  # σ(z)σ(−z) > 0
    certain = np.where(np.abs(value) > bound, np.sign(value), 0.0)
    if spec.quantity == "grad":
        return np.where(y == 0, 1.0, np.where(y == 1, -1.0, certain))
    return np.where((y >= 0) & (y <= 1), 1.0, certain)


def _logits(quantity: str, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if quantity == "loss":
        # max(z, 0) − y z + log1p(e^−|z|): the softplus never overflows; y z is exact (24 + 24
        # bits), so max(z, 0) − y z is rounded once, relative to itself.
        tail = np.log1p(np.exp(-np.minimum(np.abs(z), CLIP)))  # absolute error < e^-700 past the clip
        linear = np.maximum(z, 0.0)
        linear -= y * z
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


def _softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z) = max(z, 0) + log1p(e^−|z|), both terms non-negative."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.minimum(np.abs(z), CLIP)))


def _coefficients(spec: Spec, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c₊, c₋), the factors of softplus(−z) and softplus(z): (w·w₊·y, w·(1 − y)) for PyTorch's
    weights, (αy, (1 − α)(1 − y)) for the focal loss (y and 1 − y without α)."""
    if spec.gamma is not None:
        if spec.alpha is None:
            return y, 1.0 - y
        return spec.alpha * y, (1.0 - spec.alpha) * (1.0 - y)
    weight = 1.0 if spec.weight is None else spec.weight
    return weight * (1.0 if spec.pos_weight is None else spec.pos_weight) * y, weight * (1.0 - y)


def _weighted_logits(spec: Spec, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With c₊ = w·w₊·y and c₋ = w·(1 − y) (exact in float64: w and w₊ are the spec's float64
    values, y a float32 value, so each product carries at most one rounding): loss
    c₊·softplus(−z) + c₋·softplus(z), gradient c₋σ(z) − c₊σ(−z), Hessian (c₊ + c₋)σ(z)σ(−z). Every
    loss term is non-negative, so the magnitude is the value itself."""
    c_pos, c_neg = _coefficients(spec, y)
    if spec.quantity == "loss":
        # a zero weight times an infinite softplus is no term at all
        pos = np.where(c_pos == 0, 0.0, c_pos * _softplus(-z))
        neg = np.where(c_neg == 0, 0.0, c_neg * _softplus(z))
        return pos + neg, pos + neg
    s, s_minus = _sigmoid_pair(z)
    if spec.quantity == "grad":
        pos, neg = c_neg * s, c_pos * s_minus
        return pos - neg, np.abs(pos) + np.abs(neg)
    hess = (c_pos + c_neg) * (s * s_minus)
    return hess, np.abs(hess)


def _focal_logits(spec: Spec, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The focal loss c₊σ(−z)^γ softplus(−z) + c₋σ(z)^γ softplus(z), c₊ = αy, c₋ = (1 − α)(1 − y)
    (y and 1 − y without α), and its gradient c₋σ^γ(γσ(−z)softplus(z) + σ) − c₊σ(−z)^γ(γσ
    softplus(−z) + σ(−z)) (reference.derive proves both). Every group is a product of non-negative
    factors, each with a relative error of a few u (σ^γ: γ times σ's), so the magnitude is the sum
    of the groups' absolute values; the Hessian is not covered (the oracle has none)."""
    gamma = spec.gamma
    c_pos, c_neg = _coefficients(spec, y)
    s, s_minus = _sigmoid_pair(z)
    up, down = _softplus(z), _softplus(-z)
    if spec.quantity == "loss":
        pos = np.where(c_pos == 0, 0.0, c_pos * s_minus**gamma * down)
        neg = np.where(c_neg == 0, 0.0, c_neg * s**gamma * up)
        return pos + neg, pos + neg
    rise = np.where(c_neg == 0, 0.0, c_neg * s**gamma * (gamma * s_minus * up + s))
    fall = np.where(c_pos == 0, 0.0, c_pos * s_minus**gamma * (gamma * s * down + s_minus))
    return rise - fall, rise + fall


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
    extended = spec.weight is not None or spec.pos_weight is not None or spec.gamma is not None
    return spec.form == "logits" and spec.quantity == "loss" and extended


def hard_label_coefficients(spec: Spec) -> tuple[float, float]:
    """(c₊ at y = 1, c₋ at y = 0) computed exactly (w·w₊ or α; w or 1 − α), NaN where the exact
    coefficient is not a float64 value, or has more than 29 significant bits."""
    weight = Fraction(1 if spec.weight is None else spec.weight)
    if spec.gamma is None:
        pair = (weight * Fraction(1 if spec.pos_weight is None else spec.pos_weight), weight)
    else:
        pair = (Fraction(1), Fraction(1)) if spec.alpha is None else (Fraction(spec.alpha), 1 - Fraction(spec.alpha))
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
    bound = terms * (SAFETY_FACTOR * UNIT_ROUNDOFF) + c * (1.0 + gamma * magnitude) * UNDERFLOW_FLOOR
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


def evaluate(spec: Spec, x: np.ndarray, y: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rounded, exact approximation, decided) in blocks that stay in cache."""
    rounded = np.empty_like(x)
    approx = np.empty_like(x)
    decided = np.empty(x.shape, dtype=bool)
    for start in range(0, x.size, BLOCK):
        block = slice(start, start + BLOCK)
        value, bound, applicable = values_and_bounds(spec, x[block], y[block])
        result, ok = decide(value, bound, fmt)
        ok &= applicable
        zero = np.flatnonzero(result == 0)
        if zero.size:
            sign = proven_sign(spec, x[block][zero], y[block][zero], value[zero], bound[zero])
            result[zero] = np.copysign(0.0, sign)
            ok[zero] &= sign != 0
        if splits(spec):
            _decide_ties(spec, x[block], y[block], applicable & ~ok, fmt, result, ok)
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
