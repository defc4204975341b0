"""What counts as correct (a policy file) and which deviations are known (deviations.toml).

Both are data. A policy is a list of bounds; a check takes the first bound whose keys (check,
family (bce or focal), quantity, form, dtype, regime, labels; a missing key matches anything) all
match it. A bound
measures each element's error one of three ways:

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

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from bcebench.reference import metrics
from bcebench.reference.exact import Spec
from bcebench.reference.formats import Format
from bcebench.reference.oracle import Reference

POLICY_DIR = Path(__file__).parent / "policies"
DEVIATIONS_FILE = Path(__file__).parent / "deviations.toml"
PLATFORMS_FILE = Path(__file__).parent / "platforms.toml"
MATCH_KEYS = ("framework", "device", "check", "family", "quantity", "form", "dtype", "regime", "labels")


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


def _read_toml(path: Path, what: str) -> tuple[dict, list[str]]:
    """(the document, its lines) of a policy or deviations file; PolicyError when it cannot be read."""
    try:
        text = path.read_text()
        return tomllib.loads(text), text.splitlines()
    except FileNotFoundError:
        raise PolicyError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise PolicyError(f"{what} {path}: a directory, not a file") from None
    except OSError as error:
        raise PolicyError(f"{what} {path}: cannot be read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PolicyError(f"{what} {path}: not valid TOML ({error})") from None


class _Located:
    """Line numbers of the entries of an array of tables ([[bound]], [[deviation]]) and of their
    keys, for errors that say file:line (tomllib keeps none)."""

    def __init__(self, path: Path, lines: list[str], table: str):
        self.path, self.lines = path, lines
        self.starts = [i + 1 for i, line in enumerate(lines) if re.match(rf"\s*\[\[\s*{table}\s*\]\]", line)]

    def line(self, index: int | None = None, key: str | None = None) -> int:
        if index is None or index >= len(self.starts):
            start, end = 1, (self.starts[0] if self.starts else len(self.lines) + 1)
        else:
            start = self.starts[index]
            end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines) + 1
        for number in range(start, end):
            if key is not None and re.match(rf"\s*{re.escape(key)}\s*=", self.lines[number - 1]):
                return number
        return start

    def error(self, message: str, index: int | None = None, key: str | None = None) -> PolicyError:
        return PolicyError(f"{self.path}:{self.line(index, key)}: {message}")


def _known_values() -> dict[str, tuple[str, ...]]:
    """The values a match key can take, where the set is closed (regimes, labels and
    implementations are open: claims and frameworks add their own)."""
    from bcebench.adapters.base import DEVICES, QUANTITIES, known
    from bcebench.reference.exact import FORMS
    from bcebench.reference.formats import DTYPE_NAMES

    return {"check": ("accuracy", "special", "domain", "reduction", "unchanged-inputs", "shapes", "claim"),
            "family": ("bce", "focal"), "quantity": QUANTITIES, "device": DEVICES, "form": FORMS, "dtype": DTYPE_NAMES,
            "framework": known}


def _check_match_keys(entry: dict, where: _Located, index: int) -> None:
    """Each match key is a string or a non-empty list of strings; a value without * must be one of
    the key's known values (a typo would otherwise match nothing, or everything)."""
    closed = _known_values()
    for key in (*MATCH_KEYS, "implementation"):
        if key not in entry:
            continue
        value = entry[key]
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise where.error(f"{key} must be a non-empty string or list of strings, not {value!r}", index, key)
        allowed = closed.get(key)
        for v in values:
            if "*" in v or allowed is None:
                continue
            if not (allowed(v) if callable(allowed) else v in allowed):
                expected = "a registered framework" if callable(allowed) else ", ".join(allowed)
                raise where.error(f"{key} {v!r} is not one of {expected}", index, key)


def _check_keys(entry, allowed: set, where: _Located, index: int, what: str) -> None:
    if not isinstance(entry, dict):
        raise where.error(f"{what} {index + 1} is not a table", index)
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise where.error(f"{what} {index + 1}: unknown key {unknown[0]!r} (expected {', '.join(sorted(allowed))})",
                          index, unknown[0])


