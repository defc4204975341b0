"""How fast the oracle gives correctly rounded float32 results, on one core.

    python -m bcebench.reference.throughput [--fast-inputs N] [--mpmath-inputs N] [--repeat K]

For each quantity and form: results per second through the fast path (float64 with an error
bound, mpmath where it cannot decide), results per second through the mpmath path alone, and
the fast path's fallback rate. Inputs are float32 values drawn uniformly by bit pattern over the
whole range (every binade, subnormals included; for probabilities those in (0, 1)) with hard
labels, and normal logits (σ = 8) for the typical case. Best of K runs, since the machine is
shared; compare figures within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bcebench.reference import oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, from_bits

SPECS = [Spec(q, f) for q in ("loss", "grad", "hess") for f in ("logits", "probs")]


def inputs(form: str, count: int, rng: np.random.Generator, spread: str) -> tuple[np.ndarray, np.ndarray]:
    fmt = FORMATS["float32"]
    if spread == "normal":
        x = (rng.standard_normal(count) * 8).astype(np.float32)
        if form == "probs":
            x = rng.random(count).astype(np.float32)
    else:
        x = from_bits(rng.integers(0, 2**32, count, dtype=np.uint64), fmt)
        x = x[np.isfinite(x)] if form == "logits" else np.abs(x[(np.abs(x) > 0) & (np.abs(x) < 1)])
    labels = rng.integers(0, 2, x.size).astype(np.float32)
    return x, labels


def best_time(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast-inputs", type=int, default=1 << 20)
    parser.add_argument("--mpmath-inputs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(20261128)
    print(f"{'quantity':8} {'form':7} {'spread':8} {'fast M/s':>9} {'fallback':>10} {'mpmath k/s':>11}")
    for spec in SPECS:
        for spread in ("normal", "bits"):
            x, y = inputs(spec.form, args.fast_inputs, rng, spread)
            seconds = best_time(lambda s=spec, x=x, y=y: oracle.evaluate(s, x, y), args.repeat)
            fallback = oracle.evaluate(spec, x, y).mpmath_count / x.size
            xs, ys = x[: args.mpmath_inputs], y[: args.mpmath_inputs]
            slow = best_time(lambda s=spec, x=xs, y=ys: oracle.evaluate(s, x, y, fast=False), 1)
            print(f"{spec.quantity:8} {spec.form:7} {spread:8} {x.size / seconds / 1e6:9.1f} {fallback:10.2e}"
                  f" {xs.size / slow / 1e3:11.1f}")


if __name__ == "__main__":
    main()
