"""The inputs every implementation is checked on: the same arrays for all of them.

A case is a regime of inputs for one form and dtype, drawn from a fixed seed, so that a run is
replayed bit for bit from (regime, labels, dtype, seed):

- logits ``wide``: both signs, magnitudes log-uniform from the smallest subnormal to the largest
  finite value, plus 0, ±1 and the extremes;
- logits ``moderate``: |z| <= 30, uniform, where training lives;
- logits ``overflow``: around ln(max), where e^|z| overflows (11.09 in float16, 88.72 in
  float32 and bfloat16, 709.78 in float64), and from there up to the largest finite value;
- probs ``wide``: p log-uniform from the smallest subnormal to 1/2, and 1 − those, so they
  crowd 0 and 1 (the smallest subnormal and 1 − ulp included);
- probs ``uniform``: uniform in (0, 1).

Labels are ``hard`` (0 and 1), ``soft`` (0.1, 0.5, 0.9, 0.999) or ``random`` (uniform in
[0, 1]), rounded once to the dtype.

A 16-bit dtype has so few inputs that they are all judged instead of drawn: the regime ``every``
holds every input the form takes short of the special values (for logits every finite z: 63,488 in
float16, 65,280 in bfloat16, ±0 and the subnormals included; for probabilities every p strictly
between 0 and 1), once with each hard label (0, then 1) or each soft label, and replaces the sampled
hard and soft cases. The special values (±∞ and NaN, and p = 0 and 1) are the special check's, input
by input, where the policy may allow an exception. Random labels are still drawn, as in the wider
dtypes: their (x, y) pairs number 2^32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bcebench.reference.formats import FORMATS, Format, round_float64

SEED = 20261128
CASE_SIZE = 1024
REGIMES = {"logits": ("wide", "moderate", "overflow"), "probs": ("wide", "uniform")}
LABELS = ("hard", "soft", "random")
SOFT_LABELS = (0.1, 0.5, 0.9, 0.999)
EVERY = "every"
EXHAUSTIVE_DTYPES = ("float16", "bfloat16")
EVERY_LABELS = {"hard": (0.0, 1.0), "soft": SOFT_LABELS}  # the label sets every input is judged with


@dataclass(frozen=True)
class Case:
    form: str
    dtype: str
    regime: str
    labels: str
    x: np.ndarray
    y: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.regime}-{self.labels}"


def exact_cast(values: np.ndarray, fmt: Format) -> np.ndarray:
    """float64 values correctly rounded to the format (never ml_dtypes' double-rounding cast)."""
    return round_float64(values, fmt).astype(fmt.dtype)


def _log_uniform(rng, low: float, high: float, count: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(low), math.log(high), count))


def _smallest(fmt: Format) -> float:
    return math.ldexp(1.0, fmt.quantum_min)


