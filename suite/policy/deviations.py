"""The known deviations (deviations.toml) and the platforms' declared behaviour (platforms.toml):
which implementation, which inputs, which fault and how large, and why.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bcebench.suite.policy.data_files import (
    MATCH_KEYS,
    Located,
    check_keys,
    check_match_keys,
    keys_match,
    read_toml,
    text_field,
)

DEVIATIONS_FILE = Path(__file__).parent / "deviations.toml"
PLATFORMS_FILE = Path(__file__).parent / "platforms.toml"
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
    ["all"] is the whole input space), for a finite error the largest it allows (the measured
    maximum with a stated margin), and the dtypes where it was measured (``dtypes``; empty: every
    dtype the entry matches), so that what one dtype showed explains nothing in another."""

    signature: str
    region: tuple[Condition, ...]
    max_error: float | None = None
    dtypes: tuple[str, ...] = ()

    def applies_to(self, dtype: str | None) -> bool:
        return not self.dtypes or dtype in self.dtypes

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


WHOLE_CHECK_SIGNATURES = {"claim-breaks": "claim", "writes-input": "unchanged-inputs"}


def can_show(check: str | None, signature: str) -> bool:
    """Whether a check of kind ``check`` can fail with ``signature``. A claim and the
    unchanged-inputs check have no elements: each fails with its own whole-check signature
    (reference.metrics.CHECK_SIGNATURES) alone; every other check with element signatures and
    wrong-result."""
    own = {kind: whole for whole, kind in WHOLE_CHECK_SIGNATURES.items()}
    if check in own:
        return signature == own[check]
    return signature not in WHOLE_CHECK_SIGNATURES


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
    reproducer: str = ""  # why no standalone script can reproduce it, where none can (a claim on a variant)

    def matches(self, context: dict) -> bool:
        return keys_match({"implementation": self.implementation, **self.keys}, context)

    def explains(self, x, y, kinds, errors, dtype: str | None = None) -> np.ndarray:
        """Which elements (by input, signature and error) of a check in ``dtype`` this deviation explains."""
        explained = np.zeros(np.shape(kinds), dtype=bool)
        for part in self.parts:
            if part.applies_to(dtype):
                explained |= part.explains(x, y, kinds, errors)
        return explained

    def covers(self, x, y, check: str | None, dtype: str | None = None) -> bool:
        """Some input of a check of kind ``check`` lies in the region of a part whose signature that
        check can show: a whole-check signature only in its own kind of check (claim-breaks in a
        claim, writes-input in unchanged-inputs, wrong-result elsewhere), so that an entry is not
        covered, and then reported stale, by checks that could never need it."""
        return any(part.covers(x, y).any() for part in self.parts
                   if can_show(check, part.signature) and part.applies_to(dtype))

    @cached_property
    def key(self) -> str:
        """A fingerprint of the entry, the same in every process that reads the same file."""
        return hashlib.sha1(json.dumps(self.as_record(), sort_keys=True).encode()).hexdigest()[:12]

    def as_record(self) -> dict:
        parts = [{"signature": p.signature, **({"dtype": list(p.dtypes)} if p.dtypes else {}),
                  "region": [str(c) for c in p.region] or ["all"],
                  **({"max_error": p.max_error} if p.max_error is not None else {})} for p in self.parts]
        return {"implementation": self.implementation, **self.keys, "what": self.what, "why": self.why,
                "link": self.link, "explains": parts}


DEVIATION_KEYS = {"implementation", "what", "why", "link", "explains", "reproducer", *MATCH_KEYS}
EXPLAINS_KEYS = {"signature", "dtype", "region", "max_error", "margin"}


def _explains(entry: dict, where: Located, index: int, what: str) -> tuple[Explains, ...]:
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
        result.append(Explains(signature, conditions, None if limit is None else float(limit),
                               _part_dtypes(entry, part, where, index, what)))
    return tuple(result)


def _part_dtypes(entry: dict, part: dict, where: Located, index: int, what: str) -> tuple[str, ...]:
    """An explains table's ``dtype`` (a name or a list of names), each one the entry matches."""
    from bcebench.reference.formats import FORMATS

    if "dtype" not in part:
        return ()
    names = [part["dtype"]] if isinstance(part["dtype"], str) else part["dtype"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise where.error(f"{what} {index + 1}: explains: dtype must be a dtype or a non-empty list of them",
                          index, "dtype")
    for name in names:
        if name not in FORMATS:
            raise where.error(f"{what} {index + 1}: explains: dtype {name!r} is not one of {', '.join(FORMATS)}",
                              index, "dtype")
        if not keys_match({"dtype": entry.get("dtype", "*")}, {"dtype": name}):
            raise where.error(f"{what} {index + 1}: explains: dtype {name!r} is not one the entry matches, so it "
                              f"would never apply", index, "dtype")
    return tuple(names)


def load_deviations(path: Path = DEVIATIONS_FILE, table: str = "deviation") -> tuple[Deviation, ...]:
    """The known deviations (or, with table "platform", the platforms' declared behaviour), validated
    like a policy: unknown keys, wrong types, values no check can have, an entry without check,
    quantity or the signatures and regions it explains are a PolicyError naming file:line."""
    what = "deviations" if table == "deviation" else "platforms"
    data, lines = read_toml(path, what)
    where = Located(path, lines, table)
    unknown = sorted(set(data) - {table})
    if unknown:
        raise where.error(f"unknown key {unknown[0]!r} (expected {table})", None, unknown[0])
    entries = data.get(table, [])
    if not isinstance(entries, list):
        raise where.error(f"{table} must be an array of tables ([[{table}]])", None, table)
    deviations = []
    required = ("implementation", "check", "quantity") if table == "deviation" else ("framework", "device")
    for i, entry in enumerate(entries):
        check_keys(entry, DEVIATION_KEYS, where, i, table)
        missing = [k for k in required if k not in entry]
        if missing:
            raise where.error(f"{table} {i + 1}: {missing[0]} is missing", i)
        text, why = text_field(entry, "what", where, i, table), text_field(entry, "why", where, i, table)
        link = text_field(entry, "link", where, i, table, required=False)
        check_match_keys(entry, where, i)
        reproducer = text_field(entry, "reproducer", where, i, table, required=False)
        deviations.append(Deviation(entry.get("implementation", "*"), text, why, link,
                                    {k: entry[k] for k in MATCH_KEYS if k in entry}, _explains(entry, where, i, table),
                                    reproducer))
    return tuple(deviations)


def load_platforms(path: Path = PLATFORMS_FILE) -> tuple[Deviation, ...]:
    """What each framework's platform does to every implementation on it (flushed subnormals, say),
    applied to the user's implementations too."""
    return load_deviations(path, "platform")


def everywhere(entries: tuple[Deviation, ...], context: dict) -> frozenset[str]:
    """The signatures that the entries matching ``context`` explain at every input (region all):
    what a platform does to every result, which the claims count as the checks do."""
    return frozenset(part.signature for entry in entries if entry.matches(context) for part in entry.parts
                     if not part.region)
