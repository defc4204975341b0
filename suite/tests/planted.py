"""Deliberately wrong NumPy implementations of BCE (logit form, with their derivatives), and one
right one: the gate must fail each wrong one and pass the right one. They are user
implementations like any other: ``bcebench check --framework numpy --impl bcebench.suite.tests.planted:NAME
--form logits``."""

import os
import time

import numpy as np

from bcebench.adapters.base import Unsupported, sample_weights
from bcebench.adapters.numpy_adapter import stable_logits


def _with_derivatives(loss, grad=stable_logits.grad, hess=stable_logits.hess):
    loss.grad, loss.hess = grad, hess
    return loss


def correct(z, y):
    return stable_logits(z, y)


def naive_sigmoid_then_log(z, y):
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def gradient_off_by_one_part_in_a_thousand(z, y):
    return stable_logits(z, y)


def float64_through_float32(z, y):
    return stable_logits(z.astype(np.float32), y.astype(np.float32)).astype(z.dtype)


def logits_clamped_to_15(z, y):
    return stable_logits(np.clip(z, -15, 15).astype(z.dtype), y)  # exact: ±15 and z are representable


def soft_labels_rounded_to_hard(z, y):
    return stable_logits(z, np.round(y))


def nan_replaced_by_zero(z, y):
    return np.nan_to_num(stable_logits(z, y), nan=0.0)


def writes_into_its_input(z, y):
    loss = stable_logits(z, y)
    z *= 0
    return loss


def mean_divided_by_n_minus_1(z, y):
    """A reduction: Σ loss / (n − 1) instead of / n."""
    return np.sum(stable_logits(z, y)) / max(z.size - 1, 1)


def weighted_mean(z, y):
    """A correct weighted mean with the suite's sample weights: Σ wᵢLᵢ / Σ wᵢ, in float64, rounded once."""
    losses = stable_logits(*(a.astype(np.float64) for a in np.broadcast_arrays(z, y))).ravel()
    weights = sample_weights(losses.size)
    return np.array(np.sum(weights * losses) / np.sum(weights) if losses.size else np.nan, dtype=z.dtype)


def weighted_mean_ignoring_weights(z, y):
    """A weighted mean that forgets its weights: the plain mean."""
    losses = stable_logits(*(a.astype(np.float64) for a in np.broadcast_arrays(z, y))).ravel()
    return np.array(np.mean(losses) if losses.size else np.nan, dtype=z.dtype)


def sigmoid_minus_label(z, y):
    """Right loss; gradient σ(z) − y formed after σ(z) has rounded, so it cancels to 0 early."""
    return stable_logits(z, y)


def hessian_a_part_in_sixty_four_high(z, y):
    return stable_logits(z, y)


def loss_a_part_in_a_thousand_low(z, y):
    return stable_logits(z, y) * z.dtype.type(0.999)


def frozen_gradient(z, y):
    """Right loss, zero gradient: training goes nowhere."""
    return stable_logits(z, y)


def wrong_at_one_input(z, y):
    """Right except at the one bit pattern named by BCEBENCH_PLANTED_PATTERN, where it doubles."""
    loss = stable_logits(z, y)
    pattern = int(os.environ.get("BCEBENCH_PLANTED_PATTERN", "-1"), 0)
    hit = z.view(np.uint16 if z.dtype.itemsize == 2 else np.uint32 if z.dtype.itemsize == 4 else np.uint64) == pattern
    return np.where(hit, loss * z.dtype.type(2), loss)


def slow_correct(z, y):
    """Right, and a tenth of a second per call: long enough to stop a sweep half way."""
    time.sleep(0.1)
    return stable_logits(z, y)


def dies_once(z, y):
    """Ends its process the first time it is called on more than 4 elements while the file
    BCEBENCH_DIES_ONCE names is absent (creating it), and is right ever after: a worker lost in the
    middle of a shard (a sweep's one-input probe does not set it off)."""
    marker = os.environ.get("BCEBENCH_DIES_ONCE")
    if marker and z.size > 4 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(13)
    return stable_logits(z, y)


