"""JAX: optax's BCE and focal loss and the ``jax.nn.log_sigmoid`` composition, jitted and not.

float64 needs JAX's x64 mode, switched on while the checks run (it changes only the default dtype
of new arrays, and every array here has an explicit dtype). Gradients and Hessians come from
``jax.grad`` of the summed loss, and ``jax.grad`` of that again. Devices are JAX's CPU and, when
present, its GPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bcebench.adapters import base, rewrites
from bcebench.adapters.base import Adapter, Implementation, builtin, focal_parameters

FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0


def log_sigmoid_composition(z, y):
    """−[y log σ(z) + (1 − y) log σ(−z)]: log(1 − σ(z)) written as log_sigmoid(−z)."""
    return -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))


def focal(gamma: float, alpha: float | None):
    return lambda z, y: optax.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma)


class JaxAdapter(Adapter):
    name = "jax"
    gpu_device = "gpu"

    def __init__(self) -> None:
        self._derivatives: dict = {}

    def version(self) -> str:
        return f"{jax.__version__} (optax {optax.__version__})"

    def apply_settings(self, own_process: bool = False):
        """x64 on; in a process of bcebench's own, also every executable (eager primitives included)
        kept on disk, so that the next run, and the next worker process of this one, loads what a
        first run compiled: XLA keys it on the program, options, backend and version, so a cached
        executable is the one that would be compiled. (JAX sets its cache up once per process, so
        it is never touched in a caller's process.)"""
        if own_process and not jax.config.jax_compilation_cache_dir and (cache := base.cache_folder("xla")):
            jax.config.update("jax_compilation_cache_dir", str(cache))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        saved = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", True)
        return lambda: jax.config.update("jax_enable_x64", saved)

    def devices(self) -> list[str]:
        return ["cpu"] + (["gpu"] if any(d.platform == "gpu" for d in jax.devices()) else [])

    def implementations(self) -> list[Implementation]:
        impls = []
        for name, function in (("optax.sigmoid_binary_cross_entropy", optax.sigmoid_binary_cross_entropy),
                               ("jax.nn.log_sigmoid composition", log_sigmoid_composition)):
            impls.append(builtin(name, "jax", "logits", function))
            impls.append(builtin(f"jit({name})", "jax", "logits", jax.jit(function)))
        return [*impls, self.focal(FOCAL_GAMMA, FOCAL_ALPHA), self.focal(FOCAL_GAMMA, FOCAL_ALPHA, jit=True)]

    def focal(self, gamma: float, alpha: float | None, jit: bool = False) -> Implementation:
        """optax's focal loss; its (1 − p_t)^γ equals the definition's factor for labels 0 and 1 only."""
        name = f"optax.sigmoid_focal_loss(alpha={alpha}, gamma={gamma:g})"
        oracle = focal_parameters(gamma, alpha)
        function = focal(gamma, alpha)
        return builtin(f"jit({name})" if jit else name, "jax", "logits", jax.jit(function) if jit else function,
                       parameters=oracle, labels="hard",
                       with_parameters=lambda gamma, alpha: self.focal(gamma, alpha, jit))

    def _device(self, device: str):
        return jax.devices("cpu" if device == "cpu" else "gpu")[0]

    def from_numpy(self, array: np.ndarray, device: str):
        return jax.device_put(jnp.asarray(array), self._device(device))

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value)

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        if quantity == "loss":
            return impl.call(x, y)
        key = (impl.id, quantity)
        if key not in self._derivatives:
            self._derivatives[key] = self._derivative(impl, quantity)
        return self._derivatives[key](x, y)

    def rewrites(self) -> list[Implementation]:
        return rewrites.implementations(self.name, jnp)

    def linear_gradient(self, impl: Implementation, X, w, y, device: str) -> np.ndarray:
        """``jax.grad`` through ``X @ w`` and the mean, jitted for every implementation: a training
        loop dispatching each operation on its own would spend seconds per run on dispatch alone."""
        key = (impl.id, "linear")
        if key not in self._derivatives:
            self._derivatives[key] = jax.jit(jax.grad(lambda w, X, y: jnp.mean(impl.call(X @ w, y))))
        fw, fX, fy = (self.from_numpy(a, device) for a in (w, X, y))
        return self.to_numpy(self._derivatives[key](fw, fX, fy))

    @staticmethod
    def _derivative(impl: Implementation, quantity: str):
        """∂/∂z of sum(loss), or ∂/∂z of the sum of that: the elementwise gradient and Hessian
        diagonal. Built once per implementation; jitted where the implementation is."""
        grad = jax.grad(lambda z, y: impl.call(z, y).sum())
        function = grad if quantity == "grad" else jax.grad(lambda z, y: grad(z, y).sum())
        return jax.jit(function) if impl.id.startswith("jit(") else function

    def synchronize(self, device: str) -> None:
        jax.effects_barrier()

    def elementary(self, x, device: str):
        core = jax.jit(lambda v: jnp.log1p(jnp.exp(-jnp.abs(v))))
        return lambda: core(x).block_until_ready()

    def copy(self, x, device: str):
        """A jitted copy: the output is a buffer of its own (the input is not donated)."""
        core = jax.jit(jnp.copy)
        return lambda: core(x).block_until_ready()

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        """Every call ends in block_until_ready: JAX dispatches asynchronously."""
        if mode == "forward":
            return lambda: impl.call(x, y).block_until_ready()
        if mode == "forward-mean":
            return lambda: jnp.mean(impl.call(x, y)).block_until_ready()
        if mode == "forward+backward":
            return lambda: self.evaluate(impl, "grad", x, y, device).block_until_ready()
        _, pullback = jax.vjp(lambda z: impl.call(z, y).sum(), x)
        one = jnp.ones((), x.dtype)
        return lambda: pullback(one)[0].block_until_ready()
