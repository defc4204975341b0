"""Stable rewrites of BCE, as data: for each failure signature the gate reports in the frameworks'
built-ins, the formula that removes it, and the two functions (logit and probability form) that
carry those formulas, written once over an array namespace that each adapter passes in (NumPy,
``torch``, ``jax.numpy``, or TensorFlow's operations under the same names).

The rewritten loss is the sum of terms that never cancel, each dropped where its weight is 0, every
branch of a ``where`` evaluated on an input where it is finite (so that neither the loss nor its
autodiff meets 0·∞):

    logits: (1 − y)·z for z > 0, −y·z for z <= 0, plus log1p(e^−z) for z > 0 and log1p(e^z) for z <= 0
    probs:  −y·ln p − (1 − y)·log1p(−p), and NaN for p outside [0, 1]
    focal:  α·y·σ(−z)^γ·softplus(−z) + (1 − α)(1 − y)·σ(z)^γ·softplus(z), with σ(∓z)^γ = e^(−γ·softplus(±z))
            (the focal loss in logits, for soft labels too: no 1 − p_t to cancel), α·y·|z| and
            (1 − α)(1 − y)·z, its asymptotes, at z = −∞ and +∞

The frameworks' autodiff of the logit form gives −σ(−z) + (1 − y) for z > 0 and σ(z) − y for
z <= 0, each σ as e^−|z|/(1 + e^−|z|) (no 1 − σ), and its Hessian σ(z)σ(−z) likewise: the
gradient and Hessian rewrites below come from the same function. The focal loss's gradient by the
product rule is two terms of one sign per label (−αγσ(z)·σ(−z)^γ·softplus(−z) − α·σ(−z)^(γ+1) for
y = 1), nothing subtracted; at z = ±∞ the asymptote's slope, its limit, where the product rule would
meet 0·∞. ``bcebench sweep --compare-with
rewrite`` sweeps a built-in and its rewrite over the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bcebench.adapters.base import Implementation, builtin

IDS = {"logits": "rewrite(logits)", "probs": "rewrite(probs)", "focal": "rewrite(focal, alpha=0.25, gamma=2)"}
FOCAL = {"gamma": 2.0, "alpha": 0.25}  # the focal loss the built-ins are called with


@dataclass(frozen=True)
class Rewrite:
    """The rewrite for one failure signature of one quantity: what the built-ins compute, and what
    removes the fault."""

    signature: str
    quantity: str
    form: str
    replaces: str
    formula: str


REWRITES = (
    Rewrite("lost-tail", "loss", "logits", "m + log(e^−m + e^(−z−m)), m = max(−z, 0) (PyTorch), log(1 + e^−|z|)",
            "log1p(e^−|z|)"),
    Rewrite("inaccurate", "loss", "logits", "(1 − y)z + max(−z, 0) + …: −yz formed by cancellation",
            "(1 − y)·z for z > 0, −y·z for z <= 0: terms that never cancel"),
    Rewrite("nan", "loss", "logits", "(1 − y)·z and y·z at z = ±∞ with the weight 0: 0·∞",
            "the term dropped where its weight is 0"),
    Rewrite("lost-tail", "grad", "logits", "σ(z) − y: 1 − σ(−z) − 1 cancels for y = 1", "(1 − y)σ(z) − yσ(−z)"),
    Rewrite("clamped", "grad", "logits", "σ(z) − y rounded near ±1", "(1 − y)σ(z) − yσ(−z)"),
    Rewrite("lost-tail", "hess", "logits", "σ(z)(1 − σ(z)): 1 − σ cancels", "σ(z)σ(−z) = e^−|z|/(1 + e^−|z|)²"),
    Rewrite("clamped", "loss", "probs", "−(y·max(ln p, −100) + (1 − y)·max(ln(1 − p), −100))",
            "−y·ln p − (1 − y)·log1p(−p), no clamp"),
    Rewrite("lost-tail", "loss", "probs", "ln(1 − p): 1 − p rounds for tiny p", "log1p(−p)"),
    Rewrite("nan", "loss", "probs", "0·ln 0 at p = 0 or 1 with the weight 0", "the term dropped where its weight is 0"),
)
# The focal loss's faults (its 1 − p_t, its BCE's) all go with one formula, in the logits; both weights 1
# for a focal loss without α.
FOCAL_SIGNATURES = ("lost-tail", "inaccurate", "clamped", "nan", "flushed-subnormal")
FOCAL_REPLACES = "α_t·(1 − p_t)^γ·BCE(z, y) with p_t = p·y + (1 − p)(1 − y) from a rounded p = σ(z)"
FOCAL_FORMULA = "α·y·e^(−γ·softplus(z))·softplus(−z) + (1 − α)(1 − y)·e^(−γ·softplus(−z))·softplus(z)"


def for_failure(signature: str, quantity: str, form: str, family: str = "bce") -> Rewrite | None:
    """The rewrite that removes ``signature`` in ``quantity`` of the ``form`` (of a focal loss: the
    focal rewrite, for its loss and gradient), if one is listed."""
    if family == "focal":
        if signature in FOCAL_SIGNATURES and quantity in ("loss", "grad"):
            return Rewrite(signature, quantity, form, FOCAL_REPLACES, FOCAL_FORMULA)
        return None
    return next((r for r in REWRITES if (r.signature, r.quantity, r.form) == (signature, quantity, form)), None)


def careful_logits(xp):
    """The logit form's rewrite over the namespace ``xp``."""

    def loss(z, y):
        zero, positive, up, down = _branches(xp, z)
        linear = xp.where(positive, xp.where(y == 1, zero, (1 - y) * up), xp.where(y == 0, zero, -y * down))
        return linear + xp.where(positive, xp.log1p(xp.exp(-up)), xp.log1p(xp.exp(down)))

    return loss


