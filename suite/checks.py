"""The checks: the same functions for every implementation, judged against the oracle.

Each check runs an implementation through its adapter on a case's inputs and returns a record
(a dict, the results file's unit) with a measured verdict: pass, fail, unsupported (the
implementation rejects the dtype or input by design) or crashed (it raised); a result of the wrong
shape or dtype fails. Known deviations are applied afterwards by the gate. Nothing here knows
which framework it is looking at.
"""

from __future__ import annotations

import math
import time
from functools import cache

import mpmath
import numpy as np
from bcebench.adapters.base import Adapter, Implementation, Unsupported, sample_weights
from bcebench.reference import cache as oracle_cache
from bcebench.reference import metrics, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, bits_of, from_bits, round_mpf
from bcebench.reference.oracle import Reference
from bcebench.suite import cases, explain
from bcebench.suite.policy import Policy

WORST_SHOWN = 8
PROFILE_POINTS = 64
LARGE_MEAN = {"float16": 100_000, "bfloat16": 100_000, "float32": 4096, "float64": 4096}


def spec_for(impl: Implementation, quantity: str) -> Spec:
    return Spec(quantity, impl.form, **impl.oracle)


@cache
def _cached_case(kind: str, form: str, dtype: str, regime: str, labels: str, seed: int = cases.SEED) -> cases.Case:
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


