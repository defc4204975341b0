"""The article's ten claims about BCE, measured on an implementation in one dtype.

Each claim is proven in exact arithmetic by ``reference.derive`` (its ``derive`` id). Here it is
measured: the implementation's numbers, through its adapter, against the oracle, and every claim
ends in one of three outcomes:

- ``holds``: the implementation's numbers satisfy the claim;
- ``dtype-limit``: they do not, and neither do the correctly rounded numbers (or exact-gradient
  training in the dtype): the claim holds in exact arithmetic only, and the figure says where
  the dtype ends it; the implementation is not at fault (verdict pass);
- ``breaks``: the implementation fails where correctly rounded arithmetic keeps the claim
  (verdict fail, unless a known deviation explains it).

Tolerances are the policy's bound for the quantity (ULPs of the dtype), never a literal here.
Nothing here knows which framework it is looking at.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import mpmath
import numpy as np
from bcebench.adapters.base import Adapter, Implementation, Unsupported
from bcebench.reference import cache as oracle_cache
from bcebench.reference import metrics, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, Format, as_dtype, bits_of, from_bits, round_float64, round_mpf
from bcebench.suite import cases
from bcebench.suite.checks import element
from bcebench.suite.policy import Policy

SEARCH_POINTS = 4096  # points per refinement level when searching for the first zero gradient


@dataclass(frozen=True)
class Claim:
    number: int
    slug: str
    title: str
    derive: str  # the reference.derive claim that proves it in exact arithmetic
    forms: tuple[str, ...]
    family: str  # "bce" (plain BCE implementations) or "focal"
    quantity: str
    labels: str
    measure: Callable


@dataclass
class Context:
    adapter: Adapter
    impl: Implementation
    device: str
    dtype: str
    policy: Policy

    @property
    def fmt(self) -> Format:
        return FORMATS[self.dtype]

    def values(self, quantity: str, x: np.ndarray, y, impl: Implementation | None = None) -> np.ndarray:
        """The implementation's loss, gradient or Hessian at (x, y), as float64."""
        y = np.broadcast_to(np.asarray(y, dtype=x.dtype), x.shape).copy()
        got = self.adapter.run(impl or self.impl, quantity, x, y, self.device)
        if got.shape != x.shape:
            raise ValueError(f"returned shape {got.shape}, expected {x.shape}")
        return got.astype(np.float64)

    def bound(self, quantity: str, labels: str, family: str = "bce"):
        context = {"check": "claim", "family": family, "quantity": quantity, "form": self.impl.form,
                   "dtype": self.dtype, "labels": labels}
        return self.policy.bound_for(context)

    def judge(self, spec: Spec, labels: str, got: np.ndarray, x: np.ndarray, y,
              ref: oracle.Reference | None = None) -> tuple[np.ndarray, float]:
        """(per-element error in the policy bound's own unit, as the accuracy checks measure it;
        the bound's limit) of ``got`` against the oracle's ``spec`` at (x, y)."""
        y = np.broadcast_to(np.asarray(y, dtype=x.dtype), x.shape).copy()
        ref = ref if ref is not None else _reference(spec, x, y)
        bound = self.bound(spec.quantity, labels, "focal" if spec.focal else "bce")
        return bound.errors(got.astype(self.fmt.dtype), ref, self.fmt, x, y, spec), bound.limit

    def limit(self, quantity: str, labels: str) -> float:
        return self.bound(quantity, labels).limit

    def cast(self, values) -> np.ndarray:
        """float64 values correctly rounded to the dtype."""
        return as_dtype(round_float64(np.asarray(values, dtype=np.float64), self.fmt), self.fmt)


def _reference(spec: Spec, x: np.ndarray, y) -> oracle.Reference:
    y = np.broadcast_to(np.asarray(y, dtype=x.dtype), x.shape).copy()
    return oracle_cache.evaluate(spec, x, y)


def _g(value: float) -> str:
    return f"{value:.6g}"


def _outcome(problems: list[str], figures: dict, finding: str) -> dict:
    """breaks with the problems found, or holds with ``finding``."""
    if problems:
        return {"outcome": "breaks", "figures": figures, "finding": "; ".join(problems)}
    return {"outcome": "holds", "figures": figures, "finding": finding}


# --- 1. negative log-likelihood ----------------------------------------------------------------

def nll(ctx: Context) -> dict:
    """y = 1 gives −ln p and y = 0 gives −ln(1 − p) (p = σ(z) in the logit form), within the bound."""
    x = cases.make_case(ctx.impl.form, ctx.dtype, "wide", "hard").x
    figures, worst = {}, None
    for label in (1.0, 0.0):
        got = ctx.values("loss", x, label)
        errors, limit = ctx.judge(Spec("loss", ctx.impl.form), "hard", got, x, label)
        figures[f"max ULP error, y = {label:g}"] = float(errors.max())
        i = int(np.argmax(errors))
        if errors[i] > limit and worst is None:
            worst = f"y = {label:g}, x = {float(x[i])!r}: {_g(got[i])}, {errors[i]:.3g} ULPs off"
            breaking = {"x": element(x, i), "y": element(ctx.cast([label]), 0)}
    term = "σ(z)" if ctx.impl.form == "logits" else "p"
    if worst:
        return {"outcome": "breaks", "figures": figures, "finding": f"not −ln {term} within {limit:g} ULPs: {worst}",
                "input": breaking}
    return {"outcome": "holds", "figures": figures,
            "finding": f"−ln {term} and −ln(1 − {term}) within {max(figures.values()):.2g} ULPs on {x.size} inputs, "
                       f"{'z' if ctx.impl.form == 'logits' else 'p'} from {_g(float(np.min(x.astype(np.float64))))} "
                       f"to {_g(float(np.max(x.astype(np.float64))))}"}


