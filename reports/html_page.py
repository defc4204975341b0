"""The HTML report: one self-contained file (plots inline as base64 PNG, styles inline, no scripts,
no network), readable at desktop and phone widths (wide tables scroll sideways; the scorecard stacks
into one block per implementation on a phone instead)."""

from __future__ import annotations

import base64

from bcebench.reports import render, scorecard
from bcebench.reports.render import escape

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 12px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.scroll { overflow-x: auto; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 5px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
td.v { white-space: nowrap; text-align: right; }
figure { margin: 0; }
.plot img { width: 100%; height: auto; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); gap: 8px; }
code { font-size: 11px; word-break: break-all; }
h3, li, p { overflow-wrap: anywhere; }
.gate-passed { color: #1a7f1a; } .gate-failed { color: #b00020; }
table.scorecard { font-size: 11px; }
table.scorecard td { white-space: nowrap; text-align: right; }
table.scorecard tr:not(.head) > th { min-width: 13em; max-width: 16em; overflow-wrap: anywhere; }
table.scorecard .sep { display: none; }
.shades span { padding: 0 4px; }
.s4, .s4 a, .s5, .s5 a { color: #fff; }  /* the two darkest shades */
""" + "".join(f".s{i} {{ background: {colour}; }}\n" for i, (_, colour, _) in enumerate(scorecard.SHADES)) + """
@media (max-width: 700px) {  /* the scorecard stacks on a phone: one block per implementation, no sideways scroll */
  table.scorecard, table.scorecard tbody, table.scorecard tr, table.scorecard th, table.scorecard td { display: block; }
  table.scorecard tr.head { display: none; }
  table.scorecard tr { margin: 0 0 10px; border: 1px solid #ccc; }
  table.scorecard th, table.scorecard td { border: none; white-space: normal; text-align: left; }
  table.scorecard tr:not(.head) > th { max-width: none; }
  table.scorecard td br { display: none; }  /* one line a cell: share · error */
  table.scorecard .sep { display: inline; }
  table.scorecard td[data-label]::before { content: attr(data-label) ": "; color: #555; }
}
"""


def _verdict_cell(verdict: str, text: str, link: str = "") -> str:
    body = escape(text)
    if link:
        body = f'<a href="#{link}">{body}</a>'
    return f'<td class="v" style="background:{render.COLOUR[verdict]}" title="{verdict}">{body}</td>'


def page(results: dict, certificate: list[dict], plots: dict) -> str:
    meta = results["metadata"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>bcebench report</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>BCE implementations against the exact reference</h1>"]
    state = "passed" if results["passed"] else "failed"
    summary = ", ".join(f"{n} {v}" for v, n in sorted(results["summary"].items()))
    out.append(f'<p class="gate-{state}"><strong>{len(results["checks"])} checks: {escape(summary)}. '
               f"Gate {state}.</strong></p>")
    out.append(_scorecard(results))
    out += ["<h2>Environment</h2><ul>", f"<li>Date: {escape(meta['date'])}</li>"]
    for name, info in meta["frameworks"].items():
        out.append(f"<li>{escape(name)} {escape(info['version'])}: {escape(', '.join(info['devices']))}</li>")
    for name, reason in meta.get("unavailable", {}).items():
        out.append(f"<li>{escape(name)}: unavailable ({escape(reason)})</li>")
    machine = meta["machine"]
    out += [f"<li>Machine: {escape(machine['platform'])}, {escape(machine['processor'])}, {machine['cpus']} CPUs, "
            f"Python {escape(machine['python'])}</li>",
            f"<li>Policy: {escape(meta['policy']['name'])} ({escape(meta['policy']['description'])}); "
            f"seed {meta['seed']}</li></ul>"]
    error_plots = {k: v for k, v in plots.items() if k[0] != "speed"}
    speed_plots = {k: v for k, v in plots.items() if k[0] == "speed"}
    out += _summary(results["checks"]), _claims(results["checks"])
    if results.get("exhaustive"):
        out.append(_exhaustive(results["exhaustive"]))
    out.append(_plots(error_plots, "Error against input"))
    if results.get("speed"):
        out += _speed(results["speed"]), _plots(speed_plots, "Time per element against size")
    out.append(_specials(results["checks"]))
    out.append('<h2 id="signatures">Failures by signature</h2><p>Out-of-bound elements of failing checks, then of '
               "known deviations, the most severe signature first.</p>"
               + _text_table("signatures", render.SIGNATURES_HEADER, render.signature_rows(results["checks"])))
    out += [_deviations(results), _details(results["checks"]), _certificate(certificate), "</body></html>"]
    return "\n".join(out) + "\n"


def _scorecard(results: dict) -> str:
    columns, ranked = scorecard.rows(results)
    if not ranked:
        return ""
    marks = scorecard.best(columns, ranked)
    labels = [f"{d} {q}" for d, q in columns] + ["special values", "time × fastest"]
    head = '<tr class="head"><th>implementation</th>' + "".join(f"<th>{escape(c)}</th>" for c in labels) + "</tr>"
    body = []
    for i, row in enumerate(ranked, 1):
        cells = []
        for column, label in zip(columns, labels, strict=False):
            cell = row.cells.get(column)
            text = '<span class="sep"> · </span><br>'.join(
                escape(part) for part in scorecard.cell_text(cell, marks, column).split(" · "))
            cells.append(f'<td data-label="{escape(label)}" class="s{scorecard.shade(cell, column[0])}">'
                         f'<a href="#{cell.link}">{text}</a></td>' if cell else
                         f'<td data-label="{escape(label)}">—</td>')
        cells += [f'<td data-label="special values">{escape(scorecard.specials_text(row, marks)) or "—"}</td>',
                  f'<td data-label="time × fastest">{escape(scorecard.speed_text(row, marks)) or "—"}</td>']
        body.append(f"<tr><th>{scorecard.number(i, row)}. {escape(row.label)}</th>{''.join(cells)}</tr>")
    advice = "".join(f"<li>{escape(line)}</li>" for line in scorecard.advice(ranked))
    untimed = scorecard.not_timed(results)
    shades = "".join(f'<span class="s{i}">{escape(text)}</span> ' for i, (_, _, text) in enumerate(scorecard.SHADES))
    return (f'<h2 id="scorecard">Scorecard</h2><p>{escape(scorecard.LEGEND)}</p>'
            f'<p class="shades">The largest error, as the share of its dtype\'s digits wrong: {shades}</p>'
            f'<div class="scroll">'
            f'<table class="scorecard" id="scorecard-table">{head}{"".join(body)}</table></div>'
            f'<ul id="advice">{advice}</ul>'
            + (f'<p id="not-timed">Not timed: {escape("; ".join(untimed))}.</p>' if untimed else ""))


def _summary(records: list[dict]) -> str:
    columns, rows = render.summary_matrix(records)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = [f"<th>{escape(row[0]['label'])} ({escape(row[0]['framework'])}, {escape(row[0]['device'])})</th>"]
        for cell in row[1:]:
            cells.append("<td></td>" if cell is None else _verdict_cell(
                cell["verdict"], f"{render.MARK[cell['verdict']]} {render.format_error(cell['max'])}", cell["link"]))
        body.append("<tr>" + "".join(cells) + "</tr>")
    legend = ("<p>Each cell: the worst verdict of its checks (✓ pass, ≈ known deviation, – unsupported, ✗ fail, "
              "✗✗ crashed) and the largest accuracy error in ULPs. A cell links to its detail.</p>")
    return (f'<h2 id="summary">Summary</h2>{legend}<div class="scroll"><table id="summary-matrix">'
            f"<tr><th>implementation</th>{head}</tr>{''.join(body)}</table></div>")


def _claims(records: list[dict]) -> str:
    columns, rows = render.claims_matrix(records)
    if not rows:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        claim = row["claim"]
        cells = [f'<th><a href="#claim-{claim["number"]}">{claim["number"]}. {escape(claim["title"])}</a></th>'
                 f"<td>{escape(claim['derive'])}</td>"]
        for column in columns:
            verdict, text = render.claim_cell(row["cells"].get(column))
            cells.append(_verdict_cell(verdict, text))
        body.append("<tr>" + "".join(cells) + "</tr>")
    parts = [f'<h2 id="claims">The article\'s claims</h2><p>{escape(render.CLAIMS_LEGEND)}</p><div class="scroll">'
             f'<table id="claims-matrix"><tr><th>claim</th><th>proof</th>{head}</tr>{"".join(body)}</table></div>']
    for number, found in render.claim_findings(records).items():
        rows_html = "".join(
            f"<tr><td>{escape(r['implementation'])} ({escape(r['device'])})</td><td>{escape(r['dtype'])}</td>"
            + _verdict_cell(render.CLAIM_STATES[render.claim_state(r)][0],
                            render.CLAIM_STATES[render.claim_state(r)][2])
            + f"<td>{escape(r.get('message', ''))}</td></tr>" for r in found)
        parts.append(f'<h3 id="claim-{number}">Claim {number}: {escape(found[0]["claim"]["title"])}</h3>'
                     '<div class="scroll"><table><tr><th>implementation</th><th>dtype</th><th>outcome</th>'
                     f"<th>finding</th></tr>{rows_html}</table></div>")
    return "".join(parts)


def _text_table(table_id: str, header: list[str], rows: list[list[str]]) -> str:
    """A scrolling table of plain-text cells."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table id="{table_id}"><tr>{head}</tr>{body}</table></div>'


def _exhaustive(sweeps: list[dict]) -> str:
    from bcebench.reports import exhaustive

    total = sum(r["stats"]["total"] for r in sweeps)
    same = exhaustive.identical(sweeps)
    groups = "".join(f"<li>{escape(row)}: {escape(' = '.join(members))}</li>" for row, members in same)
    return (f'<h2 id="exhaustive">Exhaustive sweeps</h2><p>Every input of each range ({total:,} in all), each '
            "against its correctly rounded value: the maximum error is proven, not sampled.</p>"
            f"<p>{escape(exhaustive.GLANCE_INTRO)}</p>{_text_table('exhaustive-glance', *exhaustive.glance(sweeps))}"
            f"<p>In full:</p>{_text_table('exhaustive-table', *exhaustive.table(sweeps))}"
            + (f"<p>{escape(exhaustive.IDENTICAL_INTRO)}</p><ul>{groups}</ul>" if same else "")
            + _rewrites(sweeps))


def _rewrites(sweeps: list[dict]) -> str:
    """Each built-in beside its stable rewrite, one before/after table per pair."""
    from bcebench.reports import exhaustive

    pairs = exhaustive.rewrite_pairs(sweeps)
    if not pairs:
        return ""
    parts = [f'<h2 id="rewrites">Stable rewrites</h2><p>{escape(exhaustive.REWRITES_INTRO)}</p>']
    for i, (builtin, rewrite) in enumerate(pairs):
        dtype, quantity, label, _ = exhaustive.row_key(builtin)
        parts.append(f"<p>{escape(builtin['target']['implementation'])}, {escape(dtype)} {escape(quantity)}, "
                     f"{escape(label)}:</p>" + _text_table(f"rewrite-{i}", *exhaustive.before_after_table(
                         [builtin, rewrite], exhaustive.speeds_of((builtin, rewrite)))))
    return "".join(parts)


def _speed(speed: dict) -> str:
    return ("<h2>Speed</h2><p>Median of pytest-benchmark rounds; efficiency is the nearer wall's time (a memory "
            "copy of the same bytes, or one exp and one log1p per element) over the median.</p>"
            + _text_table("speed", render.SPEED_HEADER, render.speed_rows(speed)))


def _plots(plots: dict, title: str) -> str:
    figures = [f'<figure class="plot" id="plot-{render.anchor(*key)}"><img alt="{escape(" ".join(key))}" '
               f'src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
               for key, png in sorted(plots.items())]
    return f"<h2>{escape(title)}</h2><div class=\"plots\">" + "".join(figures) + "</div>"


def _specials(records: list[dict]) -> str:
    parts = ["<h2>Special values and overflow</h2>"]
    for (form, dtype, quantity), table in sorted(render.special_tables(records).items()):
        names = list(table["columns"])
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        rows = []
        for key in table["inputs"]:
            cells = [f"<td>{escape(key[0])}</td><td>{escape(key[1])}</td>"]
            exact = next((c[key]["exact"] for c in table["columns"].values() if key in c and c[key]["exact"]), "")
            cells.append(f"<td>{escape(exact)}</td>")
            for name in names:
                cell = table["columns"][name].get(key)
                cells.append("<td></td>" if cell is None else
                             _verdict_cell(cell["verdict"], f"{render.MARK[cell['verdict']]} {cell['got']}"))
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<h3>{escape(quantity)}, {escape(form)} form, {escape(dtype)}</h3><div class=\"scroll\"><table>"
                     f"<tr><th>x</th><th>y</th><th>exact</th>{head}</tr>{''.join(rows)}</table></div>")
    return "".join(parts)


def _deviations(results: dict) -> str:
    items = []
    for d in render.deviations_used(results["checks"]):
        names = d["implementation"] if isinstance(d["implementation"], list) else [d["implementation"]]
        items.append(f"<li><strong>{escape(', '.join(names))}</strong> ({d['count']} checks): {escape(d['what'])} "
                     f"<em>Why:</em> {escape(d['why'])} <a href=\"{escape(d['link'])}\">{escape(d['link'])}</a></li>")
    for stale in results.get("stale_deviations", []):
        items.append(f"<li>No longer reproduces: {escape(stale['what'])}</li>")
    return "<h2>Known deviations</h2><ul>" + "".join(items) + "</ul>"


def _details(records: list[dict]) -> str:
    parts = ["<h2>Details</h2>"]
    groups: dict = {}
    for r in records:
        groups.setdefault(render.anchor(r["framework"], r["device"], r["implementation"], r.get("dtype", "")),
                          []).append(r)
    for link, group in groups.items():
        first = group[0]
        rows = []
        for r in sorted(group, key=lambda r: render.SEVERITY.index(r["verdict"])):
            worst = (r.get("worst") or [{}])[0]
            where = (f"x={worst['x']['value']} ({worst['x']['hex']}), y={worst['y']['value']}: got "
                     f"{worst['got']['value']}, exact {worst['exact']}") if worst else ""
            note = r.get("message") or (r.get("deviation") or {}).get("what", "")
            repro = f"<code>{escape(r['repro'])}</code>" if r.get("repro") and r["verdict"] != "pass" else ""
            rows.append("<tr>" + _verdict_cell(r["verdict"], f"{render.MARK[r['verdict']]} {r['verdict']}")
                        + f"<td>{escape(r.get('check', ''))}</td><td>{escape(r.get('quantity', ''))}"
                        f"</td><td>{escape(r.get('regime', ''))}-{escape(r.get('labels', ''))}</td>"
                        f"<td class=\"v\">{render.format_error((r.get('errors') or {}).get('max'))}</td>"
                        f"<td>{escape(where)} {escape(note)} {repro}</td></tr>")
        parts.append(f"<h3 id=\"{link}\">{escape(first['implementation'])} — {escape(first.get('dtype', ''))} "
                     f"({escape(first['framework'])}, {escape(first['device'])})</h3><div class=\"scroll\"><table>"
                     "<tr><th>verdict</th><th>check</th><th>quantity</th><th>inputs</th><th>max error</th>"
                     f"<th>worst input, explanation, repro</th></tr>{''.join(rows)}</table></div>")
    return "".join(parts)


def _certificate(certificate: list[dict]) -> str:
    rows = "".join(f"<tr><td>{escape(c['id'])}</td>"
                   f"{_verdict_cell('pass' if c['status'] == 'proved' else 'fail', c['status'])}"
                   f"<td>{escape(c['statement'])}</td><td>{escape('; '.join(c['methods']))}</td>"
                   f"<td class=\"v\">{c['numeric_residual']:.1e}</td></tr>" for c in certificate)
    return ("<h2>Derivation certificate</h2><div class=\"scroll\"><table><tr><th>identity</th><th>status</th>"
            f"<th>statement</th><th>method</th><th>numeric residual</th></tr>{rows}</table></div>")