def _call(adapter: Adapter, impl: Implementation, quantity: str, x: np.ndarray, y: np.ndarray, device: str):
    """(result, None) or (None, (verdict, message)) for one evaluation."""
    try:
        result = adapter.run(impl, quantity, x, y, device)
    except Unsupported as error:
        return None, ("unsupported", str(error))
    except (Exception, SystemExit) as error:  # a crash (or a call of sys.exit) is a finding, and the run goes on
        return None, ("crashed", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    expected_shape = np.broadcast_shapes(x.shape, y.shape) if impl.reduction == "none" else ()
    if result.shape != expected_shape or result.dtype != x.dtype:  # it ran: a wrong answer, not a crash
        return None, ("fail", f"returned shape {result.shape} {result.dtype}, expected {expected_shape} {x.dtype}")
    return result, None


def judge(record: dict, got: np.ndarray, ref: Reference, x: np.ndarray, y: np.ndarray, spec: Spec,
          policy: Policy) -> tuple[dict, np.ndarray]:
    """Fill in error figures, verdict and worst inputs of a record from per-element results;
    (the record, the per-element errors in the bound's unit)."""
    fmt = FORMATS[str(got.dtype)]
    bound = policy.bound_for(record)
    errors = bound.errors(got, ref, fmt, x, y, spec).reshape(-1)
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
    explain.attach(record, xs, ys, kinds, errors)
    if errors.size:
        record["signatures"] = signature_groups(kinds, xs, ys, errors)
        order = _most_severe_first(failing, kinds, errors) if failing.size else [int(np.argmax(errors))]
        record["worst"] = [
            {"x": element(xs, i), "y": element(ys, i), "got": element(got, i),
             "exact": mpmath.nstr(mpmath.mpf(float(ref.exact.reshape(-1)[i])) + float(ref.exact_lo.reshape(-1)[i]), 17),
             "rounded": element(ref.rounded, i), "error": float(errors[i]), "signature": kinds[i]}
            for i in list(order)[:WORST_SHOWN]
        ]
    return record, errors


def signature_groups(kinds: np.ndarray, x: np.ndarray, y: np.ndarray, errors: np.ndarray) -> dict:
    """The failing elements grouped by signature, most severe first: how many, the range of x and
    of y they span, and the largest error (the region a known deviation must describe)."""
    groups = {}
    for kind in metrics.SIGNATURES:
        where = np.flatnonzero(kinds == kind)
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


def accuracy(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    got, problem = _call(adapter, impl, quantity, case.x, case.y, device)
    if problem:
        return {**record, "verdict": problem[0], "message": problem[1]}
    spec = spec_for(impl, quantity)
    record, errors = judge(record, got, reference(spec, case), case.x, case.y, spec, policy)
    record["profile"] = error_profile(case.x, errors)
    return record


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


def special(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    """Each special input on its own, so that one the implementation rejects hides no other. An
    exception is a right answer only for the inputs where the policy says raising is
    (``raising_allowed``); for any other it is a failing element."""
    values, rejected = [], []
    for i in range(case.x.size):
        got, problem = _call(adapter, impl, quantity, case.x[i : i + 1], case.y[i : i + 1], device)
        if problem:  # Unsupported is the adapter's word that the input is outside what it offers
            kind = input_class(case.form, float(case.x[i]), float(case.y[i]))
            rejected.append({"x": element(case.x, i), "y": element(case.y, i), "message": problem[1],
                             "allowed": problem[0] == "unsupported" or kind in policy.raising_allowed})
        else:
            values.append(i)
    record["rejected"] = rejected
    wrong = [r for r in rejected if not r["allowed"]]
    if not values:
        if not wrong:
            return {**record, "verdict": "unsupported",
                    "message": f"rejects every special input, as the policy allows: {rejected[0]['message']}"}
        return _with_raised(record, wrong, len(rejected))
    keep = np.array(values)
    x, y = case.x[keep], case.y[keep]
    got, _ = _call(adapter, impl, quantity, x, y, device)
    if got is None:  # element by element they ran; together they did not
        again = [_call(adapter, impl, quantity, x[i : i + 1], y[i : i + 1], device) for i in range(x.size)]
        problems = [problem for _, problem in again if problem]
        if problems:  # nor one by one a second time: the implementation's answer depends on its history
            return {**record, "verdict": "crashed",
                    "message": f"special inputs that ran one at a time failed when run again: {problems[0][1]}"}
        got = np.concatenate([value for value, _ in again])
    spec = spec_for(impl, quantity)
    kept = cases.Case(case.form, case.dtype, "special-kept", str(keep.tolist()), x, y)
    ref = reference(spec, kept)
    record, errors = judge(record, got, ref, x, y, spec, policy)
    kinds = record[explain.ELEMENTS][2]  # the signatures judge gave the elements
    record["elements"] = [
        {"x": element(x, i), "y": element(y, i), "got": element(got, i), "rounded": element(ref.rounded, i),
         "ok": bool(errors[i] <= record["bound"]["limit"]), "signature": kinds[i]} for i in range(x.size)
    ]
    return _with_raised(record, wrong, len(rejected)) if wrong else record


def _with_raised(record: dict, wrong: list[dict], rejected: int) -> dict:
    """The record failing for the exceptions the policy does not allow: counted among its elements
    (``rejected`` inputs raised in all), the most severe signature group, and failing elements for
    the known deviations to explain."""
    x = np.array([float(r["x"]["value"]) for r in wrong])
    y = np.array([float(r["y"]["value"]) for r in wrong])
    first = wrong[0]
    record.update(verdict="fail", count=record.get("count", 0) + rejected,
                  failures=record.get("failures", 0) + len(wrong),
                  message=(f"raised for {len(wrong)} special input(s) where the policy does not allow it; first "
                           f"x={first['x']['value']} y={first['y']['value']}: {first['message']}"))
    raised = {"count": len(wrong), "x": explain.span(x), "y": explain.span(y), "max_error": "inf"}
    record["signatures"] = {"raised": raised, **record.get("signatures", {})}
    judged = record.get(explain.ELEMENTS, (np.zeros(0), np.zeros(0), np.zeros(0, dtype=object), np.zeros(0)))
    raised_elements = (x, y, np.array(["raised"] * len(wrong), dtype=object), np.full(len(wrong), np.inf))
    explain.attach(record, *(np.concatenate([a, b]) for a, b in zip(judged, raised_elements, strict=True)))
    return record


def domain(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    """p outside [0, 1]: raising or returning NaN is right; returning a number is a finding."""
    behaviour = []
    for i in range(case.x.size):
        got, problem = _call(adapter, impl, quantity, case.x[i : i + 1], case.y[i : i + 1], device)
        kind = "raises" if problem else ("nan" if np.isnan(got.astype(np.float64)[0]) else f"returns {float(got[0])!r}")
        behaviour.append({"x": element(case.x, i), "y": element(case.y, i), "behaviour": kind,
                          "message": problem[1] if problem else ""})
    numbers = [b for b in behaviour if b["behaviour"].startswith("returns")]
    record.update(behaviour=behaviour, count=len(behaviour), failures=len(numbers),
                  verdict="fail" if numbers else "pass")
    explain.attach(record, case.x, case.y, np.array(["missing-nan" if b in numbers else "" for b in behaviour],
                                                    dtype=object),
                   np.array([np.inf if b in numbers else 0.0 for b in behaviour]))
    if numbers:
        record["message"] = f"returns a number for p = {numbers[0]['x']['value']}: {numbers[0]['behaviour']}"
    return record


def _exact_reduction(spec: Spec, case: cases.Case, reduction: str) -> Reference:
    """The exact mean, sum or weighted mean (Σ wᵢLᵢ / Σ wᵢ, w = ``sample_weights``) of the exact
    elementwise values, rounded once to the dtype."""
    ref = reference(spec, case)
    fmt = FORMATS[case.dtype]
    weights = sample_weights(case.x.size) if reduction == "weighted-mean" else np.ones(case.x.size)
    with mpmath.workprec(2200):  # exact: every float64 term (times a small integer) fits in 2200 bits
        total = mpmath.fsum([mpmath.mpf(w) * v for w, v in zip(weights, ref.exact, strict=True)]
                            + [mpmath.mpf(w) * v for w, v in zip(weights, ref.exact_lo, strict=True)])
        if case.x.size == 0:
            value = mpmath.mpf(0) if reduction == "sum" else mpmath.mpf("nan")
        else:
            value = total if reduction == "sum" else total / mpmath.fsum(weights)
        head = float(value)
        tail = float(value - head) if math.isfinite(head) else 0.0
        rounded = round_mpf(value._mpf_, fmt)
    return Reference(np.array([rounded], dtype=fmt.dtype), np.array([head]), np.array([tail]), 0)


def reduction(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    got, problem = _call(adapter, impl, quantity, case.x, case.y, device)
    if problem:
        return {**record, "verdict": problem[0], "message": problem[1]}
    spec = spec_for(impl, "loss")
    ref = _exact_reduction(spec, case, impl.reduction)
    return judge(record, got.reshape(1), ref, case.x[:1], case.y[:1], spec, policy)[0]


def unchanged_inputs(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    """The implementation must not write into its inputs, in the loss or in its derivatives."""
    fx, fy = adapter.from_numpy(case.x, device), adapter.from_numpy(case.y, device)
    ran = []
    for each in ("loss", "grad", "hess")[: ("loss", "grad", "hess").index(quantity) + 1]:
        try:
            adapter.evaluate(impl, each, fx, fy, device)
            ran.append(each)
        except Unsupported:
            continue
        except (Exception, SystemExit) as error:
            return {**record, "verdict": "crashed", "message": f"{each}: {type(error).__name__}: {error}"}
    if not ran:
        return {**record, "verdict": "unsupported", "message": "no quantity could be evaluated"}
    after = {"x": adapter.to_numpy(fx), "y": adapter.to_numpy(fy)}
    changed = [name for name, before in (("x", case.x), ("y", case.y))
               if not np.array_equal(bits_of(before), bits_of(after[name]))]
    record.update(count=case.x.size, failures=len(changed), verdict="fail" if changed else "pass")
    if changed:
        record["message"] = f"wrote into its input {' and '.join(changed)} (evaluating {', '.join(ran)})"
    return record


def shapes(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    """An empty input, and labels broadcast along a leading axis (rejecting that is allowed)."""
    fmt = FORMATS[case.dtype]
    empty = np.zeros(0, fmt.dtype)
    got, problem = _call(adapter, impl, "loss", empty, empty, device)
    if problem:
        return {**record, "verdict": problem[0], "message": f"empty input: {problem[1]}"}
    expected = {"none": 0, "sum": 0.0, "mean": math.nan, "weighted-mean": math.nan}[impl.reduction]
    if impl.reduction != "none" and not (got == expected or (np.isnan(expected) and np.isnan(got))):
        message = f"empty input: {impl.reduction} is {got!r}, expected {expected}"
        return {**record, "verdict": "fail", "message": message}
    x = case.x[:12].reshape(3, 4)
    y = case.y[:4]
    got, problem = _call(adapter, impl, "loss", x, y, device)
    if problem:
        verdict = "unsupported" if problem[0] == "crashed" else problem[0]
        return {**record, "verdict": verdict, "message": f"broadcast labels rejected: {problem[1]}"}
    spec = spec_for(impl, "loss")
    xb, yb = (np.ascontiguousarray(a) for a in np.broadcast_arrays(x, y))
    if impl.reduction != "none":  # the reduced value against the exact reduction of the 12 losses
        flat = cases.Case(case.form, case.dtype, "broadcast", "broadcast", xb.ravel(), yb.ravel())
        return judge(record, got.reshape(1), _exact_reduction(spec, flat, impl.reduction), flat.x[:1], flat.y[:1],
                     spec, policy)[0]
    return judge(record, got, oracle.evaluate(spec, x, y), x, yb, spec, policy)[0]


CHECKS = {"accuracy": accuracy, "special": special, "domain": domain, "reduction": reduction,
          "unchanged-inputs": unchanged_inputs, "shapes": shapes}


def run_check(adapter, impl, device, task: dict, policy: Policy) -> dict:
    """Run one planned check; the record carries its identity, verdict, figures and time."""
    if task["kind"] == "claim":
        from bcebench.suite import claims

        return claims.run_claim(adapter, impl, device, task, policy)
    if task["kind"] == "large-mean":
        case = cases.make_case(impl.form, task["dtype"], cases.REGIMES[impl.form][-1 if impl.form == "probs" else 1],
                               task["labels"], count=LARGE_MEAN[task["dtype"]], seed=task.get("seed", cases.SEED))
    else:
        case = _cached_case(task["kind"], impl.form, task["dtype"], task["regime"], task["labels"],
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
    return accuracy(adapter, impl, task["device"], case, task["quantity"], policy, record)
