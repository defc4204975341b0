"""The claims measured on the loss and its derivatives at chosen inputs: the negative
log-likelihood, the never-zero gradient, convexity, the entropy floor, label smoothing, the KL
identity and the focal loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bcebench.reference import metrics
from bcebench.reference.exact import Spec
from bcebench.reference.formats import Format, as_dtype, bits_of, from_bits, round_float64
from bcebench.suite.checks import cases
from bcebench.suite.checks.claim_context import Context, claim_reference, outcome, short
from bcebench.suite.checks.judge import element

SEARCH_POINTS = 4096  # points per refinement level when searching for the first zero gradient


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
            worst = f"y = {label:g}, x = {float(x[i])!r}: {short(got[i])}, {errors[i]:.3g} ULPs off"
            breaking = {"x": element(x, i), "y": element(ctx.cast([label]), 0)}
    term = "σ(z)" if ctx.impl.form == "logits" else "p"
    if worst:
        return {"outcome": "breaks", "figures": figures, "finding": f"not −ln {term} within {limit:g} ULPs: {worst}",
                "input": breaking}
    return {"outcome": "holds", "figures": figures,
            "finding": f"−ln {term} and −ln(1 − {term}) within {max(figures.values()):.2g} ULPs on {x.size} inputs, "
                       f"{'z' if ctx.impl.form == 'logits' else 'p'} from {short(float(np.min(x.astype(np.float64))))} "
                       f"to {short(float(np.max(x.astype(np.float64))))}"}


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


def _underflow_point(ctx: Context, label: float, sign: float) -> float | None:
    """The smallest |z| >= 1 at which the correctly rounded gradient, as the platform returns it, is
    0, by bisection on bit patterns: the exact σ(−|z|) falls monotonically, so its rounding is 0
    from one point on (and below the smallest normal from an earlier one, where the platform flushes)."""
    fmt = ctx.fmt
    lo, _, sign_bit = _patterns(fmt, sign)
    spec = Spec("grad", "logits")
    # σ(−z) < e^−z is below half the smallest subnormal, 2^(q−1), once z > (1 − q)·ln 2: start there
    hi = int(bits_of(as_dtype(round_float64([(2 - fmt.quantum_min) * math.log(2)], fmt), fmt))[0])

    def zero(pattern: int) -> bool:
        z = _values_at([pattern], sign_bit, fmt)
        return float(ctx.as_returned(claim_reference(spec, z, label).rounded)[0]) == 0

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
    underflows to 0 (or, on a platform that flushes subnormals, leaves the normal range)."""
    figures, broken = {}, []
    exact = "the correctly rounded gradient" + (" (flushed below the smallest normal, as the platform flushes)"
                                                 if "flushed-subnormal" in ctx.platform else "")
    for label, sign in ((1.0, 1.0), (0.0, -1.0)):
        def framework(z, label=label):
            return ctx.values("grad", z, label) == 0

        got, floor = _first_zero(framework, ctx.fmt, sign), _underflow_point(ctx, label, sign)
        side = f"y = {label:g}"
        figures[f"{side}: gradient 0 from z ="] = got
        figures[f"{side}: correctly rounded 0 from z ="] = floor
        if got is not None and (floor is None or abs(got) < abs(floor)):
            broken.append(f"{side}: exactly 0 from z = {short(got)}, where {exact} is 0 only from "
                          f"z = {short(floor) if floor is not None else 'nowhere'}")
    if broken:
        return {"outcome": "breaks", "figures": figures, "finding": "; ".join(broken)}
    floors = [abs(v) for k, v in figures.items() if "rounded" in k and v is not None]
    return {"outcome": "dtype-limit", "figures": figures,
            "finding": f"never 0 before the dtype's own underflow: {exact} is 0 only "
                       f"from |z| = {short(min(floors))}" if floors else "never 0"}


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
    rounded = claim_reference(Spec("hess", "logits"), x, labels).rounded.astype(np.float64)
    at_zero = float(hess[-1])
    lost = np.flatnonzero((hess == 0) & (ctx.as_returned(rounded) > 0))
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
        problems.append(f"Hessian {short(hess[outside[0]])} at z = {short(float(x[outside[0]]))}, outside [0, 1/4] "
                        "by more "
                        f"than {limit:g} ULPs")
    if at_zero != 0.25:
        problems.append(f"Hessian at z = 0 is {short(at_zero)}, not 1/4")
    if lost.size:
        first = lost[np.argmin(np.abs(x[lost].astype(np.float64)))]
        problems.append(f"Hessian exactly 0 at {lost.size} inputs where σ(1 − σ) is not (from |z| = "
                        f"{short(abs(float(x[first])))}, exact {short(rounded[first])})")
    if violations.size:
        i = violations[0]
        problems.append(f"L((a + b)/2) = {short(lm[i])} > (L(a) + L(b))/2 = {short((la[i] + lb[i]) / 2)} at a = "
                        f"{short(float(a[i]))}, b = {short(float(b[i]))}")
    result = outcome(problems, figures,
                     f"Hessian in [0, {short(np.nanmax(hess))}], 1/4 at z = 0; midpoint convexity on 1024 pairs")
    if lost.size:  # the first input where the Hessian is 0 and should not be: what a reproducer runs
        result["input"] = {"x": element(x, first), "y": element(labels, first)}
    return result


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
        entropy = float(claim_reference(Spec("loss", "probs"), ctx.cast([label]), label).exact[0])
        dip = (entropy - got) / float(metrics.ulp(entropy, ctx.fmt))
        figures[f"y = {value}: loss at p = y"] = float(got[own])
        figures[f"y = {value}: H(y)"] = entropy
        if dip.max() > limit:
            k = int(np.argmax(dip))
            problems.append(f"y = {value}: loss {short(got[k])} at x = {short(float(x[k]))} is {dip[k]:.3g} ULPs below "
                            f"H(y) = {short(entropy)}")
        if errors[own] > limit:
            problems.append(f"y = {value}: the loss at p = y, {short(got[own])}, is {errors[own]:.3g} ULPs from exact")
    return outcome(problems, figures,
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
    entropy = float(claim_reference(Spec("loss", "probs"), ctx.cast([label]), label).exact[0])
    figures = {"gradient at the largest z": float(grad[-1]), "1 − y": 1 - label,
               "smallest loss": float(loss.min()), "H(y)": entropy}
    problems = []
    bad = np.flatnonzero(grad_errors > grad_limit)
    if bad.size:
        problems.append(f"gradient {short(grad[bad[0]])} at z = {short(float(z[bad[0]]))}, "
                        f"{grad_errors[bad[0]]:.3g} ULPs "
                        f"from σ(z) − y")
    below = np.flatnonzero(loss < entropy - loss_limit * metrics.ulp(entropy, ctx.fmt))
    if below.size:
        problems.append(f"loss {short(loss[below[0]])} below H(y) = {short(entropy)} "
                        f"at z = {short(float(grid[below[0]]))}")
    if np.any(loss_errors > loss_limit):
        i = int(np.argmax(loss_errors))
        problems.append(f"loss at z = {short(float(grid[i]))} is {loss_errors[i]:.3g} ULPs off")
    return outcome(problems, figures,
                   f"gradient → {short(grad[-1])} = 1 − y at z = {short(float(z[-1]))}; smallest loss "
                       f"{short(loss.min())} ≥ H(y) = {short(entropy)}")


def kl_identity(ctx: Context) -> dict:
    """L(p, y) = H(y) + KL(y‖p) with KL >= 0: the implementation's loss is never below H(y) beyond
    its rounding bound, and equals the exact H + KL within the bound."""
    regime = "moderate" if ctx.impl.form == "logits" else "uniform"
    case = cases.make_case(ctx.impl.form, ctx.dtype, regime, "random")
    got = ctx.values("loss", case.x, case.y)
    ref = claim_reference(Spec("loss", ctx.impl.form), case.x, case.y)
    errors, limit = ctx.judge(Spec("loss", ctx.impl.form), "random", got, case.x, case.y, ref=ref)
    entropy = claim_reference(Spec("loss", "probs"), case.y, case.y)
    floor = entropy.exact + entropy.exact_lo
    below = (floor - got) / metrics.ulp(ref.exact, ctx.fmt)
    figures = {"max ULP error of H + KL": float(errors.max()), "deepest dip below H(y), ULPs": float(below.max())}
    problems = []
    if below.max() > limit:
        i = int(np.argmax(below))
        problems.append(f"loss {short(got[i])} below H(y) = {short(floor[i])} (KL < 0) "
                        f"at x = {short(float(case.x[i]))}, "
                        f"y = {short(float(case.y[i]))}")
    if errors.max() > limit:
        i = int(np.argmax(errors))
        problems.append(f"H + KL off by {errors[i]:.3g} ULPs at x = {short(float(case.x[i]))}")
    return outcome(problems, figures,
                    f"loss = H(y) + KL within {errors.max():.2g} ULPs, never below H(y) on {case.x.size} pairs")


def focal(ctx: Context) -> dict:
    """The focal factor shrinks the loss: FL_γ=2 <= FL_γ=0 everywhere and <= 0.01·BCE for easy
    examples (p_t >= 0.9); FL_γ=0 is BCE (against the oracle); the gradient of the implementation's
    own focal loss stays finite at saturated inputs (|z| past ln(max) and the largest finite)."""
    two = ctx.impl.with_parameters(gamma=2.0, alpha=None)
    zero = ctx.impl.with_parameters(gamma=0.0, alpha=None)
    case = cases.make_case("logits", ctx.dtype, "moderate", "hard")
    fl2 = ctx.values("loss", case.x, case.y, two)
    fl0 = ctx.values("loss", case.x, case.y, zero)
    bce = claim_reference(Spec("loss", "logits"), case.x, case.y)
    bce_errors, limit = ctx.judge(Spec("loss", "logits"), "hard", fl0, case.x, case.y, ref=bce)
    z, y = case.x.astype(np.float64), case.y.astype(np.float64)
    p_t = np.where(y == 1, 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(z)))
    easy = p_t >= 0.9
    fl2_exact = claim_reference(Spec("loss", "logits", gamma=2.0), case.x, case.y).exact
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
        problems.append(f"γ = 0 is not BCE: {bce_errors[i]:.3g} ULPs at z = {short(z[i])}")
    if not_shrunk.size:
        i = not_shrunk[0]
        problems.append(f"FL_γ=2 = {short(fl2[i])} > FL_γ=0 = {short(fl0[i])} at z = {short(z[i])}")
    if easy_big.size:
        i = easy_big[0]
        problems.append(f"an easy example keeps {short(fl2[i] / bce.exact[i])} of its loss at z = {short(z[i])}")
    if infinite.size:
        i = infinite[0]
        problems.append(f"{infinite.size} of {sz.size} saturated gradients are not finite ({short(grads[i])} at "
                        f"z = {short(float(sz[i]))}, y = {float(sy[i]):g})")
    return outcome(problems, figures, f"easy examples keep {short(shrink)} of their loss (median); γ = 0 is BCE within "
                       f"{bce_errors.max():.2g} ULPs; saturated gradients finite")
