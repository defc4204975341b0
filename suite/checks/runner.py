"""Running one planned check (a task of ``gate.planning``): an elementwise check or a claim."""

from __future__ import annotations

import time

from bcebench.reference import fenv
from bcebench.reference.formats import FORMATS, from_bits
from bcebench.suite.checks import cases, claims
from bcebench.suite.checks.elementwise import CHECKS, LARGE_MEAN, accuracy
from bcebench.suite.checks.judge import cached_case
from bcebench.suite.policy.bounds import Policy


def run_check(adapter, impl, device, task: dict, policy: Policy) -> dict:
    """Run one planned check; the record carries its identity, verdict, figures and time. The check
    computes in IEEE 754's default floating-point environment, the implementation in its own
    (``reference.fenv``)."""
    with fenv.ours():
        return _run_check(adapter, impl, device, task, policy)


def _run_check(adapter, impl, device, task: dict, policy: Policy) -> dict:
    if task["kind"] == "claim":
        return claims.run_claim(adapter, impl, device, task, policy)
    if task["kind"] == "large-mean":
        case = cases.make_case(impl.form, task["dtype"], cases.REGIMES[impl.form][-1 if impl.form == "probs" else 1],
                               task["labels"], count=LARGE_MEAN[task["dtype"]], seed=task.get("seed", cases.SEED))
    else:
        case = cached_case(task["kind"], impl.form, task["dtype"], task["regime"], task["labels"],
                            task.get("seed", cases.SEED))
    record = {k: task[k] for k in task if k != "kind"}
    start = time.perf_counter()
    result = CHECKS[task["check"]](adapter, impl, device, case, task["quantity"], policy, record)
    result["seconds"] = round(time.perf_counter() - start, 4)
    return result


def single_input(adapter, impl, task: dict, bits: tuple[str, str], policy: Policy) -> dict:
    """The accuracy check on one (x, y) given as bit patterns: what a repro line runs."""
    fmt = FORMATS[task["dtype"]]
    x, y = (from_bits([int(b, 16)], fmt) for b in bits)
    case = cases.Case(impl.form, task["dtype"], "input", "given", x, y)
    record = {k: task[k] for k in task if k != "kind"}
    with fenv.ours():
        return accuracy(adapter, impl, task["device"], case, task["quantity"], policy, record)
