"""PyTorch: the functional and module forms of BCE, on the CPU and on CUDA when present.

Implementations: ``F.binary_cross_entropy`` (probabilities) and
``F.binary_cross_entropy_with_logits`` (logits, also with ``weight`` = 0.75 and
``pos_weight`` = 3), ``nn.BCELoss`` and ``nn.BCEWithLogitsLoss``, each with reduction none,
mean and sum, ``torch.compile`` of the logit form, and the focal loss as torchvision's
``sigmoid_focal_loss`` writes it in torch operations (PyTorch itself has none). Gradients and Hessians come from
autograd (double backward). bfloat16 crosses to and from NumPy as its 16-bit pattern.
TF32 is switched off while the checks run, so that CUDA float32 is float32.
"""

from __future__ import annotations

import time

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

from bcebench.adapters import rewrites
from bcebench.adapters.base import Adapter, Implementation, Unsupported, builtin, focal_parameters

WEIGHT = 0.75
POS_WEIGHT = 3.0
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
TORCH_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def _with_weight(z, y):
    return F.binary_cross_entropy_with_logits(z, y, weight=torch.full_like(z, WEIGHT), reduction="none")


def _with_pos_weight(z, y):
    return F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.full_like(z, POS_WEIGHT), reduction="none")


def torchvision_focal(gamma: float, alpha: float | None):
    """torchvision.ops.sigmoid_focal_loss's formula: ce·(1 − p_t)^γ, times α_t when α is given, with
    ce = BCE with logits, p_t = py + (1 − p)(1 − y), α_t = αy + (1 − α)(1 − y). For labels 0 and 1
    it is the focal loss; for soft labels (1 − p_t)^γ is not the definition's factor."""

    def focal(z, y):
        p = torch.sigmoid(z)
        loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = loss * ((1 - p_t) ** gamma)
        if alpha is not None:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return loss

    return focal


class _Compiled:
    """torch.compile of the logit form: one compiled function per dtype, device and grad mode
    (each a graph of its own), compiled on a one-element warm-up whose time is kept apart."""

    def __init__(self) -> None:
        self.functions: dict = {}
        self.seconds = 0.0

    def __call__(self, z, y):
        key = (z.dtype, z.device.type, torch.is_grad_enabled())
        if key not in self.functions:
            function = torch.compile(F.binary_cross_entropy_with_logits, dynamic=True)
            start = time.perf_counter()
            function(z[:1].detach().requires_grad_(key[2]), y[:1], reduction="none")
            self.seconds += time.perf_counter() - start
            self.functions[key] = function
        return self.functions[key](z, y, reduction="none")


def refuse_outside_unit_interval(p, y) -> None:
    """Raise what the CPU kernel of BCE in the probability form raises for p or y outside [0, 1]
    (NaN included). The CUDA kernel asserts on the device instead (``CUDA_KERNEL_ASSERT`` on the input
    and, in recent releases, on the target: measured on an H200 with torch 2.11), after which every
    CUDA call of the process fails; so on CUDA such inputs are refused before the call."""
    for name, values in (("input", p), ("target", y)):
        if not bool(((values >= 0) & (values <= 1)).all()):
            raise RuntimeError(f"all elements of {name} should be between 0 and 1 (on CUDA a device-side "
                               "assertion, which ends the process's CUDA context: refused before the call)")


