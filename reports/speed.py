"""Speed regressions between two bench documents (``bcebench bench --json``)."""

from __future__ import annotations

from bcebench.reports.results import glob_match


def _asked_for(case: dict, selection: dict) -> bool:
    """Whether a case falls inside a run's selection (frameworks, implementation patterns, dtypes,
    modes, sizes, devices; None: any)."""
    patterns = selection.get("implementations") or ["*"]
    return (case["framework"] in selection["frameworks"]
            and any(glob_match(p, case["implementation"]) for p in patterns)
            and all(selection.get(key) is None or case[field] in selection[key]
                    for key, field in (("dtypes", "dtype"), ("modes", "mode"), ("sizes", "size"),
                                       ("devices", "device"))))


def regressions(old: dict, new: dict, fail_over: float) -> dict:
    """{'slower', 'faster', 'unchanged'}: rows (id, old median, new median, change). Slower: the
    median grew by more than fail_over % and old q3 < new q1; faster the same way round."""
    before = {c["id"]: c for c in old["cases"] if c["kind"] == "implementation"}
    result: dict = {"slower": [], "faster": [], "unchanged": [], "lost": []}
    now = {c["id"] for c in new["cases"]}
    failed = {c["id"]: c["message"] for c in new.get("failed", [])}
    asked = new.get("selection")  # a baseline case this run asked for and did not time, or that failed
    result["lost"] = [(case_id, failed.get(case_id, "not timed in this run"))
                      for case_id, case in sorted(before.items()) if case_id not in now
                      and (case_id in failed or (asked is not None and _asked_for(case, asked)))]
    for case in new["cases"]:
        if case["kind"] != "implementation" or case["id"] not in before:
            continue
        a = before[case["id"]]
        change = case["median"] / a["median"] - 1
        row = (case["id"], a["median"], case["median"], change)
        if change > fail_over / 100 and case["q1"] > a["q3"]:
            result["slower"].append(row)
        elif -change > fail_over / 100 and case["q3"] < a["q1"]:
            result["faster"].append(row)
        else:
            result["unchanged"].append(row)
    return result
