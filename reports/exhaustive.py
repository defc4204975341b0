"""The exhaustive section: sweep results as a table in the style of published libm accuracy tables.

Rows are dtype, quantity, label and range; columns the implementations; each cell the maximum error
in ULPs over every input of the range whose result is a number (proven: nothing was sampled), the
share of correctly rounded results, the worst input, and the special-value mismatches with the
first of them. Above it, the same at a glance (an implementation per row, the maximum error and
the share correctly rounded per dtype, quantity and label); below it, the implementations whose
statistics are identical count for count in a row (every ULP bin, every mismatch kind): a shared
kernel shown by the sweep, not assumed.

    python -m bcebench.reports.exhaustive reports/sweeps      # the table as Markdown, from the sweep results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bcebench.reports.markdown_table import table as markdown_table


class SweepResultsError(ValueError):
    """A sweep results folder that cannot be read."""


def load(folder: Path) -> list[dict]:
    """Every sweep result (``bcebench sweep`` output) in ``folder`` and its subfolders, checkpoints
    left aside; of a sweep done again (the same target and range), the newest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SweepResultsError(f"{folder}: no such folder of sweep results")
    newest: dict = {}
    for path in sorted(folder.rglob("*.json")):
        if "checkpoints" in path.relative_to(folder).parts:
            continue
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise SweepResultsError(f"{path}: not a sweep result ({error})") from None
        if not isinstance(document, dict) or "stats" not in document or "target" not in document:
            raise SweepResultsError(f"{path}: not a sweep result")
        key = json.dumps([document["target"], document.get("spans")], sort_keys=True)
        if key not in newest or document.get("date", "") > newest[key].get("date", ""):
            newest[key] = document
    return list(newest.values())


def row_key(result: dict) -> tuple:
    target = result["target"]
    label = "pairs" if target["label"] is None else f"y = {target['label']:g}"
    spans = ", ".join(f"{a}:{b}" for a, b in result["spans"])
    return target["dtype"], target["quantity"], label, spans


def _share(stats: dict) -> float:
    """The share of the inputs whose result is correctly rounded."""
    return stats["correct"] / stats["total"] if stats["total"] else 0.0


def cell_text(result: dict) -> str:
    stats = result["stats"]
    text = f"{stats['max_error']:.3g} ULP, {_share(stats):.4%} correctly rounded"
    if stats["worst"]:
        worst = stats["worst"][0]
        label = f", y = {worst['label']!r}" if result["target"]["label"] is None and "label" in worst else ""
        text += f"; worst x = {worst['x']} ({worst['x_hex']}){label}: {worst['got']} for {worst['rounded']}"
    lost = {k: n for k, n in stats.get("signatures", {}).items() if k in ("lost-tail", "flushed-subnormal", "clamped")}
    if lost:
        text += f"; {', '.join(f'{n:,} {k}' for k, n in sorted(lost.items()))}"
    mismatches = {k: n for k, n in stats["mismatches"].items() if k != "zero-sign"}
    if mismatches:
        first = stats["specials"][0]
        text += (f"; special values: {', '.join(f'{n} {k}' for k, n in sorted(mismatches.items()))} (first: x = "
                 f"{first['x']}: {first['got']} for {first['rounded']})")
    return text


def _column(result: dict) -> str:
    version = f" {result['version']}" if result.get("version") else ""
    device = result["target"].get("device", "cpu")
    on = "" if device == "cpu" else f" on {device}"
    return f"{result['target']['implementation']}{on} ({result['target']['framework']}{version})"