class TorchAdapter(Adapter):
    name = "torch"
    gpu_device = "cuda"

    def __init__(self) -> None:
        self._compiled = _Compiled()
        self._asserting = {i.id for i in self.implementations() if i.form == "probs"}

    def version(self) -> str:
        return torch.__version__

    def apply_settings(self, own_process: bool = False):
        """TF32 off (CUDA float32 matmuls and convolutions in float32), and dynamo's recompile limit
        raised from 8 to 64: each dtype and grad mode is a graph of its own, and past the limit dynamo
        would fall back to eager without a word, so the "compiled" implementation would not be."""
        backends, dynamo = torch.backends, torch._dynamo.config
        saved = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, dynamo.recompile_limit)
        backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = False
        dynamo.recompile_limit = max(dynamo.recompile_limit, 64)

        def restore() -> None:
            backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, dynamo.recompile_limit = saved

        return restore

    def devices(self) -> list[str]:
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    def implementations(self) -> list[Implementation]:
        impls = []
        for reduction in ("none", "mean", "sum"):
            suffix = "" if reduction == "none" else f"[{reduction}]"
            impls += [
                builtin(f"torch.binary_cross_entropy{suffix}", "torch", "probs",
                        lambda p, y, r=reduction: F.binary_cross_entropy(p, y, reduction=r),
                        reduction=reduction),
                builtin(f"torch.binary_cross_entropy_with_logits{suffix}", "torch", "logits",
                        lambda z, y, r=reduction: F.binary_cross_entropy_with_logits(z, y, reduction=r),
                        reduction=reduction),
                builtin(f"torch.nn.BCELoss{suffix}", "torch", "probs",
                        torch.nn.BCELoss(reduction=reduction), reduction=reduction),
                builtin(f"torch.nn.BCEWithLogitsLoss{suffix}", "torch", "logits",
                        torch.nn.BCEWithLogitsLoss(reduction=reduction), reduction=reduction),
            ]
        impls += [
            builtin("torch.binary_cross_entropy_with_logits[weight]", "torch", "logits", _with_weight,
                    parameters={"weight": WEIGHT}),
            builtin("torch.binary_cross_entropy_with_logits[pos_weight]", "torch", "logits",
                    _with_pos_weight, parameters={"pos_weight": POS_WEIGHT}),
            builtin("torch.compile(binary_cross_entropy_with_logits)", "torch", "logits", self._compiled,
                    compile_seconds=lambda: self._compiled.seconds),
            self.focal(FOCAL_GAMMA, FOCAL_ALPHA),
        ]
        return impls

    def focal(self, gamma: float, alpha: float | None) -> Implementation:
        name = f"torch focal, torchvision formula(alpha={alpha}, gamma={gamma:g})"
        oracle = focal_parameters(gamma, alpha)
        return builtin(name, "torch", "logits", torchvision_focal(gamma, alpha), parameters=oracle,
                       labels="hard", with_parameters=self.focal)

    def rewrites(self) -> list[Implementation]:
        return rewrites.implementations(self.name, torch)

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        """Autograd through ``X @ w`` and the mean, in the dtype and on the device."""
        fX, fy = self.from_numpy(X, device), self.from_numpy(y, device)
        fw = self.from_numpy(w, device).requires_grad_(True)
        (grad,) = torch.autograd.grad(impl.call(fX @ fw, fy).mean(), fw)
        return self.to_numpy(grad)

    def from_numpy(self, array: np.ndarray, device: str):
        if array.dtype == ml_dtypes.bfloat16:
            tensor = torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(array.copy())
        return tensor.to(device)

    def to_numpy(self, value) -> np.ndarray:
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            return value.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return value.numpy()

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        if device == "cuda" and impl.id in self._asserting:
            refuse_outside_unit_interval(x, y)
        try:
            if quantity == "loss":
                with torch.no_grad():
                    return impl.call(x, y)
            z = x.detach().clone().requires_grad_(True)
            loss = impl.call(z, y)
            (grad,) = torch.autograd.grad(loss.sum(), z, create_graph=quantity == "hess")
            if quantity == "grad":
                return grad
            (hess,) = torch.autograd.grad(grad.sum(), z)
            return hess
        except (RuntimeError, NotImplementedError) as error:
            message = str(error).splitlines()[0]
            if "not implemented for" in message:
                raise Unsupported(message) from None
            if quantity == "hess" and "donated buffers" in message:
                raise Unsupported("torch.compile gives no double backward: " + message) from None
            raise

    def synchronize(self, device: str) -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def elementary(self, x, device: str):
        """torch.compile of log1p(exp(−|x|)): one fused kernel (Inductor's C++ loop on the CPU,
        Triton on CUDA); eager PyTorch would make three passes over memory."""
        fused = torch.compile(lambda v: torch.log1p(torch.exp(-v.abs())), dynamic=False)

        def core():
            out = fused(x)
            self.synchronize(device)
            return out

        return core

    def copy(self, x, device: str):
        out = torch.empty_like(x)

        def core():
            out.copy_(x)
            self.synchronize(device)
            return out

        return core

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        """CUDA work is waited for with torch.cuda.synchronize after each call."""
        sync = self.synchronize

        def forward():
            with torch.no_grad():
                out = impl.call(x, y)
                if mode == "forward-mean":
                    out = out.mean()
            sync(device)
            return out

        if mode in ("forward", "forward-mean"):
            return forward
        z = x.detach().clone().requires_grad_(True)
        if mode == "backward":
            loss = impl.call(z, y).sum()

            def backward():
                out = torch.autograd.grad(loss, z, retain_graph=True)[0]
                sync(device)
                return out

            return backward

        def forward_backward():
            out = torch.autograd.grad(impl.call(z, y).sum(), z)[0]
            sync(device)
            return out

        return forward_backward