# --- 2. the SGD step equals autodiff's --------------------------------------------------------

def sgd_step(ctx: Context) -> dict:
    """Per example, autodiff's ∂/∂w of BCE(w·x, y) against (σ(w·x) − y)x exactly. The data are
    chosen so that w·x is exact in every dtype (x in {±1, ±2}, w = k/16 with |k| <= 15, four
    features: |Σ| <= 120/16), so the only rounding left is the gradient's own."""
    rng = np.random.default_rng([cases.SEED, 2])
    n, d = 64, 4
    X = ctx.cast(rng.choice([-2.0, -1.0, 1.0, 2.0], (n, d)))
    w = ctx.cast(rng.integers(-15, 16, d) / 16)
    y = ctx.cast(rng.integers(0, 2, n))
    z = ctx.cast(X.astype(np.float64) @ w.astype(np.float64))
    got = np.stack([ctx.adapter.linear_gradient(ctx.impl, X[i : i + 1], w, y[i : i + 1], ctx.device)
                    for i in range(n)]).astype(np.float64)
    ref = _reference(Spec("grad", "logits"), z, y)
    scale = X.astype(np.float64)  # powers of two: scaling the reference by them is exact
    scaled = oracle.Reference((ref.rounded.astype(np.float64)[:, None] * scale).astype(ctx.fmt.dtype),
                              ref.exact[:, None] * scale, ref.exact_lo[:, None] * scale, 0)
    errors, limit = ctx.judge(Spec("grad", "logits"), "hard", got, np.broadcast_to(z[:, None], X.shape).copy(),
                              np.broadcast_to(y[:, None], X.shape), ref=scaled)
    figures = {"examples": n, "max ULP error": float(errors.max())}
    i, j = np.unravel_index(int(np.argmax(errors)), errors.shape)
    if errors[i, j] > limit:
        return {"outcome": "breaks", "figures": figures,
                "finding": f"autodiff's step differs from (σ(w·x) − y)x by {errors[i, j]:.3g} ULPs at w·x = "
                           f"{_g(float(z[i]))}, y = {float(y[i]):g}: {_g(got[i, j])} for "
                           f"{_g(float(scaled.exact[i, j]))}"}
    return {"outcome": "holds", "figures": figures,
            "finding": f"autodiff's gradient equals (σ(w·x) − y)x within {errors.max():.2g} ULPs on {n} examples"}


# --- 3. BCE's gradient is never 0 for finite z, unlike hinge's --------------------------------

def _patterns(fmt: Format, sign: float) -> tuple[int, int, int]:
    """(bit pattern of 1, of the largest finite value, the sign bit to set) for |z| >= 1."""
    lo = int(bits_of(np.array([1.0], fmt.dtype))[0])
    hi = int(bits_of(np.array([fmt.max_finite], fmt.dtype))[0])
    return lo, hi, (1 << (8 * fmt.dtype.itemsize - 1)) if sign < 0 else 0


def _values_at(patterns, sign_bit: int, fmt: Format) -> np.ndarray:
    return from_bits(np.asarray(patterns, dtype=np.uint64) | np.uint64(sign_bit), fmt)


