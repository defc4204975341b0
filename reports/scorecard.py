"""The scorecard: which implementation to use, at the top of the report.

One row per implementation and device; per dtype and quantity a cell with the share of results
correctly rounded and the largest error (in the policy's unit, ULPs for hard labels) over every
judged element — a known deviation's elements included: an explained error is still an error, and
the cell marks it as known (≈, with the entries that explain it) — over the accuracy checks' cases,
or both over every input of the exhaustive sweeps where a sweep of that implementation, dtype and
quantity exists; marked ∀ where every finite input was judged with labels 0 and 1 (by a sweep, or by
the gate itself in float16 and bfloat16, whose special values the special check judges); then the
special values right out of those judged, and the time relative to the fastest implementation of the
same device, dtype, mode and size in the speed section (its largest size, forward, float32 where
timed).

The order answers "which gives the right numbers": first the share of its dtype's digits that the
worst result gets wrong, log2(1 + largest error in ULPs) / precision (1: every digit lost; more: off
by more than the result itself; ∞ for NaN and ∞), per dtype and counted in twentieths of the
precision: the worst dtype's, then the mean over its dtypes; then the most special values right, the
highest mean share correctly rounded, the fastest. A twentieth of the precision is at most 2.65 bits
(float64), so an error 100× another's in the same dtype (6.6 bits) always ranks below it. bcebench's
own implementations (NumPy's, and BCE written over an Array API namespace) are the yardstick, ranked
apart from the contenders. A star marks the best measured figure of a column; a share correctly
rounded below one half never gets one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bcebench.reference.formats import FORMATS
from bcebench.reports.render import QUANTITIES, detail_anchor, format_error

EXHAUSTIVE = "∀"
BEST = "★"
KNOWN = "≈"
STEPS = 20  # the digits-wrong score is counted in twentieths of the dtype's precision
YARDSTICKS = ("numpy", "array-api:")  # frameworks whose implementations are bcebench's own formulas


@dataclass
class Cell:
    correct: int = 0
    count: int = 0
    worst: float = 0.0  # the largest error measured, every element judged
    explained: set = field(default_factory=set)  # the known-deviation entries that explain elements here
    exhaustive: bool = False
    link: str = ""

    @property
    def share(self) -> float:
        return self.correct / self.count if self.count else 0.0


@dataclass
class Row:
    framework: str
    device: str
    implementation: str
    form: str = ""
    family: str = "bce"
    oracle: tuple = ()  # what it computes beyond the family: weight, pos_weight, smoothing, γ, α
    cells: dict = field(default_factory=dict)  # (dtype, quantity) -> Cell
    specials_right: int = 0
    specials: int = 0
    speed: float | None = None  # time over the fastest's

    @property
    def label(self) -> str:
        return f"{self.implementation} ({self.framework}, {self.device})"

    @property
    def yardstick(self) -> bool:
        return self.framework.startswith(YARDSTICKS)

    def digits_wrong(self) -> dict:
        """{dtype: the share of its digits the worst result of that dtype gets wrong}."""
        out: dict = {}
        for (dtype, _), cell in self.cells.items():
            out[dtype] = max(out.get(dtype, 0.0), digits_wrong(cell.worst, dtype))
        return out

    def worst_cell(self) -> tuple | None:
        """The (dtype, quantity) whose largest error is the most digits wrong, or None."""
        return max(self.cells, key=lambda c: (digits_wrong(self.cells[c].worst, c[0]), self.cells[c].worst),
                   default=None)

    def accuracy(self) -> tuple:
        """(the worst dtype's score, the mean score over its dtypes), each dtype's digits wrong counted in
        twentieths of its precision: the mean, not the list, so that offering fewer dtypes wins nothing."""
        scores = [d if math.isinf(d) else math.ceil(d * STEPS) for d in self.digits_wrong().values()]
        return (max(scores), sum(scores) / len(scores)) if scores else (0, 0.0)

    def key(self) -> tuple:
        shares = [c.share for c in self.cells.values()]
        return (*self.accuracy(), -(self.specials_right / self.specials if self.specials else 0.0),
                -(sum(shares) / len(shares) if shares else 0.0), self.speed if self.speed is not None else float("inf"))


def digits_wrong(error: float, dtype: str) -> float:
    """log2(1 + error in ULPs) over the dtype's precision: 1 where every digit is wrong, more where the
    result is off by more than itself; ∞ for NaN and ∞."""
    if not math.isfinite(error):
        return math.inf
    return math.log2(1.0 + error) / FORMATS[dtype].precision


def _sweep_key(sweep: dict) -> tuple:
    target = sweep["target"]
    return (target["framework"], target.get("device", "cpu"), target["implementation"], target["dtype"],
            target["quantity"])


# The heat map's shades: a cell's largest error as the share of its dtype's digits wrong, up to each
# bound (the last: NaN or ∞), a sequential single-hue palette (light to dark, readable in greyscale and
# by the colour-blind)
SHADES = ((0.1, "#fff5eb", "under a tenth of the digits wrong"), (0.25, "#fee6ce", "under a quarter"),
          (0.5, "#fdae6b", "under half"), (1.0, "#f16913", "under all"), (math.inf, "#a63603", "every digit or more"),
          (math.nan, "#54278f", "NaN or ∞"))


def shade(cell: Cell, dtype: str) -> int:
    """The index in SHADES of the cell's largest error."""
    wrong = digits_wrong(cell.worst, dtype)
    if math.isinf(wrong):
        return len(SHADES) - 1
    return next(i for i, (bound, _, _) in enumerate(SHADES) if wrong < bound)


def number(i: int, row: Row) -> str:
    """A row's place: its rank among the contenders, "yardstick" for bcebench's own."""
    return "yardstick" if row.yardstick else str(i)


def rows(results: dict) -> tuple[list[tuple[str, str]], list[Row]]:
    """(the dtype × quantity columns, the rows in ranking order: the contenders, then the yardsticks) from
    a results document with its optional ``exhaustive`` sweeps and ``speed`` section."""
    records = results["checks"]
    by_row: dict = {}
    for r in records:
        if "implementation" not in r or r.get("check") == "claim":
            continue
        row = by_row.setdefault((r["framework"], r["device"], r["implementation"]),
                                Row(r["framework"], r["device"], r["implementation"], r.get("form", ""),
                                    r.get("family", "bce"), tuple(sorted((r.get("oracle") or {}).items()))))
        if r.get("check") == "accuracy" and "correct" in r:
            cell = row.cells.setdefault((r["dtype"], r["quantity"]),
                                        Cell(link=detail_anchor(r["framework"], r["device"], r["implementation"],
                                                                  r["dtype"])))
            cell.correct += r["correct"]
            cell.count += r["count"]
            cell.worst = max(cell.worst, r["errors"]["max"])
            cell.explained |= set(r.get("deviations_used", {}))
            cell.exhaustive |= bool(r.get("exhaustive")) and r.get("labels") == "hard"
        if r.get("check") == "special":
            elements = r.get("elements", [])
            row.specials_right += sum(e["ok"] for e in elements)
            row.specials += len(elements) + len(r.get("rejected", []))
            row.specials_right += sum(e["allowed"] for e in r.get("rejected", []))
    _exhaustive(by_row, results.get("exhaustive") or [])
    _speed(by_row, results.get("speed"))
    dtypes = [d for d in ("float16", "bfloat16", "float32", "float64")
              if any(dtype == d for row in by_row.values() for dtype, _ in row.cells)]
    columns = [(d, q) for d in dtypes for q in QUANTITIES
               if any((d, q) in row.cells for row in by_row.values())]
    shown = [row for row in by_row.values() if row.cells or row.specials]
    ranked = sorted((row for row in shown if not row.yardstick), key=Row.key)
    return columns, ranked + sorted((row for row in shown if row.yardstick), key=Row.key)


def _exhaustive(by_row: dict, sweeps: list[dict]) -> None:
    """Cells of implementations swept over every input (labels 0 and 1, the whole range) take the
    sweeps' figures: proven, not sampled (the entries that explain the sampled elements kept)."""
    grouped: dict = {}
    for sweep in sweeps:
        if sweep["target"]["label"] is not None:
            grouped.setdefault(_sweep_key(sweep), []).append(sweep)
    for (framework, device, implementation, dtype, quantity), group in grouped.items():
        row = by_row.get((framework, device, implementation))
        if row is None or {s["target"]["label"] for s in group} != {0.0, 1.0}:
            continue
        old = row.cells.get((dtype, quantity), Cell())
        row.cells[(dtype, quantity)] = Cell(sum(s["stats"]["correct"] for s in group),
                                            sum(s["stats"]["total"] for s in group),
                                            max(s["stats"]["max_error"] for s in group), old.explained, True, old.link)


def _speed(by_row: dict, speed: dict | None) -> None:
    """Each row's time over the fastest's at the speed section's largest size, forward, float32
    where it was timed (else the first dtype timed)."""
    cases = [c for c in (speed or {}).get("cases", []) if c["kind"] == "implementation" and c["mode"] == "forward"]
    if not cases:
        return
    dtype = "float32" if any(c["dtype"] == "float32" for c in cases) else cases[0]["dtype"]
    size = max(c["size"] for c in cases if c["dtype"] == dtype)
    for c in cases:
        row = by_row.get((c["framework"], c["device"], c["implementation"]))
        if row is not None and c["dtype"] == dtype and c["size"] == size:
            row.speed = c["vs_fastest"]


def best(columns: list[tuple[str, str]], ranked: list[Row]) -> dict:
    """{(column, 'share' or 'worst'): the best measured value}, and ('specials',) and ('speed',)."""
    marks: dict = {}
    for column in columns:
        cells = [row.cells[column] for row in ranked if column in row.cells]
        marks[(column, "share")] = max(c.share for c in cells)
        marks[(column, "worst")] = min(c.worst for c in cells)
    specials = [row.specials_right / row.specials for row in ranked if row.specials]
    marks[("specials",)] = max(specials) if specials else None
    speeds = [row.speed for row in ranked if row.speed is not None]
    marks[("speed",)] = min(speeds) if speeds else None
    return marks


def loss_of(row: Row) -> str:
    """What a row computes: its family and parameters, and its form."""
    return row.family + "".join(f", {name} {value:g}" for name, value in row.oracle) + f" from {row.form}"


def orders(columns: list[tuple[str, str]], ranked: list[Row]) -> list[tuple[str, list[int]]]:
    """[(what the rows may be sorted by, each row's place in that order)]: the ranking; the
    implementation's name; the loss it computes (then the ranking); each column's largest error (fewest
    digits wrong first, a row without the column last); the most special values right; the fastest. The
    yardsticks stay after the contenders in every order, and ties keep the ranking."""
    def place(key) -> list[int]:
        order = sorted(range(len(ranked)), key=lambda i: (ranked[i].yardstick, key(ranked[i]), i))
        places = [0] * len(ranked)
        for position, i in enumerate(order):
            places[i] = position
        return places

    def worst(column):
        return lambda row: ((0, digits_wrong(row.cells[column].worst, column[0]), row.cells[column].worst)
                            if column in row.cells else (1, 0.0, 0.0))

    return [("rank", list(range(len(ranked)))), ("implementation", place(lambda row: row.label)),
            ("loss", place(loss_of)),
            *[(f"{dtype} {quantity}", place(worst((dtype, quantity)))) for dtype, quantity in columns],
            ("special values", place(lambda row: -(row.specials_right / row.specials) if row.specials else 1.0)),
            ("time", place(lambda row: row.speed if row.speed is not None else math.inf))]


def cell_text(cell: Cell | None, marks: dict, column) -> str:
    if cell is None:
        return ""
    starred = cell.share == marks[(column, "share")] and cell.share >= 0.5
    share = f"{cell.share:.2%}" + (BEST if starred else "")
    worst = format_error(cell.worst) + (BEST if cell.worst == marks[(column, "worst")] else "")
    known = f" {KNOWN}" if cell.explained and cell.worst > 0 else ""
    return f"{share} · {worst}{known}{' ' + EXHAUSTIVE if cell.exhaustive else ''}"


def specials_text(row: Row, marks: dict) -> str:
    if not row.specials:
        return ""
    mark = BEST if row.specials_right / row.specials == marks[("specials",)] else ""
    return f"{row.specials_right}/{row.specials}{mark}"


def speed_text(row: Row, marks: dict) -> str:
    if row.speed is None:
        return ""
    return f"{row.speed:.2f}×" + (BEST if row.speed == marks[("speed",)] else "")


def not_timed(results: dict) -> list[str]:
    """Why a row's time is missing: each framework the speed pass could not load, each case that
    crashed (a case the framework does not offer is simply not there); nothing without a speed section."""
    speed = results.get("speed")
    if not speed:
        return []
    return ([f"{framework}: {reason}" for framework, reason in speed.get("unavailable", {}).items()]
            + [f"{case['implementation']} ({case['framework']}): {case.get('message', case['verdict'])}"
               for case in speed.get("failed", [])])


def advice(ranked: list[Row]) -> list[str]:
    """Per framework and what is computed (the loss, its parameters, its form), as a user asks it: the
    contender to use (the first ranked) and, where another ranks below it by its errors, the one to
    avoid, with its worst cell."""
    groups: dict = {}
    for row in ranked:
        if not row.yardstick and row.cells:
            groups.setdefault((row.framework, row.device, row.family, row.oracle, row.form), []).append(row)
    lines = []
    for group in groups.values():
        use, last = group[0], group[-1]
        line = f"{use.framework} ({use.device}), {loss_of(use)}: use {use.implementation} ({_worst_text(use)})"
        if last is not use and last.accuracy() > use.accuracy():
            line += f"; avoid {last.implementation}: {_worst_text(last)}"
        lines.append(line + ".")
    return lines


def _worst_text(row: Row) -> str:
    dtype, quantity = row.worst_cell()
    cell = row.cells[(dtype, quantity)]
    known = f", a known deviation ({', '.join(sorted(cell.explained))})" if cell.explained and cell.worst else ""
    return f"largest error {error_text(cell.worst)} in the {dtype} {quantity}{known}"


def error_text(error: float) -> str:
    """An error in ULPs as the scorecard writes it; ∞ where the result is NaN, a wrong infinity or a zero of
    the wrong sign (the special-value rules' unbounded error)."""
    return format_error(error) + ("" if math.isfinite(error) else " (NaN, or a wrong infinity or sign of zero)")


LEGEND = (f"Which implementation to use: the first row. Per dtype and quantity: the share of results correctly "
          f"rounded · the largest error (ULPs, or the policy's unit) over every element judged, known deviations "
          f"included ({KNOWN}: elements there are explained by a known deviation; the error is measured all the same); "
          f"{EXHAUSTIVE}: every finite input judged with labels 0 and 1 (by an exhaustive sweep, or by the gate in "
          f"float16 and bfloat16), else drawn cases. "
          f"Special values right of those judged; time over the fastest on the same device. {BEST}: the best "
          f"measured figure of the column (never a share below 50 %). Rows: the fewest of its dtype's digits "
          f"wrong in the worst result (in twentieths of the precision: the worst dtype's, then the mean over its "
          f"dtypes), then the most special "
          f"values right, the highest mean share, the fastest; bcebench's own implementations (NumPy, Array API) "
          f"last, as the yardstick.")
