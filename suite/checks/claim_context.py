"""What a claim is measured with: the claim itself, and the context that evaluates the
implementation and judges its numbers against the oracle under the policy's bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bcebench.adapters.base import Adapter, Implementation
from bcebench.reference import cache as oracle_cache
from bcebench.reference import oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, Format, as_dtype, round_float64
from bcebench.suite.policy.bounds import Policy


@dataclass(frozen=True)
class Claim:
    number: int
    slug: str
    title: str
    derive: str  # the reference.derive claim that proves it in exact arithmetic
    forms: tuple[str, ...]
    family: str  # "bce" (plain BCE implementations) or "focal"
    quantity: str
    labels: str
    measure: Callable


@dataclass
class Context:
    """``platform``: the signatures the platform declares for every implementation on it
    (suite/policy/platforms.toml), which the claims count as the gate counts them in the checks: a
    platform that flushes subnormals returns 0 where the correctly rounded value is subnormal."""

    adapter: Adapter
    impl: Implementation
    device: str
    dtype: str
    policy: Policy
    platform: frozenset[str] = frozenset()

    @property
    def fmt(self) -> Format:
        return FORMATS[self.dtype]

    def values(self, quantity: str, x: np.ndarray, y, impl: Implementation | None = None) -> np.ndarray:
        """The implementation's loss, gradient or Hessian at (x, y), as float64."""
        y = np.broadcast_to(np.asarray(y, dtype=x.dtype), x.shape).copy()
        got = self.adapter.run(impl or self.impl, quantity, x, y, self.device)
        if got.shape != x.shape:
            raise ValueError(f"returned shape {got.shape}, expected {x.shape}")
        return got.astype(np.float64)

    def bound(self, quantity: str, labels: str, family: str = "bce"):
        context = {"check": "claim", "family": family, "quantity": quantity, "form": self.impl.form,
                   "dtype": self.dtype, "labels": labels}
        return self.policy.bound_for(context)

    def judge(self, spec: Spec, labels: str, got: np.ndarray, x: np.ndarray, y,
              ref: oracle.Reference | None = None) -> tuple[np.ndarray, float]:
        """(per-element error in the policy bound's own unit, as the accuracy checks measure it;
        the bound's limit) of ``got`` against the oracle's ``spec`` at (x, y)."""
        y = np.broadcast_to(np.asarray(y, dtype=x.dtype), x.shape).copy()
        ref = ref if ref is not None else claim_reference(spec, x, y)
        bound = self.bound(spec.quantity, labels, "focal" if spec.focal else "bce")
        errors = bound.errors(got.astype(self.fmt.dtype), ref, self.fmt, x, y, spec)
        flushed = (got == 0) & (self.as_returned(ref.rounded) == 0)  # the platform's, as in the checks
        return np.where(flushed, 0.0, errors), bound.limit

    def limit(self, quantity: str, labels: str) -> float:
        return self.bound(quantity, labels).limit

    def as_returned(self, rounded) -> np.ndarray:
        """Correctly rounded values (float64) as the platform returns them: 0 for a nonzero
        subnormal where the platform flushes (reference.metrics's flushed-subnormal)."""
        rounded = np.asarray(rounded, dtype=np.float64)
        if "flushed-subnormal" not in self.platform:
            return rounded
        return np.where(np.abs(rounded) < 2.0**self.fmt.emin, 0.0, rounded)

    def cast(self, values) -> np.ndarray:
        """float64 values correctly rounded to the dtype."""
        return as_dtype(round_float64(np.asarray(values, dtype=np.float64), self.fmt), self.fmt)


def claim_reference(spec: Spec, x: np.ndarray, y) -> oracle.Reference:
    y = np.broadcast_to(np.asarray(y, dtype=x.dtype), x.shape).copy()
    return oracle_cache.evaluate(spec, x, y)


def short(value: float) -> str:
    return f"{value:.6g}"


def outcome(problems: list[str], figures: dict, finding: str) -> dict:
    """breaks with the problems found, or holds with ``finding``."""
    if problems:
        return {"outcome": "breaks", "figures": figures, "finding": "; ".join(problems)}
    return {"outcome": "holds", "figures": figures, "finding": finding}