def right_only_on_one_thread(z, y):
    """Right where the process was asked to run its thread pools on one thread (OMP_NUM_THREADS=1),
    off by a factor of two elsewhere: which environment a gate worker got, seen in its verdict."""
    loss = stable_logits(z, y)
    return loss if os.environ.get("OMP_NUM_THREADS") == "1" else loss * z.dtype.type(2)


def does_nothing(z, y):
    """Returns its input: timing it measures the benchmark harness itself."""
    return z


def unsupported_everywhere(z, y):
    """Declines every call: nothing it returns can be judged."""
    raise Unsupported("declines every input")


def raises_on_non_finite(z, y):
    """Right on finite inputs; an exception for ±inf or NaN, where the mathematics has an answer."""
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(y))):
        raise ValueError("non-finite input")
    return stable_logits(z, y)


def raises_always(z, y):
    raise RuntimeError("this kernel is broken")


def kills_its_process(z, y):
    if z.size > 4:
        os._exit(13)
    return stable_logits(z, y)


def hangs(z, y):
    if z.size > 4:
        time.sleep(3600)
    return stable_logits(z, y)


_with_derivatives(correct)
_with_derivatives(naive_sigmoid_then_log)
_with_derivatives(gradient_off_by_one_part_in_a_thousand,
                  grad=lambda z, y: z.dtype.type(1.001) * stable_logits.grad(z, y))
_with_derivatives(float64_through_float32)
_with_derivatives(logits_clamped_to_15)
_with_derivatives(soft_labels_rounded_to_hard)
_with_derivatives(nan_replaced_by_zero)
_with_derivatives(writes_into_its_input)
_with_derivatives(sigmoid_minus_label, grad=lambda z, y: np.ones_like(z) / (np.ones_like(z) + np.exp(-z)) - y)
_with_derivatives(hessian_a_part_in_sixty_four_high,
                  hess=lambda z, y: z.dtype.type(1 + 2**-6) * stable_logits.hess(z, y))
_with_derivatives(loss_a_part_in_a_thousand_low)
_with_derivatives(frozen_gradient, grad=lambda z, y: np.zeros_like(z))
_with_derivatives(raises_on_non_finite)
_with_derivatives(kills_its_process)
_with_derivatives(hangs)


def focal_loss_off_by_a_part_in_a_thousand(z, y):
    """NumPy's focal loss (γ = 2, α = 0.25), multiplied by 1 + 2^-10: a focal loss that is wrong as a
    focal loss, and wrong by orders of magnitude more if judged as plain BCE."""
    from bcebench.adapters.numpy_adapter import NumpyAdapter

    focal = next(i for i in NumpyAdapter().implementations() if i.oracle.get("gamma") is not None)
    return focal.call(z, y) * z.dtype.type(1 + 2**-10)


def torch_bce_wrapper(z, y):
    """PyTorch's BCE with logits behind a mask of ones (a library's wrapper): the built-in's numbers,
    so the built-in's faults."""
    import torch
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(z, y, reduction="none") * torch.ones_like(z)


def torch_bce_wrapper_wrong_near_zero(z, y):
    """The same wrapper with one fault the built-in does not have: the loss an eighth high for |z| < 1."""
    import torch

    loss = torch_bce_wrapper(z, y)
    return torch.where(z.abs() < 1, loss * 1.125, loss)


def returns_the_mean(z, y):
    """The right loss, averaged: a function whose --reduction mean was forgotten."""
    return stable_logits(z, y).mean()


def needs_two_dimensions(z, y):
    """The right loss for a batch of rows alone (a library's focal loss that wants 2-D input)."""
    if z.ndim != 2:
        raise ValueError(f"expected 2 dimensions, got {z.ndim}")
    return stable_logits(z, y)


