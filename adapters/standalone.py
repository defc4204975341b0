"""Each built-in as a standalone script calls it: nothing but the framework and the standard library.

A reproducer (``bcebench repro``) must run where bcebench is not installed, so it cannot call an
adapter. For each framework this module holds the text of four things a script needs — its import
lines, ``array(values, dtype)`` (Python floats, each exactly representable in the dtype, to a
framework array on ``DEVICE``), ``evaluate(bce, quantity, x, y)`` (the loss, or its elementwise
gradient or Hessian diagonal by the same autodiff the adapter uses) and ``floats(result)`` (the
values as Python floats, the result's dtype name and shape) — and, for each built-in, the source of
``bce(x, y)``: the same call the adapter makes, with its constants written out. The scripts
define ``DEVICE``, ``DTYPE`` and ``IMPLEMENTATION`` before these texts. ``suite/tests/test_repro.py``
evaluates every source here beside its adapter and requires the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    """What a standalone script of one framework needs; ``requires`` are the distributions that
    must be importable (with their own requirements), nothing else ("a|b": either of two names
    under which the framework is published)."""

    requires: tuple[str, ...]
    imports: str
    array: str
    evaluate: str
    floats: str
    scope: str = "def scope():\n    return contextlib.nullcontext()\n"


TORCH = Framework(
    requires=("torch",),
    imports="import torch\nimport torch.nn.functional as F\n",
    array='''TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}


def array(values, dtype):
    return torch.tensor(values, dtype=torch.float64).to(TORCH_DTYPES[dtype]).to(DEVICE)
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    """The loss, or autograd's gradient of its sum (and the gradient of that: the Hessian diagonal)."""
    if quantity == "loss":
        with torch.no_grad():
            return bce(x, y)
    z = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(bce(z, y).sum(), z, create_graph=quantity == "hess")
    if quantity == "grad":
        return grad
    (hess,) = torch.autograd.grad(grad.sum(), z)
    return hess
''',
    floats='''def floats(result):
    result = result.detach().cpu()
    return result.double().reshape(-1).tolist(), str(result.dtype).removeprefix("torch."), tuple(result.shape)
''',
)

JAX = Framework(
    requires=("jax", "optax"),
    imports='import jax\n\njax.config.update("jax_enable_x64", True)\nimport jax.numpy as jnp  # noqa: E402\n'
            'import optax  # noqa: E402\n',
    array='''def array(values, dtype):
    return jax.device_put(jnp.asarray(values, dtype=jnp.float64).astype(dtype), jax.devices(DEVICE)[0])
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    """The loss, or jax.grad of its sum (and jax.grad of that's sum), jitted where bce is."""
    if quantity == "loss":
        return bce(x, y)
    grad = jax.grad(lambda z, y: bce(z, y).sum())
    function = grad if quantity == "grad" else jax.grad(lambda z, y: grad(z, y).sum())
    return (jax.jit(function) if IMPLEMENTATION.startswith("jit(") else function)(x, y)
''',
    floats='''def floats(result):
    return result.astype(jnp.float64).reshape(-1).tolist(), str(result.dtype), tuple(result.shape)
''',
)

TENSORFLOW = Framework(
    requires=("tensorflow|tensorflow-cpu",),
    imports='import os\n\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")\nimport tensorflow as tf  # noqa: E402\n',
    array='''def array(values, dtype):
    with tf.device(DEVICE):
        return tf.identity(tf.cast(tf.constant(values, dtype=tf.float64), dtype))
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    """The loss, or a tape's gradient of its sum (a tape inside a tape for the Hessian diagonal)."""
    with tf.device(DEVICE):
        if quantity == "loss":
            return bce(x, y)
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                total = tf.reduce_sum(bce(x, y))
            grad = inner.gradient(total, x)
            grad_total = tf.reduce_sum(grad)
        return grad if quantity == "grad" else outer.gradient(grad_total, x)
''',
    floats='''def floats(result):
    return tf.cast(result, tf.float64).numpy().reshape(-1).tolist(), result.dtype.name, tuple(result.shape)
''',
)

NUMPY = Framework(
    requires=("numpy", "ml_dtypes"),
    imports="import ml_dtypes\nimport numpy\n",
    array='''def array(values, dtype):
    return numpy.array(values, dtype=numpy.float64).astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype)
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    if quantity != "loss":
        raise SystemExit("NumPy has no autodiff: only the loss is reproduced")
    return bce(x, y)
''',
    floats='''def floats(result):
    result = numpy.asarray(result)
    return result.astype(numpy.float64).reshape(-1).tolist(), str(result.dtype), tuple(result.shape)
