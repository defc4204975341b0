"""From a check's record to what a reproducer embeds: the failing inputs, the correctly rounded
expected values, and the results the policy accepts.

A record's ``worst`` inputs (with its special inputs that raised, and a claim's first breaking
input) are the candidates; for a known deviation only those the entry explains, one per failure
signature, most severe first. Each element gets the oracle's correctly rounded value and the
interval of the dtype's values that the policy's bound accepts there (found by bisection over the
dtype's ordered values, the bound's error growing with the distance from the exact value), so
that a script needs no oracle and no policy: a result outside the interval, or of the wrong dtype
or shape, is the fault. A check without inputs (an empty input that comes back wrong) gives an
empty list: the script then runs the empty input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from bcebench.reference import cache as oracle_cache
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, Format, bits_of, from_bits
from bcebench.suite.policy.bounds import Policy
from bcebench.suite.policy.deviations import Deviation

ELEMENTS_KEPT = 3
CHECK_ORDER = ("accuracy", "special", "claim", "shapes", "reduction", "domain")
DTYPE_ORDER = ("float32", "float64", "float16", "bfloat16")  # the reproducer maintainers run first


class ReproError(ValueError):
    """A record or request that no reproducer can be written for."""


@dataclass(frozen=True)
class Element:
    x: float
    y: float
    signature: str
    exact: str  # the exact value, 21 significant digits
    expected: float  # the exact value correctly rounded to the dtype
    low: float  # the accepted results: [low, high], or NaN alone where expected is NaN
    high: float
    got: float | None  # what the check measured, where the record says


@dataclass(frozen=True)
class Finding:
    record: dict
    elements: tuple[Element, ...]
    deviation: dict | None = None  # the known deviation's entry (as_record) it reproduces


def _value(entry: dict, fmt: Format) -> float:
    return float(from_bits([int(entry["hex"], 16)], fmt)[0])


def candidates(record: dict) -> list[dict]:
    """The record's failing inputs it names: worst inputs, special inputs that raised where the
    policy does not allow it, a claim's breaking input, an input of a result in another dtype; each
    {x, y, signature, error, got}."""
    fmt = FORMATS[record["dtype"]]
    found = [{"x": _value(w["x"], fmt), "y": _value(w["y"], fmt), "signature": w["signature"], "error": w["error"],
              "got": _value(w["got"], fmt)} for w in record.get("worst", []) if w.get("signature")]
    found += [{"x": _value(r["x"], fmt), "y": _value(r["y"], fmt), "signature": "raised", "error": math.inf,
               "got": None} for r in record.get("rejected", []) if not r.get("allowed", True)]
    if "input" in record:
        found.append({"x": _value(record["input"]["x"], fmt), "y": _value(record["input"]["y"], fmt),
                      "signature": "claim-breaks", "error": math.inf, "got": None})
    if "wrong-dtype" in record.get("signatures", {}) and record.get("worst"):  # any input shows the dtype
        first = record["worst"][0]
        found.append({"x": _value(first["x"], fmt), "y": _value(first["y"], fmt), "signature": "wrong-dtype",
                      "error": math.inf, "got": _value(first["got"], fmt)})
    return found


def explained_by(deviation: Deviation, found: list[dict], dtype: str,
                 earlier: tuple[Deviation, ...] = ()) -> list[dict]:
    """The candidates (of a check in ``dtype``) the entry explains and no ``earlier`` one does (the gate
    gives an element to the first that explains it); a claim's input stands for the claim-breaks
    explained at NaN."""
    if not found:
        return []
    x = np.array([c["x"] for c in found])
    y = np.array([c["y"] for c in found])
    kinds = np.array([c["signature"] for c in found], dtype=object)
    errors = np.array([c["error"] for c in found], dtype=np.float64)
    claims = kinds == "claim-breaks"
    nan = np.full(x.shape, np.nan)

    def explains(d: Deviation) -> np.ndarray:
        return d.explains(x, y, kinds, errors, dtype) | (claims & d.explains(nan, nan, kinds, errors, dtype))

    mask = explains(deviation)
    for other in earlier:
        mask &= ~explains(other)
    return [c for c, keep in zip(found, mask, strict=True) if keep]


def one_per_signature(found: list[dict]) -> list[dict]:
    kept, seen = [], set()
    for c in found:
        if c["signature"] not in seen and len(kept) < ELEMENTS_KEPT:
            kept.append(c)
            seen.add(c["signature"])
    return kept


def _ordinal(value: float, fmt: Format) -> int:
    bits = int(bits_of(np.array([value], dtype=fmt.dtype))[0])
    sign = 1 << (8 * fmt.dtype.itemsize - 1)
    return -(bits & ~sign) if bits & sign else bits


def _from_ordinal(ordinal: int, fmt: Format) -> float:
    sign = 1 << (8 * fmt.dtype.itemsize - 1)
    return float(from_bits([ordinal if ordinal >= 0 else (-ordinal) | sign], fmt)[0])


def exact_text(ref) -> str:
    """The oracle's exact value at one input in 21 significant digits (head + tail of its double-double)."""
    head, tail = float(ref.exact[0]), float(ref.exact_lo[0])
    return repr(head) if not math.isfinite(head) else mpmath.nstr(mpmath.mpf(head) + tail, 21, strip_zeros=False)


