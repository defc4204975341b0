"""The child side of the gate's worker processes (``python -m bcebench.suite.gate.worker``): one
framework, in its own process. It imports nothing of the controller.

The protocol, tab-separated lines: the parent writes the request (framework and selection) as one
JSON line; the worker answers ``about`` (version, devices, the planned units) or ``unavailable``;
then for each line of task ids it is sent it reports ``start`` and ``result`` per check and
``done`` at the end; it exits at the end of its input.
"""

from __future__ import annotations

import json
import sys

from bcebench.adapters import base
from bcebench.suite.checks import runner
from bcebench.suite.supervisor import answers_to_parent


def units_of(tasks: list[dict]) -> list[list[str]]:
    """The task ids grouped by device, implementation and dtype, in plan order."""
    groups: dict = {}
    for task in tasks:
        groups.setdefault((task["device"], task["implementation"], task["dtype"]), []).append(task["id"])
    return list(groups.values())


def not_offered(adapter: base.Adapter, selection) -> dict[str, str]:
    """'DEVICE DTYPE' -> why, for each dtype asked with --dtype that the framework does not offer on a
    selected device here."""
    return {f"{device} {dtype}": why for device in adapter.devices()
            if not selection.devices or device in selection.devices
            for dtype, why in adapter.missing_dtypes(device).items() if dtype in (selection.dtypes or ())}


def worker_main() -> None:
    """Plan one framework's checks, say so, then run the task ids sent, line by line."""
    from bcebench.suite.gate.planning import Selection, implementations, known_deviations, plan
    from bcebench.suite.policy import explain
    from bcebench.suite.policy.bounds import load_policy

    answers = answers_to_parent()
    request = json.loads(sys.stdin.readline())
    selection = Selection(**request["selection"])
    adapter, reason = base.load(request["framework"])
    if adapter is None:
        print("unavailable\t" + reason, file=answers, flush=True)
        return
    policy = load_policy(selection.policy)
    deviations = known_deviations(selection)
    by_id = {i.id: i for i in implementations(adapter, selection)}
    tasks = {task["id"]: task for task in plan(adapter, selection)}
    about = {"version": adapter.version(), "devices": adapter.devices(), "checks": len(tasks),
             "units": units_of(list(tasks.values())), "not_offered": not_offered(adapter, selection)}
    print("about\t" + json.dumps(about), file=answers, flush=True)
    for line in iter(sys.stdin.readline, ""):
        for task_id in json.loads(line):
            task = tasks[task_id]
            print("start\t" + task_id, file=answers, flush=True)
            impl = by_id[task["implementation"]]
            if task["kind"] == "single":
                result = runner.single_input(adapter, impl, task, selection.single_input, policy)
            else:
                result = runner.run_check(adapter, impl, task["device"], task, policy)
            if impl.compile_seconds is not None:
                result["compile_seconds"] = round(impl.compile_seconds(), 3)
            print("result\t" + json.dumps(explain.apply(result, deviations)), file=answers, flush=True)
        print("done", file=answers, flush=True)


if __name__ == "__main__":
    worker_main()
