"""Keras 3 on each of its backends, one framework per backend: keras-jax, keras-torch,
keras-tensorflow and keras-numpy.

The same Keras names run different numerics on each backend, so each backend is a column of its
own. Keras picks its backend once per process, when it is first imported: an adapter sets
KERAS_BACKEND before that, and where Keras is already loaded with another backend it is
unavailable in this process (the gate runs every framework in a worker process of its own).

Implementations: ``keras.ops.binary_crossentropy`` with from_logits true and false;
``keras.losses.BinaryCrossentropy`` with from_logits true and false, with label_smoothing = 0.1
(the oracle's y(1 − ε) + ε/2), and with its default reduction (the mean over the batch);
``keras.losses.binary_focal_crossentropy`` (γ = 2, and with apply_class_balancing, α = 0.25:
α_t = αy + (1 − α)(1 − y)). A Loss averages over the last axis and casts its inputs to its own
dtype (float32 unless told): the inputs get a last axis of length 1, and each Loss is built with
the input's dtype, so that every dtype is tested as itself. The focal loss's (1 − p_t)^γ is the
definition's factor for labels 0 and 1 only.

Arrays, devices, autodiff and timing are the backend's own adapter's (the Keras functions take
and return the backend's arrays): gradients and Hessians by jax.grad, torch.autograd or
tf.GradientTape; the numpy backend has no autodiff, so only its losses are checked.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext

import numpy as np

from bcebench.adapters import base
from bcebench.adapters.base import Adapter, Implementation, Unavailable, builtin

LABEL_SMOOTHING = 0.1
FOCAL_GAMMA = 2.0
FOCAL_ALPHA = 0.25


def _keras(backend: str):
    """Keras with ``backend``; Unavailable where this process already has Keras with another."""
    loaded = sys.modules.get("keras")
    if loaded is None:
        os.environ["KERAS_BACKEND"] = backend
        import keras

        loaded = keras
    if loaded.backend.backend() != backend:
        raise Unavailable(f"Keras is loaded with the {loaded.backend.backend()} backend in this process; "
                          f"keras-{backend} needs a process of its own")
    return loaded


class _LossPerDtype:
    """A keras.losses.Loss (or loss function) applied elementwise: built once per input dtype, given
    the inputs with a last axis of length 1, which its mean over the last axis leaves unchanged."""

    def __init__(self, keras, make):
        self.keras, self.make, self.built = keras, make, {}

    def __call__(self, x, y):
        ops = self.keras.ops
        dtype = self.keras.backend.standardize_dtype(x.dtype)
        if dtype not in self.built:
            self.built[dtype] = self.make(dtype)
        return self.built[dtype](ops.expand_dims(y, -1), ops.expand_dims(x, -1))


class KerasAdapter(Adapter):
    backend = ""

    def __init__(self) -> None:
        self.keras = _keras(self.backend)
        host, reason = base.load(self.backend, scoped=True)  # the backend's own (its registry name)
        if host is None:
            raise Unavailable(reason)
        self.host: Adapter = host
        self.name = f"keras-{self.backend}"
        self.gpu_device = self.host.gpu_device

    def version(self) -> str:
        return f"{self.keras.__version__} ({self.backend} {self.host.version()})"

    def apply_settings(self, own_process: bool = False):
        return self.host.apply_settings(own_process)

    def devices(self) -> list[str]:
        return self.host.devices()

    def missing_dtypes(self, device: str) -> dict[str, str]:
        return self.host.missing_dtypes(device)

    def implementations(self) -> list[Implementation]:
        keras, name = self.keras, self.name
        losses, ops = keras.losses, keras.ops
        derivatives = self.backend != "numpy"

        def implementation(id_, form, call, **kwargs):
            return builtin(id_, name, form, call, derivatives=derivatives, **kwargs)

        impls = [implementation(f"keras.ops.binary_crossentropy(from_logits={logits})", form,
                                lambda x, y, logits=logits: ops.binary_crossentropy(y, x, from_logits=logits))
                 for logits, form in ((True, "logits"), (False, "probs"))]
        for logits, form in ((True, "logits"), (False, "probs")):
            impls.append(implementation(
                f"keras.losses.BinaryCrossentropy(from_logits={logits})", form,
                _LossPerDtype(keras, lambda dtype, logits=logits: losses.BinaryCrossentropy(
                    from_logits=logits, reduction=None, dtype=dtype))))
        impls.append(implementation(
            f"keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing={LABEL_SMOOTHING})", "logits",
            _LossPerDtype(keras, lambda dtype: losses.BinaryCrossentropy(
                from_logits=True, label_smoothing=LABEL_SMOOTHING, reduction=None, dtype=dtype)),
            parameters={"smoothing": LABEL_SMOOTHING}))
        mean = _LossPerDtype(keras, lambda dtype: losses.BinaryCrossentropy(from_logits=True, dtype=dtype))
        impls.append(implementation("keras.losses.BinaryCrossentropy(from_logits=True)[mean]", "logits",
                                    mean, reduction="mean"))
        return [*impls, self.focal(FOCAL_GAMMA, None), self.focal(FOCAL_GAMMA, FOCAL_ALPHA)]

    def focal(self, gamma: float, alpha: float | None) -> Implementation:
        balanced = alpha is not None
        options = f"apply_class_balancing=True, alpha={alpha}, " if balanced else ""
        call = _LossPerDtype(self.keras, lambda dtype: lambda y, x: self.keras.losses.binary_focal_crossentropy(
            y, x, apply_class_balancing=balanced, alpha=alpha if balanced else FOCAL_ALPHA, gamma=gamma,
            from_logits=True))
        return builtin(
            f"keras.losses.binary_focal_crossentropy({options}gamma={gamma:g}, from_logits=True)", self.name,
            "logits", call, parameters={"gamma": gamma} | ({"alpha": alpha} if balanced else {}),
            derivatives=self.backend != "numpy", labels="hard", with_parameters=self.focal)

    def _on(self, device: str):
        """Keras's device scope: the torch backend would otherwise move CPU tensors to its GPU."""
        return self.keras.device("cpu:0" if device == "cpu" else "gpu:0") if self.backend != "numpy" else nullcontext()

    def from_numpy(self, array: np.ndarray, device: str):
        return self.host.from_numpy(array, device)

    def to_numpy(self, value) -> np.ndarray:
        return self.host.to_numpy(value)

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        with self._on(device):
            return self.host.evaluate(impl, quantity, x, y, device)

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        with self._on(device):
            return self.host.linear_gradient(impl, X, w, y, device)

    def synchronize(self, device: str) -> None:
        self.host.synchronize(device)

    def elementary(self, x, device: str):
        return self.host.elementary(x, device)

    def copy(self, x, device: str):
        return self.host.copy(x, device)

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        with self._on(device):
            call = self.host.timed(impl, mode, x, y, device)

        def run():
            with self._on(device):
                return call()

        return run


class KerasJaxAdapter(KerasAdapter):
    backend = "jax"


class KerasTorchAdapter(KerasAdapter):
    backend = "torch"


class KerasTensorflowAdapter(KerasAdapter):
    backend = "tensorflow"


class KerasNumpyAdapter(KerasAdapter):
    backend = "numpy"