def _first_zero(is_zero: Callable[[np.ndarray], np.ndarray], fmt: Format, sign: float) -> float | None:
    """The smallest |z| >= 1 (of the given sign) at which ``is_zero`` holds, searched on bit
    patterns: all of them for 16-bit formats, else SEARCH_POINTS evenly spaced patterns refined
    between the last miss and the first hit (an implementation's zero set need not be upward
    closed, so each level looks at many points, not one). None when no finite z is a hit."""
    lo, hi, sign_bit = _patterns(fmt, sign)
    first = None
    while True:
        count = min(hi - lo + 1, SEARCH_POINTS)  # exact integer spacing: float64 cannot hold 64-bit patterns
        patterns = np.unique(np.array([lo + (hi - lo) * i // max(count - 1, 1) for i in range(count)], dtype=np.int64))
        z = _values_at(patterns, sign_bit, fmt)
        hits = np.flatnonzero(is_zero(z))
        if hits.size == 0:
            return None if first is None else float(first)
        k = int(hits[0])
        first = z[k]
        if k == 0 or patterns[k] - patterns[k - 1] == 1:
            return float(first)
        lo, hi = int(patterns[k - 1]) + 1, int(patterns[k])


def _underflow_point(fmt: Format, label: float, sign: float) -> float | None:
    """The smallest |z| >= 1 at which the correctly rounded gradient is 0, by bisection on bit
    patterns: the exact σ(−|z|) falls monotonically, so its rounding is 0 from one point on."""
    lo, _, sign_bit = _patterns(fmt, sign)
    spec = Spec("grad", "logits")
    # σ(−z) < e^−z is below half the smallest subnormal, 2^(q−1), once z > (1 − q)·ln 2: start there
    hi = int(bits_of(as_dtype(round_float64([(2 - fmt.quantum_min) * math.log(2)], fmt), fmt))[0])

    def zero(pattern: int) -> bool:
        z = _values_at([pattern], sign_bit, fmt)
        return float(_reference(spec, z, label).rounded[0]) == 0

    if not zero(hi):
        return None
    while hi - lo > 1:
        middle = (lo + hi) // 2
        lo, hi = (lo, middle) if zero(middle) else (middle, hi)
    return float(_values_at([hi], sign_bit, fmt)[0])


def zero_gradient(ctx: Context) -> dict:
    """Hinge's max(0, 1 − m) has zero gradient for margins m > 1; BCE's p − y is never 0 for
    finite z. Measured: the smallest |z| of a correct, confident prediction (y = 1, z > 0 and
    y = 0, z < 0) at which the gradient is exactly 0, against where the correctly rounded gradient
    underflows to 0."""
    figures, broken = {}, []
    for label, sign in ((1.0, 1.0), (0.0, -1.0)):
        def framework(z, label=label):
            return ctx.values("grad", z, label) == 0

        got, floor = _first_zero(framework, ctx.fmt, sign), _underflow_point(ctx.fmt, label, sign)
        side = f"y = {label:g}"
        figures[f"{side}: gradient 0 from z ="] = got
        figures[f"{side}: correctly rounded 0 from z ="] = floor
        if got is not None and (floor is None or abs(got) < abs(floor)):
            broken.append(f"{side}: exactly 0 from z = {_g(got)}, where the exact gradient is 0 only from "
                          f"z = {_g(floor) if floor is not None else 'nowhere'}")
    if broken:
        return {"outcome": "breaks", "figures": figures, "finding": "; ".join(broken)}
    floors = [abs(v) for k, v in figures.items() if "rounded" in k and v is not None]
    return {"outcome": "dtype-limit", "figures": figures,
            "finding": f"never 0 before the dtype's own underflow: the correctly rounded gradient is 0 only "
                       f"from |z| = {_g(min(floors))}" if floors else "never 0"}


# --- 4. convexity and the 1/4-Lipschitz gradient ----------------------------------------------

def _midpoint_pairs(fmt: Format, rng, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, (a + b)/2, b) with all three exact in the format: a = k₁/32 and b = k₂/32 with k₁, k₂ of
    one parity and |k| < 2^min(p − 1, 10), so |a|, |b| < 32 and (k₁ + k₂)/2 is an integer."""
    half = 2 ** min(fmt.precision - 2, 9)
    parity = rng.integers(0, 2, count)
    k1 = 2 * rng.integers(-half + 1, half, count) + parity
    k2 = 2 * rng.integers(-half + 1, half, count) + parity
    return tuple(as_dtype(k / 32, fmt) for k in (k1, (k1 + k2) // 2, k2))


def convexity(ctx: Context) -> dict:
    """Autodiff's Hessian lies in [0, 1/4] (above 1/4 by at most the policy's bound: 1/4 is
    representable, so only error takes it there), equals 1/4 at z = 0, and is 0 only where the
    correctly rounded σ(1 − σ) is; the midpoint inequality L((a + b)/2) <= (L(a) + L(b))/2 holds on random
    pairs up to the loss's rounding bound."""
    x = np.concatenate([cases.make_case("logits", ctx.dtype, regime, "random").x
                        for regime in ("moderate", "wide")] + [ctx.cast([0.0])])
    x = x[np.isfinite(x.astype(np.float64))]
    rng = np.random.default_rng([cases.SEED, 4])
    labels = ctx.cast(rng.uniform(0, 1, x.size))
    hess = ctx.values("hess", x, labels)
    rounded = _reference(Spec("hess", "logits"), x, labels).rounded.astype(np.float64)
    at_zero = float(hess[-1])
    lost = np.flatnonzero((hess == 0) & (rounded > 0))
    limit = ctx.limit("hess", "random")
    ceiling = 0.25 + limit * float(metrics.ulp(0.25, ctx.fmt))  # 1/4 is representable: a rounding above it is error
    outside = np.flatnonzero(~((hess >= 0) & (hess <= ceiling)))
    a, m, b = _midpoint_pairs(ctx.fmt, rng, 1024)
    y = ctx.cast(rng.uniform(0, 1, a.size))
    la, lm, lb = (ctx.values("loss", v, y) for v in (a, m, b))
    ulp = lambda v: metrics.ulp(v, ctx.fmt)  # noqa: E731
    slack = ctx.limit("loss", "random") * (ulp(lm) + (ulp(la) + ulp(lb)) / 2)
    violations = np.flatnonzero(~(lm <= (la + lb) / 2 + slack))
    figures = {"largest Hessian": float(np.nanmax(hess)), "Hessian at z = 0": at_zero,
               "Hessian 0 where the exact is not": int(lost.size), "outside [0, 1/4]": int(outside.size),
               "midpoint violations (of 1024)": int(violations.size)}
    problems = []
    if outside.size:
        problems.append(f"Hessian {_g(hess[outside[0]])} at z = {_g(float(x[outside[0]]))}, outside [0, 1/4] by more "
                        f"than {limit:g} ULPs")
    if at_zero != 0.25:
        problems.append(f"Hessian at z = 0 is {_g(at_zero)}, not 1/4")
    if lost.size:
        first = lost[np.argmin(np.abs(x[lost].astype(np.float64)))]
        problems.append(f"Hessian exactly 0 at {lost.size} inputs where σ(1 − σ) is not (from |z| = "
                        f"{_g(abs(float(x[first])))}, exact {_g(rounded[first])})")
    if violations.size:
        i = violations[0]
        problems.append(f"L((a + b)/2) = {_g(lm[i])} > (L(a) + L(b))/2 = {_g((la[i] + lb[i]) / 2)} at a = "
                        f"{_g(float(a[i]))}, b = {_g(float(b[i]))}")
    return _outcome(problems, figures,
                    f"Hessian in [0, {_g(np.nanmax(hess))}], 1/4 at z = 0; midpoint convexity on 1024 pairs")


# --- training a linear model: claims 5 and 8 ---------------------------------------------------

def _exact_gradient(X: np.ndarray, w: np.ndarray, y: np.ndarray, fmt: Format) -> np.ndarray:
    """mean_i (σ(x_i·w) − y_i) x_i in exact arithmetic (200 bits), rounded once to the format."""
    with mpmath.workprec(200):
        rows = [(mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(b)) for a, b in zip(row, w, strict=True)),
                 mpmath.mpf(float(label))) for row, label in zip(X, y, strict=True)]
        residuals = [1 / (1 + mpmath.exp(-z)) - label for z, label in rows]
        grad = [mpmath.fsum(r * mpmath.mpf(float(row[j])) for r, row in zip(residuals, X, strict=True)) / len(y)
                for j in range(X.shape[1])]
        return as_dtype([round_mpf(g._mpf_, fmt) for g in grad], fmt)


