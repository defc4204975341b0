"""The report's content, shared by its Markdown and HTML forms.

Sections: the environment; the summary matrix (implementation × dtype × quantity, each cell the
worst verdict of its checks and the largest error, linking to the detail); the article's claims
(claim × framework, and each implementation's finding per dtype); the error plots;
special values and overflow (rows the inputs, columns the implementations, cells the value
returned and whether it is right); the known deviations with their explanation and link; the
worst cases with exact inputs, got, exact and a repro line; the derivation certificate.
"""

from __future__ import annotations

import hashlib
import html
import re

from bcebench.reference import metrics

QUANTITIES = ("loss", "grad", "hess")
SEVERITY = ("crashed", "fail", "known-deviation", "unsupported", "pass")
MARK = {"pass": "✓", "known-deviation": "≈", "unsupported": "–", "fail": "✗", "crashed": "✗✗"}
COLOUR = {"pass": "#d8f0d8", "known-deviation": "#fff0c2", "unsupported": "#e6e6e6", "fail": "#f7c6c6",
          "crashed": "#e89a9a", "dtype-limit": "#d6e4f5"}


def anchor(*parts: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", "-".join(parts)).strip("-").lower()


def detail_anchor(framework: str, device: str, implementation: str, dtype: str) -> str:
    """The id of an implementation's details in one dtype: short, as every scorecard and summary cell links
    to one (names such as ``jit(optax.sigmoid_focal_loss(alpha=0.25, gamma=2))`` made ids of 70 characters),
    and the same in every report."""
    return "d-" + hashlib.sha1("\0".join((framework, device, implementation, dtype)).encode()).hexdigest()[:10]


def summary_matrix(records: list[dict]) -> tuple[list[str], list[list[dict]]]:
    """(column labels, rows): one row per implementation, one cell per dtype × quantity with the
    worst verdict among its checks and the largest accuracy error in ULPs."""
    dtypes = [d for d in ("float16", "bfloat16", "float32", "float64") if any(r.get("dtype") == d for r in records)]
    columns = [(d, q) for d in dtypes for q in QUANTITIES]
    cells: dict = {}
    for r in records:
        if r.get("check") == "claim":
            continue
        key = (r["framework"], r["device"], r["implementation"])
        cell = cells.setdefault(key, {}).setdefault((r.get("dtype"), r.get("quantity")), {"verdicts": [], "max": None})
        cell["verdicts"].append(r["verdict"])
        if r.get("check") == "accuracy" and "errors" in r:
            cell["max"] = max(cell["max"] or 0.0, r["errors"]["max"])
    rows = []
    for (framework, device, impl), by_column in cells.items():
        row = [{"label": impl, "framework": framework, "device": device}]
        for dtype, quantity in columns:
            cell = by_column.get((dtype, quantity))
            if cell is None:
                row.append(None)
                continue
            verdict = min(cell["verdicts"], key=SEVERITY.index)
            row.append({"verdict": verdict, "max": cell["max"], "link": detail_anchor(framework, device, impl, dtype)})
        rows.append(row)
    return [f"{d} {q}" for d, q in columns], rows


DTYPE_SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}
# A claim's outcome as the report shows it: the verdict colour, a mark, and words.
CLAIM_STATES = {
    "holds": ("pass", "✓", "holds"),
    "dtype-limit": ("dtype-limit", "◐", "holds in exact arithmetic only: the dtype ends it"),
    "known-deviation": ("known-deviation", "≈", "breaks: a known deviation"),
    "fail": ("fail", "✗", "breaks"),
    "crashed": ("crashed", "✗✗", "crashed"),
    "unsupported": ("unsupported", "–", "not measurable"),
}
CLAIMS_LEGEND = ("Each claim is proven in exact arithmetic (the derivation certificate's identity) and measured "
                 "here on every implementation and dtype. Per dtype: ✓ holds; ◐ holds in exact arithmetic only, "
                 "the dtype ends it (correctly rounded arithmetic fails the same way); ≈ breaks, a known deviation; "
                 "✗ breaks; ✗✗ crashed; – not measurable. (n of m): how many of the framework's implementations "
                 "are in that state; a non-gating baseline (NumPy's textbook formula) breaks claims without "
                 "failing the gate.")
