"""Reproduces the known deviation a3f22098e15a of bcebench with nothing but torch and the standard library:
torch.binary_cross_entropy_with_logits on cpu, float32, its hess.

Each input, expected value and accepted bound is exact (hexadecimal). The expected value is the
exact hess correctly rounded to float32; the strict policy accepts a result in
[low, high]. Exits 1 while some result is outside it, raises, or comes back in another dtype or
shape; 0 once the fault is gone. Measured with torch 2.13.0+cpu on 2026-12-05T10:06:38+00:00.
"""

import contextlib  # noqa: F401
import functools  # noqa: F401
import math
import sys

import torch
import torch.nn.functional as F


IMPLEMENTATION = 'torch.binary_cross_entropy_with_logits'
FRAMEWORK = 'torch'
DEVICE = 'cpu'
DTYPE = 'float32'
QUANTITY = 'hess'
REDUCTION = 'none'
TILE = 1024  # inputs repeated to this length, as the check ran them
# x, y, expected (correctly rounded), lowest and highest accepted, signature measured, exact value
CASES = [
    ("0x1.0d2ceap+6", "0x1p+0", "0x1.e2ddc4p-98", "0x1.e2ddb6p-98", "0x1.e2ddd4p-98", "lost-tail", "5.95178634566706492830e-30"),
    ("0x1.7661e6p+6", "0x0p+0", "0x1.f58p-136", "0x1.f54p-136", "0x1.f5b8p-136", "flushed-subnormal", "2.24877330527115075037e-41"),
    ("0x1.add4bap+3", "0x0p+0", "0x1.89d296p-20", "0x1.89d286p-20", "0x1.89d2a4p-20", "inaccurate", "0.00000146710346621269545353"),
]


VERSION = torch.__version__


TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}


def array(values, dtype):
    return torch.tensor(values, dtype=torch.float64).to(TORCH_DTYPES[dtype]).to(DEVICE)


def evaluate(bce, quantity, x, y):
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


def floats(result):
    result = result.detach().cpu()
    return result.double().reshape(-1).tolist(), str(result.dtype).removeprefix("torch."), tuple(result.shape)


def scope():
    return contextlib.nullcontext()


bce = lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction='none')


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
