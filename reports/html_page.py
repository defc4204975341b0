"""The HTML report: one self-contained file (plots inline as base64 PNG, styles inline, no scripts,
no network), readable at desktop and phone widths (wide tables scroll sideways; the scorecard stacks
into one block per implementation on a phone instead). The scorecard sorts by any of its columns with
radio buttons and CSS alone; the long sections (plots, special values, claim findings, known deviations,
details, certificate) are folded under a one-line summary, and a link into one unfolds it. The details
give a row per verdict and check, not per check, and link each explaining entry: the full report is
under 2 MB, every check of it in results.json beside it.
"""

from __future__ import annotations

import base64
from collections import Counter

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
.plot img { width: 100%; height: auto; } .legend { grid-column: 1 / -1; } .legend img { width: auto; max-width: 100%; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); gap: 8px; }
code { font-size: 11px; word-break: break-all; }
h3, li, p { overflow-wrap: anywhere; }
summary { cursor: pointer; margin: 0.4em 0; } summary h3 { display: inline; font-size: 1em; }
.gate-passed { color: #1a7f1a; } .gate-failed { color: #b00020; }
.sortable > input { position: absolute; opacity: 0; }  /* the sort buttons: their labels are the controls */
.sortable label { cursor: pointer; text-decoration: underline dotted; }
.sort-by { font-size: 12px; }
table.scorecard { font-size: 11px; display: grid; border-top: 1px solid #ccc; border-left: 1px solid #ccc; }
table.scorecard tbody, table.scorecard tr { display: contents; }
table.scorecard th, table.scorecard td { order: var(--o, 0); border-width: 0 1px 1px 0; }
table.scorecard tr.head > th { order: -1; }
table.scorecard td { white-space: nowrap; text-align: right; }
table.scorecard tr:not(.head) > th { overflow-wrap: anywhere; }
table.scorecard .sep { display: none; }
.shades span { padding: 0 4px; }
.s4, .s4 a, .s5, .s5 a { color: #fff; }  /* the two darkest shades */
""" + "".join(f".s{i} {{ background: {colour}; }}\n" for i, (_, colour, _) in enumerate(scorecard.SHADES)) + "".join(
    f"td.{verdict} {{ background: {colour}; }}\n" for verdict, colour in render.COLOUR.items()) + """
@media (max-width: 700px) {  /* the scorecard stacks on a phone: one block per implementation, no sideways scroll */
  table.scorecard { display: flex; flex-direction: column; border: none; }
  table.scorecard tr, table.scorecard th, table.scorecard td { display: block; }
  table.scorecard tr.head { display: none; }
  table.scorecard tr { margin: 0 0 10px; border: 1px solid #ccc; order: var(--o, 0); }
  table.scorecard th, table.scorecard td { border: none; white-space: normal; text-align: left; }
  table.scorecard td br { display: none; }  /* one line a cell: share · error */
  table.scorecard td:before { opacity: 0.75; }
  table.scorecard .sep { display: inline; }
}
"""


def _verdict_cell(verdict: str, text: str, link: str = "") -> str:
    body = escape(text)
    if link:
        body = f'<a href="#{link}">{body}</a>'
    return f'<td class="v {verdict}">{body}</td>'


def page(results: dict, certificate: list[dict], plots: dict) -> str:
    meta = results["metadata"]
    columns, ranked = scorecard.rows(results)
    orders = scorecard.orders(columns, ranked)
    labels = [f"{d} {q}" for d, q in columns] + ["special values", "time × fastest"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>bcebench report</title>", f"<style>{STYLE}{_scorecard_style(orders, labels)}</style></head><body>",
           "<h1>BCE implementations against the exact reference</h1>"]
    state = "passed" if results["passed"] else "failed"
    summary = ", ".join(f"{n} {v}" for v, n in sorted(results["summary"].items()))
    out.append(f'<p class="gate-{state}"><strong>{len(results["checks"])} checks: {escape(summary)}. '
               f"Gate {state}.</strong></p>")
    out.append(_scorecard(results, columns, ranked, orders, labels))
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
               + _text_table("signatures-table", render.SIGNATURES_HEADER, render.signature_rows(results["checks"])))
    out += [_deviations(results), _details(results["checks"]), _certificate(certificate), "</body></html>"]
    return "\n".join(out) + "\n"


def _scorecard(results: dict, columns: list, ranked: list, orders: list, labels: list) -> str:
    """The scorecard table, sortable without a script: one radio button per order (``scorecard.orders``:
    the ranking, the name, the loss, then one per column of ``labels``), each row carrying its place in
    every order as a CSS variable; the checked button's rule sets the grid's ``order``
    (``_scorecard_style``). Labels for the buttons head the columns and line the top."""
    if not ranked:
        return ""
    marks = scorecard.best(columns, ranked)
    by_column = range(len(orders) - len(labels), len(orders))  # the columns' orders, in column order
    head = ('<tr class="head"><th><label for="sort-1">implementation</label></th>'
            + "".join(f'<th><label for="sort-{k}">{escape(label)}</label></th>'
                      for k, label in zip(by_column, labels, strict=True)) + "</tr>")
    body = []
    for i, row in enumerate(ranked):
        cells = []
        for column in columns:
            cell = row.cells.get(column)
            text = '<span class="sep"> · </span><br>'.join(
                escape(part) for part in scorecard.cell_text(cell, marks, column).split(" · "))
            cells.append(f'<td class="s{scorecard.shade(cell, column[0])}"><a href="#{cell.link}">{text}</a></td>'
                         if cell else "<td>—</td>")
        cells += [f"<td>{escape(scorecard.specials_text(row, marks)) or '—'}</td>",
                  f"<td>{escape(scorecard.speed_text(row, marks)) or '—'}</td>"]
        places = ";".join(f"--o{k}:{places[i]}" for k, (_, places) in enumerate(orders) if k)
        body.append(f'<tr style="{places}"><th>{scorecard.number(i + 1, row)}. {escape(row.label)}</th>'
                    f"{''.join(cells)}</tr>")
    buttons = "".join(f'<input type="radio" name="scorecard-sort" id="sort-{k}"{" checked" if not k else ""}>'
                      for k in range(len(orders)))
    sort_by = " · ".join(f'<label for="sort-{k}">{escape(name)}</label>' for k, (name, _) in enumerate(orders))
    advice = "".join(f"<li>{escape(line)}</li>" for line in scorecard.advice(ranked))
    untimed = scorecard.not_timed(results)
    shades = "".join(f'<span class="s{i}">{escape(text)}</span> ' for i, (_, _, text) in enumerate(scorecard.SHADES))
    return (f'<h2 id="scorecard">Scorecard</h2><p>{escape(scorecard.LEGEND)}</p>'
            f'<p class="shades">The largest error, as the share of its dtype\'s digits wrong: {shades}</p>'
            f'<div class="sortable">{buttons}<p class="sort-by">Sort by (or by a column\'s heading): {sort_by}</p>'
            f'<div class="scroll"><table class="scorecard" id="scorecard-table" '
            f'style="grid-template-columns: 16em repeat({len(labels)}, max-content)">'
            f'{head}{"".join(body)}</table></div></div>'
            f'<ul id="advice">{advice}</ul>'
            + (f'<p id="not-timed">Not timed: {escape("; ".join(untimed))}.</p>' if untimed else ""))


def _scorecard_style(orders: list, labels: list) -> str:
    """The rules that sort the scorecard by the checked order, mark the order's label, and name each cell's
    column on a phone (where the heading row is hidden)."""
    if not orders[0][1]:
        return ""
    rules = [f"#sort-{k}:checked ~ .scroll tr {{ --o: var(--o{k}); }}\n" for k in range(1, len(orders))]
    rules += [f'#sort-{k}:checked ~ * label[for="sort-{k}"] {{ font-weight: bold; text-decoration: none; }}\n'
              for k in range(len(orders))]
    phone = "".join(f'  table.scorecard td:nth-of-type({i}):before {{ content: "{label}: "; }}\n'
                    for i, label in enumerate(labels, 1))
    return "".join(rules) + f"@media (max-width: 700px) {{\n{phone}}}\n"


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
        together: dict = {}  # an implementation's dtypes in the same state share a row
        for r in found:
            together.setdefault((r["implementation"], r["device"], render.claim_state(r)), []).append(r)
        rows_html = "".join(
            f"<tr><td>{escape(impl)} ({escape(device)})</td>"
            f"<td>{' '.join(render.DTYPE_SHORT[r['dtype']] for r in rows)}</td>"
            + _verdict_cell(render.CLAIM_STATES[state][0], render.CLAIM_STATES[state][2])
            + f"<td>{escape(_per_dtype(rows))}</td></tr>" for (impl, device, state), rows in together.items())
        parts.append(_collapsed(
            f'<h3>Claim {number}: {escape(found[0]["claim"]["title"])}</h3>',
            '<div class="scroll"><table><tr><th>implementation</th><th>dtype</th><th>outcome</th>'
            f"<th>finding</th></tr>{rows_html}</table></div>", f"claim-{number}"))
    return "".join(parts)


def _per_dtype(records: list[dict]) -> str:
    """The records' messages, each after its dtype where there are several."""
    if len(records) == 1:
        return records[0].get("message", "")
    return "; ".join(f"{render.DTYPE_SHORT[r['dtype']]}: {r.get('message', '')}" for r in records)


def _collapsed(summary: str, body: str, target: str = "") -> str:
    """A section folded under its one-line summary (HTML, already escaped); ``target``, an id placed at the
    top of the body, so that a link to it unfolds the section (browsers open a closed details element
    around a link's target)."""
    anchor = f'<div id="{target}"></div>' if target else ""
    return f"<details><summary>{summary}</summary>{anchor}{body}</details>"


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
            + _collapsed(f"In full: every sweep ({len(sweeps)})", _text_table('exhaustive-table',
                                                                             *exhaustive.table(sweeps)))
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
    rows = render.speed_rows(speed)
    return ("<h2>Speed</h2><p>Median of pytest-benchmark rounds; efficiency is the nearer wall's time (a memory "
            "copy of the same bytes, or one exp and one log1p per element) over the median.</p>"
            + _collapsed(f"{len(rows)} timed cases", _text_table("speed", render.SPEED_HEADER, rows)))


def _plots(plots: dict, title: str) -> str:
    """The plots, folded by form, each form's legend (drawn once) first."""
    if not plots:
        return ""
    by_form: dict = {}
    for key, png in sorted(plots.items()):
        kind = "plot legend" if key[2] == "legend" else "plot"
        alt = escape(" ".join(filter(None, key)))
        figure = (f'<figure class="{kind}" id="plot-{render.anchor(*key)}"><img alt="{alt}" '
                  f'src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>')
        by_form.setdefault(key[0], []).append(figure)
    return f"<h2>{escape(title)}</h2>" + "".join(
        _collapsed(f"{escape(form)}: {len(group)} plots", '<div class="plots">' + "".join(group) + "</div>")
        for form, group in by_form.items())


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
        wrong = sum(cell["verdict"] != "pass" for column in table["columns"].values() for cell in column.values())
        parts.append(_collapsed(
            f"<h3>{escape(quantity)}, {escape(form)} form, {escape(dtype)}: {len(table['inputs'])} inputs × "
            f"{len(names)} implementations, {wrong} results not right</h3>",
            f"<div class=\"scroll\"><table><tr><th>x</th><th>y</th><th>exact</th>{head}</tr>{''.join(rows)}"
            "</table></div>"))
    return "".join(parts)


def _deviations(results: dict) -> str:
    items = []
    used = render.deviations_used(results["checks"])
    for d in used:
        names = d["implementation"] if isinstance(d["implementation"], list) else [d["implementation"]]
        items.append(f'<li id="deviation-{escape(d["key"])}"><strong>{escape(", ".join(names))}</strong> '
                     f"({d['count']} checks; entry {escape(d['key'])}): {escape(d['what'])} "
                     f"<em>Why:</em> {escape(d['why'])} <a href=\"{escape(d['link'])}\">{escape(d['link'])}</a></li>")
    for stale in results.get("stale_deviations", []):
        items.append(f"<li>No longer reproduces: {escape(stale['what'])}</li>")
    return '<h2 id="known-deviations">Known deviations</h2>' + _collapsed(
        f"{len(used)} entries explain checks of this run", "<ul>" + "".join(items) + "</ul>")


DETAILS_INTRO = ("Per implementation and dtype, its checks grouped by verdict and check (every pass in one row), "
                 "with their quantities: how many, the largest error, the worst input of the worst of them, and what "
                 "explains them (the known deviation's entry, or the message); each failure or crash on its own row "
                 "with its repro line. results.json beside this file holds every check in full.")


def _details(records: list[dict]) -> str:
    groups: dict = {}
    for r in records:
        groups.setdefault(render.detail_anchor(r["framework"], r["device"], r["implementation"], r.get("dtype", "")),
                          []).append(r)
    parts = ['<h2 id="details">Details</h2>', f"<p>{escape(DETAILS_INTRO)}</p>"]
    listed = {d["key"] for d in render.deviations_used(records)}
    for link, group in groups.items():
        first = group[0]
        rows = "".join(_detail_row(rows, listed) for rows in render.detail_rows(group))
        counts = " ".join(f"{render.MARK[v]} {n}" for v, n in sorted(
            Counter(r["verdict"] for r in group).items(), key=lambda item: render.SEVERITY.index(item[0])))
        parts.append(_collapsed(
            f"<h3>{escape(first['implementation'])} — {escape(first.get('dtype', ''))} ({escape(first['framework'])}, "
            f"{escape(first['device'])}): {escape(counts)}</h3>",
            '<div class="scroll"><table><tr><th></th><th>check</th><th>quantity</th><th>checks</th><th>max error</th>'
            f"<th>worst input; explanation</th></tr>{rows}</table></div>", link))
    return "".join(parts)


def _detail_row(checks: list[dict], listed: set) -> str:
    """One row for checks of the same verdict and check (all passes together; a failure or crash alone);
    an entry that explains some of them links to its place in the known deviations where it is ``listed``
    there (an older results file lists no entry beside a check that fails all the same)."""
    first = checks[0]
    verdict = first["verdict"]
    worst_check = max(checks, key=lambda r: (r.get("errors") or {}).get("max", -1.0))
    worst = (worst_check.get("worst") or [{}])[0]
    short = render.six_digits
    where = (f"x={short(worst['x']['value'])} ({worst['x']['hex']}), y={short(worst['y']['value'])}: got "
             f"{short(worst['got']['value'])}, exact {short(worst['exact'])}. ") if worst and verdict != "pass" else ""
    entries = sorted({k for r in checks for k in r.get("deviations_used", {})}
                     | {r["deviation"]["key"] for r in checks if r.get("deviation")})
    explained = " ".join(f'<a href="#deviation-{escape(k)}">entry {escape(k)}</a>' if k in listed else
                         f"entry {escape(k)}" for k in entries)
    messages = "" if verdict == "pass" else escape("; ".join(dict.fromkeys(r["message"] for r in checks
                                                                          if r.get("message"))))
    repro = f" <code>{escape(first['repro'])}</code>" if verdict in ("fail", "crashed") and first.get("repro") else ""
    largest = max(((r.get("errors") or {}).get("max") for r in checks if r.get("errors")), default=None)
    names = ", ".join(dict.fromkeys(r.get("check", "") for r in checks))
    quantities = ", ".join(dict.fromkeys(r["quantity"] for r in checks if r.get("quantity")))
    return ("<tr>" + _verdict_cell(verdict, render.MARK[verdict])
            + f"<td>{escape(names)}</td><td>{escape(quantities)}</td>"
            f'<td class="v">{len(checks)}</td><td class="v">{render.format_error(largest)}</td>'
            f"<td>{escape(where)}{explained}{' ' if explained and messages else ''}{messages}{repro}</td></tr>")


def _certificate(certificate: list[dict]) -> str:
    rows = "".join(f"<tr><td>{escape(c['id'])}</td>"
                   f"{_verdict_cell('pass' if c['status'] == 'proved' else 'fail', c['status'])}"
                   f"<td>{escape(c['statement'])}</td><td>{escape('; '.join(c['methods']))}</td>"
                   f"<td class=\"v\">{c['numeric_residual']:.1e}</td></tr>" for c in certificate)
    proved = sum(c["status"] == "proved" for c in certificate)
    return "<h2>Derivation certificate</h2>" + _collapsed(
        f"{proved} of {len(certificate)} identities proved", "<div class=\"scroll\"><table><tr><th>identity</th>"
        f"<th>status</th><th>statement</th><th>method</th><th>numeric residual</th></tr>{rows}</table></div>")
