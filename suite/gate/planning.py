"""The gate's plan: what a request selects (``Selection``) and every check it means for one framework, in a
fixed order, each a task with a unique id; the known deviations that apply to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bcebench.adapters import base
from bcebench.adapters.declaration import Declaration
from bcebench.reports.results import glob_match
from bcebench.suite.checks import cases, claims, runner
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import Policy
from bcebench.suite.policy.data_files import known_values
from bcebench.suite.policy.deviations import Deviation, load_deviations, load_platforms

CHECK_TIMEOUT_SECONDS = 300




# The filters a request may give, each a closed set of values (``known_values``): a typo must never
# narrow what runs without a word.
FILTERS = ("device", "dtype", "quantity", "check")


def known_filter(name: str, values: list[str] | None) -> list[str] | None:
    """``values`` of the filter ``name`` (device, dtype, quantity, check), or None for every one;
    RequestError, one line the command line and the Python API both say, for a value that is not
    known or for an empty list (which would select nothing)."""
    if values is None:
        return None
    if not values:
        raise RequestError(f"{name}: an empty list selects nothing")
    known = known_values()[name]
    unknown = [value for value in values if value not in known]
    if unknown:
        raise RequestError(f"{name} {unknown[0]!r}: expected one of {', '.join(known)}")
    return values


class RequestError(ValueError):
    """The request cannot be carried out as asked: a framework named in it cannot be loaded."""


@dataclass
class Selection:
    """What to run: frameworks, devices, implementation globs, dtypes, quantities, the user's
    implementations (each a declaration, adapters.declaration, as a dict), one replayed input."""

    frameworks: list[str]
    devices: list[str] | None = None
    implementations: list[str] | None = None
    dtypes: list[str] | None = None
    quantities: list[str] | None = None
    checks: list[str] | None = None
    user_impls: list[dict] = field(default_factory=list)
    single_input: tuple[str, str] | None = None
    policy: str = "strict"
    timeout: float = CHECK_TIMEOUT_SECONDS
    required: list[str] = field(default_factory=list)
    budget: float | None = None  # seconds for the whole run
    seed: int = cases.SEED  # of the sampled cases (the claims' problems are fixed)
    deviations: str | None = None  # a deviations file; None: the built-in one; "": none (platforms still apply)
    jobs: int | None = None  # checks run at once, each in a worker process (None: one per core)
    unavailable: dict = field(default_factory=dict)
    not_offered: dict = field(default_factory=dict)  # framework -> {"DEVICE DTYPE": why} for dtypes asked

    def as_json(self) -> str:
        return json.dumps(self.__dict__)


def implementations(adapter: base.Adapter, selection: Selection) -> list[base.Implementation]:
    impls = list(adapter.implementations())
    for user in selection.user_impls:
        if user["framework"] == adapter.name:
            impls += judged_forms(base.user_implementation(Declaration.from_dict(user)))
    if selection.implementations:
        impls = [i for i in impls if any(glob_match(pattern, i.id) for pattern in selection.implementations)]
    return impls


def judged_forms(impl: base.Implementation) -> list[base.Implementation]:
    """A user's implementation, and a reduced one also element by element (``base.batches_of_one``)."""
    return [impl, base.batches_of_one(impl)] if impl.reduction != "none" else [impl]


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
              "dtype": dtype, "gating": impl.gating, **({"like": impl.like} if impl.like else {})}
    quantities = ("loss", "grad", "hess") if impl.derivatives and impl.reduction == "none" else ("loss",)
    quantities = [q for q in quantities if (not selection.quantities or q in selection.quantities)
                  and _oracle_has(impl, q)]
    if not quantities:  # none of the quantities asked for (a focal loss has no Hessian in the oracle)
        return []
    tasks = []
    if selection.single_input:
        tasks = [{"kind": "single", "check": "accuracy", "quantity": q, "regime": "input", "labels": "given"}
                 for q in quantities]
    elif impl.reduction == "none":
        label_kinds = ("hard",) if impl.hard_labels_only else cases.LABELS
        for quantity in quantities:
            tasks += [{"kind": "accuracy", "check": "accuracy", "quantity": quantity, "regime": regime,
                       "labels": labels} for regime, labels in cases.accuracy_regimes(impl.form, dtype, label_kinds)]
            if quantity != "hess":
                tasks.append({"kind": "special", "check": "special", "quantity": quantity, "regime": "special",
                              "labels": "special-hard" if impl.hard_labels_only else "special"})
        if impl.form == "probs":
            tasks.append({"kind": "domain", "check": "domain", "quantity": "loss", "regime": "out-of-domain",
                          "labels": "mixed"})
        if not impl.one_at_a_time:  # the reduced function's own checks judge its inputs and shapes
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
    return [explain.apply(runner.run_check(adapter, impl, device, task, policy), deviations)
            for task in tasks_for(adapter.name, device, impl, dtype, selection)]


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
