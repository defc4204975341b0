"""The Markdown report: tables that fit a CI job summary or a pull-request comment, the plots
referenced as files beside it."""

from __future__ import annotations

from bcebench.reports import exhaustive, render, scorecard
from bcebench.reports.markdown_table import table


def report(results: dict, certificate: list[dict], plot_files: dict) -> str:
    meta = results["metadata"]
    lines = ["# BCE implementations against the exact reference", ""]
    frameworks = ", ".join(f"{k} {v['version']} ({', '.join(v['devices'])})" for k, v in meta["frameworks"].items())
    lines += [f"- Date: {meta['date']}", f"- Frameworks: {frameworks}",
              f"- Machine: {meta['machine']['platform']}, {meta['machine']['processor']}, "
              f"{meta['machine']['cpus']} CPUs, Python {meta['machine']['python']}",
              f"- Policy: {meta['policy']['name']} ({meta['policy']['description']}); seed {meta['seed']}"]
    for name, reason in meta.get("unavailable", {}).items():
        lines.append(f"- {name}: unavailable ({reason})")
    summary = ", ".join(f"{n} {v}" for v, n in sorted(results["summary"].items()))
    gate = "passed" if results["passed"] else "FAILED"
    lines += ["", f"**{len(results['checks'])} checks: {summary}. Gate {gate}.**"]
    lines += scorecard_section(results)
    lines += ["", "## Summary", "",
              "Each cell: ✓ pass, ≈ known deviation, – unsupported, ✗ fail, ✗✗ crashed; then the largest "
              "accuracy error in ULPs (or in the policy's unit where it is not ULPs).", ""]
    columns, rows = render.summary_matrix(results["checks"])
    lines += table(["implementation", *columns],
                   [[f"{row[0]['label']} ({row[0]['framework']}, {row[0]['device']})"]
                    + [f"{render.MARK[c['verdict']]} {render.format_error(c['max'])}" if c else "" for c in row[1:]]
                    for row in rows])
    lines += claims_section(results["checks"])
    if results.get("exhaustive"):
        lines += exhaustive.markdown(results["exhaustive"])
    if plot_files:
        lines += ["", "## Error against input", ""]
        lines += [f"![{' '.join(filter(None, key))}]({path})" for key, path in sorted(plot_files.items())]
    if results.get("speed"):
        lines += ["", "## Speed", "", "Median of pytest-benchmark rounds; efficiency is the nearer wall's time (a "
                  "memory copy of the same bytes, or one exp and one log1p per element) over the median.", ""]
        lines += table(render.SPEED_HEADER, render.speed_rows(results["speed"]))
    lines += ["", "## Special values and overflow", ""]
    for (form, dtype, quantity), special in sorted(render.special_tables(results["checks"]).items()):
        names = list(special["columns"])
        lines += [f"### {quantity}, {form} form, {dtype}", ""]
        lines += table(["x", "y", "exact", *names],
                       [[x, y, _exact(special, (x, y)),
                         *[_special_cell(special["columns"][n].get((x, y))) for n in names]]
                        for x, y in special["inputs"]])
        lines.append("")
    lines += ["## Failures by signature", "", "Out-of-bound elements of failing checks, then of known deviations, "
              "the most severe signature first.", ""]
    lines += table(render.SIGNATURES_HEADER, render.signature_rows(results["checks"]))
    lines += ["", "## Known deviations", ""]
    for deviation in render.deviations_used(results["checks"]):
        lines.append(f"- **{_implementations(deviation)}** ({deviation['count']} checks): {deviation['what']} "
                     f"*Why:* {deviation['why']} [{deviation['link']}]({deviation['link']})")
    for stale in results.get("stale_deviations", []):
        lines.append(f"- no longer reproduces: {_implementations(stale)}: {stale['what']}")
    lines += ["", "## Worst cases", ""]
    lines += table(["check", "verdict", "signature", "x", "y", "got", "exact", "error", "repro"],
                   [_worst_row(r) for r in render.worst_cases(results["checks"])])
    lines += ["", "## Derivation certificate", ""]
    lines += table(["identity", "status", "statement", "numeric residual"],
                   [[c["id"], c["status"], c["statement"], f"{c['numeric_residual']:.1e}"] for c in certificate])
    return "\n".join(lines) + "\n"


def scorecard_section(results: dict) -> list[str]:
    columns, ranked = scorecard.rows(results)
    if not ranked:
        return []
    marks = scorecard.best(columns, ranked)
    header = ["#", "implementation", *[f"{d} {q}" for d, q in columns], "special values", "time × fastest"]
    body = [[scorecard.number(i, row), row.label,
             *[f"[{scorecard.cell_text(row.cells[c], marks, c)}](#{row.cells[c].link})" if c in row.cells else ""
               for c in columns],
             scorecard.specials_text(row, marks), scorecard.speed_text(row, marks)]
            for i, row in enumerate(ranked, 1)]
    untimed = scorecard.not_timed(results)
    return ["", "## Scorecard", "", scorecard.LEGEND, "", *table(header, body), "",
            *[f"- {line}" for line in scorecard.advice(ranked)],
            *(["", "Not timed: " + "; ".join(untimed) + "."] if untimed else [])]


def claims_section(records: list[dict]) -> list[str]:
    columns, rows = render.claims_matrix(records)
    if not rows:
        return []
    lines = ["", "## The article's claims", "", render.CLAIMS_LEGEND, ""]
    lines += table(["claim", "proof", *columns],
                   [[f"{row['claim']['number']}. {row['claim']['title']}", row["claim"]["derive"],
                     *[render.claim_cell(row["cells"].get(c))[1] for c in columns]] for row in rows])
    for number, found in render.claim_findings(records).items():
        lines += ["", f"### Claim {number}: {found[0]['claim']['title']}", ""]
        lines += table(["implementation", "dtype", "outcome", "finding"],
                       [[f"{r['implementation']} ({r['device']})", r["dtype"],
                         render.CLAIM_STATES[render.claim_state(r)][2], r.get("message", "")] for r in found])
    return lines


def _exact(special: dict, key) -> str:
    for column in special["columns"].values():
        if key in column and column[key]["exact"]:
            return column[key]["exact"]
    return ""


def _special_cell(cell: dict | None) -> str:
    return "" if cell is None else f"{render.MARK[cell['verdict']]} {cell['got']}"


def _implementations(deviation: dict) -> str:
    names = deviation["implementation"]
    return ", ".join(names) if isinstance(names, list) else names


def _worst_row(r: dict) -> list:
    worst = (r.get("worst") or [{}])[0]
    if not worst:
        return [r["id"], r["verdict"], "", "", "", "", "", r.get("message", ""), r.get("repro", "")]
    return [r["id"], r["verdict"], worst.get("signature", ""), f"{worst['x']['value']} ({worst['x']['hex']})",
            f"{worst['y']['value']} ({worst['y']['hex']})", worst["got"]["value"], worst["exact"],
            render.format_error(worst["error"]), f"`{r.get('repro', '')}`"]
