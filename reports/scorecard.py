"""The scorecard: which implementation to use, at the top of the report.

One row per implementation and device; per dtype and quantity a cell with the share of results
correctly rounded and the largest error (in the policy's unit, ULPs for hard labels) of the
elements no known deviation explains, over the accuracy checks' sampled cases — or both over every
input of the exhaustive sweeps where a sweep of that implementation, dtype and quantity exists
(marked ∀: labels 0 and 1, every bit pattern; a sweep's largest error counts every input); then
the special values right out of those judged, and the time relative to the fastest implementation
of the same device, dtype, mode and size in the speed section (its largest size, forward, float32
where timed). The best figure of each column is starred. Rows are sorted so that the first
answers "which should I use": fewest gating checks failed, then the most special values right,
then the highest mean share correctly rounded, then the fastest. Each cell links to the detail of
the checks it sums (their dtype's anchor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bcebench.reports.render import QUANTITIES, anchor
from bcebench.reports.results import PASSING

EXHAUSTIVE = "∀"
BEST = "★"


@dataclass
class Cell:
    correct: int = 0
    count: int = 0
    worst: float = 0.0
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
    cells: dict = field(default_factory=dict)  # (dtype, quantity) -> Cell
    specials_right: int = 0
    specials: int = 0
    failed: int = 0
    speed: float | None = None  # time over the fastest's

    @property
    def label(self) -> str:
        return f"{self.implementation} ({self.framework}, {self.device})"

    def key(self) -> tuple:
        shares = [c.share for c in self.cells.values()]
        return (self.failed, -(self.specials_right / self.specials if self.specials else 0.0),
                -(sum(shares) / len(shares) if shares else 0.0), self.speed if self.speed is not None else float("inf"))


def _sweep_key(sweep: dict) -> tuple:
    target = sweep["target"]
    return (target["framework"], target.get("device", "cpu"), target["implementation"], target["dtype"],
            target["quantity"])


def rows(results: dict) -> tuple[list[tuple[str, str]], list[Row]]:
    """(the dtype × quantity columns, the rows in ranking order) from a results document with its
    optional ``exhaustive`` sweeps and ``speed`` section."""
    records = results["checks"]
    by_row: dict = {}
    for r in records:
        if "implementation" not in r or r.get("check") == "claim":
            continue
        row = by_row.setdefault((r["framework"], r["device"], r["implementation"]),
                                Row(r["framework"], r["device"], r["implementation"]))
        if r["verdict"] not in PASSING and r.get("gating", True):
            row.failed += 1
        if r.get("check") == "accuracy" and "correct" in r:
            cell = row.cells.setdefault((r["dtype"], r["quantity"]),
                                        Cell(link=anchor(r["framework"], r["device"], r["implementation"], r["dtype"])))
            cell.correct += r["correct"]
            cell.count += r["count"]
            cell.worst = max(cell.worst, r["errors"].get("outside_deviations", r["errors"]["max"]))
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
    ranked = sorted((row for row in by_row.values() if row.cells or row.specials), key=Row.key)
    return columns, ranked


def _exhaustive(by_row: dict, sweeps: list[dict]) -> None:
    """Cells of implementations swept over every input (labels 0 and 1, the whole range) take the
    sweeps' figures: proven, not sampled."""
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
                                            max(s["stats"]["max_error"] for s in group), True, old.link)


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
    """{(column, 'share' or 'worst'): the best value}, and ('specials',) and ('speed',)."""
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


def cell_text(cell: Cell | None, marks: dict, column) -> str:
    if cell is None:
        return ""
    share = f"{cell.share:.2%}" + (BEST if cell.share == marks[(column, "share")] else "")
    worst = f"{cell.worst:.3g}" + (BEST if cell.worst == marks[(column, "worst")] else "")
    return f"{share} · {worst}{' ' + EXHAUSTIVE if cell.exhaustive else ''}"


def specials_text(row: Row, marks: dict) -> str:
    if not row.specials:
        return ""
    mark = BEST if row.specials_right / row.specials == marks[("specials",)] else ""
    return f"{row.specials_right}/{row.specials}{mark}"


def speed_text(row: Row, marks: dict) -> str:
    if row.speed is None:
        return ""
    return f"{row.speed:.2f}×" + (BEST if row.speed == marks[("speed",)] else "")


LEGEND = (f"Which implementation to use: the first row. Per dtype and quantity: the share of results correctly "
          f"rounded · the largest error (ULPs, or the policy's unit) of the elements no known deviation explains; "
          f"{EXHAUSTIVE}: both over every input of an exhaustive sweep (labels 0 and 1; the largest error there "
          f"counts the known deviations too), else over the sampled cases. "
          f"Special values right of those judged; time over the fastest on the same device. {BEST}: the best of "
          f"the column. Rows: fewest failed checks, most special values right, highest mean share, fastest.")