CLAIM_ORDER = ("crashed", "fail", "known-deviation", "dtype-limit", "unsupported", "holds")


def claim_state(record: dict) -> str:
    if record["verdict"] == "pass":
        return record.get("outcome", "holds")
    return record["verdict"]


def claims_matrix(records: list[dict]) -> tuple[list[str], list[dict]]:
    """(framework columns, one row per claim): each cell maps each dtype to the worst state among
    the framework's implementations, and each state to the implementations in it."""
    claims = [r for r in records if r.get("check") == "claim" and r.get("claim")]
    columns = list(dict.fromkeys(f"{r['framework']} ({r['device']})" for r in claims))
    rows: dict = {}
    for r in claims:
        row = rows.setdefault(r["claim"]["number"], {"claim": r["claim"], "cells": {}})
        cell = row["cells"].setdefault(f"{r['framework']} ({r['device']})", {"dtypes": {}, "implementations": {}})
        state = claim_state(r)
        cell["implementations"].setdefault(state, set()).add(r["implementation"])
        worst = cell["dtypes"].get(r["dtype"])
        if worst is None or CLAIM_ORDER.index(state) < CLAIM_ORDER.index(worst):
            cell["dtypes"][r["dtype"]] = state
    return columns, [rows[n] for n in sorted(rows)]


def claim_cell(cell: dict | None) -> tuple[str, str]:
    """(worst verdict colour, text) of a claims-matrix cell: the dtypes grouped by their worst
    state, and for a state short of holding, how many of the implementations are in it."""
    if not cell:
        return "unsupported", "no implementation"
    worst = min(cell["dtypes"].values(), key=CLAIM_ORDER.index)
    total = len(set().union(*cell["implementations"].values()))
    groups: dict = {}
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        if dtype in cell["dtypes"]:
            groups.setdefault(cell["dtypes"][dtype], []).append(DTYPE_SHORT[dtype])
    parts = []
    for state, dtypes in sorted(groups.items(), key=lambda item: CLAIM_ORDER.index(item[0])):
        count = len(cell["implementations"].get(state, ()))
        share = f" ({count} of {total})" if state != "holds" and total > 1 else ""
        parts.append(f"{CLAIM_STATES[state][1]} {' '.join(dtypes)}{share}")
    return CLAIM_STATES[worst][0], "; ".join(parts)


def claim_findings(records: list[dict]) -> dict[int, list[dict]]:
    """{claim number: its records in framework, implementation, dtype order}."""
    found: dict = {}
    for r in records:
        if r.get("check") == "claim":
            found.setdefault(r["claim"]["number"], []).append(r)
    return {n: found[n] for n in sorted(found)}


def six_digits(value: str) -> str:
    """A value as results files write it (decimal text, or a word such as 'nan'), to six significant digits
    (the hex beside it, or the error, is exact)."""
    try:
        return f"{float(value):.6g}"
    except ValueError:
        return value


def format_error(value: float | None) -> str:
    if value is None:
        return ""
    if value == float("inf"):
        return "∞"
    return f"{value:.3g}"


def special_tables(records: list[dict]) -> dict[tuple[str, str, str], dict]:
    """{(form, dtype, quantity): {"inputs": [(x, y)], "columns": {impl: [cell or None]}}}."""
    tables: dict = {}
    for r in records:
        if r.get("check") != "special" or "elements" not in r:
            continue
        table = tables.setdefault((r["form"], r["dtype"], r["quantity"]), {"inputs": [], "columns": {}})
        column = {}
        for element in r["elements"]:
            key = (element["x"]["value"], element["y"]["value"])
            if key not in table["inputs"]:
                table["inputs"].append(key)
            verdict = "pass" if element["ok"] else ("known-deviation" if r["verdict"] == "known-deviation" else "fail")
            column[key] = {"got": element["got"]["value"], "exact": element["rounded"]["value"], "verdict": verdict}
        for rejected in r.get("rejected", []):
            key = (rejected["x"]["value"], rejected["y"]["value"])
            if key not in table["inputs"]:
                table["inputs"].append(key)
            column[key] = {"got": "raises", "exact": "", "verdict": "unsupported"}
        table["columns"][f"{r['implementation']} ({r['device']})"] = column
    return tables


