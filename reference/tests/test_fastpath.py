"""The float64 fast path gives bit-identical results to the mpmath path, and its error bound
holds against the exact values."""

import numpy as np
import pytest

from bcebench.reference import fastpath, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, bits_of, from_bits

SPECS = [Spec(q, f) for q in ("loss", "grad", "hess") for f in ("logits", "probs")]
# PyTorch's weight and pos_weight, the values its adapter tests (weight = 0.75, pos_weight = 3)
WEIGHTED = [Spec(q, "logits", **w) for q in ("loss", "grad", "hess") for w in ({"weight": 0.75}, {"pos_weight": 3.0})]
# the focal loss the adapters test (γ = 2, α = 0.25), a fractional γ with another α, and the largest
# γ the fast path takes; their mpmath references are slow, so every float16 input only for the first
FOCAL = [Spec(q, "logits", gamma=g, alpha=a) for g, a in ((2.0, 0.25), (0.5, 0.3), (4.0, None))
         for q in ("loss", "grad")]

RANDOM_INPUTS = 100_000  # per dtype, spread over the six quantity-forms
SEED = 20261128


def assert_same_bits(spec, x, y):
    fast = oracle.evaluate(spec, x, y)
    slow = oracle.evaluate(spec, x, y, fast=False)
    mismatched = np.flatnonzero(bits_of(fast.rounded) != bits_of(slow.rounded))
    labels = np.broadcast_to(y, x.shape).ravel()
    assert mismatched.size == 0, f"{spec}: fast path differs at x={x[mismatched[:5]]}, y={labels[mismatched[:5]]}"
    return fast, slow


@pytest.mark.parametrize("spec", SPECS + WEIGHTED + FOCAL[:2], ids=str)
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_every_float16_input(spec, label):
    x = from_bits(np.arange(2**16), FORMATS["float16"])
    fast, _ = assert_same_bits(spec, x, np.float16(label))
    finite_inputs = np.isfinite(x) if spec.form == "logits" else (x > 0) & (x < 1)
    # The fast path decides nearly all, near-ties of the weighted losses included (lead/tail split).
    assert fast.mpmath_count <= (~finite_inputs).sum() + 64