def accepted(spec: Spec, x: float, y: float, fmt: Format, bound) -> tuple[float, float, float, str]:
    """(correctly rounded value, lowest and highest result the bound accepts, the exact value in
    digits) at one input, from one evaluation of the oracle."""
    xs, ys = np.array([x], dtype=fmt.dtype), np.array([y], dtype=fmt.dtype)
    ref = oracle_cache.evaluate(spec, xs, ys)
    rounded = float(ref.rounded[0])
    if math.isnan(rounded):
        return rounded, math.nan, math.nan, exact_text(ref)

    def ok(ordinal: int) -> bool:
        got = np.array([_from_ordinal(ordinal, fmt)], dtype=fmt.dtype)
        return bool(bound.errors(got, ref, fmt, xs, ys, spec)[0] <= bound.limit)

    start = _ordinal(rounded, fmt)
    if not ok(start):  # nothing looser than the rounded value itself can be said
        return rounded, rounded, rounded, exact_text(ref)
    ends = []
    for limit in (_ordinal(-math.inf, fmt), _ordinal(math.inf, fmt)):  # the last accepted value each way
        good, bad = start, limit
        if ok(limit):
            good = bad
        while abs(bad - good) > 1:
            middle = (good + bad) // 2
            good, bad = (middle, bad) if ok(middle) else (good, middle)
        ends.append(_from_ordinal(good, fmt))
    return rounded, ends[0], ends[1], exact_text(ref)


def element_context(record: dict) -> dict:
    """The bound's context for one element: a claim's or a special input's element is judged as the
    accuracy check judges it."""
    if record["check"] == "claim":
        return {**record, "check": "accuracy", "regime": "wide", "labels": "hard"}
    return record


def finding(record: dict, chosen: list[dict], policy: Policy, deviation: Deviation | None = None) -> Finding:
    """The reproducer's content for the chosen candidates of one record."""
    fmt = FORMATS[record["dtype"]]
    spec = Spec(record["quantity"] if record["check"] != "claim" else "loss", record["form"],
                **record.get("oracle", {}))
    bound = policy.bound_for(element_context(record))
    elements = []
    for c in chosen:
        expected, low, high, exact = accepted(spec, c["x"], c["y"], fmt, bound)
        elements.append(Element(c["x"], c["y"], c["signature"], exact, expected, low, high, c["got"]))
    return Finding(record, tuple(elements), deviation.as_record() | {"key": deviation.key} if deviation else None)


def from_record(record: dict, policy: Policy) -> Finding:
    """A failing or known-deviation check: its failing inputs, one per signature."""
    if record["verdict"] not in ("fail", "known-deviation"):
        raise ReproError(f"{record['id']} is {record['verdict']}: only a failing or known-deviation check has a fault "
                         "to reproduce")
    found = candidates(record)
    if not found and not _empty_input(record):
        raise ReproError(f"{record['id']}: the record names no input to reproduce ({record.get('message', '')})")
    return finding(record, one_per_signature(found), policy)


def _rank(order: tuple, value: str) -> int:
    return order.index(value) if value in order else len(order)


def _empty_input(record: dict) -> bool:
    return record["check"] == "shapes" and record.get("message", "").startswith("empty input")


def for_deviation(deviation: Deviation, records: list[dict], policy: Policy, runnable,
                  earlier: tuple[Deviation, ...] = ()) -> Finding:
    """The first check (float32 first, accuracy before special before a claim) that the
    entry matches, whose implementation ``runnable(record)`` can write standalone, and whose named
    inputs the entry explains before any ``earlier`` entry (the platforms' and the entries above it,
    in the gate's order); from it those inputs, one per signature."""
    order = sorted((r for r in records if deviation.matches(r) and r["verdict"] in ("fail", "known-deviation")
                    and runnable(r)),
                   key=lambda r: (DTYPE_ORDER.index(r["dtype"]), _rank(CHECK_ORDER, r["check"])))
    for record in order:
        chosen = one_per_signature(explained_by(deviation, candidates(record), record["dtype"],
                                                tuple(d for d in earlier if d.matches(record))))
        if chosen:
            return finding(record, chosen, policy, deviation)
        if _empty_input(record) and any(p.signature == "wrong-result" for p in deviation.parts):
            return finding(record, [], policy, deviation)
    raise ReproError(f"no check in the results shows an input that the entry explains: {deviation.what[:80]}…")
