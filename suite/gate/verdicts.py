"""What the gate's records say: whether the gate passes (every gating check passed, and something
judged for everything asked), one line per failure, a repro command per check, and JUnit XML.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from bcebench.adapters.declaration import Declaration
from bcebench.reports.results import JUDGED, PASSING, glob_match
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
    """A one-line command that runs this check on its worst input alone, judged as the run judged
    it: the implementation as declared (adapters.declaration), the policy, the deviations, the seed."""
    worst = record.get("worst") or []
    if not worst:
        return ""
    x, y = worst[0]["x"]["hex"], worst[0]["y"]["hex"]
    command = (f"bcebench check --framework {record['framework']} --device {record['device']}"
               f" --implementation '{record['implementation']}' --dtype {record['dtype']}"
               f" --quantity {record['quantity']} --input {x}:{y}")
    declared = {d.id: d for d in map(Declaration.from_dict, selection.user_impls)}
    own = declared.get(record["implementation"].removesuffix("[each]"))
    if own:
        command += " " + own.options()
    if selection.policy != "strict":
        command += f" --policy {selection.policy}"
    if selection.deviations:
        command += f" --deviations {selection.deviations}"
    if selection.seed != cases.SEED:
        command += f" --seed {selection.seed}"
    return command


def hints(records: list[dict]) -> list[str]:
    """One line per implementation none of whose checks passed because (nearly) every one failed the
    same way: what that likely means and what fixes it. A function that reduces, that computes in
    another dtype, or that needs another calling convention fails every check, and each check says
    so in its own words; the hint says it once."""
    lines = []
    by_impl: dict = {}
    for r in records:
        if r.get("check") in ("accuracy", "special", "shapes", "reduction"):
            by_impl.setdefault(r.get("implementation", ""), []).append(r)
    for impl, group in by_impl.items():
        if any(r["verdict"] in JUDGED for r in group if r["check"] == "accuracy"):
            continue
        found = [_calling_fault(r.get("message") or "") for r in group if r["verdict"] in ("fail", "crashed")]
        known = [f for f in found if f]
        if len(known) >= 2 and len(known) >= 0.8 * len(found) and len(set(known)) == 1:
            lines.append(f"{impl}: {known[0]}")
    return lines


def _calling_fault(message: str) -> str:
    """What a check's message says about how the function is called, as a hint ('' if nothing)."""
    shape = re.search(r"returned shape (\([\d, ]*\)) (\w+), expected (\([\d, ]*\)) (\w+)", message)
    if shape and shape[1] == "()" and shape[3] != "()":
        return ("every call returned one number: your function reduces; declare it with --reduction mean or sum "
                "(reduction= in the API), or return the loss of each element")
    if shape and shape[2] != shape[4]:
        return (f"every call returned {shape[2]} for {shape[4]} inputs: your function computes in another dtype; "
                f"its values are judged rounded to {shape[4]}, but a loss must come back in its input's dtype: "
                f"cast the result back")
    if shape:
        return (f"every call returned shape {shape[1]} for inputs of shape {shape[3]}: bcebench calls fn(x, y) on "
                "1-D arrays and expects one loss per element")
    raised = re.search(r"(\w+(?:Error|Exception)): (.+)$", message)
    if raised:
        return (f"every call raised {raised[1]}: {raised[2]}; bcebench calls fn(x, y) on 1-D arrays of the "
                "framework: declare another calling convention with --input-rank 2 (a column in and out) or "
                "--arguments INPUT,TARGET (keyword names), or wrap a module to instantiate in a function")
    return ""

def gate_passes(records: list[dict], selection: Selection | None = None) -> bool:
    """Every gating check passed, and something was judged for everything asked (``unjudged``)."""
    return bool(records) and all(r["verdict"] in PASSING or not r.get("gating", True) for r in records) and not (
        unjudged(records, selection))


def unjudged(records: list[dict], selection: Selection | None = None) -> list[str]:
    """One line for each thing the gate would otherwise pass without judging: no gating check at
    all; an implementation none of whose gating checks was judged (pass or known deviation), as
    when it is unsupported on every call; a user's implementation with no check at all (the filters
    left none, or its framework's worker died before planning); an --implementation pattern that
    matched no implementation (a typo beside a pattern that did match narrowed the run without a
    word); a quantity asked for with --quantity that an implementation never had judged; and a dtype
    asked for with --dtype that a framework asked for with --framework does not offer here."""
    lines = [f"nothing judged for {framework} {device_dtype.replace(' ', ' in ')}: {why}"
             for framework in (selection.required if selection else ())
             for device_dtype, why in selection.not_offered.get(framework, {}).items()]
    gating = [r for r in records if r.get("gating", True) and r.get("implementation")]
    if not gating:
        return [*lines, "no gating check ran: only non-gating implementations were selected, or none"]
    ran = {r["implementation"] for r in records if r.get("implementation")}
    for pattern in (selection.implementations or []) if selection else []:
        if not any(glob_match(pattern, implementation) for implementation in ran):
            lines.append(f"--implementation {pattern!r} matched no implementation that ran")
    died = {r["framework"] for r in records if r.get("check") == "worker"}
    for user in (Declaration.from_dict(u) for u in selection.user_impls) if selection else ():
        if not any(r["implementation"] in (user.id, f"{user.id}[each]") for r in gating):
            why = f"its {user.framework} worker ended first" if user.framework in died else (
                "the filters left no check of it")
            lines.append(f"nothing judged for your implementation {user.id}: {why}")
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
