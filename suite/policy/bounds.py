"""What counts as correct: a policy file (policies/*.toml), data like the known deviations.

A policy is a list of bounds; a check takes the first bound whose keys (check, family (bce or
focal), quantity, form, dtype, regime, labels; a missing key matches anything) all match it. A
bound measures each element's error one of three ways:

- ``result``: |got − exact| / ulp(exact), ULPs of the target dtype at the exact value;
- ``operands``: |got − exact| / ulp(m), with m the size of the operands of the difference
  p − y inside the gradient: m = max(|exact|, W·max(σ(z), |y|)) for ∂L/∂z and
  m = max(|exact|, W·max(p, |y|)/(p(1 − p))) for ∂L/∂p, W the largest label weight; for the
  elements whose label is soft (0 < y < 1) only, the others being judged as ``result``, so that
  one quantity has one rule whichever check its element comes from;
- ``absolute``: |got − exact| / (eps · max(1, |exact|)), in machine epsilons of the dtype.

An element fails when its error exceeds the bound or the special-value rules reject it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bcebench.reference import metrics
from bcebench.reference.exact import Spec
from bcebench.reference.formats import Format
from bcebench.reference.oracle import Reference
from bcebench.suite.policy.data_files import (
    MATCH_KEYS,
    Located,
    PolicyError,
    check_keys,
    check_match_keys,
    keys_match,
    read_toml,
    text_field,
)

POLICY_DIR = Path(__file__).parent / "policies"


@dataclass(frozen=True)
class Bound:
    scale: str
    limit: float
    reason: str
    keys: dict = field(default_factory=dict)

    def matches(self, context: dict) -> bool:
        return keys_match(self.keys, context)

    def errors(self, got: np.ndarray, ref: Reference, fmt: Format, x: np.ndarray, y: np.ndarray, spec: Spec):
        """Per-element error in this bound's unit (inf where the special-value rules reject)."""
        if self.scale == "result":
            return metrics.ulp_error(got, ref)
        absolute = metrics.abs_error(got, ref)
        exact = np.abs(ref.exact)
        with np.errstate(all="ignore"):
            if self.scale == "absolute":
                unit = 2.0 ** (1 - fmt.precision) * np.fmax(1.0, exact)
            else:
                unit = metrics.ulp(np.fmax(exact, operand_size(spec, x, y)), fmt)
            ratio = absolute / unit
        # the special-value rules have already settled agreement (0) and disagreement (inf)
        ratio = np.where(absolute == 0, 0.0, np.where(np.isinf(absolute), np.inf, ratio))
        if self.scale == "operands":  # only a soft label makes p − y cancel: a hard one is judged in the result's ULPs
            with np.errstate(invalid="ignore"):
                hard = np.broadcast_to(~((y > 0) & (y < 1)), np.shape(ratio))
            ratio = np.where(hard, metrics.ulp_error(got, ref), ratio)
        return ratio


def operand_size(spec: Spec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The size of the operands p and y of the difference p − y inside the gradient, times the
    largest label weight: W·max(σ(z), |y|) for logits, W·max(p, |y|)/(p(1 − p)) for probabilities."""
    x64, y64 = x.astype(np.float64), np.abs(y.astype(np.float64))
    weight = (1.0 if spec.weight is None else spec.weight) * max(1.0, spec.pos_weight or 1.0)
    with np.errstate(all="ignore"):
        if spec.form == "logits":
            return weight * np.maximum(1 / (1 + np.exp(-x64)), y64)
        return weight * np.maximum(x64, y64) / (x64 * (1 - x64))


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    bounds: tuple[Bound, ...]
    source: str
    raising_allowed: tuple[str, ...] = ("p-outside-domain",)

    def bound_for(self, context: dict) -> Bound:
        for bound in self.bounds:
            if bound.matches(context):
                return bound
        raise PolicyError(f"policy {self.name!r} has no bound for {context}")


POLICY_TOP = {"name", "description", "bound", "raising_allowed"}
INPUT_CLASSES = ("p-outside-domain", "nan-input", "infinite-input", "nan-label", "infinite-label")
BOUND_KEYS = {"scale", "max_ulp", "max_eps", "reason", *MATCH_KEYS}
SCALES = {"result": "max_ulp", "operands": "max_ulp", "absolute": "max_eps"}


def load_policy(name_or_path: str) -> Policy:
    """A preset ('strict', 'relaxed') or a policy file of the same form, validated: an unknown key,
    a wrong type, or a bound that is NaN, negative or infinite is a PolicyError naming file:line."""
    path = POLICY_DIR / f"{name_or_path}.toml" if "/" not in name_or_path and not name_or_path.endswith(
        ".toml") else Path(name_or_path)
    data, lines = read_toml(path, "policy")
    where = Located(path, lines, "bound")
    unknown = sorted(set(data) - POLICY_TOP)
    if unknown:
        raise where.error(f"unknown key {unknown[0]!r} (expected {', '.join(sorted(POLICY_TOP))})", None, unknown[0])
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise where.error(f"{key} must be a string", None, key)
    entries = data.get("bound", [])
    if not isinstance(entries, list):
        raise where.error("bound must be an array of tables ([[bound]])", None, "bound")
    bounds = []
    for i, entry in enumerate(entries):
        check_keys(entry, BOUND_KEYS, where, i, "bound")
        scale = entry.get("scale", "result")
        if scale not in SCALES:
            raise where.error(f"bound {i + 1}: scale {scale!r} is not one of {', '.join(SCALES)}", i, "scale")
        limit_key = SCALES[scale]
        other = sorted(({"max_ulp", "max_eps"} - {limit_key}) & set(entry))
        if other:
            raise where.error(f"bound {i + 1}: scale {scale} takes {limit_key}, not {other[0]}", i, other[0])
        limit = entry.get(limit_key)
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit < 0:
            raise where.error(f"bound {i + 1}: {limit_key} must be a finite number >= 0, not {limit!r}", i,
                              limit_key if limit_key in entry else None)
        reason = text_field(entry, "reason", where, i, "bound")
        check_match_keys(entry, where, i)
        bounds.append(Bound(scale, float(limit), reason, {k: entry[k] for k in MATCH_KEYS if k in entry}))
    if not bounds or bounds[-1].keys:
        raise where.error("the last bound must match everything (no keys), so every check has one",
                          len(bounds) - 1 if bounds else None)
    raising = data.get("raising_allowed", ["p-outside-domain"])
    if not isinstance(raising, list) or any(v not in INPUT_CLASSES for v in raising):
        raise where.error(f"raising_allowed must be a list of {', '.join(INPUT_CLASSES)}, not {raising!r}", None,
                          "raising_allowed")
    return Policy(data.get("name", path.stem), data.get("description", ""), tuple(bounds), str(path), tuple(raising))
