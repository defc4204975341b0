"""The float64 fast path gives bit-identical results to the mpmath path, and its error bound
holds against the exact values."""

import numpy as np
import pytest

from reference import fastpath, oracle
from reference.exact import Spec
from reference.formats import FORMATS, bits_of, from_bits

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
    # The fast path decides nearly all. With a weight, 0.75·z or 3·z of a large z often lands on a
    # half-way point of float16 and the exact loss lies above it by only c·e^−|z|, inside the bound:
    # those near-ties (2.7% of float16 inputs) go to mpmath, as they must.
    slack = 64 if spec in SPECS else 2**16 // 32
    assert fast.mpmath_count <= (~finite_inputs).sum() + slack


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


def test_fast_path_is_not_used_where_it_cannot_be():
    assert not fastpath.supports(Spec("loss", "logits"), FORMATS["float64"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "logits", gamma=4.5), FORMATS["float32"], np.zeros(1))  # γ > 4
    assert not fastpath.supports(Spec("loss", "probs", gamma=2.0), FORMATS["float32"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "probs", weight=0.75), FORMATS["float32"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "logits", smoothing=0.1), FORMATS["float32"], np.zeros(1))
    assert fastpath.supports(Spec("grad", "logits", gamma=2.0, alpha=0.25), FORMATS["float32"], np.zeros(1))
    assert not fastpath.supports(Spec("loss", "logits"), FORMATS["float32"], np.array([0.1]))  # not a float32 value