''',
)

MLX = Framework(
    requires=("mlx",),
    imports="import mlx.core as mx\nimport mlx.nn\n",
    array='''def array(values, dtype):
    return mx.array(values, dtype=mx.float64).astype(getattr(mx, dtype))
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    """The loss, or mx.grad of its sum (and mx.grad of that's sum: the Hessian diagonal)."""
    if quantity == "loss":
        return bce(x, y)
    grad = mx.grad(lambda z, y: bce(z, y).sum())
    return (grad if quantity == "grad" else mx.grad(lambda z, y: grad(z, y).sum()))(x, y)
''',
    floats='''def floats(result):
    name = str(result.dtype).removeprefix("mlx.core.")
    return result.astype(mx.float64).reshape(-1).tolist(), name, tuple(result.shape)
''',
    scope="def scope():\n    return mx.stream(mx.cpu if DEVICE == \"cpu\" else mx.gpu)\n",
)

TINYGRAD = Framework(
    requires=("tinygrad",),
    imports="import importlib.metadata\n\nfrom tinygrad import Tensor, dtypes\n",
    array='''def array(values, dtype):
    return Tensor(values, dtype=dtypes.float64, device=DEVICE).cast(getattr(dtypes, dtype)).realize()
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    """The loss, or Tensor.gradient of its sum (and of that's sum: the Hessian diagonal)."""
    loss = bce(x, y)
    if quantity == "loss":
        return loss
    (grad,) = loss.sum().gradient(x)
    return grad if quantity == "grad" else grad.sum().gradient(x)[0]
''',
    floats='''TINYGRAD_NAMES = {"half": "float16", "float": "float32", "double": "float64", "bfloat16": "bfloat16"}


def floats(result):
    return result.cast(dtypes.float64).reshape(-1).tolist(), TINYGRAD_NAMES[result.dtype.name], tuple(result.shape)
''',
)

PADDLE = Framework(
    requires=("paddlepaddle|paddlepaddle-gpu", "setuptools"),  # paddle imports setuptools at import
    imports="import paddle\nimport paddle.nn.functional as F\n",
    array='''def array(values, dtype):
    return paddle.to_tensor(values, dtype="float64", place=DEVICE).astype(dtype)
''',
    evaluate='''def evaluate(bce, quantity, x, y):
    """The loss, or paddle.grad of its sum (and of that's sum: the Hessian diagonal)."""
    if quantity == "loss":
        with paddle.no_grad():
            return bce(x, y)
    z = x.detach()
    z.stop_gradient = False
    (grad,) = paddle.grad(bce(z, y).sum(), z, create_graph=quantity == "hess")
    return grad if quantity == "grad" else paddle.grad(grad.sum(), z)[0]
''',
    floats='''def floats(result):
    name = str(result.dtype).removeprefix("paddle.")
    return result.astype("float64").numpy().reshape(-1).tolist(), name, tuple(result.shape)
