"""NumPy: no built-in BCE, so two written out, each with its gradient and Hessian in closed form.

- ``numpy.textbook_probs``: −[y ln p + (1 − y) ln(1 − p)] exactly as written, the baseline that
  most hand-written code follows. Reported with its verdicts, never gating.
- ``numpy.stable_logits``: the careful logit form, every term non-negative so nothing cancels:
  (1 − y)·z for z > 0 or −y·z for z <= 0 (a zero weight times an infinite z counts as 0), plus
  log1p(e^−|z|); gradient (1 − y)σ(z) − yσ(−z), Hessian σ(z)σ(−z), with σ(±z) from one
  e = e^−|z| as 1/(1 + e) and e/(1 + e), so that nothing overflows and 1 − σ never cancels.

- ``numpy.focal_logits(alpha=0.25, gamma=2)``: the focal loss in the same stable terms,
  αy·σ(−z)^γ·softplus(−z) + (1 − α)(1 − y)·σ(z)^γ·softplus(z), with its closed-form gradient
  (``reference.derive``'s focal claim proves both); γ = 0 and no α give the BCE terms.

Everything is computed in the input's dtype (NumPy and ml_dtypes evaluate float16 and bfloat16
ufuncs through float32 and round each result), but for the focal loss in float16 and bfloat16: its
dozen roundings lose more than the strict policy's 4 ULPs there (5.07 for ∂FL/∂z at float16
z = 0x1ec6 ≈ 0.00661, y = 0), so it is computed in float32 and rounded once to the input's dtype.
A user's NumPy function carries its derivatives as ``fn.grad(x, y)`` and ``fn.hess(x, y)``;
without them those quantities are unsupported.
"""

from __future__ import annotations

import numpy as np

from bcebench.adapters import rewrites
from bcebench.adapters.base import Adapter, Implementation, Unsupported, builtin, focal_parameters

FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0