def deviations_used(records: list[dict]) -> list[dict]:
    """Each known deviation that explained elements of checks (all of a check's failing elements, or some of
    a check that fails all the same), with the number of checks it explained elements of."""
    seen: dict = {}
    for r in records:
        for deviation in r.get("deviations") or ([r["deviation"]] if r.get("deviation") else []):
            seen.setdefault(deviation["key"], {**deviation, "count": 0})["count"] += 1
    return list(seen.values())


SIGNATURES_HEADER = ["signature", "verdict", "checks", "elements", "x from", "x to", "largest error", "implementations"]


def signature_rows(records: list[dict]) -> list[list]:
    """The out-of-bound elements of failing and known-deviation checks grouped by signature, the
    most severe first, failures before known deviations: checks, elements, the range of x, the
    largest error and the implementations."""
    groups: dict = {}
    for r in records:
        if r["verdict"] not in ("fail", "known-deviation"):
            continue
        for kind, g in (r.get("signatures") or {}).items():
            entry = groups.setdefault((kind, r["verdict"]), {"checks": 0, "elements": 0, "x": [], "error": 0.0,
                                                            "impls": {}})
            entry["checks"] += 1
            entry["elements"] += g["count"]
            entry["x"] += [v for v in g["x"] if isinstance(v, float)]
            entry["error"] = max(entry["error"], _as_float(g["max_error"]))
            entry["impls"][r["implementation"]] = entry["impls"].get(r["implementation"], 0) + g["count"]
    order = {k: i for i, k in enumerate(metrics.SIGNATURES)}
    rows = []
    for (kind, verdict), g in sorted(groups.items(), key=lambda item: (item[0][1] != "fail",
                                                                       order.get(item[0][0], len(order)))):
        top = sorted(g["impls"].items(), key=lambda item: -item[1])
        names = ", ".join(name for name, _ in top[:3]) + (f" and {len(top) - 3} more" if len(top) > 3 else "")
        rows.append([kind, verdict, g["checks"], g["elements"], f"{min(g['x']):.4g}" if g["x"] else "",
                     f"{max(g['x']):.4g}" if g["x"] else "", format_error(g["error"]), names])
    return rows


def _as_float(value) -> float:
    """A JSON number, or one of the strings 'inf', '-inf' and 'nan' written for what JSON lacks."""
    return float(value)


def worst_cases(records: list[dict], limit: int = 40) -> list[dict]:
    """Failed, crashed and known-deviation checks, largest error first."""
    bad = [r for r in records if r["verdict"] in ("fail", "crashed", "known-deviation")]
    return sorted(bad, key=lambda r: (SEVERITY.index(r["verdict"]), -(r.get("errors") or {}).get("max", 0.0)))[:limit]


def detail_rows(checks: list[dict]) -> list[list[dict]]:
    """The checks of one implementation and dtype in rows, the most severe verdict first: all that pass
    in one row, those of the same other verdict and check together, each failure or crash a row of its own."""
    rows: dict = {}
    for i, r in enumerate(checks):
        verdict = r["verdict"]
        check = "" if verdict == "pass" else r.get("check", "")
        rows.setdefault((verdict, check, i if verdict in ("fail", "crashed") else -1), []).append(r)
    return [rows[key] for key in sorted(rows, key=lambda k: (SEVERITY.index(k[0]), k[1], k[2]))]


def escape(text) -> str:
    return html.escape(str(text), quote=True)


def speed_rows(speed: dict) -> list[list]:
    """One row per timed implementation case: id parts, median, spread, ns/element, GB/s, ratio to
    the fastest, the nearer wall and the efficiency against it."""
    rows = []
    for c in speed["cases"]:
        if c["kind"] != "implementation":
            continue
        rows.append([f"{c['implementation']} ({c['device']})", c["dtype"], c["mode"], f"{c['size']:.0e}",
                     f"{c['median'] * 1e6:.1f} µs", f"{c['iqr'] / c['median']:.1%}", f"{c['ns_per_element']:.2f}",
                     f"{c['gb_per_s']:.2f}", f"{c['vs_fastest']:.2f}", c["wall"],
                     "no wall timed" if c.get("efficiency") is None else f"{c['efficiency']:.2f}"])
    return rows


SPEED_HEADER = ["implementation", "dtype", "mode", "size", "median", "IQR/median", "ns/element", "GB/s",
                "× fastest", "nearer wall", "efficiency"]