def _train(gradient: Callable, X: np.ndarray, w: np.ndarray, y: np.ndarray, rate: float, steps: int,
           l2: float, fmt: Format, keep: tuple[int, ...] = ()) -> tuple[np.ndarray, dict]:
    """Full-batch gradient descent w ← w − η(∇ + λw), each update rounded once to the format;
    (final w, {step: w} for the steps in ``keep``)."""
    kept = {}
    for step in range(1, steps + 1):
        g = gradient(X, w, y).astype(np.float64) + l2 * w.astype(np.float64)
        w = as_dtype(round_float64(w.astype(np.float64) - rate * g, fmt), fmt)
        if step in keep:
            kept[step] = w.copy()
    return w, kept


@cache
def _exact_training(problem: str, dtype: str) -> tuple:
    """The same training with exact gradients rounded once: what the dtype itself allows."""
    fmt = FORMATS[dtype]
    setup = PROBLEMS[problem](fmt)
    w, kept = _train(lambda X, w, y: _exact_gradient(X, w, y, fmt), *setup, fmt, keep=setup.keep)
    return w, kept


@dataclass(frozen=True)
class Problem:
    X: np.ndarray
    w0: np.ndarray
    y: np.ndarray
    rate: float
    steps: int
    l2: float
    keep: tuple[int, ...] = ()

    def __iter__(self):  # the positional arguments of _train
        return iter((self.X, self.w0, self.y, self.rate, self.steps, self.l2))


def _xor(fmt: Format, crossed: bool) -> Problem:
    """XOR on (±1, ±1), label 1 where the signs differ; features 1, x₁, x₂ (and x₁x₂ when
    ``crossed``): orthogonal columns, so η = 4 (the inverse of the Hessian bound 1/4) is stable."""
    pairs = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=np.float64)
    columns = [np.ones(4), pairs[:, 0], pairs[:, 1]] + ([pairs[:, 0] * pairs[:, 1]] if crossed else [])
    rng = np.random.default_rng([cases.SEED, 5])
    w0 = rng.normal(0, 0.5, 4)[: len(columns)]
    cast = lambda v: as_dtype(round_float64(v, fmt), fmt)  # noqa: E731
    return Problem(cast(np.stack(columns, 1)), cast(w0), cast(np.array([0.0, 1.0, 1.0, 0.0])), 4.0, 512, 0.0)


def _separable(fmt: Format, l2: float) -> Problem:
    """1-D separable data x = (−2, −1, 1, 2), y = (0, 0, 1, 1), model z = wx, from w = 0, η = 2 (the
    Hessian is at most mean(x²)/4 = 5/8, so any η < 3.2 is stable); 512 steps, w kept at step 256."""
    X = as_dtype(np.array([[-2.0], [-1.0], [1.0], [2.0]]), fmt)
    return Problem(X, as_dtype(np.zeros(1), fmt), as_dtype(np.array([0.0, 0.0, 1.0, 1.0]), fmt), 2.0, 512, l2,
                   keep=(256,))


L2 = 2.0**-6
PROBLEMS = {"xor-linear": lambda fmt: _xor(fmt, False), "xor-crossed": lambda fmt: _xor(fmt, True),
            "separable": lambda fmt: _separable(fmt, 0.0), "separable-l2": lambda fmt: _separable(fmt, L2)}


def _trained(ctx: Context, problem: str) -> tuple[np.ndarray, dict]:
    setup = PROBLEMS[problem](ctx.fmt)

    def gradient(X, w, y):
        return ctx.adapter.linear_gradient(ctx.impl, X, w, y, ctx.device)

    return _train(gradient, *setup, ctx.fmt, keep=setup.keep)


def _mean_loss(ctx: Context, problem: str, w: np.ndarray, exact: bool = False) -> tuple[float, np.ndarray]:
    """(mean of the implementation's losses, or with ``exact`` of the correctly rounded ones, σ(z)
    in float64) at z = Xw rounded to the dtype."""
    setup = PROBLEMS[problem](ctx.fmt)
    z = ctx.cast(setup.X.astype(np.float64) @ w.astype(np.float64))
    if exact:
        losses = _reference(Spec("loss", "logits"), z, setup.y).rounded.astype(np.float64)
    else:
        losses = ctx.values("loss", z, setup.y)
    return float(losses.mean()), 1 / (1 + np.exp(-z.astype(np.float64)))


