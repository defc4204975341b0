"""TensorFlow: ``tf.nn.sigmoid_cross_entropy_with_logits``, eager and compiled by XLA, and
``tf.nn.weighted_cross_entropy_with_logits`` (pos_weight = 3, PyTorch's pos_weight by another name).

Gradients and Hessians come from ``tf.GradientTape`` (a tape inside a tape for the Hessian).
Devices are TensorFlow's CPU and, when present, its GPU. TensorFlow's own bfloat16 is ml_dtypes',
so every dtype crosses to and from NumPy as is. Its start-up log lines are silenced in bcebench's
worker processes (``base.worker_environment``), never in a caller's.
"""

from __future__ import annotations

import types

import numpy as np
import tensorflow as tf

from bcebench.adapters import rewrites
from bcebench.adapters.base import Adapter, Implementation, builtin

POS_WEIGHT = 3.0
DEVICE_NAMES = {"cpu": "/CPU:0", "gpu": "/GPU:0"}


def sigmoid_cross_entropy(z, y):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)


def weighted_cross_entropy(z, y):
    return tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=POS_WEIGHT)


class TensorflowAdapter(Adapter):
    name = "tensorflow"
    gpu_device = "gpu"

    def version(self) -> str:
        return tf.__version__

    def devices(self) -> list[str]:
        return ["cpu"] + (["gpu"] if tf.config.list_physical_devices("GPU") else [])

    def implementations(self) -> list[Implementation]:
        return [
            builtin("tf.nn.sigmoid_cross_entropy_with_logits", "tensorflow", "logits", sigmoid_cross_entropy),
            builtin("tf.function(sigmoid_cross_entropy_with_logits, jit_compile=True)", "tensorflow",
                    "logits", tf.function(sigmoid_cross_entropy, jit_compile=True)),
            builtin(f"tf.nn.weighted_cross_entropy_with_logits(pos_weight={POS_WEIGHT:g})", "tensorflow",
                    "logits", weighted_cross_entropy, parameters={"pos_weight": POS_WEIGHT}),
        ]

    def rewrites(self) -> list[Implementation]:
        operations = types.SimpleNamespace(where=tf.where, exp=tf.exp, log=tf.math.log, log1p=tf.math.log1p,
                                           zeros_like=tf.zeros_like, ones_like=tf.ones_like, isinf=tf.math.is_inf)
        return rewrites.implementations(self.name, operations)

    def from_numpy(self, array: np.ndarray, device: str):
        with tf.device(DEVICE_NAMES[device]):
            return tf.identity(tf.constant(array))

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value.numpy())

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        with tf.device(DEVICE_NAMES[device]):
            if quantity == "loss":
                return impl.call(x, y)
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    total = tf.reduce_sum(impl.call(x, y))
                grad = inner.gradient(total, x)
                grad_total = tf.reduce_sum(grad)
            return grad if quantity == "grad" else outer.gradient(grad_total, x)

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        """The tape through ``X @ w`` and the mean, in the dtype and on the device."""
        fX, fw, fy = (self.from_numpy(a, device) for a in (X, w, y))
        with tf.device(DEVICE_NAMES[device]), tf.GradientTape() as tape:
            tape.watch(fw)
            mean = tf.reduce_mean(impl.call(tf.linalg.matvec(fX, fw), fy))
        return self.to_numpy(tape.gradient(mean, fw))

    def synchronize(self, device: str) -> None:
        tf.test.experimental.sync_devices()

    def elementary(self, x, device: str):
        core = tf.function(lambda v: tf.math.log1p(tf.exp(-tf.abs(v))), jit_compile=True)

        def run():
            out = core(x)
            self.synchronize(device)
            return out

        return run

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        """Each call waits for the device; backward differentiates a forward pass taped once."""
        sync = self.synchronize

        def forward():
            out = impl.call(x, y)
            if mode == "forward-mean":
                out = tf.reduce_mean(out)
            sync(device)
            return out

        if mode in ("forward", "forward-mean"):
            return forward
        if mode == "backward":
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                total = tf.reduce_sum(impl.call(x, y))

            def backward():
                out = tape.gradient(total, x)
                sync(device)
                return out

            return backward

        def forward_backward():
            out = self.evaluate(impl, "grad", x, y, device)
            sync(device)
            return out

        return forward_backward
