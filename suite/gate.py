"""The gate: plan the checks over framework × device × implementation × dtype, run them, apply
the known deviations, and write the results.

The checks run in worker processes (``suite.workers``), spread over the cores: a worker that dies,
or spends longer than the time limit on one check, is ended; that check is recorded as crashed and
a fresh worker goes on with the rest, so one framework's crash can take neither the others nor the
run down.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bcebench.adapters import base
from bcebench.suite import cases, explain, workers
from bcebench.suite.policy import Deviation, Policy, glob_match, load_deviations, load_platforms, load_policy
from bcebench.suite.results_schema import JUDGED, PASSING, SCHEMA_VERSION
from bcebench.suite.supervisor import supervising

CHECK_TIMEOUT_SECONDS = 300
CHECK_NAMES = ("accuracy", "special", "domain", "reduction", "unchanged-inputs", "shapes", "claim")


class RequestError(ValueError):
    """The request cannot be carried out as asked: a framework named in it cannot be loaded."""


@dataclass
class Selection:
    """What to run: frameworks, devices, implementation globs, dtypes, quantities, a user's
    implementation, one replayed input."""

    frameworks: list[str]
    devices: list[str] | None = None
    implementations: list[str] | None = None
    dtypes: list[str] | None = None
    quantities: list[str] | None = None
    checks: list[str] | None = None
    user_impl: dict | None = None
    single_input: tuple[str, str] | None = None
    policy: str = "strict"
    timeout: float = CHECK_TIMEOUT_SECONDS
    required: list[str] = field(default_factory=list)
    budget: float | None = None  # seconds for the whole run
    seed: int = cases.SEED  # of the sampled cases (the claims' problems are fixed)
    deviations: str | None = None  # a deviations file; None: the built-in one; "": none (platforms still apply)
    jobs: int | None = None  # checks run at once, each in a worker process (None: one per core)
    unavailable: dict = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(self.__dict__)


def implementations(adapter: base.Adapter, selection: Selection) -> list[base.Implementation]:
    impls = list(adapter.implementations())
    user = selection.user_impl
    if user and user["framework"] == adapter.name:
        impls.append(base.user_implementation(user["spec"], adapter.name, user["form"], user.get("oracle"),
                                              user.get("reduction", "none")))
    if selection.implementations:
        impls = [i for i in impls if any(glob_match(pattern, i.id) for pattern in selection.implementations)]
    return impls


def plan(adapter: base.Adapter, selection: Selection, impls: list[base.Implementation] | None = None) -> list[dict]:
    """Every check for one framework (of ``impls``, by default the selected implementations), in a
    fixed order, each a dict with a unique id."""
    tasks = []
    for device in adapter.devices():
        if selection.devices and device not in selection.devices:
            continue
        for impl in implementations(adapter, selection) if impls is None else impls:
            for dtype in adapter.dtypes(device):
                if selection.dtypes and dtype not in selection.dtypes:
                    continue
                tasks += tasks_for(adapter.name, device, impl, dtype, selection)
    return tasks


def tasks_for(framework: str, device: str, impl: base.Implementation, dtype: str, selection: Selection) -> list[dict]:
    common = {"framework": framework, "device": device, "implementation": impl.id, "form": impl.form,
              "family": "focal" if impl.oracle.get("gamma") is not None else "bce", "oracle": impl.oracle,
              "dtype": dtype, "gating": impl.gating}
    quantities = ("loss", "grad", "hess") if impl.derivatives and impl.reduction == "none" else ("loss",)
    quantities = [q for q in quantities if (not selection.quantities or q in selection.quantities)
                  and _oracle_has(impl, q)]
    tasks = []
    if selection.single_input:
        tasks = [{"kind": "single", "check": "accuracy", "quantity": q, "regime": "input", "labels": "given"}
                 for q in quantities]
    elif impl.reduction == "none":
        label_kinds = ("hard",) if impl.hard_labels_only else cases.LABELS
        for quantity in quantities:
            tasks += [{"kind": "accuracy", "check": "accuracy", "quantity": quantity, "regime": regime,
                       "labels": labels} for regime in cases.REGIMES[impl.form] for labels in label_kinds]
            if quantity != "hess":
                tasks.append({"kind": "special", "check": "special", "quantity": quantity, "regime": "special",
                              "labels": "special-hard" if impl.hard_labels_only else "special"})
        if impl.form == "probs":
            tasks.append({"kind": "domain", "check": "domain", "quantity": "loss", "regime": "out-of-domain",
                          "labels": "mixed"})
        tasks.append({"kind": "accuracy", "check": "unchanged-inputs", "quantity": quantities[-1],
                      "regime": cases.REGIMES[impl.form][0], "labels": label_kinds[-1]})
        tasks.append({"kind": "accuracy", "check": "shapes", "quantity": "loss", "regime": "moderate"
                      if impl.form == "logits" else "uniform", "labels": label_kinds[-1]})
    else:
        regime = "moderate" if impl.form == "logits" else "uniform"
        labels = "hard" if impl.hard_labels_only else "random"
        tasks = [{"kind": "accuracy", "check": "reduction", "quantity": "loss", "regime": regime, "labels": labels},
                 {"kind": "large-mean", "check": "reduction", "quantity": "loss", "regime": f"{regime}-large",
                  "labels": labels},
                 {"kind": "accuracy", "check": "shapes", "quantity": "loss", "regime": regime, "labels": labels}]
    if not selection.single_input:
        from bcebench.suite import claims

        tasks += [{"kind": "claim", "check": "claim", "quantity": claim.quantity, "regime": claim.slug,
                   "labels": claim.labels} for claim in claims.applicable(impl)]
    if selection.checks:
        tasks = [t for t in tasks if t["check"] in selection.checks]
    for task in tasks:
        task.update(common, seed=selection.seed)
        task["id"] = "/".join([framework, device, impl.id, dtype, task["check"], task["quantity"],
                               f"{task['regime']}-{task['labels']}"])
    return tasks


def run_in_process(adapter: base.Adapter, impl: base.Implementation, device: str, dtype: str,
                   selection: Selection, policy: Policy, deviations: tuple[Deviation, ...]) -> list[dict]:
    """Every check of one implementation and dtype in this process, deviations applied: what the
    pytest suite and the meta-tests run (the gate itself uses worker processes)."""
    from bcebench.suite import checks

    return [explain.apply(checks.run_check(adapter, impl, device, task, policy), deviations)
            for task in tasks_for(adapter.name, device, impl, dtype, selection)]


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


def _oracle_has(impl: base.Implementation, quantity: str) -> bool:
    """Whether the oracle defines this quantity for the implementation (it has no focal Hessian)."""
    from bcebench.reference.exact import Spec

    try:
        Spec(quantity, impl.form, **impl.oracle)
    except ValueError:
        return False
    return True


def known_deviations(selection: Selection) -> tuple[Deviation, ...]:
    """The platforms' declared behaviour, which applies to every implementation, then the
    selection's deviations file (the built-in one unless it names another, or none)."""
    if selection.deviations == "":
        listed = ()
    else:
        listed = load_deviations(Path(selection.deviations)) if selection.deviations else load_deviations()
    return load_platforms() + listed


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


