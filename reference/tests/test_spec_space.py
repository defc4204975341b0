"""The oracle over the whole space of specs, not one parameter at a time.

Every combination of form × quantity × γ × α × weight × pos_weight × smoothing (2,064 specs), each
with six kinds of label: 0, 1, soft, near p (where p − y cancels), outside [0, 1] and special
(NaN, ±inf, −0). For each: the fast path agrees with the interval path bit for bit where it
applies (``fastpath.supports``), no input raises, and the zero-sign rule holds — a value that is
identically zero (both coefficients zero) is +0, a nonzero value that rounds to zero keeps the
sign of the exact value, which the second reference (``independent``: Arb and MPFR) decides.
Inputs: a fixed sample of float16 patterns with every class of value, and random float32 and
bfloat16 patterns. With BCEBENCH_EXHAUSTIVE=1, also every float16 pattern for the specs that
combine every parameter the fast path takes (γ <= 4 with α, weight and pos_weight at once), with
each kind of label (about 10 minutes on one core).
Then that second reference against the oracle on a sample of every spec family, in every dtype,
and the cases once got wrong (data/extension-cases.tsv) through both paths (``bcebench oracle`` on them:
suite/tests/test_cli.py).
"""

from __future__ import annotations

import os
from fractions import Fraction
from itertools import product

import mpmath
import numpy as np
import pytest

from bcebench.reference import fastpath, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, bits_of, from_bits
from bcebench.reference.tests import independent
from bcebench.reference.tests.case_files import extension_cases

GAMMAS = (None, 0.0, 0.5, 2.0, 4.0, 5.0)
ALPHAS = (None, 0.0, 0.25, 1.0)
WEIGHTS = (None, 0.0, 0.75, 3.0)
POS_WEIGHTS = (None, 0.0, 2.5)
SMOOTHINGS = (None, 0.1)
LABEL_KINDS = ("zero", "one", "soft", "near-p", "outside", "special")
OUTSIDE = (-2832.0, 2666.0, -0.5, 1.5, 2.0, -3.0, 1e4)  # -2832 and 2666: data/extension-cases.tsv
SEED = 20261130
EXHAUSTIVE = os.environ.get("BCEBENCH_EXHAUSTIVE") == "1"
FLOAT16_SAMPLE = 48
COMBINED = {"alpha": 0.25, "weight": 0.75, "pos_weight": 2.5}
RANDOM_SAMPLE = 16  # float32 and bfloat16 patterns per spec and label kind


def specs(form: str, quantity: str, gamma) -> list[Spec]:
    """Every valid spec of one family (α needs γ; the Hessian takes no γ)."""
    if quantity == "hess" and gamma is not None:
        return []
    alphas = ALPHAS if gamma is not None else (None,)
    return [Spec(quantity, form, gamma=gamma, alpha=a, weight=w, pos_weight=pw, smoothing=s)
            for a, w, pw, s in product(alphas, WEIGHTS, POS_WEIGHTS, SMOOTHINGS)]


FAMILIES = [(f, q, g) for f, q, g in product(("logits", "probs"), ("loss", "grad", "hess"), GAMMAS) if specs(f, q, g)]


def test_the_spec_space_is_the_whole_product():
    assert sum(len(specs(*family)) for family in FAMILIES) == 2064


def float16_inputs(form: str, rng) -> np.ndarray:
    """Every float16 pattern, or a sample with each class: zeros, subnormals, 1, the largest,
    ±inf, NaN, around ln(max) and the loss tail (|z| 8 to 20), and random patterns."""
    fmt = FORMATS["float16"]
    fixed = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00,
             0x498C, 0xC98C, 0x4C00, 0xCC00, 0x4D00, 0xCD00, 0x3800, 0x3BFF, 0x0400, 0x1400]
    drawn = rng.integers(0, 2**16, FLOAT16_SAMPLE - len(fixed))
    x = from_bits(np.concatenate([fixed, drawn]), fmt)
    return x if form == "logits" else _probabilities(x)