''',
)

SKLEARN = Framework(requires=("scikit-learn",), imports="import numpy\nimport sklearn.metrics\n",
                    array=NUMPY.array.replace("ml_dtypes.bfloat16 if dtype == \"bfloat16\" else dtype", "dtype"),
                    evaluate=NUMPY.evaluate, floats=NUMPY.floats)


def keras(backend: str, host: Framework) -> Framework:
    """Keras on ``backend``: chosen before Keras is imported, the backend's arrays and autodiff,
    every call inside Keras's device scope (the torch backend would otherwise move CPU tensors to
    its GPU)."""
    scope = ('def scope():\n    return keras.device("cpu:0" if DEVICE in ("cpu", "/CPU:0") else "gpu:0")\n'
             if backend != "numpy" else "def scope():\n    return contextlib.nullcontext()\n")
    return Framework(
        requires=("keras", *host.requires),
        imports=f'import os\n\nos.environ["KERAS_BACKEND"] = "{backend}"\n'
                + host.imports.replace("import os\n\n", "") + "import keras  # noqa: E402\n",
        array=host.array, evaluate=host.evaluate, floats=host.floats, scope=scope)


def torch_library(distribution: str, module: str) -> Framework:
    """A library built on PyTorch: its module imported beside torch, torch's arrays and autograd."""
    return Framework(requires=(distribution, "torch"), imports=TORCH.imports + f"import {module}\n",
                     array=TORCH.array, evaluate=TORCH.evaluate, floats=TORCH.floats)


FRAMEWORKS = {"torch": TORCH, "jax": JAX, "tensorflow": TENSORFLOW, "numpy": NUMPY, "sklearn": SKLEARN, "mlx": MLX,
              "tinygrad": TINYGRAD, "paddle": PADDLE,
              "kornia": torch_library("kornia", "kornia.losses"), "monai": torch_library("monai", "monai.losses"),
              "keras-torch": keras("torch", TORCH), "keras-jax": keras("jax", JAX),
              "keras-tensorflow": keras("tensorflow", TENSORFLOW), "keras-numpy": keras("numpy", NUMPY)}

# the framework's own device names, where they differ
DEVICES = {"tensorflow": {"cpu": "/CPU:0", "gpu": "/GPU:0"}, "tinygrad": {"cpu": "CPU", "gpu": "CUDA"},
           "paddle": {"cpu": "cpu", "gpu": "gpu:0"}}

_KERAS_LOSS = "keras.losses.{}(keras.ops.expand_dims(y, -1), keras.ops.expand_dims(x, -1))"
_KERAS_FOCAL = ("lambda x, y: keras.losses.binary_focal_crossentropy(keras.ops.expand_dims(y, -1), "
                "keras.ops.expand_dims(x, -1), apply_class_balancing={}, alpha=0.25, gamma=2.0, from_logits=True)")
_KERAS = {
    "keras.ops.binary_crossentropy(from_logits=True)":
        "lambda x, y: keras.ops.binary_crossentropy(y, x, from_logits=True)",
    "keras.ops.binary_crossentropy(from_logits=False)":
        "lambda x, y: keras.ops.binary_crossentropy(y, x, from_logits=False)",
    "keras.losses.BinaryCrossentropy(from_logits=True)":
        "lambda x, y: " + _KERAS_LOSS.format("BinaryCrossentropy(from_logits=True, reduction=None, dtype=DTYPE)"),
    "keras.losses.BinaryCrossentropy(from_logits=False)":
        "lambda x, y: " + _KERAS_LOSS.format("BinaryCrossentropy(from_logits=False, reduction=None, dtype=DTYPE)"),
    "keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)":
        "lambda x, y: " + _KERAS_LOSS.format(
            "BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction=None, dtype=DTYPE)"),
    "keras.losses.BinaryCrossentropy(from_logits=True)[mean]":
        "lambda x, y: " + _KERAS_LOSS.format("BinaryCrossentropy(from_logits=True, dtype=DTYPE)"),
    "keras.losses.binary_focal_crossentropy(gamma=2, from_logits=True)":
        _KERAS_FOCAL.format(False),
    "keras.losses.binary_focal_crossentropy(apply_class_balancing=True, alpha=0.25, gamma=2, from_logits=True)":
        _KERAS_FOCAL.format(True),
}

SOURCES = {
    "torch": {
        "torch.binary_cross_entropy": "lambda p, y: F.binary_cross_entropy(p, y, reduction='none')",
        "torch.binary_cross_entropy_with_logits":
            "lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction='none')",
        "torch.nn.BCELoss": "torch.nn.BCELoss(reduction='none')",
        "torch.nn.BCEWithLogitsLoss": "torch.nn.BCEWithLogitsLoss(reduction='none')",
        "torch.binary_cross_entropy_with_logits[weight]":
            "lambda z, y: F.binary_cross_entropy_with_logits(z, y, weight=torch.full_like(z, 0.75), reduction='none')",
        "torch.binary_cross_entropy_with_logits[pos_weight]":
            "lambda z, y: F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.full_like(z, 3.0), "
            "reduction='none')",
        "torch.compile(binary_cross_entropy_with_logits)":
            "functools.partial(torch.compile(F.binary_cross_entropy_with_logits, dynamic=True), reduction='none')",
        "torch focal, torchvision formula(alpha=0.25, gamma=2)": '''def bce(z, y):
    """torchvision.ops.sigmoid_focal_loss's formula in torch operations."""
    p = torch.sigmoid(z)
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = loss * ((1 - p_t) ** 2.0)
    return (0.25 * y + (1 - 0.25) * (1 - y)) * loss
''',
    },
    "jax": {
        "optax.sigmoid_binary_cross_entropy": "optax.sigmoid_binary_cross_entropy",
        "jit(optax.sigmoid_binary_cross_entropy)": "jax.jit(optax.sigmoid_binary_cross_entropy)",
        "jax.nn.log_sigmoid composition":
            "lambda z, y: -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))",
        "jit(jax.nn.log_sigmoid composition)":
            "jax.jit(lambda z, y: -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z)))",
        "optax.sigmoid_focal_loss(alpha=0.25, gamma=2)":
            "lambda z, y: optax.sigmoid_focal_loss(z, y, alpha=0.25, gamma=2.0)",
        "jit(optax.sigmoid_focal_loss(alpha=0.25, gamma=2))":
            "jax.jit(lambda z, y: optax.sigmoid_focal_loss(z, y, alpha=0.25, gamma=2.0))",
    },
    "tensorflow": {
        "tf.nn.sigmoid_cross_entropy_with_logits":
            "lambda z, y: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)",
        "tf.function(sigmoid_cross_entropy_with_logits, jit_compile=True)":
            "tf.function(lambda z, y: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z), jit_compile=True)",
        "tf.nn.weighted_cross_entropy_with_logits(pos_weight=3)":
            "lambda z, y: tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=3.0)",
    },
    "sklearn": {
        "sklearn.metrics.log_loss(normalize=False), one sample per call": '''def bce(p, y):
    """log_loss of each sample alone, normalize=False: its elementwise loss, in p's dtype."""
    return numpy.array([sklearn.metrics.log_loss(y[i : i + 1], p[i : i + 1], labels=[0, 1], normalize=False)
                        for i in range(p.size)], dtype=p.dtype)
