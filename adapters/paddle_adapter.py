"""PaddlePaddle: ``paddle.nn.functional``'s BCE losses as Paddle declares them
(python/paddle/nn/functional/loss.py), each a kernel of its own (paddle/phi/kernels/cpu/):

- ``binary_cross_entropy_with_logits``: the ``sigmoid_cross_entropy_with_logits`` kernel,
  max(z, 0) − z·t + log(1 + e^(−|z|)); with ``pos_weight`` w the kernel weighs the log term by
  (w − 1)·t + 1, which Python forms first; the mean by default.
- ``binary_cross_entropy``: the ``bce_loss`` kernel, −[t·max(log p, −100) + (1 − t)·max(log(1 − p),
  −100)], refusing p outside [0, 1]; its gradient (p − t)/max(p(1 − p), 10⁻¹²); the mean by default.
- ``sigmoid_focal_loss``: torchvision's formula, α_t·(1 − p_t)^γ·BCE with p_t = p·t + (1 − p)(1 − t),
  which is the focal loss for hard labels only; inputs of two axes or more (a 1-D input fails in
  ``full(shape(logit))``), so a column here; the sum by default.

Neither kernel has a second derivative: the Hessian is unsupported, with Paddle's own message. On
the CPU both kernels are registered for float32 and float64 only. Devices: the CPU, and the GPU of a
CUDA build of Paddle (paddlepaddle-gpu) where one is present. bfloat16 crosses to and from NumPy as
its 16-bit pattern.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np

with warnings.catch_warnings():  # Paddle warns at import that ccache, for compiling extensions, is missing
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    import paddle
    import paddle.nn.functional as F

from bcebench.adapters.base import Adapter, Implementation, Unsupported, builtin, focal_parameters
from bcebench.adapters.standalone import DEVICES as FRAMEWORK_DEVICES

POS_WEIGHT = 3.0
ALPHA = 0.25
GAMMA = 2.0
DEVICES = FRAMEWORK_DEVICES["paddle"]  # Paddle's names of bcebench's devices
NO_SECOND_DERIVATIVE = "doesn't have any grad op"  # what Paddle says of a kernel without a double grad
LOGITS = "paddle.nn.functional.binary_cross_entropy_with_logits"
FOCAL = "paddle.nn.functional.sigmoid_focal_loss"


def _logits(reduction: str, pos_weight: float | None = None):
    def call(z, y):
        weight = None if pos_weight is None else paddle.full_like(z, pos_weight)
        return F.binary_cross_entropy_with_logits(z, y, reduction=reduction, pos_weight=weight)

    return call


def _focal(reduction: str):
    return lambda z, y: F.sigmoid_focal_loss(z, y, alpha=ALPHA, gamma=GAMMA, reduction=reduction)


class PaddleAdapter(Adapter):
    name = "paddle"
    gpu_device = "gpu"

    def version(self) -> str:
        return paddle.__version__

    def devices(self) -> list[str]:
        gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
        return ["cpu"] + (["gpu"] if gpu else [])

    def missing_dtypes(self, device: str) -> dict[str, str]:
        if device != "cpu":
            return {}
        why = ("Paddle's CPU kernels sigmoid_cross_entropy_with_logits and bce_loss are registered for float32 "
               "and float64 only")
        return {"float16": why, "bfloat16": why}

    def implementations(self) -> list[Implementation]:
        focal = focal_parameters(GAMMA, ALPHA)
        return [
            builtin(f"{LOGITS}(reduction=none)", "paddle", "logits", _logits("none")),
            builtin("paddle.nn.functional.binary_cross_entropy(reduction=none)", "paddle", "probs",
                    lambda p, y: F.binary_cross_entropy(p, y, reduction="none")),
            builtin(f"{LOGITS}(reduction=none, pos_weight={POS_WEIGHT:g})", "paddle", "logits",
                    _logits("none", POS_WEIGHT), parameters={"pos_weight": POS_WEIGHT}),
            builtin(f"{LOGITS}()[mean]", "paddle", "logits", _logits("mean"), reduction="mean"),
            builtin(f"{FOCAL}(alpha={ALPHA}, gamma={GAMMA:g}, reduction=none)", "paddle", "logits", _focal("none"),
                    parameters=focal, labels="hard", rank=2),
            builtin(f"{FOCAL}(alpha={ALPHA}, gamma={GAMMA:g})[sum]", "paddle", "logits", _focal("sum"),
                    parameters=focal, labels="hard", rank=2, reduction="sum"),
        ]

    def from_numpy(self, array: np.ndarray, device: str):
        if array.dtype == ml_dtypes.bfloat16:  # Paddle takes a uint16 array as bfloat16's bits
            return paddle.to_tensor(array.view(np.uint16), place=DEVICES[device]).view(paddle.bfloat16)
        return paddle.to_tensor(array, place=DEVICES[device])

    def to_numpy(self, value) -> np.ndarray:
        if value.dtype == paddle.bfloat16:
            return value.view(paddle.uint16).numpy().view(ml_dtypes.bfloat16)
        return value.numpy()

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        try:
            if quantity == "loss":
                with paddle.no_grad():
                    return impl.call(x, y)
            z = x.detach()
            z.stop_gradient = False
            (grad,) = paddle.grad(impl.call(z, y).sum(), z, create_graph=quantity == "hess")
            if quantity == "grad":
                return grad
            (hess,) = paddle.grad(grad.sum(), z)
            return hess
        except RuntimeError as error:
            message = str(error).strip().splitlines()[0]
            if NO_SECOND_DERIVATIVE in message:
                raise Unsupported(f"Paddle gives no second derivative: {message}") from None
            raise

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        """``paddle.grad`` through ``X @ w`` and the mean, in the dtype."""
        fX, fw, fy = (self.from_numpy(a, device) for a in (X, w, y))
        fw.stop_gradient = False
        (grad,) = paddle.grad(paddle.mean(impl.call(fX @ fw, fy)), fw)
        return self.to_numpy(grad)

    def synchronize(self, device: str) -> None:
        if device == "gpu":
            paddle.device.synchronize()

    def _waited(self, build, device: str):
        def call():
            out = build()
            self.synchronize(device)
            return out

        return call

    def elementary(self, x, device: str):
        """log1p(exp(−|x|)) in three eager passes (Paddle fuses only under its CINN compiler)."""
        return self._waited(lambda: paddle.log1p(paddle.exp(-paddle.abs(x))), device)

    def copy(self, x, device: str):
        out = paddle.empty_like(x)
        return self._waited(lambda: paddle.assign(x, output=out), device)

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        """The forward pass without a tape; "backward" from a forward pass taped beforehand (kept)."""
        if mode in ("forward", "forward-mean"):
            def forward():
                with paddle.no_grad():
                    out = impl.call(x, y)
                    return out.mean() if mode == "forward-mean" else out

            return self._waited(forward, device)
        z = x.detach()
        z.stop_gradient = False
        if mode == "backward":
            total = impl.call(z, y).sum()
            return self._waited(lambda: paddle.grad(total, z, retain_graph=True)[0], device)
        return self._waited(lambda: paddle.grad(impl.call(z, y).sum(), z)[0], device)
