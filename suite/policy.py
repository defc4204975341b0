"""What counts as correct (a policy file) and which deviations are known (deviations.toml).

Both are data. A policy is a list of bounds; a check takes the first bound whose keys (check,
family (bce or focal), quantity, form, dtype, regime, labels; a missing key matches anything) all
match it. A bound
measures each element's error one of three ways:

- ``result``: |got − exact| / ulp(exact), ULPs of the target dtype at the exact value;
- ``operands``: |got − exact| / ulp(m), with m the size of the operands of the difference
  p − y inside the gradient: m = max(|exact|, W·max(σ(z), |y|)) for ∂L/∂z and
  m = max(|exact|, W·max(p, |y|)/(p(1 − p))) for ∂L/∂p, W the largest label weight;
- ``absolute``: |got − exact| / (eps · max(1, |exact|)), in machine epsilons of the dtype.

An element fails when its error exceeds the bound or the special-value rules reject it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reference import metrics
from reference.exact import Spec
from reference.formats import Format
from reference.oracle import Reference

POLICY_DIR = Path(__file__).parent / "policies"
DEVIATIONS_FILE = Path(__file__).parent / "deviations.toml"
MATCH_KEYS = ("framework", "check", "family", "quantity", "form", "dtype", "regime", "labels")


class PolicyError(ValueError):
    """A policy or deviations file that cannot be used."""


def glob_match(pattern: str, text: str) -> bool:
    """``*`` matches any run of characters; every other character, brackets included, is literal
    (implementation ids such as ``torch.binary_cross_entropy[mean]`` contain brackets)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


def _keys_match(keys: dict, context: dict) -> bool:
    """Each key's pattern (or any of a list of patterns) matches the context's value."""
    for key, patterns in keys.items():
        options = patterns if isinstance(patterns, list) else [patterns]
        if not any(glob_match(str(p), str(context.get(key, ""))) for p in options):
            return False
    return True


@dataclass(frozen=True)
class Bound:
    scale: str
    limit: float
    reason: str
    keys: dict = field(default_factory=dict)

    def matches(self, context: dict) -> bool:
        return _keys_match(self.keys, context)

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
        return np.where(absolute == 0, 0.0, np.where(np.isinf(absolute), np.inf, ratio))


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

    def bound_for(self, context: dict) -> Bound:
        for bound in self.bounds:
            if bound.matches(context):
                return bound
        raise PolicyError(f"policy {self.name!r} has no bound for {context}")


def _read_toml(path: Path, what: str) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"{what} {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PolicyError(f"{what} {path}: not valid TOML ({error})") from None


def load_policy(name_or_path: str) -> Policy:
    """A preset ('strict', 'relaxed') or a policy file of the same form."""
    path = POLICY_DIR / f"{name_or_path}.toml" if "/" not in name_or_path and not name_or_path.endswith(
        ".toml") else Path(name_or_path)
    data = _read_toml(path, "policy")
    bounds = []
    for i, entry in enumerate(data.get("bound", [])):
        scale = entry.get("scale", "result")
        limit = entry.get("max_eps" if scale == "absolute" else "max_ulp")
        if scale not in ("result", "operands", "absolute") or not isinstance(limit, (int, float)) or limit < 0:
            raise PolicyError(f"policy {path}: bound {i + 1} needs scale result/operands with max_ulp, "
                              f"or scale absolute with max_eps (a number >= 0)")
        if not entry.get("reason"):
            raise PolicyError(f"policy {path}: bound {i + 1} gives no reason")
        bounds.append(Bound(scale, float(limit), entry["reason"], {k: entry[k] for k in MATCH_KEYS if k in entry}))
    if not bounds or bounds[-1].keys:
        raise PolicyError(f"policy {path}: the last bound must match everything (no keys), so every check has one")
    return Policy(data.get("name", path.stem), data.get("description", ""), tuple(bounds), str(path))


@dataclass(frozen=True)
class Deviation:
    implementation: str | list
    what: str
    why: str
    link: str
    keys: dict

    def matches(self, context: dict) -> bool:
        return _keys_match({"implementation": self.implementation, **self.keys}, context)

    def as_record(self) -> dict:
        return {"implementation": self.implementation, **self.keys, "what": self.what, "why": self.why,
                "link": self.link}


def load_deviations(path: Path = DEVIATIONS_FILE) -> tuple[Deviation, ...]:
    data = _read_toml(path, "deviations")
    deviations = []
    for i, entry in enumerate(data.get("deviation", [])):
        missing = [k for k in ("implementation", "what", "why") if not entry.get(k)]
        if missing:
            raise PolicyError(f"deviations {path}: entry {i + 1} lacks {', '.join(missing)}")
        deviations.append(Deviation(entry["implementation"], entry["what"], entry["why"], entry.get("link", ""),
                                    {k: entry[k] for k in MATCH_KEYS if k in entry}))
    return tuple(deviations)