def random_inputs(dtype: str, form: str, count: int, rng):
    """Bit patterns drawn uniformly (every binade, subnormals included) and soft labels:
    uniform in [0, 1], the smoothing-style 0.1/0.9/0.999, and hard ones."""
    fmt = FORMATS[dtype]
    width = 8 * fmt.dtype.itemsize
    x = from_bits(rng.integers(0, 2**width, count, dtype=np.uint64), fmt)
    if form == "probs":
        x = np.abs(x)
        with np.errstate(invalid="ignore"):  # NaN patterns are drawn too
            x = x[(x > 0) & (x < 1)]
    uniform = rng.random(x.size // 2)
    labels = np.concatenate([uniform, rng.choice([0.0, 1.0, 0.1, 0.9, 0.999, 0.5], x.size - uniform.size)])
    return x, labels.astype(fmt.dtype)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("spec", SPECS + WEIGHTED + FOCAL, ids=str)
def test_random_inputs_with_soft_labels(dtype, spec):
    rng = np.random.default_rng([SEED, (SPECS + WEIGHTED + FOCAL).index(spec), FORMATS[dtype].precision])
    x, y = random_inputs(dtype, spec.form, 2 * RANDOM_INPUTS // len(SPECS), rng)
    assert_same_bits(spec, x, y)


@pytest.mark.parametrize("spec", SPECS + WEIGHTED + FOCAL, ids=str)
def test_error_bound_holds(spec):
    """|float64 value − exact| <= bound, with exact from the mpmath path (64-bit intervals for
    float32 targets, ample for a bound of 32 float64 ulps)."""
    rng = np.random.default_rng([SEED, 7, (SPECS + WEIGHTED + FOCAL).index(spec)])
    x, y = random_inputs("float32", spec.form, 20_000, rng)
    exact = oracle.evaluate(spec, x, y, fast=False)
    with np.errstate(invalid="ignore"):
        value, bound, applicable = fastpath.values_and_bounds(spec, x.astype(np.float64), y.astype(np.float64))
        error = np.abs((value - exact.exact) - exact.exact_lo)
    assert np.all(error[applicable] <= bound[applicable])


# every parameter at once, and labels outside [0, 1], whose terms take opposite signs
COMBINED = [Spec(q, "logits", gamma=g, alpha=0.25, weight=0.75, pos_weight=2.5)
            for g in (0.5, 2.0, 4.0) for q in ("loss", "grad")]
COMBINED += [Spec(q, "logits", weight=3.0, pos_weight=2.5) for q in ("loss", "grad", "hess")]


@pytest.mark.parametrize("spec", COMBINED + SPECS, ids=str)
def test_error_bound_holds_with_every_parameter_and_labels_outside_the_unit_interval(spec):
    rng = np.random.default_rng([SEED, 13, (COMBINED + SPECS).index(spec)])
    x, _ = random_inputs("float32", spec.form, 4_000, rng)
    y = rng.choice([-2832.0, 2666.0, -0.5, 1.5, 2.0, 2.8e27, 0.3], x.size).astype(np.float32)
    exact = oracle.evaluate(spec, x, y, fast=False)
    with np.errstate(invalid="ignore"):
        value, bound, applicable = fastpath.values_and_bounds(spec, x.astype(np.float64), y.astype(np.float64))
        error = np.abs((value - exact.exact) - exact.exact_lo)
    assert applicable.mean() > 0.9 and np.all(error[applicable] <= bound[applicable])


# (spec, label, sign of z) where the loss grows like c·|z| with c not a power of two: c = 0.75
# (weight, or focal 1 − α), c = 3 (pos_weight)
TIE_CASES = [
    (Spec("loss", "logits", weight=0.75), 0.0, 1.0),
    (Spec("loss", "logits", weight=0.75), 1.0, -1.0),
    (Spec("loss", "logits", pos_weight=3.0), 1.0, -1.0),
    (Spec("loss", "logits", gamma=2.0, alpha=0.25), 0.0, 1.0),
]


def half_way(value: np.ndarray, dtype) -> np.ndarray:
    """Where a float64 value lies exactly half-way between two neighbours of ``dtype``."""
    with np.errstate(over="ignore"):  # 3·z overflows float32 for the largest z
        nearest = value.astype(dtype).astype(np.float64)
    other = np.nextafter(nearest.astype(dtype), np.where(value > nearest, np.inf, -np.inf).astype(dtype))
    return (value != nearest) & (2 * value == nearest + other.astype(np.float64))


@pytest.mark.parametrize(("spec", "label", "side"), TIE_CASES, ids=str)
def test_near_ties_of_the_weighted_and_focal_losses_are_decided(spec, label, side):
    """float32 z with |z| from 32 to the largest finite (past the clip at 700 too): c·|z| is often a
    half-way point of float32 and the exact loss lies above it (weights) or below it (focal,
    −γ|z|e^−|z|) by far less than the bound. The lead/tail split decides every one, bit-identical
    to mpmath."""
    rng = np.random.default_rng([SEED, 11, TIE_CASES.index((spec, label, side))])
    exponents = rng.integers(5, 128, 4000)  # |z| in [2^5, 2^128)
    z = side * np.ldexp(1.0 + rng.integers(0, 2**23, exponents.size) / 2**23, exponents).astype(np.float32)
    c = 3.0 if spec.pos_weight else 0.75
    assert half_way(c * np.abs(z.astype(np.float64)), np.float32).mean() > 0.2  # the cases are there
    fast, _ = assert_same_bits(spec, z, np.float32(label))
    assert fast.mpmath_count == 0


def test_fast_path_is_not_used_where_it_cannot_be():
    assert not fastpath.supports(Spec("loss", "logits"), FORMATS["float64"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "logits", gamma=4.5), FORMATS["float32"], np.zeros(1))  # γ > 4
    assert not fastpath.supports(Spec("loss", "probs", gamma=2.0), FORMATS["float32"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "probs", weight=0.75), FORMATS["float32"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "logits", smoothing=0.1), FORMATS["float32"], np.zeros(1))
    assert fastpath.supports(Spec("grad", "logits", gamma=2.0, alpha=0.25), FORMATS["float32"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "logits"), FORMATS["float32"], np.array([0.1]))  # not a float32 value
    # a coefficient product that could underflow float64: 2**-300 is outside [2**-256, 2**256]
    assert not fastpath.supports(Spec("loss", "logits", weight=2.0**-300), FORMATS["float32"], np.zeros(1))
    assert fastpath.supports(Spec("grad", "logits", gamma=2.0, alpha=0.25, weight=0.0, pos_weight=2.5),
                             FORMATS["float16"], np.array([-2832.0, np.inf, np.nan]))


def test_the_float32_cast_decides_as_the_binade_scaling_does():
    """``decide_by_cast`` (float32) against ``decide``: values at, beside and between float32
    half-way points, the smallest subnormals, the overflow threshold and zero, with bounds of 32 to
    2^20 float64 ulps (every bound the fast path makes is at least 32u|v|). Where the cast decides,
    the rounding is decide's, and it decides nothing decide leaves open."""
    rng = np.random.default_rng([SEED, 17])
    r = from_bits(rng.integers(0, 0x7F800000, 200_000, dtype=np.uint64), FORMATS["float32"]).astype(np.float64)
    step = np.spacing(r.astype(np.float32)).astype(np.float64)
    offsets = rng.choice([0.0, 0.5, -0.5, 0.25, 0.4999999, 0.5000001], r.size)
    v = np.concatenate([(r + offsets * step) * rng.choice([-1.0, 1.0], r.size),
                        [0.0, 2.0**-150, -(2.0**-150), 2.0**-149, 3.4028235677973366e38, 3.4028234663852886e38]])
    bound = np.abs(v) * 2.0**-53 * rng.choice([32.0, 64.0, 2.0**10, 2.0**20], v.size) + 2.0**-1000
    by_scaling, decided = fastpath.decide(v, bound, FORMATS["float32"])
    with np.errstate(over="ignore"):
        by_cast, cast_decided = fastpath.decide_by_cast(v, bound * fastpath.CAST_MARGIN)
    both = cast_decided & decided
    assert np.array_equal(np.abs(by_cast[both]).astype(np.float64), np.abs(by_scaling[both]))  # zeros: sign aside
    assert not np.any(cast_decided & ~decided)  # never decides what the exact scaling leaves open
    # its margin is 9/8 of the bound: 97.0 % of what decide decides on these values crowded at half-way
    # points (over every float32 input of plain BCE's loss, y = 1: 50 left to mpmath where decide left 47)
    assert cast_decided.sum() >= 0.95 * decided.sum()