def _text(entry: dict, key: str, where: _Located, index: int, what: str, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        problem = "is missing" if value is None else f"must be a non-empty string, not {value!r}"
        raise where.error(f"{what} {index + 1}: {key} {problem}", index, key if value is not None else None)
    return value


POLICY_TOP = {"name", "description", "bound", "raising_allowed"}
INPUT_CLASSES = ("p-outside-domain", "nan-input", "infinite-input", "nan-label", "infinite-label")
BOUND_KEYS = {"scale", "max_ulp", "max_eps", "reason", *MATCH_KEYS}
SCALES = {"result": "max_ulp", "operands": "max_ulp", "absolute": "max_eps"}


def load_policy(name_or_path: str) -> Policy:
    """A preset ('strict', 'relaxed') or a policy file of the same form, validated: an unknown key,
    a wrong type, or a bound that is NaN, negative or infinite is a PolicyError naming file:line."""
    path = POLICY_DIR / f"{name_or_path}.toml" if "/" not in name_or_path and not name_or_path.endswith(
        ".toml") else Path(name_or_path)
    data, lines = _read_toml(path, "policy")
    where = _Located(path, lines, "bound")
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
        _check_keys(entry, BOUND_KEYS, where, i, "bound")
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
        reason = _text(entry, "reason", where, i, "bound")
        _check_match_keys(entry, where, i)
        bounds.append(Bound(scale, float(limit), reason, {k: entry[k] for k in MATCH_KEYS if k in entry}))
    if not bounds or bounds[-1].keys:
        raise where.error("the last bound must match everything (no keys), so every check has one",
                          len(bounds) - 1 if bounds else None)
    raising = data.get("raising_allowed", ["p-outside-domain"])
    if not isinstance(raising, list) or any(v not in INPUT_CLASSES for v in raising):
        raise where.error(f"raising_allowed must be a list of {', '.join(INPUT_CLASSES)}, not {raising!r}", None,
                          "raising_allowed")
    return Policy(data.get("name", path.stem), data.get("description", ""), tuple(bounds), str(path), tuple(raising))


REGION_VARIABLES = ("x", "z", "p", "y", "|x|", "|z|", "|p|", "|y|")
OPERATORS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
             "!=": np.not_equal}


@dataclass(frozen=True)
class Condition:
    """``variable operator value`` on an element's input: x (z or p, the form's input) or the
    label y, or their absolute values; value a number, 2^k, ±inf or nan (== nan: is NaN)."""

    variable: str
    operator: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = re.fullmatch(r"\s*(\|?[xzpy]\|?)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*", text)
        if not match or match.group(1) not in REGION_VARIABLES:
            raise ValueError(f"region condition {text!r} is not 'VARIABLE OP NUMBER' with VARIABLE one of "
                             f"{', '.join(REGION_VARIABLES)} and OP one of {', '.join(OPERATORS)}")
        literal = match.group(3)
        power = re.fullmatch(r"(-?)2\^(-?\d+)", literal)
        try:
            value = float(f"{power.group(1)}1") * 2.0 ** int(power.group(2)) if power else float(literal)
        except ValueError:
            raise ValueError(f"region condition {text!r}: {literal!r} is not a number") from None
        if math.isnan(value) and match.group(2) not in ("==", "!="):
            raise ValueError(f"region condition {text!r}: nan takes == or != only")
        return cls(match.group(1), match.group(2), value)

    def holds(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        values = y if "y" in self.variable else x
        values = np.abs(values) if self.variable.startswith("|") else values
        with np.errstate(invalid="ignore"):
            if math.isnan(self.value):
                return np.isnan(values) if self.operator == "==" else ~np.isnan(values)
            return OPERATORS[self.operator](values, self.value)

    def __str__(self) -> str:
        return f"{self.variable} {self.operator} {self.value:.17g}"


@dataclass(frozen=True)
class Explains:
    """One signature a deviation explains, the input region where it does (every condition holds;
    ["all"] is the whole input space), and for a finite error the largest it allows (the
    measured maximum with a stated margin)."""

    signature: str
    region: tuple[Condition, ...]
    max_error: float | None = None

    def explains(self, x, y, kinds, errors) -> np.ndarray:
        inside = self.covers(x, y) & (kinds == self.signature)
        if self.max_error is not None:
            inside &= errors <= self.max_error
        return inside

    def covers(self, x, y) -> np.ndarray:
        inside = np.ones(np.shape(x), dtype=bool)
        for condition in self.region:
            inside &= condition.holds(x, y)
        return inside


@dataclass(frozen=True)
class Deviation:
    """A known deviation (or a platform's declared behaviour): the checks it matches (``keys``) and
    the failing elements it explains there (``parts``: a signature, a region, a largest error)."""

    implementation: str | list
    what: str
    why: str
    link: str
    keys: dict
    parts: tuple[Explains, ...] = ()

    def matches(self, context: dict) -> bool:
        return _keys_match({"implementation": self.implementation, **self.keys}, context)

    def explains(self, x, y, kinds, errors) -> np.ndarray:
        """Which elements (by input, signature and error) this deviation explains."""
        explained = np.zeros(np.shape(kinds), dtype=bool)
        for part in self.parts:
            explained |= part.explains(x, y, kinds, errors)
        return explained

    def covers(self, x, y) -> bool:
        return any(part.covers(x, y).any() for part in self.parts)

    @cached_property
    def key(self) -> str:
        """A fingerprint of the entry, the same in every process that reads the same file."""
        return hashlib.sha1(json.dumps(self.as_record(), sort_keys=True).encode()).hexdigest()[:12]

    def as_record(self) -> dict:
        parts = [{"signature": p.signature, "region": [str(c) for c in p.region] or ["all"],
                  **({"max_error": p.max_error} if p.max_error is not None else {})} for p in self.parts]
        return {"implementation": self.implementation, **self.keys, "what": self.what, "why": self.why,
                "link": self.link, "explains": parts}


DEVIATION_KEYS = {"implementation", "what", "why", "link", "explains", *MATCH_KEYS}
EXPLAINS_KEYS = {"signature", "region", "max_error", "margin"}


def _explains(entry: dict, where: _Located, index: int, what: str) -> tuple[Explains, ...]:
    """The entry's [[…explains]] tables: each a known signature, a non-empty region, and for an
    inaccurate result the largest error with the margin it leaves over the measurement."""
    from bcebench.reference.metrics import CHECK_SIGNATURES, SIGNATURES

    parts = entry.get("explains")
    if not isinstance(parts, list) or not parts:
        raise where.error(f"{what} {index + 1}: explains is missing: the signatures it explains and the region of "
                          f"each", index, "explains" if "explains" in entry else None)
    result = []
    for part in parts:
        if not isinstance(part, dict):
            raise where.error(f"{what} {index + 1}: each explains entry is a table", index, "explains")
        unknown = sorted(set(part) - EXPLAINS_KEYS)
        if unknown:
            raise where.error(f"{what} {index + 1}: explains: unknown key {unknown[0]!r} "
                              f"(expected {', '.join(sorted(EXPLAINS_KEYS))})", index, unknown[0])
        signature = part.get("signature")
        if signature not in SIGNATURES + CHECK_SIGNATURES:
            raise where.error(f"{what} {index + 1}: explains: signature {signature!r} is not one of "
                              f"{', '.join(SIGNATURES + CHECK_SIGNATURES)}", index, "signature")
        region = part.get("region")
        if not isinstance(region, list) or not region or not all(isinstance(c, str) for c in region):
            raise where.error(f"{what} {index + 1}: explains {signature}: region must be a non-empty list of "
                              f"conditions such as \"z < 0\" (or [\"all\"])", index, "region")
        try:
            conditions = () if region == ["all"] else tuple(Condition.parse(c) for c in region)
        except ValueError as error:
            raise where.error(f"{what} {index + 1}: explains {signature}: {error}", index, "region") from None
        limit = part.get("max_error")
        if signature == "inaccurate" and limit is None:
            raise where.error(f"{what} {index + 1}: explains inaccurate needs max_error (the measured largest "
                              f"error with a margin)", index, "signature")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                                  or math.isnan(limit) or limit < 0):
            raise where.error(f"{what} {index + 1}: max_error must be a number >= 0 (inf only where the exact "
                              f"value is 0 and any other result is infinitely many ULPs off), not {limit!r}", index,
                              "max_error")
        if limit is not None and not isinstance(part.get("margin"), str):
            raise where.error(f"{what} {index + 1}: max_error needs margin, the measurement it was set from",
                              index, "max_error")
        result.append(Explains(signature, conditions, None if limit is None else float(limit)))
    return tuple(result)


