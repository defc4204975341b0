"""The gate as a Python API: check your own BCE from your own test suite.

    import numpy as np
    from bcebench.suite import api

    def my_bce(z, y):  # elementwise, framework arrays in and out; a term of weight 0 is absent, even at z = ±∞
        with np.errstate(invalid="ignore"):
            loss = np.where(y == 1, 0, (1 - y) * np.maximum(z, 0)) + np.where(y == 0, 0, y * np.maximum(-z, 0))
        return loss + np.log1p(np.exp(-np.abs(z)))

    def test_my_bce_matches_the_exact_reference():
        api.check(my_bce, framework="numpy", form="logits", dtypes=["float32"]).assert_passed()

``check`` runs every check the gate plans for an implementation (accuracy in each regime and
label kind, special values, unchanged inputs, shapes, the article's claims) against the oracle,
in this process, on every device and dtype of the framework that you do not filter out, and returns
a ``Result``; ``assert_passed`` raises AssertionError with one line per failing check: its id, how
many elements were out of bound, and the worst input with what came back and the exact value.
Gradients and Hessians come from the framework's autodiff (torch, jax, tensorflow); with NumPy
from ``fn.grad`` and ``fn.hess`` where the function carries them, else those checks are
unsupported. The built-in known deviations describe other implementations, so none apply unless
you pass a deviations file of your own, or declare the built-in your function is built on (``like``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bcebench.adapters import base
from bcebench.adapters.declaration import Declaration
from bcebench.suite.checks.runner import run_check
from bcebench.suite.gate import planning, verdicts
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import load_policy


@dataclass
class Result:
    """The records of one ``check`` (the results file's unit, one dict per check)."""

    records: list[dict]
    selection: planning.Selection | None = None

    @property
    def passed(self) -> bool:
        return verdicts.gate_passes(self.records, self.selection)

    @property
    def failures(self) -> list[str]:
        return (verdicts.failures(self.records)
                + [f"not judged: {line}" for line in verdicts.unjudged(self.records, self.selection)]
                + [f"hint: {line}" for line in verdicts.hints(self.records)])

    @property
    def explanation(self) -> str:
        if not self.records:
            return "no check ran: no device or dtype of the framework was selected"
        verdicts = ", ".join(f"{sum(r['verdict'] == v for r in self.records)} {v}"
                             for v in sorted({r["verdict"] for r in self.records}))
        return "\n".join([f"{len(self.records)} checks: {verdicts}", *self.failures])

    def assert_passed(self) -> None:
        if not self.passed:
            raise AssertionError(self.explanation)


def check(function: Callable, *, framework: str = "numpy", form: str = "logits", name: str | None = None,
          dtypes: list[str] | None = None, devices: list[str] | None = None, quantities: list[str] | None = None,
          checks: list[str] | None = None, policy: str = "strict", deviations: Path | str | None = None,
          gamma: float | None = None, alpha: float | None = None, weight: float | None = None,
          pos_weight: float | None = None, smoothing: float | None = None, reduction: str = "none",
          labels: str = "all", like: str = "", input_rank: int = 1, arguments: tuple[str, str] = ()) -> Result:
    """Check ``function(x, y)`` (BCE in ``form`` "logits" or "probs", taking and returning the
    framework's arrays) against the exact reference; ValueError when the framework is unknown or
    not installed, or the parameters describe nothing the oracle computes. What the function
    computes: the focal loss's ``gamma`` and ``alpha``, a constant ``weight`` and ``pos_weight`` it
    applies itself, label ``smoothing`` ε (y(1 − ε) + ε/2), and its ``reduction`` (none:
    elementwise; mean, sum: one number per call); the claims that apply follow from them. Which
    ``labels`` it takes ("all", or "hard": y in {0, 1} only) and the built-in it is built on
    (``like``: that built-in's known deviations explain its elements as they explain the built-in's);
    its calling convention where it is not ``fn(x, y)`` on 1-D arrays (``input_rank=2``: a column in,
    a column out; ``arguments``: the keyword names of the input and the target).
    ``adapters.declaration`` says what each means."""
    parameters = {key: value for key, value in (("gamma", gamma), ("alpha", alpha), ("weight", weight),
                                               ("pos_weight", pos_weight), ("smoothing", smoothing))
                  if value is not None}
    declaration = Declaration("", framework, form, name or getattr(function, "__qualname__", "function"),
                              parameters, reduction, labels, like, input_rank, arguments)  # ValueError if it can't
    return _check([(declaration, function)], devices, dtypes, quantities, checks, policy, deviations)


def check_declared(path: Path | str, *, dtypes: list[str] | None = None, devices: list[str] | None = None,
                   quantities: list[str] | None = None, checks: list[str] | None = None, policy: str = "strict",
                   deviations: Path | str | None = None) -> Result:
    """Check every function a declarations file declares (``suite/policy/declarations.py``: the file
    ``bcebench check --declarations`` reads; paths in it are relative to the current folder), each
    as ``check`` checks one; one Result for them all. ValueError for a bad file or a function that
    does not load."""
    from bcebench.suite.policy.declarations import load_declarations

    declared = load_declarations(Path(path))  # a PolicyError, a ValueError, names file:line
    return _check([(d, base.load_user_function(d.location)) for d in declared], devices, dtypes, quantities, checks,
                  policy, deviations)


def _check(declared: list[tuple[Declaration, Callable]], devices, dtypes, quantities, checks, policy,
           deviations) -> Result:
    """Each (declaration, function) through its framework's checks, in this process."""
    for filter_name, values in (("device", devices), ("dtype", dtypes), ("quantity", quantities), ("check", checks)):
        planning.known_filter(filter_name, values)  # ValueError, the command line's line, for a typo
    bounds = load_policy(policy)
    records, selection = [], None
    for declaration, function in declared:
        try:
            adapter, reason = base.load(declaration.framework, scoped=True)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        if adapter is None:
            raise ValueError(f"{declaration.framework} is unavailable: {reason}")
        if declaration.like:
            base.require_builtin(adapter, declaration.like)
        forms = {impl.id: impl for impl in planning.judged_forms(base.user_implementation(declaration, call=function))}
        own = str(deviations) if deviations else (None if declaration.like else "")  # None: the built-ins' entries
        selection = planning.Selection(list(dict.fromkeys(d.framework for d, _ in declared)), devices=devices,
                                       dtypes=dtypes, quantities=quantities, checks=checks, policy=policy,
                                       deviations=own, user_impls=[d.as_dict() for d, _ in declared])
        known = planning.known_deviations(selection)
        with adapter.settings():  # the framework settings the checks need, the caller's own restored after them
            records += [explain.apply(run_check(adapter, forms[task["implementation"]], task["device"], task, bounds),
                                      known) for task in planning.plan(adapter, selection, list(forms.values()))]
    return Result(records, selection)
