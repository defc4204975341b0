"""tinygrad: ``Tensor.binary_crossentropy`` and ``Tensor.binary_crossentropy_logits`` as tinygrad
declares them (tinygrad/tensor.py): probabilities −[t·log p + (1 − t)·log(1 − p)] with no clamp;
logits −[w·t·logsigmoid(z) + (1 − t)·logsigmoid(−z)] with ``pos_weight`` w, logsigmoid(z) =
−softplus(−z) and softplus(z) = logaddexp(z, 0) = max(z, 0) + log(e^(z − m) + e^(−m)); the mean by
default. Checked elementwise in both forms, with ``pos_weight`` = 3, and as called by default.

tinygrad is lazy: a result is computed when it is realized (read, or ``realize()``d and the device
synchronized when timed). Gradients and Hessians come from ``Tensor.gradient`` of the summed loss and
of that again. bfloat16 crosses to and from NumPy as its 16-bit pattern (bitcast). Devices: tinygrad's
CPU device, which compiles every kernel with clang (without clang on PATH tinygrad is unavailable,
for that reason; bfloat16 only where that clang compiles tinygrad's ``__bf16``: Debian 12's clang 14 does
not), and its CUDA device where one opens.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess

import ml_dtypes
import numpy as np
from tinygrad import Device, Tensor, TinyJit, dtypes

from bcebench.adapters.base import Adapter, Implementation, Unavailable, builtin
from bcebench.adapters.standalone import DEVICES as FRAMEWORK_DEVICES

POS_WEIGHT = 3.0
DEVICES = FRAMEWORK_DEVICES["tinygrad"]  # tinygrad's names of bcebench's devices

if shutil.which("clang") is None:
    raise Unavailable("tinygrad's CPU device compiles its kernels with clang, which is not on PATH "
                      "(Debian and Ubuntu: apt-get install clang)")


def _gpu_present() -> bool:
    try:
        Device[DEVICES["gpu"]]
    except Exception:  # tinygrad raises whatever its runtime raises where CUDA does not open
        return False
    return True


def _logits(reduction: str, pos_weight: float | None = None):
    def call(z, y):
        weight = None if pos_weight is None else Tensor.full(z.shape, pos_weight, dtype=z.dtype, device=z.device)
        return z.binary_crossentropy_logits(y, reduction=reduction, pos_weight=weight)

    return call


def _clang_takes_bfloat16() -> bool:
    """Whether clang compiles bfloat16 as tinygrad's CPU kernels write it (``__bf16``, bit-cast to and
    from 16-bit integers) for tinygrad's bare target: Debian 12's clang 14 rejects ``__bf16`` there."""
    source = "unsigned short f(__bf16 v) { return __builtin_bit_cast(unsigned short, v); }\n"
    done = subprocess.run(["clang", "-c", "-x", "c", f"--target={platform.machine()}-none-unknown-elf", "-",
                           "-o", os.devnull], input=source, capture_output=True, text=True)
    return done.returncode == 0


class TinygradAdapter(Adapter):
    name = "tinygrad"
    gpu_device = "gpu"

    def __init__(self) -> None:
        self._bfloat16 = _clang_takes_bfloat16()
        self._devices = ["cpu"] + (["gpu"] if _gpu_present() else [])  # opening CUDA is tried once
        self._linear: dict = {}

    def version(self) -> str:
        return importlib.metadata.version("tinygrad")

    def devices(self) -> list[str]:
        return self._devices

    def missing_dtypes(self, device: str) -> dict[str, str]:
        if device != "cpu" or self._bfloat16:
            return {}
        return {"bfloat16": "the clang on PATH rejects the __bf16 that tinygrad's CPU kernels are written in"}

    def implementations(self) -> list[Implementation]:
        return [
            builtin("Tensor.binary_crossentropy_logits(reduction=none)", "tinygrad", "logits", _logits("none")),
            builtin("Tensor.binary_crossentropy(reduction=none)", "tinygrad", "probs",
                    lambda p, y: p.binary_crossentropy(y, reduction="none")),
            builtin(f"Tensor.binary_crossentropy_logits(reduction=none, pos_weight={POS_WEIGHT:g})", "tinygrad",
                    "logits", _logits("none", POS_WEIGHT), parameters={"pos_weight": POS_WEIGHT}),
            builtin("Tensor.binary_crossentropy_logits()[mean]", "tinygrad", "logits", _logits("mean"),
                    reduction="mean"),
        ]

    def from_numpy(self, array: np.ndarray, device: str):
        where = DEVICES[device]
        if array.dtype == ml_dtypes.bfloat16:
            return Tensor(array.view(np.uint16).copy(), device=where).bitcast(dtypes.bfloat16).realize()
        return Tensor(array.copy(), device=where).realize()

    def to_numpy(self, value) -> np.ndarray:
        if value.dtype == dtypes.bfloat16:
            return value.bitcast(dtypes.uint16).numpy().view(ml_dtypes.bfloat16)
        return value.numpy()

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        loss = impl.call(x, y)
        if quantity == "loss":
            return loss
        (grad,) = loss.sum().gradient(x)
        if quantity == "grad":
            return grad
        (hess,) = grad.sum().gradient(x)
        return hess

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        """``Tensor.gradient`` through ``X @ w`` and the mean, in the dtype, under ``TinyJit``: a training
        loop calls it with arrays of one shape, and tinygrad would otherwise schedule the same graph
        again at every step (seconds per hundred steps); the jit replays the kernels it captured."""
        key = (impl.id, device, X.dtype.name, X.shape)
        if key not in self._linear:
            self._linear[key] = TinyJit(lambda X, w, y: impl.call(X @ w, y).mean().gradient(w)[0].realize())
        fX, fw, fy = (self.from_numpy(a, device) for a in (X, w, y))
        return self.to_numpy(self._linear[key](fX, fw, fy))

    def synchronize(self, device: str) -> None:
        Device[DEVICES[device]].synchronize()

    def _realized(self, build, device: str):
        def call():
            out = build()
            Tensor.realize(*out) if isinstance(out, tuple) else out.realize()
            self.synchronize(device)
            return out

        return call

    def elementary(self, x, device: str):
        """log(1 + e^(−|x|)), one kernel (tinygrad fuses the elementwise graph; it has no log1p)."""
        return self._realized(lambda: (1 + (-x.abs()).exp()).log(), device)

    def copy(self, x, device: str):
        return self._realized(x.clone, device)

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        """Each call realizes what it built and waits for the device; tinygrad differentiates a graph,
        not a taped pass, so "backward" builds the forward graph once and realizes only the gradient."""
        if mode == "forward":
            return self._realized(lambda: impl.call(x, y), device)
        if mode == "forward-mean":
            return self._realized(lambda: impl.call(x, y).mean(), device)
        if mode == "backward":
            total = impl.call(x, y).sum()
            return self._realized(lambda: total.gradient(x)[0], device)
        def both():
            loss = impl.call(x, y)
            return loss, loss.sum().gradient(x)[0]

        return self._realized(both, device)