def load_deviations(path: Path = DEVIATIONS_FILE, table: str = "deviation") -> tuple[Deviation, ...]:
    """The known deviations (or, with table "platform", the platforms' declared behaviour), validated
    like a policy: unknown keys, wrong types, values no check can have, an entry without check,
    quantity or the signatures and regions it explains are a PolicyError naming file:line."""
    what = "deviations" if table == "deviation" else "platforms"
    data, lines = _read_toml(path, what)
    where = _Located(path, lines, table)
    unknown = sorted(set(data) - {table})
    if unknown:
        raise where.error(f"unknown key {unknown[0]!r} (expected {table})", None, unknown[0])
    entries = data.get(table, [])
    if not isinstance(entries, list):
        raise where.error(f"{table} must be an array of tables ([[{table}]])", None, table)
    deviations = []
    required = ("implementation", "check", "quantity") if table == "deviation" else ("framework", "device")
    for i, entry in enumerate(entries):
        _check_keys(entry, DEVIATION_KEYS, where, i, table)
        missing = [k for k in required if k not in entry]
        if missing:
            raise where.error(f"{table} {i + 1}: {missing[0]} is missing", i)
        text, why = _text(entry, "what", where, i, table), _text(entry, "why", where, i, table)
        link = _text(entry, "link", where, i, table, required=False)
        _check_match_keys(entry, where, i)
        deviations.append(Deviation(entry.get("implementation", "*"), text, why, link,
                                    {k: entry[k] for k in MATCH_KEYS if k in entry}, _explains(entry, where, i, table)))
    return tuple(deviations)


def load_platforms(path: Path = PLATFORMS_FILE) -> tuple[Deviation, ...]:
    """What each framework's platform does to every implementation on it (flushed subnormals, say),
    applied to the user's implementations too."""
    return load_deviations(path, "platform")
