"""``bcebench compare OLD NEW``: what changed between two results files (or report folders).

Regressions: a check that passed (pass, known deviation, unsupported) and now fails or crashes;
a gating check that was judged (pass, known deviation) and now is unsupported or crashed, or is
gone; fewer gating checks than in the baseline; and a check whose largest error grew by
more than the threshold factor and now exceeds the policy bound's half (small errors moving around
inside the bound are noise, not regressions). Improvements are the reverse. Checks present in
only one run are listed as new or missing as well. A check of drawn inputs that is gone is no
regression where the new run judged every input of its kind instead (``superseded``): an accuracy
check of the same implementation, dtype, quantity and labels whose record is ``exhaustive`` and was
judged (the 16-bit cases of every input hold every input that any draw of hard or soft labels holds).

``bcebench compare OLD NEW --identical`` asks more: that two runs judged alike, check by check, every
field of every record but its timing (``TIMING``) equal, and the run's verdict, summary, unjudged
and stale deviations too: the proof that a change which was to remove cost changed no verdict.
"""

from __future__ import annotations

from bcebench.reports.markdown_table import table
from bcebench.reports.results import JUDGED, PASSING


def _max_error(record: dict) -> float | None:
    return (record.get("errors") or {}).get("max")


def _kind(record: dict) -> tuple:
    """What an accuracy check judges but for its inputs: implementation, dtype, quantity, labels."""
    return tuple(record.get(key) for key in ("framework", "device", "implementation", "dtype", "check", "quantity",
                                              "labels"))


def compare(old: dict, new: dict, threshold: float = 2.0, fail_over: float = 10.0) -> dict:
    """{'regressions', 'improvements', 'superseded'}: lists of (id, before, after) rows (a superseded
    check's after: the id of the check of every input that holds its inputs); 'new', 'missing': ids. When
    both runs carry a speed section, a case slower by more than ``fail_over`` percent and beyond
    its noise is a regression too (suite.bench.regressions)."""
    if threshold <= 1:
        raise ValueError(f"the threshold must be a factor > 1, not {threshold:g}")
    before = {r["id"]: r for r in old["checks"]}
    after = {r["id"]: r for r in new["checks"]}
    changes: dict = {"regressions": [], "improvements": [], "new": sorted(after.keys() - before.keys()),
                     "missing": sorted(before.keys() - after.keys()), "superseded": []}
    every = {_kind(r): r for r in new["checks"] if r.get("exhaustive") and r["verdict"] in JUDGED}
    for check_id in changes["missing"]:
        a = before[check_id]
        if a.get("check") == "accuracy" and _kind(a) in every:
            changes["superseded"].append((check_id, a["verdict"], every[_kind(a)]["id"]))
        elif a.get("gating", True) and a["verdict"] in JUDGED:
            changes["regressions"].append((check_id, a["verdict"], "gone"))
    gating_before, gating_after = (sum(r.get("gating", True) for r in run["checks"]) for run in (old, new))
    gating_before -= sum(before[check_id].get("gating", True) for check_id, _, _ in changes["superseded"])
    if gating_after < gating_before:
        changes["regressions"].append(("gating checks", str(gating_before), str(gating_after)))
    for check_id in sorted(before.keys() & after.keys()):
        a, b = before[check_id], after[check_id]
        was_ok, is_ok = a["verdict"] in PASSING, b["verdict"] in PASSING
        gating = b.get("gating", True)
        if gating and ((was_ok and not is_ok) or (a["verdict"] in JUDGED and b["verdict"] not in JUDGED)):
            changes["regressions"].append((check_id, a["verdict"], b["verdict"]))
            continue
        if is_ok and not was_ok:
            changes["improvements"].append((check_id, a["verdict"], b["verdict"]))
            continue
        old_error, new_error = _max_error(a), _max_error(b)
        if old_error is None or new_error is None:
            continue
        half_bound = 0.5 * (b.get("bound") or {}).get("limit", 0.0)
        if new_error > threshold * max(old_error, 1e-300) and new_error > half_bound and gating:
            changes["regressions"].append((check_id, f"max {old_error:.3g}", f"max {new_error:.3g}"))
        elif old_error > threshold * max(new_error, 1e-300) and old_error > half_bound:
            changes["improvements"].append((check_id, f"max {old_error:.3g}", f"max {new_error:.3g}"))
    if old.get("speed") and new.get("speed"):
        from bcebench.reports.speed import regressions

        speed = regressions(old["speed"], new["speed"], fail_over)
        changes["regressions"] += [(case_id, "timed", f"not timed: {why}") for case_id, why in speed["lost"]]
        for title, key in (("slower", "regressions"), ("faster", "improvements")):
            changes[key] += [(case_id, f"{a * 1e6:.1f} µs", f"{b * 1e6:.1f} µs ({change:+.1%})")
                             for case_id, a, b, change in speed[title]]
    return changes


def summary(changes: dict) -> str:
    lines = ["# bcebench compare", ""]
    for title in ("regressions", "improvements"):
        rows = changes[title]
        lines += [f"## {title.capitalize()}: {len(rows)}", ""]
        if rows:
            lines += [*table(["check", "before", "after"], [list(row) for row in rows]), ""]
    if changes.get("superseded"):
        lines += [f"## Superseded by a check of every input: {len(changes['superseded'])}", "",
                  *table(["check", "before", "judged now by"], [list(row) for row in changes["superseded"][:50]]), ""]
    for title in ("new", "missing"):
        ids = changes[title]
        lines += [f"## {title.capitalize()} checks: {len(ids)}", ""] + [f"- {i}" for i in ids[:50]]
        if len(ids) > 50:
            lines.append(f"- … and {len(ids) - 50} more")
        lines.append("")
    return "\n".join(lines)


TIMING = ("seconds", "compile_seconds")  # what a record may differ in between two runs that judged alike
RUN_FIELDS = ("passed", "summary", "unjudged", "stale_deviations")


def _first_difference(old, new, path: str = "") -> str:
    """The path of the first place two JSON values differ ('' if they are equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                return f"{path}.{key} {'added' if key in new else 'gone'}"
            found = _first_difference(old[key], new[key], f"{path}.{key}")
            if found:
                return found
        return ""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return next((found for i, (a, b) in enumerate(zip(old, new, strict=True))
                     if (found := _first_difference(a, b, f"{path}[{i}]"))), "")
    return "" if old == new or (old != old and new != new) else f"{path}: {old!r} → {new!r}"


def differences(old: dict, new: dict) -> list[str]:
    """One line per way two runs did not judge alike: a run field, a check only in one, or the
    first differing field of a check (timing aside)."""
    lines = [f"run {key}: {_first_difference(old.get(key), new.get(key), key)}" for key in RUN_FIELDS
             if _first_difference(old.get(key), new.get(key))]
    before, after = ({r["id"]: r for r in document["checks"]} for document in (old, new))
    lines += [f"{check_id}: only in the first run" for check_id in before if check_id not in after]
    lines += [f"{check_id}: only in the second run" for check_id in after if check_id not in before]
    for check_id in before.keys() & after.keys():
        a, b = ({k: v for k, v in record[check_id].items() if k not in TIMING} for record in (before, after))
        found = _first_difference(a, b)
        if found:
            lines.append(f"{check_id}: {found}")
    return sorted(lines)

