"""What the gate's records say: whether the gate passes (every gating check passed, and something
judged for everything asked), one line per failure, a repro command per check, and JUnit XML.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from bcebench.reports.results import JUDGED, PASSING
from bcebench.suite.checks import cases
from bcebench.suite.gate.planning import Selection


def failures(records: list[dict]) -> list[str]:
    """One line per gating check that failed or crashed: id, what went wrong, the worst input."""
    lines = []
    for r in records:
        if r["verdict"] in PASSING or not r.get("gating", True):
            continue
        lines.append(f"{r['verdict']}: {r['id']}: {r.get('message') or describe_worst(r)}")
    return lines


def describe_worst(record: dict) -> str:
    """How many elements were out of bound, by signature (most severe first, with the region of x
    and the largest error), and the worst input of the most severe with what came back and the
    exact value."""
    worst = (record.get("worst") or [{}])[0]
    if not worst:
        return ""
    groups = "; ".join(f"{kind} {g['count']} at x in [{_end(g['x'][0])}, {_end(g['x'][1])}]"
                       for kind, g in record.get("signatures", {}).items())
    return (f"{record.get('failures', 0)} of {record.get('count', 0)} elements out of bound ({groups}); first "
            f"{worst.get('signature', '')} x={worst['x']['value']} [{worst['x']['hex']}] y={worst['y']['value']} "
            f"got={worst['got']['value']} exact={worst['exact']} error={worst['error']:.3g} "
            f"({record['bound']['scale']} bound {record['bound']['limit']:g})")


def _end(value: float | str) -> str:
    """An end of a signature group's range: a number to 4 digits, or 'nan', 'inf', '-inf'."""
    return f"{value:.4g}" if isinstance(value, float) else value


def repro(record: dict, selection: Selection) -> str:
    """A one-line command that runs this check on its worst input alone."""
    worst = record.get("worst") or []
    if not worst:
        return ""
    x, y = worst[0]["x"]["hex"], worst[0]["y"]["hex"]
    command = (f"bcebench check --framework {record['framework']} --device {record['device']}"
               f" --implementation '{record['implementation']}' --dtype {record['dtype']}"
               f" --quantity {record['quantity']} --input {x}:{y}")
    if selection.user_impl:
        user = selection.user_impl
        command += f" --impl {user['spec']} --form {user['form']}"
    if selection.seed != cases.SEED:
        command += f" --seed {selection.seed}"
    return command


def gate_passes(records: list[dict], selection: Selection | None = None) -> bool:
    """Every gating check passed, and something was judged for everything asked (``unjudged``)."""
    return bool(records) and all(r["verdict"] in PASSING or not r.get("gating", True) for r in records) and not (
        unjudged(records, selection))


def unjudged(records: list[dict], selection: Selection | None = None) -> list[str]:
    """One line for each thing the gate would otherwise pass without judging: no gating check at
    all; an implementation none of whose gating checks was judged (pass or known deviation), as
    when it is unsupported on every call; and a quantity asked for with --quantity that an
    implementation never had judged."""
    gating = [r for r in records if r.get("gating", True) and r.get("implementation")]
    if not gating:
        return ["no gating check ran: only non-gating implementations were selected, or none"]
    lines = []
    by_impl: dict = {}
    for r in gating:
        by_impl.setdefault((r["framework"], r["device"], r["implementation"]), []).append(r)
    asked = (selection.quantities if selection else None) or []
    for (framework, device, implementation), group in by_impl.items():
        judged = [r for r in group if r["verdict"] in JUDGED]
        name = f"{framework}/{device}/{implementation}"
        if any(r["verdict"] not in PASSING for r in group):
            continue  # a failing check fails the gate already
        if not judged:
            lines.append(f"nothing judged for {name}: every check was {_verdict_list(group)}")
            continue
        planned = {r["quantity"] for r in group}
        for quantity in [q for q in asked if q in planned and q not in {r["quantity"] for r in judged}]:
            lines.append(f"nothing judged for {name} {quantity}: its checks were "
                         f"{_verdict_list([r for r in group if r['quantity'] == quantity])}")
    return lines


def _verdict_list(records: list[dict]) -> str:
    verdicts = sorted({r["verdict"] for r in records})
    return " or ".join(verdicts)


def junit_xml(results: dict) -> str:
    """One testsuite per framework, one testcase per check: fail and crashed are failures,
    unsupported is skipped, a known deviation passes with its explanation in system-out."""
    suites = {}
    for record in results["checks"]:
        suites.setdefault(record["framework"], []).append(record)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<testsuites>"]
    for framework, records in suites.items():
        failures = sum(r["verdict"] in ("fail", "crashed") and r.get("gating", True) for r in records)
        skipped = sum(r["verdict"] == "unsupported" for r in records)
        lines.append(f'  <testsuite name={quoteattr(framework)} tests="{len(records)}" failures="{failures}"'
                     f' skipped="{skipped}">')
        for r in records:
            lines.append(f'    <testcase classname={quoteattr(framework)} name={quoteattr(r["id"])}'
                         f' time="{r.get("seconds", 0)}">')
            message = r.get("message") or (f"max error {r['errors']['max']:.3g}" if "errors" in r else "")
            if r["verdict"] in ("fail", "crashed") and r.get("gating", True):
                lines.append(f"      <failure message={quoteattr(r['verdict'] + ': ' + message)}>"
                             f"{escape(r.get('repro', ''))}</failure>")
            elif r["verdict"] in ("fail", "crashed"):
                lines.append(f"      <system-out>{escape('non-gating ' + r['verdict'] + ': ' + message)}</system-out>")
            elif r["verdict"] == "unsupported":
                lines.append(f"      <skipped message={quoteattr(message)}/>")
            elif r["verdict"] == "known-deviation":
                lines.append(f"      <system-out>{escape('known deviation: ' + r['deviation']['what'])}</system-out>")
            lines.append("    </testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"