def _softplus(xp, v):
    """log(1 + e^v) for finite v, each branch on an input where it is finite: v + log1p(e^−v) for
    v > 0, log1p(e^v) otherwise, so that its derivative is 1 − σ(−v) ≥ 1/2 or σ(v), never a cancellation."""
    _, positive, up, down = _branches(xp, v)
    return xp.where(positive, up + xp.log1p(xp.exp(-up)), xp.log1p(xp.exp(down)))


def _branches(xp, v):
    """(zeros, v > 0, v where v > 0 else 0, 0 where v > 0 else v): each branch of a ``where`` on v
    gets an input where it is finite, so that neither its value nor its derivative meets 0·∞."""
    zero = xp.zeros_like(v)
    positive = v > 0
    return zero, positive, xp.where(positive, v, zero), xp.where(positive, zero, v)


def _modulating(xp, gamma: float, softplus):
    """σ(∓z)^γ = e^(−γ·softplus(±z)), exactly 1 where that softplus is 0 (e^(∓z) below the smallest
    subnormal): there its derivative, γ·σ(∓z)·…, is below half an ULP of the gradient, and autodiff would
    multiply the other factor's cotangent (about the loss, up to the largest finite) by γ before it
    meets that 0 factor: ∞·0, NaN."""
    return xp.where(softplus == 0, xp.ones_like(softplus), xp.exp(-gamma * softplus))


def careful_focal(xp, gamma: float, alpha: float):
    """The focal loss's rewrite over the namespace ``xp`` (which has ``isinf``)."""

    def loss(z, y):
        zero = xp.zeros_like(z)
        infinite = xp.isinf(z)
        finite = xp.where(infinite, zero, z)  # the formula's input: finite everywhere
        below, above = _softplus(xp, finite), _softplus(xp, -finite)  # softplus(z), softplus(−z)
        positive = xp.where(y == 0, zero, alpha * y * _modulating(xp, gamma, below) * above)
        negative = xp.where(y == 1, zero, (1 - alpha) * (1 - y) * _modulating(xp, gamma, above) * below)
        limit = (xp.where(y == 0, zero, alpha * y * xp.where(z < 0, -z, zero))
                 + xp.where(y == 1, zero, (1 - alpha) * (1 - y) * xp.where(z > 0, z, zero)))
        return xp.where(infinite, limit, positive + negative)

    return loss


def careful_probs(xp):
    """The probability form's rewrite over the namespace ``xp``."""

    def loss(p, y):
        zero, one = xp.zeros_like(p), xp.ones_like(p)
        at_log, at_log1p = xp.where(y == 0, one, p), xp.where(y == 1, zero, p)  # finite where dropped
        loss = (xp.where(y == 0, zero, -y * xp.log(at_log))
                + xp.where(y == 1, zero, -(1 - y) * xp.log1p(-at_log1p)))
        return xp.where((p >= 0) & (p <= 1), loss, zero / zero)  # NaN for p outside [0, 1]

    return loss


def implementations(framework: str, xp) -> list[Implementation]:
    """The three rewrites in ``framework``, as implementations the sweeps and the bench can run."""
    return [builtin(IDS["logits"], framework, "logits", careful_logits(xp)),
            builtin(IDS["probs"], framework, "probs", careful_probs(xp)),
            builtin(IDS["focal"], framework, "logits", careful_focal(xp, FOCAL["gamma"], FOCAL["alpha"]),
                    parameters=FOCAL)]