def _xor_verdict(ctx: Context, linear_w: np.ndarray, crossed_w: np.ndarray,
                 exact: bool = False) -> tuple[list[str], dict]:
    """The claim's problems for trained weights, judged with the implementation's loss (or with
    ``exact`` the correctly rounded one: what the dtype itself allows)."""
    limit = ctx.limit("loss", "hard")
    ln2 = math.log(2)
    linear_loss, p = _mean_loss(ctx, "xor-linear", linear_w, exact)
    crossed_loss, _ = _mean_loss(ctx, "xor-crossed", crossed_w, exact)
    spread = float(np.max(np.abs(p - 0.5)))
    figures = {"linear: loss − ln 2": linear_loss - ln2, "linear: max |p − 1/2|": spread,
               "with x₁x₂: loss": crossed_loss}
    problems = []
    if abs(linear_loss - ln2) > limit * float(metrics.ulp(ln2, ctx.fmt)):
        problems.append(f"the linear model's loss is {_g(linear_loss)}, not ln 2")
    if spread > limit * float(metrics.ulp(0.5, ctx.fmt)):
        problems.append(f"the linear model predicts p = 1/2 ± {_g(spread)}")
    if not crossed_loss < 1e-3:  # the article's target for the model with the x₁x₂ feature
        problems.append(f"with x₁x₂ the loss stops at {_g(crossed_loss)}, not below 10^-3")
    return problems, figures


def xor(ctx: Context) -> dict:
    """A linear model on XOR trained by full-batch gradient descent converges to loss ln 2 and
    p = 1/2 everywhere; with the feature x₁x₂ the loss falls below 10^-3 (512 steps, η = 4)."""
    linear_w, _ = _trained(ctx, "xor-linear")
    crossed_w, _ = _trained(ctx, "xor-crossed")
    problems, figures = _xor_verdict(ctx, linear_w, crossed_w)
    if not problems:
        return {"outcome": "holds", "figures": figures,
                "finding": f"linear: loss = ln 2 {figures['linear: loss − ln 2']:+.2g}, p = 1/2 ± "
                           f"{_g(figures['linear: max |p − 1/2|'])}; with x₁x₂: loss {_g(figures['with x₁x₂: loss'])}"}
    exact, baseline = _xor_verdict(ctx, _exact_training("xor-linear", ctx.dtype)[0],
                                   _exact_training("xor-crossed", ctx.dtype)[0], exact=True)
    if not exact:
        note = " (exact-gradient training gets there)"
    elif _within_baseline(figures, baseline, ctx.limit("loss", "hard") * float(metrics.ulp(0.5, ctx.fmt))):
        note = " (so does exact-gradient training in this dtype)"
    else:
        note = (f" (exact-gradient training in this dtype falls short too, but the implementation is more than "
                f"{BASELINE_FACTOR:g} times further: {_g(baseline['with x₁x₂: loss'])} with x₁x₂)")
        exact = []
    return {"outcome": "dtype-limit" if exact else "breaks", "figures": figures, "finding": "; ".join(problems) + note}


BASELINE_FACTOR = 2.0  # how far beyond the exact-training baseline a dtype limit may still be the dtype's


def _within_baseline(figures: dict, baseline: dict, slack: float) -> bool:
    """Whether every figure is within BASELINE_FACTOR of exact-gradient training's in the same dtype
    (plus the policy's bound at 1/2): only then is the shortfall the dtype's, not the implementation's."""
    return all(abs(figures[key]) <= BASELINE_FACTOR * abs(baseline[key]) + slack for key in figures)


# --- 6, 7, 10: the entropy floor, label smoothing, the KL identity -----------------------------

ENTROPY_LABELS = (0.1, 0.3, 0.5, 0.7, 0.9)


def _grid_inputs(ctx: Context, label: float) -> tuple[np.ndarray, int]:
    """Probabilities k/20 (k = 1..19) and the label itself, or their logits; (inputs, index of
    the label's own point)."""
    p = np.append(np.arange(1, 20) / 20, label)
    x = ctx.cast(p if ctx.impl.form == "probs" else np.log(p / (1 - p)))
    return x, p.size - 1


def entropy_floor(ctx: Context) -> dict:
    """For a soft label y the loss is smallest at p = y, where it is H(y). On a grid of p (or z):
    the implementation's loss is nowhere below H(y) by more than the policy's bound, and at the
    label's own point it is within the bound of exact, so the minimum is there up to rounding."""
    limit = ctx.limit("loss", "soft")
    figures, problems = {}, []
    for value in ENTROPY_LABELS:
        label = float(ctx.cast([value])[0])
        x, own = _grid_inputs(ctx, label)
        got = ctx.values("loss", x, label)
        errors, _ = ctx.judge(Spec("loss", ctx.impl.form), "soft", got, x, label)
        entropy = float(_reference(Spec("loss", "probs"), ctx.cast([label]), label).exact[0])
        dip = (entropy - got) / float(metrics.ulp(entropy, ctx.fmt))
        figures[f"y = {value}: loss at p = y"] = float(got[own])
        figures[f"y = {value}: H(y)"] = entropy
        if dip.max() > limit:
            k = int(np.argmax(dip))
            problems.append(f"y = {value}: loss {_g(got[k])} at x = {_g(float(x[k]))} is {dip[k]:.3g} ULPs below "
                            f"H(y) = {_g(entropy)}")
        if errors[own] > limit:
            problems.append(f"y = {value}: the loss at p = y, {_g(got[own])}, is {errors[own]:.3g} ULPs from exact")
    return _outcome(problems, figures,
                    f"the loss at p = y equals H(y) and is nowhere below it (within {limit:g} ULPs) for y in "
                    f"{', '.join(map(str, ENTROPY_LABELS))}")


