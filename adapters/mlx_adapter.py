"""MLX: ``mlx.nn.losses.binary_cross_entropy`` as MLX declares it (mlx/nn/losses.py): logits by
default (``with_logits=True``), the mean by default, inputs and targets of one shape (a target that
would broadcast is refused); with logits it computes logaddexp(0, z) − z·t, with probabilities
−[t·max(log p, −100) + (1 − t)·max(log(1 − p), −100)]. Checked as it is called by default (logits,
mean), elementwise in both forms, and ``mx.compile`` of the logit form (MLX fuses a compiled graph's
elementwise operations into one kernel).

MLX evaluates lazily: every result is evaluated before it is read or timed. Gradients and Hessians
come from ``mx.grad`` of the summed loss and of that again. bfloat16 crosses to and from NumPy as
its 16-bit pattern; float64 is asked for by name (``mx.array`` makes a NumPy float64 array
float32). Devices: MLX's CPU and, where it has one (Metal, or CUDA with the mlx-cuda package), its
GPU, which has no float64.
"""

from __future__ import annotations

import ml_dtypes
import mlx.core as mx
import mlx.nn
import numpy as np

from bcebench.adapters.base import Adapter, Implementation, Unsupported, builtin

LOSS = "mlx.nn.losses.binary_cross_entropy"


def _elementwise(with_logits: bool):
    return lambda x, y: mlx.nn.losses.binary_cross_entropy(x, y, with_logits=with_logits, reduction="none")


class MlxAdapter(Adapter):
    name = "mlx"
    gpu_device = "gpu"

    def __init__(self) -> None:
        self._derivatives: dict = {}

    def version(self) -> str:
        return mx.__version__

    def devices(self) -> list[str]:
        return ["cpu"] + (["gpu"] if mx.is_available(mx.gpu) else [])

    def missing_dtypes(self, device: str) -> dict[str, str]:
        return {} if device == "cpu" else {"float64": "MLX's GPU has no float64"}

    def implementations(self) -> list[Implementation]:
        logits = _elementwise(True)
        return [
            builtin(f"{LOSS}(with_logits=True, reduction=none)", "mlx", "logits", logits),
            builtin(f"{LOSS}(with_logits=False, reduction=none)", "mlx", "probs", _elementwise(False)),
            builtin(f"{LOSS}()[mean]", "mlx", "logits", mlx.nn.losses.binary_cross_entropy, reduction="mean"),
            builtin(f"mx.compile({LOSS}(with_logits=True, reduction=none))", "mlx", "logits", mx.compile(logits)),
        ]

    def _device(self, device: str):
        return mx.cpu if device == "cpu" else mx.gpu

    def from_numpy(self, array: np.ndarray, device: str):
        with mx.stream(self._device(device)):
            if array.dtype == ml_dtypes.bfloat16:
                return mx.array(array.view(np.uint16)).view(mx.bfloat16)
            return mx.array(array, dtype=getattr(mx, array.dtype.name))  # by default float64 would become float32

    def to_numpy(self, value) -> np.ndarray:
        if value.dtype == mx.bfloat16:
            return np.array(value.view(mx.uint16)).view(ml_dtypes.bfloat16)
        return np.array(value)

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        with mx.stream(self._device(device)):
            out = impl.call(x, y) if quantity == "loss" else self._derivative(impl, quantity)(x, y)
            mx.eval(out)
            return out

    def _derivative(self, impl: Implementation, quantity: str):
        """∂/∂z of sum(loss), or ∂/∂z of the sum of that: the elementwise gradient and Hessian diagonal,
        built once per implementation."""
        key = (impl.id, quantity)
        if key not in self._derivatives:
            grad = mx.grad(lambda z, y: impl.call(z, y).sum())
            self._derivatives[key] = grad if quantity == "grad" else mx.grad(lambda z, y: grad(z, y).sum())
        return self._derivatives[key]

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        """``mx.grad`` through ``X @ w`` and the mean, in the dtype."""
        fX, fw, fy = (self.from_numpy(a, device) for a in (X, w, y))
        with mx.stream(self._device(device)):
            grad = mx.grad(lambda w: mx.mean(impl.call(fX @ w, fy)))(fw)
            mx.eval(grad)
        return self.to_numpy(grad)

    def elementary(self, x, device: str):
        """``mx.compile`` of log1p(exp(−|x|)): one fused kernel."""
        core = mx.compile(lambda v: mx.log1p(mx.exp(-mx.abs(v))))
        return lambda: mx.eval(core(x))

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        """Each call evaluates what it built. MLX's ``mx.grad`` and ``mx.vjp`` run the forward pass
        with the backward one (there is no taped forward to reuse), so "backward" alone is not timed."""
        if mode == "forward":
            return lambda: mx.eval(impl.call(x, y))
        if mode == "forward-mean":
            return lambda: mx.eval(mx.mean(impl.call(x, y)))
        if mode == "backward":
            raise Unsupported("MLX differentiates a function, never a taped forward pass: no backward alone")
        grad = self._derivative(impl, "grad")
        return lambda: mx.eval(grad(x, y))