def table(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per dtype/quantity/label/range, one column per implementation."""
    columns = list(dict.fromkeys(_column(r) for r in results))
    rows: dict = {}
    for r in results:
        row = rows.setdefault(row_key(r), {})
        row[_column(r)] = cell_text(r)
    header = ["dtype", "quantity", "label", "bit patterns", *columns]
    return header, [[*key, *[cells.get(c, "") for c in columns]] for key, cells in sorted(rows.items())]


def glance(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per implementation, one column per dtype, quantity and label; each
    cell the maximum error in ULPs and the share correctly rounded (ranges of one column joined)."""
    columns = sorted({row_key(r)[:3] for r in results})
    cells: dict = {}
    for r in results:
        cells.setdefault(_column(r), {}).setdefault(row_key(r)[:3], []).append(
            f"{r['stats']['max_error']:.3g} ({_share(r['stats']):.2%})")
    header = ["implementation", *(" ".join(c) for c in columns)]
    return header, [[name, *("; ".join(row.get(c, [])) for c in columns)] for name, row in sorted(cells.items())]


def identical(results: list[dict]) -> list[tuple[str, list[str]]]:
    """(row, implementations) for each group of two or more implementations whose statistics in
    that row are equal count for count: total, correctly rounded, the ULP histogram and the
    special-value mismatches."""
    groups: dict = {}
    for r in results:
        stats = r["stats"]
        fingerprint = json.dumps([stats["total"], stats["correct"], stats["histogram"], stats["mismatches"]],
                                 sort_keys=True)
        groups.setdefault((row_key(r), fingerprint), []).append(_column(r))
    return [(", ".join(key[:3]) + f" ({key[3]})", members)
            for (key, _), members in sorted(groups.items()) if len(members) > 1]


def rewrite_pairs(results: list[dict]) -> list[tuple[dict, dict]]:
    """(built-in, its stable rewrite) for each pair swept together by ``sweep --compare-with``: each
    names the other (``compared_with``), over the same framework, device, dtype, quantity, label and
    range."""
    def same(r: dict, implementation: str) -> str:
        t = r["target"]
        return json.dumps([implementation, t["framework"], t.get("device", "cpu"), t["dtype"], t["quantity"],
                           t["label"], r["spans"]])

    by_key = {same(r, r["target"]["implementation"]): r for r in results}
    pairs = []
    for r in results:
        rival = by_key.get(same(r, r.get("compared_with", "")))
        if (rival is not None and r["target"]["implementation"] == rival.get("compared_with")
                and rival["target"]["implementation"].startswith("rewrite(")):
            pairs.append((r, rival))
    return sorted(pairs, key=lambda pair: (*row_key(pair[0]), pair[0]["target"]["implementation"]))


def speeds_of(pair: tuple[dict, ...]) -> dict | None:
    """{implementation: seconds per element} where each sweep of the pair carries the bench
    harness's timing from the run that swept them (``speed``), else None."""
    timed = {r["target"]["implementation"]: r["speed"]["seconds_per_element"] for r in pair if r.get("speed")}
    return timed if len(timed) == len(pair) else None


REWRITES_INTRO = ("Each built-in beside its stable rewrite (adapters/rewrites.py), swept over the same inputs "
                  "in one run (`bcebench sweep --compare-with`); the speed is the bench harness's median at 10^6 "
                  "elements in the same run (forward for the loss, forward + backward for the gradient).")


def rewrites_markdown(results: list[dict]) -> list[str]:
    lines = []
    for builtin, rewrite in rewrite_pairs(results):
        dtype, quantity, label, _ = row_key(builtin)
        lines += ["", f"{builtin['target']['implementation']}, {dtype} {quantity}, {label}:", "",
                  *before_after([builtin, rewrite], speeds_of((builtin, rewrite)))]
    return ["", "## Stable rewrites", "", REWRITES_INTRO, *lines] if lines else []


def before_after(results: list[dict], speeds: dict | None = None) -> list[str]:
    """A built-in and its rewrite over the same inputs, as a Markdown table (``before_after_table``)."""
    return markdown_table(*before_after_table(results, speeds))


def before_after_table(results: list[dict], speeds: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a built-in and its rewrite over the same inputs: the share correctly
    rounded, the maximum and mean error in ULPs, zeros where the exact value is normal (lost-tail),
    subnormals flushed to zero, NaN where the exact value is a number, and (``speeds``: seconds per
    element by implementation, timed in one run) the speed of each against the first."""
    header = ["implementation", "inputs", "correctly rounded", "max ULP", "mean ULP", "0 where exact is normal",
              "flushed subnormals", "NaN where exact is a number"] + (["ns/element", "time × first"] if speeds else [])
    rows, first = [], None
    for r in results:
        stats = r["stats"]
        numbers = stats["total"] - sum(n for k, n in stats["mismatches"].items() if k != "zero-sign")
        mean = f"{stats['error_sum'] / numbers:.3g}" if "error_sum" in stats and numbers else "—"  # older sweeps: —
        signatures = stats.get("signatures")
        counted = [f"{signatures.get(kind, 0):,}" if signatures is not None else "—"
                   for kind in ("lost-tail", "flushed-subnormal")]
        row = [_column(r), f"{stats['total']:,}", f"{_share(stats):.4%}", f"{stats['max_error']:.3g}", mean,
               *counted, f"{stats['mismatches'].get('nan', 0):,}"]
        if speeds:
            seconds = speeds.get(r["target"]["implementation"])
            first = first or seconds
            row += ["—", "—"] if seconds is None else [f"{seconds * 1e9:.2f}", f"{seconds / first:.2f}"]
        rows.append(row)
    return header, rows


GLANCE_INTRO = "At a glance, the maximum error in ULPs (the share correctly rounded):"
IDENTICAL_INTRO = "Identical count for count (the same kernel, shown by the sweep rather than assumed):"


def markdown(results: list[dict]) -> list[str]:
    header, rows = table(results)
    total = sum(r["stats"]["total"] for r in results)
    same = identical(results)
    return ["", "## Exhaustive sweeps", "",
            f"Every input of each range ({total:,} in all), each against its correctly rounded value: the "
            "maximum error is proven, not sampled.", "", GLANCE_INTRO, "", *markdown_table(*glance(results)), "",
            "In full:", "", *markdown_table(header, rows),
            *(["", IDENTICAL_INTRO, ""] + [f"- {row}: {' = '.join(members)}" for row, members in same] if same else []),
            *rewrites_markdown(results)]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m reports.exhaustive SWEEP_RESULTS_FOLDER", file=sys.stderr)
        return 2
    try:
        print("\n".join(markdown(load(Path(args[0])))[1:]))
    except SweepResultsError as error:
        print(str(error), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