def _saturation_points(fmt: Format) -> np.ndarray:
    """z = 2^k from 1 to the largest power of two in the format."""
    return as_dtype(np.ldexp(1.0, np.arange(0, fmt.emax + 1)), fmt)


def label_smoothing(ctx: Context) -> dict:
    """With the smoothed label y = 0.9 the gradient σ(z) − y tends to 1 − y = 0.1, not 0, as z grows,
    and the loss never goes below H(0.9): measured at z = 2^k up to the largest power of two and on
    the logit grid around logit(0.9)."""
    label = float(ctx.cast([0.9])[0])
    z = _saturation_points(ctx.fmt)
    grad = ctx.values("grad", z, label)
    grad_errors, grad_limit = ctx.judge(Spec("grad", "logits"), "soft", grad, z, label)
    x, _ = _grid_inputs(ctx, label)
    grid = np.concatenate([x, z])
    loss = ctx.values("loss", grid, label)
    loss_errors, loss_limit = ctx.judge(Spec("loss", "logits"), "soft", loss, grid, label)
    entropy = float(_reference(Spec("loss", "probs"), ctx.cast([label]), label).exact[0])
    figures = {"gradient at the largest z": float(grad[-1]), "1 − y": 1 - label,
               "smallest loss": float(loss.min()), "H(y)": entropy}
    problems = []
    bad = np.flatnonzero(grad_errors > grad_limit)
    if bad.size:
        problems.append(f"gradient {_g(grad[bad[0]])} at z = {_g(float(z[bad[0]]))}, {grad_errors[bad[0]]:.3g} ULPs "
                        f"from σ(z) − y")
    below = np.flatnonzero(loss < entropy - loss_limit * metrics.ulp(entropy, ctx.fmt))
    if below.size:
        problems.append(f"loss {_g(loss[below[0]])} below H(y) = {_g(entropy)} at z = {_g(float(grid[below[0]]))}")
    if np.any(loss_errors > loss_limit):
        i = int(np.argmax(loss_errors))
        problems.append(f"loss at z = {_g(float(grid[i]))} is {loss_errors[i]:.3g} ULPs off")
    return _outcome(problems, figures, f"gradient → {_g(grad[-1])} = 1 − y at z = {_g(float(z[-1]))}; smallest loss "
                       f"{_g(loss.min())} ≥ H(y) = {_g(entropy)}")


def kl_identity(ctx: Context) -> dict:
    """L(p, y) = H(y) + KL(y‖p) with KL >= 0: the implementation's loss is never below H(y) beyond
    its rounding bound, and equals the exact H + KL within the bound."""
    regime = "moderate" if ctx.impl.form == "logits" else "uniform"
    case = cases.make_case(ctx.impl.form, ctx.dtype, regime, "random")
    got = ctx.values("loss", case.x, case.y)
    ref = _reference(Spec("loss", ctx.impl.form), case.x, case.y)
    errors, limit = ctx.judge(Spec("loss", ctx.impl.form), "random", got, case.x, case.y, ref=ref)
    entropy = _reference(Spec("loss", "probs"), case.y, case.y)
    floor = entropy.exact + entropy.exact_lo
    below = (floor - got) / metrics.ulp(ref.exact, ctx.fmt)
    figures = {"max ULP error of H + KL": float(errors.max()), "deepest dip below H(y), ULPs": float(below.max())}
    problems = []
    if below.max() > limit:
        i = int(np.argmax(below))
        problems.append(f"loss {_g(got[i])} below H(y) = {_g(floor[i])} (KL < 0) at x = {_g(float(case.x[i]))}, "
                        f"y = {_g(float(case.y[i]))}")
    if errors.max() > limit:
        i = int(np.argmax(errors))
        problems.append(f"H + KL off by {errors[i]:.3g} ULPs at x = {_g(float(case.x[i]))}")
    return _outcome(problems, figures,
                    f"loss = H(y) + KL within {errors.max():.2g} ULPs, never below H(y) on {case.x.size} pairs")


# --- 8. saturation, smoothing, L2 ----------------------------------------------------------------