def textbook_probs(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


textbook_probs.grad = lambda p, y: (p - y) / (p * (1 - p))
textbook_probs.hess = lambda p, y: y / (p * p) + (1 - y) / ((1 - p) * (1 - p))


def _sigmoid_pair(z):
    """(σ(z), σ(−z))."""
    e = np.exp(-np.abs(z))
    big = np.ones_like(z) / (np.ones_like(z) + e)
    small = e * big
    return np.where(z >= 0, big, small), np.where(z >= 0, small, big)


def _weighted(weight, z):
    """weight·z, with 0·∞ = 0: a term whose weight is zero is absent."""
    return np.where(weight == 0, np.zeros_like(z), weight * z)


def stable_logits(z, y):
    one = np.ones_like(z)
    linear = np.where(z > 0, _weighted(one - y, z), _weighted(-y, z))
    return linear + np.log1p(np.exp(-np.abs(z)))


def _stable_grad(z, y):
    s, s_minus = _sigmoid_pair(z)
    return (np.ones_like(y) - y) * s - y * s_minus


def _stable_hess(z, y):
    s, s_minus = _sigmoid_pair(z)
    return s * s_minus


stable_logits.grad = _stable_grad
stable_logits.hess = _stable_hess


def _softplus(z):
    """ln(1 + e^z) = max(z, 0) + log1p(e^−|z|)."""
    return np.maximum(z, np.zeros_like(z)) + np.log1p(np.exp(-np.abs(z)))


def focal_logits(gamma: float, alpha: float | None):
    """The focal loss FL(z, y) = c₊σ(−z)^γ softplus(−z) + c₋σ(z)^γ softplus(z), c₊ = αy and
    c₋ = (1 − α)(1 − y) (y and 1 − y without α), with ∂FL/∂z =
    c₋σ(z)^γ(γσ(−z)softplus(z) + σ(z)) − c₊σ(−z)^γ(γσ(z)softplus(−z) + σ(−z))."""

    def weights(y):
        one = np.ones_like(y)
        if alpha is None:
            return y, one - y
        return y * y.dtype.type(alpha), (one - y) * y.dtype.type(1 - alpha)

    def loss(z, y):
        c_pos, c_neg = weights(y)
        s, s_minus = _sigmoid_pair(z)
        g = z.dtype.type(gamma)
        return _weighted(c_pos, np.power(s_minus, g) * _softplus(-z)) + _weighted(c_neg, np.power(s, g) * _softplus(z))

    def grad(z, y):
        c_pos, c_neg = weights(y)
        s, s_minus = _sigmoid_pair(z)
        g = z.dtype.type(gamma)
        # σ(−z)·softplus(z) → 0 as z → ∞ (e^−z beats z): written as 0 where σ(−z) is 0, not 0·∞
        rise = np.power(s, g) * (_weighted(g * s_minus, _softplus(z)) + s)
        fall = np.power(s_minus, g) * (_weighted(g * s, _softplus(-z)) + s_minus)
        return _weighted(c_neg, rise) - _weighted(c_pos, fall)

    loss.grad = _rounded_once(grad)
    rounded = _rounded_once(loss)
    rounded.grad = loss.grad
    return rounded


def _rounded_once(function):
    """``function`` of 16-bit inputs evaluated in float32 and rounded once to their dtype."""

    def evaluate(z, y):
        if z.dtype.itemsize != 2:
            return function(z, y)
        return function(z.astype(np.float32), y.astype(np.float32)).astype(z.dtype)

    return evaluate


ELEMENTARY_BLOCK = 1 << 14  # elements per block of the compute wall: 32-128 KiB, inside L2


class NumpyAdapter(Adapter):
    name = "numpy"

    def version(self) -> str:
        return np.__version__

    def implementations(self) -> list[Implementation]:
        return [
            builtin("numpy.textbook_probs", "numpy", "probs", textbook_probs, gating=False),
            builtin("numpy.stable_logits", "numpy", "logits", stable_logits),
            self.focal(FOCAL_GAMMA, FOCAL_ALPHA),
        ]

    def focal(self, gamma: float, alpha: float | None) -> Implementation:
        name = f"numpy.focal_logits(alpha={alpha}, gamma={gamma:g})"
        oracle = focal_parameters(gamma, alpha)
        return builtin(name, "numpy", "logits", focal_logits(gamma, alpha), parameters=oracle,
                       with_parameters=self.focal)

    def rewrites(self) -> list[Implementation]:
        """The rewrites in NumPy, the logit form with the closed-form derivatives of stable_logits."""
        logits, probs, focal = rewrites.implementations(self.name, np)
        logits.call.grad, logits.call.hess = _stable_grad, _stable_hess
        return [logits, probs, focal]

    def from_numpy(self, array: np.ndarray, device: str):
        return array.copy()

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value)

    def elementary(self, x, device: str):
        """In blocks that stay in the cache: NumPy has no fusion, and three whole-array passes
        would time the memory three times over, not the arithmetic."""
        out = np.empty_like(x)
        block = ELEMENTARY_BLOCK

        def core():
            for start in range(0, x.size, block):
                part = out[start : start + block]
                np.abs(x[start : start + block], out=part)
                np.negative(part, out=part)
                np.exp(part, out=part)
                np.log1p(part, out=part)
            return out

        return core

    def copy(self, x, device: str):
        out = np.empty_like(x)
        return lambda: np.copyto(out, x)

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        grad = getattr(impl.call, "grad", None)
        if mode in ("backward", "forward+backward") and grad is None:
            raise Unsupported(f"{impl.id} gives no gradient (fn.grad)")
        calls = {
            "forward": lambda: impl.call(x, y),
            "forward-mean": lambda: impl.call(x, y).mean(),
            "backward": lambda: grad(x, y),
            "forward+backward": lambda: (impl.call(x, y), grad(x, y)),
        }
        return calls[mode]

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        function = impl.call if quantity == "loss" else getattr(impl.call, quantity, None)
        if function is None:
            raise Unsupported(f"{impl.id} gives no {quantity} (a NumPy function carries fn.{quantity})")
        with np.errstate(all="ignore"):
            return function(x, y)