def computes_in_float64(z, y):
    """The right loss, returned in float64 whatever the input's dtype."""
    return stable_logits(z.astype(np.float64), y.astype(np.float64))


def mean_nan_at_infinity(z, y):
    """The mean of a form that is accurate for finite z and NaN at z = ±∞ (0·∞ in the branch np.where
    selects): its mean over moderate inputs is right, so only judging its elements finds the NaN."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.mean(np.where(z > 0, (1 - y) * z, -y * z) + np.log1p(np.exp(-np.abs(z))))


def takes_input_and_target(*, input, target):  # the keyword names of PyTorch's losses
    """The right loss, called by keyword alone."""
    return stable_logits(input, target)


def _smoothed(epsilon):
    """BCE with the label y(1 − ε) + ε/2 formed in the input's dtype as Keras and timm form it (y·(1 − ε),
    rounded, plus ε/2, rounded), the rest computed in extended precision and rounded once: the loss
    (1 − t)·max(z, 0) + t·max(−z, 0) + log1p(e^−|z|), its gradient (1 − t)σ(z) − tσ(−z)."""

    def form(y):
        return (y * y.dtype.type(1 - epsilon) + y.dtype.type(epsilon / 2)).astype(y.dtype)

    def term(c, v):  # c·v, and 0 where the weight c is 0 (a term with no weight is absent, even at v = ±∞)
        return np.where(c == 0, 0, c * v)

    def sigmoid(z):  # e/(1 + e) or 1/(1 + e) with e = e^−|z| ≤ 1
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e))

    def wide(z, y):
        return z.astype(np.longdouble), form(y).astype(np.longdouble)

    def loss(z, y):
        z, t = wide(z, y)
        with np.errstate(invalid="ignore", over="ignore"):
            value = term(1 - t, np.maximum(z, 0)) + term(t, np.maximum(-z, 0)) + np.log1p(np.exp(-np.abs(z)))
        return value.astype(y.dtype)

    def grad(z, y):
        z, t = wide(z, y)
        with np.errstate(invalid="ignore", over="ignore"):
            return (term(1 - t, sigmoid(z)) - term(t, sigmoid(-z))).astype(y.dtype)

    return _with_derivatives(loss, grad)


smoothed_in_the_dtype = _smoothed(0.2)  # an ideal smoothed BCE: check it with --smoothing 0.2
smoothed_with_another_epsilon = _smoothed(0.1)  # judged with --smoothing 0.2


def careful_jax():
    """A careful JAX BCE from the logits, its gradient (1 − y)σ(z) − yσ(−z) and Hessian σ(|z|)σ(−|z|)
    each written in stable terms (``jax.custom_jvp``): on XLA's CPU it is wrong only where the platform
    flushes a subnormal result to 0 (suite/policy/platforms.toml)."""
    import jax
    import jax.numpy as jnp

    def term(c, v):  # c·v, and 0 where the weight c is 0 (a term with no weight is absent, even at v = ±∞)
        return jnp.where(c == 0, jnp.zeros_like(v), c * v)

    def sigmoid(z):  # e/(1 + e) or 1/(1 + e) with e = e^−|z| ≤ 1
        e = jnp.exp(-jnp.abs(z))
        return jnp.where(z >= 0, 1 / (1 + e), e / (1 + e))

    @jax.custom_jvp
    def grad(z, y):
        return term(1 - y, sigmoid(z)) - term(y, sigmoid(-z))

    @grad.defjvp
    def _(primals, tangents):
        z, y = primals
        e = jnp.exp(-jnp.abs(z))
        return grad(z, y), e / (1 + e) / (1 + e) * tangents[0]

    @jax.custom_jvp
    def bce(z, y):
        return term(1 - y, jnp.maximum(z, 0)) + term(y, jnp.maximum(-z, 0)) + jnp.log1p(jnp.exp(-jnp.abs(z)))

    @bce.defjvp
    def _(primals, tangents):
        z, y = primals
        return bce(z, y), grad(z, y) * tangents[0]

    return bce
