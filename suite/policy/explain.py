"""Which failing elements the known deviations explain.

A check's failing elements each carry a failure signature (``reference.metrics.signatures``). A
known deviation, or a declared property of a platform, explains an element when it matches the
check (implementation, framework, dtype, quantity, check, …), names the element's signature, the
element's input lies in the region given for that signature, and, for the signatures that have a
size (inaccurate, clamped), its error is within the largest the entry allows. The check is a known
deviation only when every failing element is explained; any other element keeps it failing, and
comes first among its worst inputs. Checks that fail without elements (a claim that breaks, an
input written into, a result of the wrong shape or dtype) are one element at an input of NaN,
with the signature ``claim-breaks``, ``writes-input`` or ``wrong-result``.

A user's function declared ``like`` a built-in (adapters.declaration) is matched as that built-in:
the entries that explain the built-in's elements explain its own, no wider, each reported as
inherited from it.

Each record says which entries it covered (they matched the check and some input of the check lay
in one of their regions; a function declared like a built-in covers none, since an entry describes
its built-in) and how many elements each explained; the gate reports an entry that was covered and
explained nothing as no longer reproducing.
"""

from __future__ import annotations

import numpy as np

from bcebench.reference import metrics
from bcebench.suite.policy.deviations import WHOLE_CHECK_SIGNATURES, Deviation

ELEMENTS = "_elements"  # the record's private per-element arrays, dropped once explained


def attach(record: dict, x, y, kinds, errors) -> None:
    """Keep a check's per-element inputs, signatures and errors for ``apply``."""
    record[ELEMENTS] = (np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1),
                        np.asarray(kinds, dtype=object).reshape(-1), np.asarray(errors, dtype=np.float64).reshape(-1))


def _without_elements(record: dict) -> tuple | None:
    """A check with no per-element arrays, as one element at an input of NaN: a failing one with its
    signature; a passing claim or unchanged-inputs check (which never have elements) with none: it
    still covers the entries that would explain its failure, so that one it no longer needs is
    reported stale."""
    passing = record.get("verdict") == "pass" and record.get("check") in WHOLE_CHECK_SIGNATURES.values()
    if record.get("verdict") != "fail" and not passing:
        return None
    if passing:
        kind = ""
    elif record.get("check") == "claim":
        kind = "claim-breaks"
    elif record.get("check") == "unchanged-inputs":
        kind = "writes-input"
    else:
        kind = "wrong-result"
    nan = np.array([np.nan])
    return nan, nan, np.array([kind], dtype=object), np.array([np.inf if kind else 0.0])


def apply(record: dict, deviations: tuple[Deviation, ...]) -> dict:
    """Explain the record's failing elements with the deviations that match it; a record whose
    every failing element is explained becomes known-deviation. Drops the private arrays."""
    elements = record.pop(ELEMENTS, None) or _without_elements(record)
    if elements is None:
        return record
    x, y, kinds, errors = elements
    like = record.get("like")  # a user's function built on a built-in inherits the built-in's entries
    matching = [d for d in deviations if d.matches({**record, "implementation": like} if like else record)]
    covered = [d.key for d in matching if d.covers(x, y, record.get("check"), record.get("dtype"))]
    if covered and not like:  # an entry describes its built-in: a function built on it cannot make it stale
        record["deviations_covered"] = covered
    failing = kinds != ""
    explained = np.zeros(kinds.shape, dtype=bool)
    if record.get("verdict") != "fail" or not failing.any():
        return _outside(record, errors, explained)
    used = []
    index = np.flatnonzero(failing)  # only failing elements can be explained: ask about those alone
    for deviation in matching:
        now = np.zeros(kinds.shape, dtype=bool)
        now[index] = deviation.explains(x[index], y[index], kinds[index], errors[index], record.get("dtype"))
        now &= ~explained
        if now.any():
            used.append({**deviation.as_record(), "key": deviation.key, "elements": int(now.sum()),
                         "measured": measured(x[now], y[now], kinds[now], errors[now]),
                         **({"inherited_from": like} if like else {})})
            explained |= now
    if used:
        record["deviations_used"] = {u["key"]: u["elements"] for u in used}
        record["deviations"] = used
    unexplained = failing & ~explained
    _outside(record, errors, explained)
    if not unexplained.any():
        record["verdict"] = "known-deviation"
        record["deviation"] = used[0]
        return record
    record["unexplained"] = int(unexplained.sum())
    if used:  # the elements no entry explains lead the line and the worst inputs
        record["unexplained_signatures"] = {k: int(n) for k, n in zip(*np.unique(kinds[unexplained],
                                                                             return_counts=True), strict=True)}
        record["message"] = (f"{int(unexplained.sum())} failing element(s) beyond the known deviations "
                             f"({', '.join(f'{k} {n}' for k, n in _by_severity(record['unexplained_signatures']))}): "
                             f"first x={_first(x, unexplained)} y={_first(y, unexplained)}")
    return record


def _outside(record: dict, errors: np.ndarray, explained: np.ndarray) -> dict:
    """The largest error of the elements no known deviation explains (the scorecard's figure)."""
    if "errors" in record and errors.size:
        rest = errors[~explained & ~np.isnan(errors)]
        record["errors"]["outside_deviations"] = float(rest.max()) if rest.size else 0.0
    return record


SIDES = {"x < 0": np.less, "x >= 0": np.greater_equal}


def measured(x: np.ndarray, y: np.ndarray, kinds: np.ndarray, errors: np.ndarray) -> dict:
    """Per signature and side of x (x < 0, x >= 0, x NaN), the elements an entry explained: how
    many, the range of x and y (NaN apart) and the largest error: what the entry's region and
    bound must keep describing."""
    summary = {}
    for kind in np.unique(kinds):
        with np.errstate(invalid="ignore"):
            sides = {side: test(x, 0.0) for side, test in SIDES.items()}
        sides["x == nan"] = np.isnan(x)
        for side, where in sides.items():
            at = (kinds == kind) & where
            if at.any():
                summary.setdefault(str(kind), {})[side] = {
                    "count": int(at.sum()), "x": span(x[at]), "y": span(y[at]),
                    "y_nan": bool(np.isnan(y[at]).any()), "max_error": json_number(np.max(errors[at]))}
    return summary


def span(values) -> list:
    """[smallest, largest] of the values that are not NaN (['nan', 'nan'] where all are)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return [json_number(values.min()), json_number(values.max())] if values.size else ["nan", "nan"]


def json_number(value) -> float | str:
    """A float for JSON; NaN and ±inf as strings ('nan', 'inf', '-inf'), which JSON lacks."""
    value = float(value)
    return value if np.isfinite(value) else repr(value)


def _by_severity(counts: dict) -> list[tuple[str, int]]:
    order = {k: i for i, k in enumerate(metrics.SIGNATURES + metrics.CHECK_SIGNATURES)}
    return sorted(counts.items(), key=lambda item: order.get(item[0], len(order)))


def _first(values: np.ndarray, mask: np.ndarray) -> str:
    return repr(float(values[np.flatnonzero(mask)[0]]))


def stale(records: list[dict], deviations: tuple[Deviation, ...]) -> list[dict]:
    """The entries that some check covered and none of whose elements any check needed."""
    covered = {k for r in records for k in r.get("deviations_covered", [])}
    used = {k for r in records for k in r.get("deviations_used", {})}
    return [{**d.as_record(), "checks": sum(d.key in r.get("deviations_covered", []) for r in records),
             "message": "no longer reproduces: it explained no failing element of the checks that covered it"}
            for d in deviations if d.key in covered - used]