def inputs(form: str, regime: str, fmt: Format, rng, count: int) -> np.ndarray:
    """float64 values for the regime (correct rounding to the dtype comes after)."""
    big = min(fmt.max_finite, 1e300)
    if form == "logits":
        if regime == "wide":
            magnitudes = _log_uniform(rng, _smallest(fmt), big, count - 6)
            signs = rng.choice([-1.0, 1.0], magnitudes.size)
            return np.concatenate([[0.0, 1.0, -1.0, fmt.max_finite, -fmt.max_finite, _smallest(fmt)],
                                   signs * magnitudes])
        if regime == "moderate":
            return rng.uniform(-30, 30, count)
        edge = math.log(fmt.max_finite)
        near = rng.uniform(0.9 * edge, 1.1 * edge, count // 2)
        far = _log_uniform(rng, 1.1 * edge, big, count - near.size)
        values = np.concatenate([near, far])
        return values * rng.choice([-1.0, 1.0], values.size)
    if regime == "wide":
        low = _log_uniform(rng, _smallest(fmt), 0.5, count // 2 - 2)
        return np.concatenate([[_smallest(fmt), 0.5], low, 1.0 - low[: count // 2], [1.0 - 2.0 ** -fmt.precision]])
    return rng.uniform(0, 1, count)


def labels(kind: str, rng, count: int) -> np.ndarray:
    if kind == "hard":
        return rng.integers(0, 2, count).astype(np.float64)
    if kind == "soft":
        return rng.choice(SOFT_LABELS, count)
    return rng.uniform(0, 1, count)


def every_input(form: str, fmt: Format) -> np.ndarray:
    """Every value of a 16-bit format that is not a special value of the form, in bit-pattern order:
    the finite ones for logits, those strictly between 0 and 1 for probabilities."""
    x = np.arange(1 << 16, dtype=np.uint16).view(fmt.dtype)
    with np.errstate(invalid="ignore"):  # ml_dtypes warns when it widens a NaN
        wide = x.astype(np.float64)
    return x[np.isfinite(wide)] if form == "logits" else x[(wide > 0) & (wide < 1)]


def every_case(form: str, dtype: str, label_kind: str) -> Case:
    """Every input (``every_input``) once with each label of ``EVERY_LABELS[label_kind]``, in that order."""
    fmt = FORMATS[dtype]
    x = every_input(form, fmt)
    values = EVERY_LABELS[label_kind]
    y = exact_cast(np.repeat(np.array(values, dtype=np.float64), x.size), fmt)
    return Case(form, dtype, EVERY, label_kind, np.tile(x, len(values)), y)


def accuracy_regimes(form: str, dtype: str, label_kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (regime, labels) of a form's accuracy cases in a dtype: every input for the label kinds
    that have a fixed set in a 16-bit dtype, the sampled regimes for the rest."""
    every = [kind for kind in label_kinds if dtype in EXHAUSTIVE_DTYPES and kind in EVERY_LABELS]
    return [(EVERY, kind) for kind in every] + [(regime, kind) for regime in REGIMES[form]
                                                for kind in label_kinds if kind not in every]


def make_case(form: str, dtype: str, regime: str, label_kind: str, count: int = CASE_SIZE, seed: int = SEED) -> Case:
    """The case of a regime: drawn from the seed, or, for ``every``, every input (``every_case``)."""
    if regime == EVERY:
        return every_case(form, dtype, label_kind)
    fmt = FORMATS[dtype]
    rng = np.random.default_rng([seed, list(REGIMES[form]).index(regime), LABELS.index(label_kind), fmt.precision])
    x = exact_cast(inputs(form, regime, fmt, rng, count), fmt)
    if form == "probs":  # keep p inside (0, 1) after rounding: p = 0 and 1 are special values
        x = x[(x.astype(np.float64) > 0) & (x.astype(np.float64) < 1)]
    y = exact_cast(labels(label_kind, rng, x.size), fmt)
    return Case(form, dtype, regime, label_kind, x, y)


# The special inputs: (x, y) pairs where the answer is a limit, an infinity, a NaN or a zero.
SPECIAL_INPUTS = {
    "logits": [(0.0, 0.0), (-0.0, 1.0), (0.0, 0.5), (math.inf, 1.0), (math.inf, 0.0), (-math.inf, 0.0),
               (-math.inf, 1.0), (math.inf, 0.5), (-math.inf, 0.5), (math.nan, 1.0), (1.0, math.nan),
               (math.nan, math.nan), (0.0, -0.0)],
    "probs": [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.5), (1.0, 0.5), (-0.0, 0.0),
              (0.5, math.nan), (math.nan, 1.0), (0.5, -0.0)],
}
OUT_OF_DOMAIN = [(-0.25, 1.0), (1.5, 0.0), (-math.inf, 0.0), (math.inf, 1.0)]


def overflow_inputs(fmt: Format) -> list[tuple[float, float]]:
    """Logits where e^|z| overflows in the format, just below and past ln(max), and its maximum."""
    edge = math.log(fmt.max_finite)
    return [(sign * z, y) for z in (0.99 * edge, 1.01 * edge, fmt.max_finite) for sign in (1.0, -1.0)
            for y in (0.0, 1.0)]


def special_case(form: str, dtype: str, hard_only: bool = False) -> Case:
    """The special inputs of a form (and the overflow edges of logits); with ``hard_only``, those
    with label 0 or 1, for implementations defined for hard labels only."""
    fmt = FORMATS[dtype]
    extra = overflow_inputs(fmt) if form == "logits" else []
    pairs = [(x, y) for x, y in SPECIAL_INPUTS[form] + extra if not hard_only or y in (0.0, 1.0)]
    pairs = np.array(pairs, dtype=np.float64)
    labels = "special-hard" if hard_only else "special"
    return Case(form, dtype, "special", labels, exact_cast(pairs[:, 0], fmt), exact_cast(pairs[:, 1], fmt))



def out_of_domain_case(dtype: str) -> Case:
    pairs = np.array(OUT_OF_DOMAIN, dtype=np.float64)
    fmt = FORMATS[dtype]
    return Case("probs", dtype, "out-of-domain", "mixed", exact_cast(pairs[:, 0], fmt), exact_cast(pairs[:, 1], fmt))
