"""Any Array API library, by its namespace module (``bcebench check --array-api MODULE``; the
framework is named ``array-api:MODULE``).

The standard has no BCE and no autodiff, so the implementations are BCE written in the standard's
functions alone, with their derivatives in closed form; what is measured is the library's exp,
log, log1p and arithmetic under the same formulas:

- ``logit form``: (1 − y)·z for z > 0 or −y·z otherwise (a zero weight times an infinite z counts
  as 0), plus log1p(e^−|z|); gradient (1 − y)σ(z) − yσ(−z) and Hessian σ(z)σ(−z), with σ(±z) from
  one e = e^−|z| as 1/(1 + e) and e/(1 + e).
- ``probability form``: −[y·log p + (1 − y)·log1p(−p)] (0·log 0 = 0); gradient (p − y)/(p(1 − p)),
  or −y/p + (1 − y)/(1 − p) at p = 0 and 1; Hessian y/p/p + (1 − y)/(1 − p)/(1 − p), a term with
  a zero label left out (divided twice: p·p would underflow first).

Nothing here names a library: arrays cross from NumPy with ``asarray`` and back with DLPack, the
dtypes are the namespace's real floating types among float16, bfloat16, float32 and float64 (the
standard has float32 and float64), and the device is the namespace's default.
"""

from __future__ import annotations

import importlib

import numpy as np

from bcebench.adapters.base import DTYPES, Adapter, Implementation, Unsupported, builtin

PREFIX = "array-api:"


def _weighted(xp, weight, value):
    """weight·value, with 0·∞ = 0: a term whose weight is zero is absent (0·NaN stays NaN)."""
    return xp.where((weight == 0) & xp.isinf(value), xp.zeros_like(value), weight * value)


def _sigmoid_pair(xp, z):
    e = xp.exp(-xp.abs(z))
    big = 1 / (1 + e)
    small = e * big
    return xp.where(z >= 0, big, small), xp.where(z >= 0, small, big)


def logit_form(xp):
    def loss(z, y):
        linear = xp.where(z > 0, _weighted(xp, 1 - y, z), _weighted(xp, -y, z))
        return linear + xp.log1p(xp.exp(-xp.abs(z)))

    def grad(z, y):
        s, s_minus = _sigmoid_pair(xp, z)
        return (1 - y) * s - y * s_minus

    def hess(z, y):
        s, s_minus = _sigmoid_pair(xp, z)
        return s * s_minus

    loss.grad, loss.hess = grad, hess
    return loss


def probability_form(xp):
    def loss(p, y):
        return -(_weighted(xp, y, xp.log(p)) + _weighted(xp, 1 - y, xp.log1p(-p)))

    def grad(p, y):
        q = 1 - p
        inside = (p * q) != 0
        return xp.where(inside, (p - y) / (p * q), _weighted(xp, -y, 1 / p) + _weighted(xp, 1 - y, 1 / q))

    def hess(p, y):
        q = 1 - p
        zero = xp.zeros_like(p)
        return xp.where(y == 0, zero, y / p / p) + xp.where(y == 1, zero, (1 - y) / q / q)

    loss.grad, loss.hess = grad, hess
    return loss


class ArrayApiAdapter(Adapter):
    def __init__(self, module: str) -> None:
        self.module = module
        self.name = PREFIX + module
        self.xp = importlib.import_module(module)
        if not hasattr(self.xp, "__array_api_version__"):
            raise ImportError(f"{module} is not an Array API namespace (it has no __array_api_version__)")

    def version(self) -> str:
        version = getattr(self.xp, "__version__", "") or getattr(importlib.import_module(
            self.module.split(".")[0]), "__version__", "?")
        return f"{version} (Array API {self.xp.__array_api_version__})"

    def missing_dtypes(self, device: str) -> dict[str, str]:
        return {name: f"the namespace {self.module} has no {name}" for name in DTYPES if not hasattr(self.xp, name)}

    def implementations(self) -> list[Implementation]:
        return [builtin(f"{self.module}: logit form (array API)", self.name, "logits", logit_form(self.xp)),
                builtin(f"{self.module}: probability form (array API)", self.name, "probs",
                        probability_form(self.xp))]

    def from_numpy(self, array: np.ndarray, device: str):
        return self.xp.asarray(array.copy(), dtype=getattr(self.xp, array.dtype.name))

    def to_numpy(self, value) -> np.ndarray:
        try:
            return np.from_dlpack(value).copy()
        except (BufferError, TypeError, RuntimeError):  # a dtype DLPack cannot carry to NumPy (bfloat16)
            return np.asarray(value).copy()

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        function = impl.call if quantity == "loss" else getattr(impl.call, quantity, None)
        if function is None:
            raise Unsupported(f"{impl.id} gives no {quantity}")
        with np.errstate(all="ignore"):
            return function(x, y)

    def elementary(self, x, device: str):
        raise Unsupported("the array API has no fused form: three passes over memory bound nothing")

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        calls = {
            "forward": lambda: impl.call(x, y),
            "forward-mean": lambda: self.xp.mean(impl.call(x, y)),
            "backward": lambda: impl.call.grad(x, y),
            "forward+backward": lambda: (impl.call(x, y), impl.call.grad(x, y)),
        }
        return calls[mode]
