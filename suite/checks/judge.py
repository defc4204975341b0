"""Judging an implementation's numbers: its result at (x, y) against the oracle's correctly rounded
value, element by element, under the policy's bound; the failing elements grouped by signature.
"""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

import mpmath
import numpy as np

from bcebench.adapters.base import Adapter, Implementation, Unsupported
from bcebench.reference import cache as oracle_cache
from bcebench.reference import metrics, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, as_dtype, bits_of, round_float64
from bcebench.reference.oracle import Reference
from bcebench.suite.checks import cases, smoothing
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import Policy

WORST_SHOWN = 8
PROFILE_POINTS = 64


def spec_for(impl: Implementation, quantity: str) -> Spec:
    return Spec(quantity, impl.form, **impl.oracle)


@cache
def cached_case(kind: str, form: str, dtype: str, regime: str, labels: str, seed: int = cases.SEED) -> cases.Case:
    if kind == "special":
        return cases.special_case(form, dtype, hard_only=labels == "special-hard")
    if kind == "domain":
        return cases.out_of_domain_case(dtype)
    return cases.make_case(form, dtype, regime, labels, seed=seed)


def reference(spec: Spec, case: cases.Case) -> Reference:
    """The oracle's answer for a case, shared by implementations (``reference.cache``)."""
    return oracle_cache.evaluate(spec, case.x, case.y)


def _hex(value: np.ndarray) -> str:
    return hex(int(bits_of(np.asarray(value).reshape(1))[0]))


def element(array: np.ndarray, i: int) -> dict:
    """Element ``i`` of ``array`` as records give an input or a value: its repr and its bit pattern in hex."""
    value = array.reshape(-1)[i : i + 1]
    return {"value": repr(float(value[0])), "hex": _hex(value)}


class Problem(NamedTuple):
    """Why a call gave no result to judge as it is: (verdict, message), and for a result of the right
    shape in another dtype its values correctly rounded to the input's dtype, which are still judged
    (``judged_values``, ``in_another_dtype``)."""

    verdict: str
    message: str
    values: np.ndarray | None = None