def saturation(ctx: Context) -> dict:
    """With a hard label the gradient of a confident correct prediction vanishes as z grows; with
    smoothing (ε = 0.1, y = 0.95) it tends to 0.05 and does not; on separable data the weight of
    unregularised gradient descent keeps growing (by about ln 2 per doubling of the steps), while
    with L2 (λ = 2^-6) it settles at the exact minimiser w*, within where a rounded update stalls:
    |w − w*| <= ulp(w*)·(1/(2ηH) + the gradient's bound), H the curvature at w*."""
    z = _saturation_points(ctx.fmt)
    hard = ctx.values("grad", z, 1.0)
    smooth_label = float(ctx.cast([0.95])[0])
    smooth = ctx.values("grad", z, smooth_label)
    smooth_errors, smooth_limit = ctx.judge(Spec("grad", "logits"), "soft", smooth, z, smooth_label)
    free, kept = _trained(ctx, "separable")
    regularised, _ = _trained(ctx, "separable-l2")
    growth = float(free[0]) - float(kept[256][0])
    optimum, curvature = _l2_optimum()
    unit = float(metrics.ulp(optimum, ctx.fmt))
    rate = PROBLEMS["separable-l2"](ctx.fmt).rate
    tolerance = unit * (1 / (2 * rate * curvature) + ctx.limit("grad", "hard"))  # where a rounded update stalls
    settled = abs(float(regularised[0]) - optimum)
    figures = {"hard label: |gradient| at the largest z": float(abs(hard[-1])),
               "smoothed: gradient at the largest z": float(smooth[-1]), "1 − y_ε": 1 - smooth_label,
               "no L2: w after 256 steps": float(kept[256][0]), "no L2: w after 512": float(free[0]),
               "L2: w after 512": float(regularised[0]), "L2: exact w*": optimum}
    problems = []
    if smooth_errors.max() > smooth_limit:
        i = int(np.argmax(smooth_errors))
        problems.append(f"smoothed gradient {_g(smooth[i])} at z = {_g(float(z[i]))} is {smooth_errors[i]:.3g} "
                        f"ULPs off")
    if not abs(hard[-1]) < 1 - smooth_label:
        problems.append(f"the hard-label gradient does not vanish: {_g(hard[-1])} at z = {_g(float(z[-1]))}")
    training = []
    if not growth > 0.5:  # exact arithmetic: ln 2 per doubling, 0.69 from step 256 to 512
        training.append(f"without L2 w grows by only {_g(growth)} from step 256 to 512 (exact: ≈ ln 2)")
    if not settled <= tolerance:
        training.append(f"with L2 w = {_g(float(regularised[0]))} after 512 steps, w* = {_g(optimum)}")
    if training:
        exact_free, exact_kept = _exact_training("separable", ctx.dtype)
        exact_l2, _ = _exact_training("separable-l2", ctx.dtype)
        exact_fails = (not float(exact_free[0]) - float(exact_kept[256][0]) > 0.5) or not (
            abs(float(exact_l2[0]) - optimum) <= tolerance)
        if not exact_fails or problems:
            return {"outcome": "breaks", "figures": figures, "finding": "; ".join(problems + training)}
        return {"outcome": "dtype-limit", "figures": figures,
                "finding": "; ".join(training) + " (so does exact-gradient training in this dtype)"}
    return _outcome(problems, figures,
                    f"hard |gradient| → {_g(abs(hard[-1]))}, smoothed → {_g(smooth[-1])}; no L2: w grows "
                    f"{_g(float(kept[256][0]))} → {_g(float(free[0]))}; L2: w = {_g(float(regularised[0]))} "
                    f"(w* = {_g(optimum)})")


@cache
def _l2_optimum() -> tuple[float, float]:
    """(w*, the objective's curvature there) for the separable problem with L2: the root of
    mean((σ(wx) − y)x) + λw, by mpmath at 100 bits."""
    xs, ys = (-2, -1, 1, 2), (0, 0, 1, 1)
    with mpmath.workprec(100):
        gradient = lambda w: mpmath.fsum((1 / (1 + mpmath.exp(-w * x)) - y) * x  # noqa: E731
                                         for x, y in zip(xs, ys, strict=True)) / 4 + L2 * w
        curvature = lambda w: mpmath.fsum(x * x / (2 + 2 * mpmath.cosh(w * x)) for x in xs) / 4 + L2  # noqa: E731
        root = mpmath.findroot(gradient, 2.5)
        return float(root), float(curvature(root))


# --- 9. focal loss ---------------------------------------------------------------------------------

def focal(ctx: Context) -> dict:
    """The focal factor shrinks the loss: FL_γ=2 <= FL_γ=0 everywhere and <= 0.01·BCE for easy
    examples (p_t >= 0.9); FL_γ=0 is BCE (against the oracle); the gradient of the implementation's
    own focal loss stays finite at saturated inputs (|z| past ln(max) and the largest finite)."""
    two = ctx.impl.with_parameters(gamma=2.0, alpha=None)
    zero = ctx.impl.with_parameters(gamma=0.0, alpha=None)
    case = cases.make_case("logits", ctx.dtype, "moderate", "hard")
    fl2 = ctx.values("loss", case.x, case.y, two)
    fl0 = ctx.values("loss", case.x, case.y, zero)
    bce = _reference(Spec("loss", "logits"), case.x, case.y)
    bce_errors, limit = ctx.judge(Spec("loss", "logits"), "hard", fl0, case.x, case.y, ref=bce)
    z, y = case.x.astype(np.float64), case.y.astype(np.float64)
    p_t = np.where(y == 1, 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(z)))
    easy = p_t >= 0.9
    fl2_exact = _reference(Spec("loss", "logits", gamma=2.0), case.x, case.y).exact
    unit = metrics.ulp(fl2_exact, ctx.fmt)
    not_shrunk = np.flatnonzero(fl2 > fl0 + limit * metrics.ulp(fl0, ctx.fmt))
    easy_big = np.flatnonzero(easy & (fl2 > 0.01 * bce.exact + limit * unit))
    saturated = np.array([x for x, _ in cases.overflow_inputs(ctx.fmt)] + [ctx.fmt.max_finite, -ctx.fmt.max_finite])
    sz = ctx.cast(np.repeat(saturated, 2))
    sy = ctx.cast(np.tile([0.0, 1.0], saturated.size))
    grads = ctx.values("grad", sz, sy)
    infinite = np.flatnonzero(~np.isfinite(grads))
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.median(fl2[easy] / fl0[easy]) if easy.any() else math.nan
    figures = {"γ = 0 against BCE, max ULP error": float(bce_errors.max()),
               "median FL/BCE for easy examples": float(shrink), "non-finite saturated gradients": int(infinite.size)}
    problems = []
    if bce_errors.max() > limit:
        i = int(np.argmax(bce_errors))
        problems.append(f"γ = 0 is not BCE: {bce_errors[i]:.3g} ULPs at z = {_g(z[i])}")
    if not_shrunk.size:
        i = not_shrunk[0]
        problems.append(f"FL_γ=2 = {_g(fl2[i])} > FL_γ=0 = {_g(fl0[i])} at z = {_g(z[i])}")
    if easy_big.size:
        i = easy_big[0]
        problems.append(f"an easy example keeps {_g(fl2[i] / bce.exact[i])} of its loss at z = {_g(z[i])}")
    if infinite.size:
        i = infinite[0]
        problems.append(f"{infinite.size} of {sz.size} saturated gradients are not finite ({_g(grads[i])} at "
                        f"z = {_g(float(sz[i]))}, y = {float(sy[i]):g})")
    return _outcome(problems, figures, f"easy examples keep {_g(shrink)} of their loss (median); γ = 0 is BCE within "
                       f"{bce_errors.max():.2g} ULPs; saturated gradients finite")