def write_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing: a temporary file beside it, then one rename; the file gets the
    permissions the umask gives a new file (mkstemp's own are 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


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


def run(selection: Selection, deviations_path: Path | None = None, progress=lambda record: None) -> dict:
    """Run the selected checks of every available framework; the results document."""
    if deviations_path is not None:
        selection.deviations = str(deviations_path)
    policy = load_policy(selection.policy)
    deviations = known_deviations(selection)
    limits = workers.Limits(selection.timeout, selection.budget)

    def unavailable(framework: str, reason: str) -> None:
        if framework in selection.required:  # the request is wrong: every other worker ends now
            raise RequestError(f"--framework {framework} cannot be loaded: {reason}")

    # This process imports no framework, so none can take the run down.
    with supervising() as supervisor:
        batches = workers.run_all(selection.frameworks, selection.__dict__, progress, supervisor, limits,
                                  selection.jobs or workers.default_jobs(), unavailable)
        interrupted = supervisor.reason if supervisor.interrupted.is_set() else ""
    versions, records = {}, []
    for framework, (batch, about) in batches.items():
        if "unavailable" in about:
            selection.unavailable[framework] = about["unavailable"]
        elif "info" in about:  # else its worker ended before saying what it is: a crashed record says so
            versions[framework] = {"version": about["info"]["version"], "devices": about["info"]["devices"]}
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
