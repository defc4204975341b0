"""Reproduces the known deviation b940358d6e09 of bcebench with nothing but tensorflow and the standard library:
tf.nn.sigmoid_cross_entropy_with_logits on cpu, float32, its loss.

Each input, expected value and accepted bound is exact (hexadecimal). The expected value is the
exact loss correctly rounded to float32; the strict policy accepts a result in
[low, high]. Exits 1 while some result is outside it, raises, or comes back in another dtype or
shape; 0 once the fault is gone. Measured with tensorflow 2.21.0 on 2026-12-05T10:02:57+00:00.
"""

import contextlib  # noqa: F401
import functools  # noqa: F401
import math
import sys

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


IMPLEMENTATION = 'tf.nn.sigmoid_cross_entropy_with_logits'
FRAMEWORK = 'tensorflow'
DEVICE = '/CPU:0'
DTYPE = 'float32'
QUANTITY = 'loss'
REDUCTION = 'none'
TILE = 1024  # inputs repeated to this length, as the check ran them
# x, y, expected (correctly rounded), lowest and highest accepted, signature measured, exact value
CASES = [
    ("0x1.129d84p+89", "0x1.ff7ceep-1", "0x1.1933d4p+79", "0x1.1933ccp+79", "0x1.1933dap+79", "inaccurate", "6.63970493698124862718e+23"),
]


VERSION = tf.__version__


def array(values, dtype):
    with tf.device(DEVICE):
        return tf.identity(tf.cast(tf.constant(values, dtype=tf.float64), dtype))


def evaluate(bce, quantity, x, y):
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


def floats(result):
    return tf.cast(result, tf.float64).numpy().reshape(-1).tolist(), result.dtype.name, tuple(result.shape)


def scope():
    return contextlib.nullcontext()


bce = lambda z, y: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)


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