CLAIMS = (
    Claim(1, "nll", "BCE is the negative log-likelihood: −ln p for y = 1, −ln(1 − p) for y = 0",
          "loss-forms", ("probs", "logits"), "bce", "loss", "hard", nll),
    Claim(2, "sgd-step", "For logistic regression the SGD update w ← w − η(ŷ − y)x is autodiff's gradient step",
          "sgd-step", ("logits",), "bce", "grad", "hard", sgd_step),
    Claim(3, "zero-gradient", "Hinge gives confident correct examples zero gradient; BCE's p − y is never 0 for "
          "finite z", "hinge-contrast", ("logits",), "bce", "grad", "hard", zero_gradient),
    Claim(4, "convexity", "BCE is convex in z and its gradient 1/4-Lipschitz: the Hessian lies in (0, 1/4], "
          "largest at z = 0", "hessian-maximum", ("logits",), "bce", "hess", "random", convexity),
    Claim(5, "xor", "A linear model cannot beat ln 2 on XOR; with the feature x₁x₂ the loss goes to 0",
          "xor", ("logits",), "bce", "loss", "hard", xor),
    Claim(6, "entropy-floor", "For a soft label y the smallest loss over p is H(y), at p = y",
          "entropy-floor", ("probs", "logits"), "bce", "loss", "soft", entropy_floor),
    Claim(7, "label-smoothing", "With y = 0.9 the gradient at saturation tends to 0.1, not 0, and the smallest "
          "loss is H(0.9), not 0", "label-smoothing", ("logits",), "bce", "grad", "soft", label_smoothing),
    Claim(8, "saturation", "The hard-label gradient vanishes as z grows, the smoothed one does not; L2 keeps the "
          "weights bounded on separable data, without it they grow", "grad-logits", ("logits",), "bce", "grad",
          "hard", saturation),
    Claim(9, "focal", "The focal factor (1 − p_t)^γ shrinks easy examples' loss; γ = 0 is BCE; gradients stay "
          "finite when saturated", "focal", ("logits",), "focal", "loss", "hard", focal),
    Claim(10, "kl-identity", "BCE = H(y) + KL(y‖p), and KL >= 0", "kl-identity", ("probs", "logits"), "bce",
          "loss", "random", kl_identity),
)
BY_SLUG = {claim.slug: claim for claim in CLAIMS}


def applicable(impl: Implementation) -> list[Claim]:
    """The claims an implementation is measured on: the BCE claims for a plain elementwise BCE of
    the claim's form, the focal claim for a focal loss that can be rebuilt with other γ."""
    if impl.reduction != "none" or not impl.derivatives:
        return []
    if impl.oracle.get("gamma") is not None:
        return [c for c in CLAIMS if c.family == "focal" and impl.with_parameters is not None]
    if impl.oracle:
        return []
    return [c for c in CLAIMS if c.family == "bce" and impl.form in c.forms]


def identity(claim: Claim) -> dict:
    """What a record says about its claim."""
    return {"number": claim.number, "slug": claim.slug, "title": claim.title, "derive": claim.derive}


def identity_from_task_id(task_id: str) -> dict | None:
    """The claim a task id names (its last part is slug-labels), for a record made without running it."""
    last = task_id.rsplit("/", 1)[-1]
    return next((identity(c) for c in CLAIMS if last == f"{c.slug}-{c.labels}"), None)


def run_claim(adapter: Adapter, impl: Implementation, device: str, task: dict, policy: Policy) -> dict:
    """Measure one claim; the record carries the claim, its outcome, figures and a one-line finding."""
    claim = BY_SLUG[task["regime"]]
    record = {k: task[k] for k in task if k != "kind"}
    record["claim"] = identity(claim)
    start = time.perf_counter()
    try:
        result = claim.measure(Context(adapter, impl, device, task["dtype"], policy))
    except Unsupported as error:
        record.update(verdict="unsupported", message=str(error))
    except Exception as error:  # a crash is a finding, and the run goes on
        first_line = str(error).splitlines()[0] if str(error) else ""
        record.update(verdict="crashed", message=f"{type(error).__name__}: {first_line}")
    else:
        record.update(outcome=result["outcome"], figures=result["figures"], message=result["finding"],
                      verdict="fail" if result["outcome"] == "breaks" else "pass")
        if "input" in result:  # the first input where an elementwise claim breaks: what a reproducer runs
            record["input"] = result["input"]
    record["seconds"] = round(time.perf_counter() - start, 4)
    return record
