"""The gate's run: every selected framework's checks in worker processes (``gate.executors``), the
known deviations applied, and the results document (``reports.results``) with its metadata.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

from bcebench.reports.results import SCHEMA_VERSION
from bcebench.suite.checks import cases
from bcebench.suite.gate import executors
from bcebench.suite.gate.planning import RequestError, Selection, known_deviations
from bcebench.suite.gate.verdicts import gate_passes, repro, unjudged
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import Policy, load_policy
from bcebench.suite.supervisor import supervising


def metadata(selection: Selection, policy: Policy, versions: dict) -> dict:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "frameworks": versions,
        "unavailable": selection.unavailable,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "cpus": os.cpu_count()},
        "seed": selection.seed,
        "case_size": cases.CASE_SIZE,
        "policy": {"name": policy.name, "description": policy.description, "source": policy.source},
        "selection": {k: v for k, v in selection.__dict__.items() if k != "unavailable"},
    }


def run(selection: Selection, deviations_path: Path | None = None, progress=lambda record: None) -> dict:
    """Run the selected checks of every available framework; the results document."""
    if deviations_path is not None:
        selection.deviations = str(deviations_path)
    policy = load_policy(selection.policy)
    deviations = known_deviations(selection)
    limits = executors.Limits(selection.timeout, selection.budget)

    def unavailable(framework: str, reason: str) -> None:
        if framework in selection.required:  # the request is wrong: every other worker ends now
            raise RequestError(f"--framework {framework} cannot be loaded: {reason}")

    # This process imports no framework, so none can take the run down.
    with supervising() as supervisor:
        batches = executors.run_all(selection.frameworks, selection.__dict__, progress, supervisor, limits,
                                  selection.jobs or executors.default_jobs(), unavailable)
        interrupted = supervisor.reason if supervisor.interrupted.is_set() else ""
    versions, records = {}, []
    for framework, (batch, about) in batches.items():
        if "unavailable" in about:
            selection.unavailable[framework] = about["unavailable"]
        elif "info" in about:  # else its worker ended before saying what it is: a crashed record says so
            versions[framework] = {"version": about["info"]["version"], "devices": about["info"]["devices"]}
            selection.not_offered[framework] = about["info"].get("not_offered", {})
        records += batch
    stale = explain.stale(records, deviations)
    for record in records:
        record["repro"] = repro(record, selection)
    summary = {}
    for record in records:
        summary[record["verdict"]] = summary.get(record["verdict"], 0) + 1
    return {"schema_version": SCHEMA_VERSION, "metadata": metadata(selection, policy, versions),
            "summary": summary, "passed": gate_passes(records, selection) and not interrupted,
            "interrupted": interrupted, "unjudged": unjudged(records, selection),
            "stale_deviations": stale, "checks": records}