def call_quantity(adapter: Adapter, impl: Implementation, quantity: str, x: np.ndarray, y: np.ndarray, device: str):
    """(result, None) or (None, Problem) for one evaluation."""
    try:
        result = adapter.run(impl, quantity, x, y, device)
    except Unsupported as error:
        return None, Problem("unsupported", str(error))
    except (Exception, SystemExit) as error:  # a crash (or a call of sys.exit) is a finding, and the run goes on
        return None, Problem("crashed", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    expected_shape = np.broadcast_shapes(x.shape, y.shape) if impl.reduction == "none" else ()
    if result.shape != expected_shape or result.dtype != x.dtype:  # it ran: a wrong answer, not a crash
        message = f"returned shape {result.shape} {result.dtype}, expected {expected_shape} {x.dtype}"
        fmt = FORMATS[str(x.dtype)]
        numbers = result.shape == expected_shape and (result.dtype.kind == "f" or str(result.dtype) in FORMATS)
        values = as_dtype(round_float64(result.astype(np.float64), fmt), fmt) if numbers else None
        return None, Problem("fail", message, values)
    return result, None


def judged_values(result: np.ndarray | None, problem: Problem | None) -> np.ndarray | None:
    """What a check judges of a call: its result, or the values of a result in another dtype; None
    where it gave nothing to judge."""
    return result if problem is None else problem.values


def in_another_dtype(record: dict, problem: Problem) -> dict:
    """A record judged on the values of a result in another dtype (``Problem.values``): failing, with
    the wrong-dtype signature at an input of NaN beside its elements' own, and the message first."""
    elements = record.get(explain.ELEMENTS)
    nan = np.array([np.nan])
    extra = (nan, nan, np.array(["wrong-dtype"], dtype=object), np.array([np.inf]))
    if elements is not None:
        explain.attach(record, *(np.concatenate([a, b]) for a, b in zip(elements, extra, strict=True)))
    else:
        explain.attach(record, *extra)
    bound = record.get("bound", {})
    judged = (f"error {record['errors']['max']:.3g} at most ({bound.get('scale')} bound {bound.get('limit'):g})"
              if "errors" in record else "not judged")
    record.update(verdict="fail", failures=record.get("failures", 0) + 1,
                  message=f"{problem.message}; its values, rounded to the input's dtype: {judged}")
    record.setdefault("signatures", {})["wrong-dtype"] = {"count": 1, "x": ["nan", "nan"], "y": ["nan", "nan"],
                                                          "max_error": "inf"}
    return record


def judge(record: dict, got: np.ndarray, ref: Reference | None, x: np.ndarray, y: np.ndarray, spec: Spec,
          policy: Policy) -> tuple[dict, np.ndarray, Reference]:
    """Fill in error figures, verdict and worst inputs of a record from per-element results;
    (the record, the per-element errors in the bound's unit, the reference they were measured
    against). ``ref`` None: the oracle's ``spec`` at each (x, y), with a smoothed label formed in
    the dtype as ``smoothing`` rules."""
    fmt = FORMATS[str(got.dtype)]
    bound = policy.bound_for({**record, "labels": smoothing.judged_labels(record.get("labels", ""), spec)})
    if ref is None and smoothing.smooths(spec):
        ref, formed, errors, judged = smoothing.reference(spec, x, y, lambda r, labels: bound.errors(
            got.reshape(-1), r, fmt, np.reshape(x, -1), labels, spec))
    else:
        ref = ref if ref is not None else oracle_cache.evaluate(spec, x, y)
        formed, judged = None, spec
        errors = bound.errors(got, ref, fmt, x, y, spec)
    ref = Reference(*(np.reshape(a, got.shape) for a in (ref.rounded, ref.exact, ref.exact_lo)), ref.mpmath_count)
    errors = errors.reshape(-1)
    failing = np.flatnonzero(~(errors <= bound.limit))
    finite = errors[np.isfinite(errors)]
    got64, rounded64 = got.astype(np.float64).reshape(-1), ref.rounded.astype(np.float64).reshape(-1)
    with np.errstate(invalid="ignore", over="ignore"):  # inf − inf where both are infinite
        absolute = np.abs(got64 - ref.exact.reshape(-1))
    record.update(
        count=int(errors.size),
        correct=int(np.sum((got64 == rounded64) | (np.isnan(got64) & np.isnan(rounded64)))),
        bound={"scale": bound.scale, "limit": bound.limit, "reason": bound.reason},
        errors={
            "max": float(errors.max()) if errors.size else 0.0,
            "median": float(np.median(finite)) if finite.size else 0.0,
            "p99": float(np.percentile(finite, 99)) if finite.size else 0.0,
            "max_abs": float(np.nanmax(absolute)) if absolute.size and not np.all(np.isnan(absolute)) else 0.0,
        },
        failures=int(failing.size),
        verdict="fail" if failing.size else "pass",
    )
    kinds = metrics.signatures(got, ref, ~(errors <= bound.limit))
    xs, ys = (a.reshape(-1) for a in np.broadcast_arrays(x, y))
    formed = ys if formed is None else formed  # the labels the exact values were computed at
    explain.attach(record, xs, ys, kinds, errors)
    if errors.size:
        record["signatures"] = signature_groups(kinds, xs, ys, errors)
        order = _most_severe_first(failing, kinds, errors) if failing.size else [int(np.argmax(errors))]
        record["worst"] = [
            {"x": element(xs, i), "y": element(ys, i), "got": element(got, i),
             "exact": exact_text(ref, judged, xs, formed, i),
             "rounded": element(ref.rounded, i), "error": float(errors[i]), "signature": kinds[i]}
            for i in list(order)[:WORST_SHOWN]
        ]
    return record, errors, ref


TINY = 2.0**-960  # below it the oracle's unevaluated sum may stand in for a smaller value (past |z| = 700)


def exact_text(ref: Reference, spec: Spec, x: np.ndarray, y: np.ndarray, i: int) -> str:
    """The exact value of element ``i`` to 17 digits, as a failure line prints it: the oracle's
    double-double where it holds the value, mpmath where the value is below ``TINY``, where the
    double-double only bounds it (e^-1000 is 5.08e-435, far below float64's range)."""
    approx = mpmath.mpf(float(ref.exact.reshape(-1)[i])) + float(ref.exact_lo.reshape(-1)[i])
    if abs(approx) >= TINY or not mpmath.isfinite(approx):
        return mpmath.nstr(approx, 17)
    return mpmath.nstr(oracle.exact_value(spec, float(x[i]), float(y[i])), 17)


def signature_groups(kinds: np.ndarray, x: np.ndarray, y: np.ndarray, errors: np.ndarray) -> dict:
    """The failing elements grouped by signature, most severe first: how many, the range of x and
    of y they span, and the largest error (the region a known deviation must describe)."""
    groups = {}
    failing = np.flatnonzero(kinds != "")
    for kind in metrics.SIGNATURES:
        where = failing[kinds[failing] == kind]
        if where.size:
            groups[kind] = {"count": int(where.size), "x": explain.span(x[where]), "y": explain.span(y[where]),
                            "max_error": explain.json_number(np.max(errors[where]))}
    return groups


def _most_severe_first(failing: np.ndarray, kinds: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Failing elements ordered by signature (most severe first), then by error, largest first."""
    rank = {kind: i for i, kind in enumerate(metrics.SIGNATURES)}
    keys = np.array([rank[kinds[i]] for i in failing])
    return failing[np.lexsort((-errors[failing], keys))]


def error_profile(x: np.ndarray, errors: np.ndarray) -> list[list[float]]:
    """The error against the input in at most PROFILE_POINTS points, for plots: the inputs sorted
    and cut into equal runs, each run giving its largest error and where it occurs."""
    x64 = x.astype(np.float64).reshape(-1)
    keep = np.isfinite(x64)
    x64, errors = x64[keep], errors[keep]
    order = np.argsort(x64, kind="stable")
    points = []
    for run in np.array_split(order, min(PROFILE_POINTS, order.size)) if order.size else []:
        worst = run[int(np.argmax(errors[run]))]
        points.append([float(x64[worst]), float(errors[worst])])
    return points


def input_class(form: str, x: float, y: float) -> str:
    """What makes an input special, for the policy's ``raising_allowed``: p-outside-domain,
    nan-input, infinite-input, nan-label, infinite-label, or ordinary."""
    if math.isnan(x):
        return "nan-input"
    if form == "probs" and not 0 <= x <= 1:
        return "p-outside-domain"
    if math.isinf(x):
        return "infinite-input"
    if math.isnan(y):
        return "nan-label"
    return "infinite-label" if math.isinf(y) else "ordinary"