def _probabilities(x: np.ndarray) -> np.ndarray:
    """Inputs of the probability form: |x| folded into [0, 1], with 0, 1, and some outside kept."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        folded = np.where(np.abs(x) > 1, 1 / np.abs(x), np.abs(x)).astype(x.dtype)
    extra = np.array([0.0, 1.0, 1.5, -0.5, np.nan], dtype=x.dtype)
    return np.concatenate([folded, extra])


def random_inputs(dtype: str, form: str, rng) -> np.ndarray:
    fmt = FORMATS[dtype]
    x = from_bits(rng.integers(0, 2 ** (8 * fmt.dtype.itemsize), RANDOM_SAMPLE, dtype=np.uint64), fmt)
    return x if form == "logits" else _probabilities(x)


def labels(kind: str, x: np.ndarray, form: str, rng) -> np.ndarray:
    """Labels of one kind, one per input, as values of the input's dtype (the fast path takes
    float32 values)."""
    dtype = x.dtype
    n = x.size
    if kind in ("zero", "one"):
        return np.full(n, 0.0 if kind == "zero" else 1.0)
    if kind == "soft":
        y = rng.random(n)
    elif kind == "near-p":
        with np.errstate(all="ignore"):
            p = x.astype(np.float64)
            p = 1 / (1 + np.exp(-p)) if form == "logits" else p
            step = rng.integers(-2, 3, n)
            y = np.where(np.isfinite(p), p, 0.5).astype(dtype)
            y = np.array([_ulps(v, s) for v, s in zip(y, step, strict=True)], dtype=dtype)
    elif kind == "outside":
        y = rng.choice(OUTSIDE, n)
    else:
        y = rng.choice([np.nan, np.inf, -np.inf, -0.0], n)
    with np.errstate(over="ignore"):
        return np.asarray(y).astype(dtype).astype(np.float64)


def _ulps(value, steps: int):
    for _ in range(abs(steps)):
        value = np.nextafter(value, value.dtype.type(np.inf if steps > 0 else -np.inf))
    return value


def identically_zero(spec: Spec, y: float) -> bool:
    """Both coefficients exactly zero: c₊ = w·w₊·α·y_ε, c₋ = w·(1 − α)(1 − y_ε)."""
    if not np.isfinite(y):
        return False
    label = Fraction(y)
    if spec.smoothing is not None:
        label = label * (1 - Fraction(spec.smoothing)) + Fraction(spec.smoothing) / 2
    weight = Fraction(1 if spec.weight is None else spec.weight)
    alpha, one_minus_alpha = (1, 1) if spec.alpha is None else (Fraction(spec.alpha), 1 - Fraction(spec.alpha))
    c_pos = weight * Fraction(1 if spec.pos_weight is None else spec.pos_weight) * alpha * label
    return c_pos == 0 and weight * one_minus_alpha * (1 - label) == 0


def ordinary(form: str, x: float, y: float) -> bool:
    """Not a special value of the mathematics: finite z or p in (0, 1), a finite label."""
    inside = np.isfinite(x) if form == "logits" else 0 < x < 1
    return bool(inside and np.isfinite(y))


def check_spec(spec: Spec, x: np.ndarray, y: np.ndarray) -> int:
    """Evaluate both paths; assert equal bits and the zero-sign rule; return the elements compared."""
    fmt = FORMATS[x.dtype.name]
    fast = oracle.evaluate(spec, x, y)
    if fastpath.supports(spec, fmt, y):
        slow = oracle.evaluate(spec, x, y, fast=False)
        differ = np.flatnonzero(bits_of(fast.rounded) != bits_of(slow.rounded))
        assert differ.size == 0, (f"{spec} {fmt.name}: fast path differs at x bits "
                                  f"{[hex(b) for b in bits_of(x)[differ[:4]]]}, y={y[differ[:4]]}: "
                                  f"{fast.rounded[differ[:4]]} against {slow.rounded[differ[:4]]}")
    rounded = fast.rounded.astype(np.float64)
    for i in np.flatnonzero(rounded == 0):
        xi, yi = float(x[i]), float(y[i])
        if not ordinary(spec.form, xi, yi):
            continue
        try:
            expected = 0.0 if identically_zero(spec, yi) else independent.correctly_rounded(
                spec.quantity, spec.form, fmt.name, xi, yi, gamma=spec.gamma, alpha=spec.alpha,
                smoothing=spec.smoothing, weight=spec.weight, pos_weight=spec.pos_weight)
        except independent.Undecided:  # a tie beside zero (−2**-151 + e^−|z|), or an exact zero: the
            # sign of the exact value to 160 bits, from the interval path (+0 for an exact zero)
            expected = 0.0 * float(mpmath.sign(oracle.exact_value(spec, xi, yi)) or 1)
        assert expected == 0 and np.signbit(rounded[i]) == np.signbit(expected), (
            f"{spec} {fmt.name} x={xi!r} y={yi!r}: {rounded[i]!r}, but the zero-sign rule gives {expected!r}")
    return x.size


@pytest.mark.parametrize(("form", "quantity", "gamma"), FAMILIES, ids=lambda v: str(v))
def test_fast_path_equals_interval_path_over_the_spec_space(form, quantity, gamma):
    family = specs(form, quantity, gamma)
    rng = np.random.default_rng([SEED, FAMILIES.index((form, quantity, gamma))])
    compared = 0
    for spec, kind in product(family, LABEL_KINDS):
        for x in (float16_inputs(form, rng), random_inputs("bfloat16", form, rng), random_inputs("float32", form, rng)):
            compared += check_spec(spec, x, labels(kind, x, form, rng))
    assert compared >= len(family) * len(LABEL_KINDS) * (FLOAT16_SAMPLE + 2 * RANDOM_SAMPLE)


COMBINED_SPECS = [Spec(q, "logits", gamma=g, **COMBINED) for q in ("loss", "grad") for g in (0.5, 2.0, 4.0)] + [
    Spec(q, "logits", weight=0.75, pos_weight=2.5) for q in ("loss", "grad", "hess")]


@pytest.mark.skipif(not EXHAUSTIVE, reason="every float16 input of the combined specs: set BCEBENCH_EXHAUSTIVE=1")
@pytest.mark.parametrize("spec", COMBINED_SPECS, ids=str)
@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_every_float16_input_of_the_combined_specs(spec, kind):
    x = from_bits(np.arange(2**16), FORMATS["float16"])
    rng = np.random.default_rng([SEED, COMBINED_SPECS.index(spec), LABEL_KINDS.index(kind)])
    assert check_spec(spec, x, labels(kind, x, "logits", rng)) == 2**16


@pytest.mark.parametrize(("quantity", "form"), [("loss", "logits"), ("grad", "logits"), ("hess", "logits"),
                                                  ("loss", "probs"), ("grad", "probs"), ("hess", "probs")])
def test_identically_zero_values_are_positive_zero_on_every_float16_input(quantity, form):
    """A zero weight, a zero pos_weight with y = 1, α = 0 with y = 1 and α = 1 with y = 0 leave no
    term: every ordinary input gives +0, through the fast path on all of float16 and through
    the interval path on the sample."""
    x = from_bits(np.arange(2**16), FORMATS["float16"])
    cases = [({"weight": 0.0}, 0.3), ({"pos_weight": 0.0}, 1.0), ({"gamma": 2.0, "alpha": 0.0}, 1.0),
             ({"gamma": 2.0, "alpha": 1.0}, 0.0)]
    for parameters, label in cases:
        if quantity == "hess" and "gamma" in parameters:
            continue
        spec = Spec(quantity, form, **parameters)
        y = np.full(x.size, np.float16(label), dtype=np.float64)
        inside = np.isfinite(x) if form == "logits" else (x > 0) & (x < 1)
        for fast, inputs in ((True, slice(None)), (False, slice(0, None, 997))):
            rounded = oracle.evaluate(spec, x[inputs], y[inputs], fast=fast).rounded
            assert np.all(bits_of(rounded)[inside[inputs]] == 0), f"{spec} y={label} fast={fast}"


FAMILY_PARAMETERS = {
    "plain": {},
    "weighted": {"weight": 0.75, "pos_weight": 2.5},
    "focal": {"gamma": 2.0, "alpha": 0.25},
    "focal-weighted": {"gamma": 0.5, "alpha": 0.25, "weight": 3.0, "pos_weight": 2.5},
    "focal-large-gamma": {"gamma": 5.0},
    "smoothed": {"smoothing": 0.1},
}
INDEPENDENT_SAMPLE = 12  # inputs per family, dtype and label kind


@pytest.mark.parametrize("family", FAMILY_PARAMETERS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_a_second_reference_on_arb_and_mpfr_agrees(family, dtype):
    """Arb and MPFR against the oracle on ordinary inputs of every quantity and form; elements
    that the second reference cannot decide (within e^−|z| of a tie at |z| > 90,000) are counted,
    and must stay rare: the oracle decides those analytically."""
    fmt = FORMATS[dtype]
    rng = np.random.default_rng([SEED, list(FAMILY_PARAMETERS).index(family), fmt.precision])
    planned = compared = undecided = 0
    for quantity, form, kind in product(("loss", "grad", "hess"), ("logits", "probs"), LABEL_KINDS[:5]):
        parameters = FAMILY_PARAMETERS[family]
        if quantity == "hess" and "gamma" in parameters:
            continue
        spec = Spec(quantity, form, **parameters)
        width = 8 * fmt.dtype.itemsize
        x = from_bits(rng.integers(0, 2**width, 4 * INDEPENDENT_SAMPLE, dtype=np.uint64), fmt)
        x = x if form == "logits" else _probabilities(x)
        y = labels(kind, x, form, rng)
        keep = np.array([ordinary(form, float(a), float(b)) for a, b in zip(x, y, strict=True)])
        x, y = x[keep][:INDEPENDENT_SAMPLE], y[keep][:INDEPENDENT_SAMPLE]
        rounded = oracle.evaluate(spec, x, y).rounded.astype(np.float64)
        planned += x.size
        for xi, yi, got in zip(x.astype(np.float64), y, rounded, strict=True):
            try:
                expected = independent.correctly_rounded(quantity, form, dtype, float(xi), float(yi), **parameters)
            except independent.Undecided:
                undecided += 1
                continue
            compared += 1
            assert got == expected and np.signbit(got) == np.signbit(expected), (
                f"{spec} {dtype} x={xi!r} y={yi!r}: oracle {got!r}, Arb/MPFR {expected!r}")
    assert planned >= 15 * INDEPENDENT_SAMPLE and undecided <= planned // 20


@pytest.mark.parametrize("case", extension_cases(), ids=lambda c: f"{c['quantity']}-{c['dtype']}-{c['x']}-{c['y']}")
def test_cases_once_got_wrong_are_right_on_both_paths_and_from_the_second_reference(case):
    fmt = FORMATS[case["dtype"]]
    spec = Spec(case["quantity"], case["form"], **case["parameters"])
    x, y = from_bits([int(case["x"], 16)], fmt), from_bits([int(case["y"], 16)], fmt).astype(np.float64)
    for fast in (True, False):
        assert hex(int(bits_of(oracle.evaluate(spec, x, y, fast=fast).rounded)[0])) == case["rounded"], fast
    expected = independent.correctly_rounded(case["quantity"], case["form"], case["dtype"], float(x[0]), float(y[0]),
                                             **case["parameters"])
    assert hex(int(bits_of(np.array([expected]).astype(fmt.dtype))[0])) == case["rounded"]
