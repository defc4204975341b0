"""Reproduces the known deviation 913ef7e39d21 of bcebench with nothing but jax and the standard library:
optax.sigmoid_binary_cross_entropy on cpu, float32, its grad.

Each input, expected value and accepted bound is exact (hexadecimal). The expected value is the
exact grad correctly rounded to float32; the strict policy accepts a result in
[low, high]. Exits 1 while some result is outside it, raises, or comes back in another dtype or
shape; 0 once the fault is gone. Measured with jax 0.10.2 (optax 0.2.8) on 2026-12-05T10:06:38+00:00.
"""

import contextlib  # noqa: F401
import functools  # noqa: F401
import math
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402


IMPLEMENTATION = 'optax.sigmoid_binary_cross_entropy'
FRAMEWORK = 'jax'
DEVICE = 'cpu'
DTYPE = 'float32'
QUANTITY = 'grad'
REDUCTION = 'none'
TILE = 1024  # inputs repeated to this length, as the check ran them
# x, y, expected (correctly rounded), lowest and highest accepted, signature measured, exact value
CASES = [
    ("0x1.add4bap+3", "0x0p+0", "0x1.ffffcep-1", "0x1.ffffc8p-1", "0x1.ffffd6p-1", "inaccurate", "0.999998532894381342295"),
]


VERSION = jax.__version__ + " (optax " + optax.__version__ + ")"


def array(values, dtype):
    return jax.device_put(jnp.asarray(values, dtype=jnp.float64).astype(dtype), jax.devices(DEVICE)[0])


def evaluate(bce, quantity, x, y):
    """The loss, or jax.grad of its sum (and jax.grad of that's sum), jitted where bce is."""
    if quantity == "loss":
        return bce(x, y)
    grad = jax.grad(lambda z, y: bce(z, y).sum())
    function = grad if quantity == "grad" else jax.grad(lambda z, y: grad(z, y).sum())
    return (jax.jit(function) if IMPLEMENTATION.startswith("jit(") else function)(x, y)


def floats(result):
    return result.astype(jnp.float64).reshape(-1).tolist(), str(result.dtype), tuple(result.shape)


def scope():
    return contextlib.nullcontext()


bce = optax.sigmoid_binary_cross_entropy


PRECISION = {"float16": (11, -14), "bfloat16": (8, -126), "float32": (24, -126), "float64": (53, -1022)}


def ulps(got, exact):
    """|got − exact| in units in the last place of DTYPE at the exact value (exact to double here)."""
    if math.isnan(got) or math.isnan(exact):
        return 0.0 if math.isnan(got) and math.isnan(exact) else math.inf
    if math.isinf(got) or math.isinf(exact):
        return 0.0 if got == exact else math.inf
    precision, emin = PRECISION[DTYPE]
    exponent = max(math.frexp(exact)[1] - 1, emin) if exact else emin
    return abs(got - exact) / math.ldexp(1.0, exponent - precision + 1)


def run(xs, ys):
    """(values, dtype, shape) of one call on the inputs, or the exception it raised."""
    try:
        with scope():
            return floats(evaluate(bce, QUANTITY, array(xs, DTYPE), array(ys, DTYPE)))
    except Exception as error:  # an exception is a result here: the fault may be that it raises
        return error


def main():
    print(f"{IMPLEMENTATION} {DEVICE} {DTYPE} {QUANTITY}, {FRAMEWORK} {VERSION}, Python {sys.version.split()[0]}")
    xs = [float.fromhex(case[0]) for case in CASES]
    ys = [float.fromhex(case[1]) for case in CASES]
    copies = max(1, TILE // len(CASES)) if CASES and REDUCTION == "none" else 1
    faults = 0
    result = run(xs * copies, ys * copies)
    if isinstance(result, Exception):
        print(f"the call raised {type(result).__name__}: {result}".splitlines()[0])
        results = [run([x], [y]) for x, y in zip(xs, ys)] if len(CASES) > 1 else [result] * len(CASES)
        faults += not CASES
    else:
        values, dtype, shape = result
        expected_shape = (len(CASES) * copies,) if REDUCTION == "none" else ()
        if dtype != DTYPE or shape != expected_shape:
            print(f"FAULT: returned {dtype} of shape {shape}, expected {DTYPE} of shape {expected_shape}")
            faults += 1
        results = [([v], dtype, shape) for v in values[: len(CASES)]]
    for case, outcome in zip(CASES, results):
        x, y, expected, low, high = (float.fromhex(v) for v in case[:5])
        where = f"x = {x!r} ({case[0]}), y = {y!r} ({case[1]})"
        if isinstance(outcome, Exception):
            faults += 1
            print(f"FAULT ({case[5]} measured) {where}: raised {type(outcome).__name__}: {outcome}".splitlines()[0])
            continue
        got = outcome[0][0]
        right = math.isnan(got) if math.isnan(expected) else low <= got <= high
        faults += not right
        print(f"{'ok' if right else 'FAULT'} ({case[5]} measured) {where}: got {got!r} ({got.hex()}), "
              f"expected {expected!r} ({case[2]}), exact {case[6]}: {ulps(got, float(case[6])):.4g} ULPs off; "
              f"accepted [{low!r}, {high!r}]")
    print(f"{faults} fault(s): {'present' if faults else 'gone'}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