''',
    },
    # a column in and out, as their adapters call them (the libraries take (N, C, *) inputs)
    "kornia": {
        "kornia.losses.binary_focal_loss_with_logits(alpha=0.25, gamma=2)":
            "lambda z, y: kornia.losses.binary_focal_loss_with_logits(z[:, None], y[:, None], alpha=0.25, "
            "gamma=2.0)[:, 0]",
        "kornia.losses.binary_focal_loss_with_logits(alpha=0.25, gamma=2)[mean]":
            "lambda z, y: kornia.losses.binary_focal_loss_with_logits(z[:, None], y[:, None], alpha=0.25, "
            "gamma=2.0, reduction='mean')",
    },
    "monai": {
        "monai.losses.FocalLoss(gamma=2, reduction=none)":
            "lambda z, y: monai.losses.FocalLoss(gamma=2.0, reduction='none')(z[:, None], y[:, None])[:, 0]",
        "monai.losses.FocalLoss(gamma=2)[mean]":
            "lambda z, y: monai.losses.FocalLoss(gamma=2.0)(z[:, None], y[:, None])",
    },
    "mlx": {
        "mlx.nn.losses.binary_cross_entropy(with_logits=True, reduction=none)":
            "lambda z, y: mlx.nn.losses.binary_cross_entropy(z, y, with_logits=True, reduction='none')",
        "mlx.nn.losses.binary_cross_entropy(with_logits=False, reduction=none)":
            "lambda p, y: mlx.nn.losses.binary_cross_entropy(p, y, with_logits=False, reduction='none')",
        "mlx.nn.losses.binary_cross_entropy()[mean]": "mlx.nn.losses.binary_cross_entropy",
        "mx.compile(mlx.nn.losses.binary_cross_entropy(with_logits=True, reduction=none))":
            "mx.compile(lambda z, y: mlx.nn.losses.binary_cross_entropy(z, y, with_logits=True, reduction='none'))",
    },
    "tinygrad": {
        "Tensor.binary_crossentropy_logits(reduction=none)":
            "lambda z, y: z.binary_crossentropy_logits(y, reduction='none')",
        "Tensor.binary_crossentropy(reduction=none)": "lambda p, y: p.binary_crossentropy(y, reduction='none')",
        "Tensor.binary_crossentropy_logits(reduction=none, pos_weight=3)":
            "lambda z, y: z.binary_crossentropy_logits(y, reduction='none', pos_weight=Tensor.full(z.shape, 3.0, "
            "dtype=z.dtype, device=z.device))",
        "Tensor.binary_crossentropy_logits()[mean]": "lambda z, y: z.binary_crossentropy_logits(y)",
    },
    # the focal loss takes two axes or more: a column in and out, as the adapter calls it
    "paddle": {
        "paddle.nn.functional.binary_cross_entropy_with_logits(reduction=none)":
            "lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction='none')",
        "paddle.nn.functional.binary_cross_entropy(reduction=none)":
            "lambda p, y: F.binary_cross_entropy(p, y, reduction='none')",
        "paddle.nn.functional.binary_cross_entropy_with_logits(reduction=none, pos_weight=3)":
            "lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction='none', "
            "pos_weight=paddle.full_like(z, 3.0))",
        "paddle.nn.functional.binary_cross_entropy_with_logits()[mean]": "F.binary_cross_entropy_with_logits",
        "paddle.nn.functional.sigmoid_focal_loss(alpha=0.25, gamma=2, reduction=none)":
            "lambda z, y: F.sigmoid_focal_loss(z[:, None], y[:, None], alpha=0.25, gamma=2.0, "
            "reduction='none')[:, 0]",
        "paddle.nn.functional.sigmoid_focal_loss(alpha=0.25, gamma=2)[sum]":
            "lambda z, y: F.sigmoid_focal_loss(z[:, None], y[:, None], alpha=0.25, gamma=2.0)",
    },
    **{f"keras-{backend}": _KERAS for backend in ("jax", "torch", "tensorflow", "numpy")},
}


def source(framework: str, implementation: str) -> str | None:
    """The text defining ``bce`` for a built-in, or None where there is none."""
    text = SOURCES.get(framework, {}).get(implementation)
    if text is None:
        return None
    return text if text.startswith("def bce(") else f"bce = {text}\n"
