"""The elementwise checks: accuracy over sampled cases, special values, the probability form's
domain, reductions, inputs left unchanged, and shapes.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from bcebench.adapters.base import Unsupported, sample_weights
from bcebench.reference import fenv
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, bits_of, round_mpf
from bcebench.reference.oracle import Reference
from bcebench.suite.checks import cases
from bcebench.suite.checks.judge import (
    call_quantity,
    element,
    error_profile,
    in_another_dtype,
    input_class,
    judge,
    judged_values,
    reference,
    spec_for,
)
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import Policy

LARGE_MEAN = {"float16": 100_000, "bfloat16": 100_000, "float32": 4096, "float64": 4096}


def accuracy(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    got, problem = call_quantity(adapter, impl, quantity, case.x, case.y, device)
    values = judged_values(got, problem)
    if values is None:
        return {**record, "verdict": problem.verdict, "message": problem.message}
    spec = spec_for(impl, quantity)
    record, errors, _ = judge(record, values, None, case.x, case.y, spec, policy)
    record["profile"] = error_profile(case.x, errors)
    if case.regime == cases.EVERY:  # every input of the dtype with each label of the set, not a sample
        record["exhaustive"] = True
    return in_another_dtype(record, problem) if problem else record


def special(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    """Each special input on its own, so that one the implementation rejects hides no other. An
    exception is a right answer only for the inputs where the policy says raising is
    (``raising_allowed``); for any other it is a failing element."""
    values, rejected, other_dtype = [], [], None
    for i in range(case.x.size):
        got, problem = call_quantity(adapter, impl, quantity, case.x[i : i + 1], case.y[i : i + 1], device)
        if judged_values(got, problem) is None:  # Unsupported: the adapter's word that the input is outside its offer
            kind = input_class(case.form, float(case.x[i]), float(case.y[i]))
            rejected.append({"x": element(case.x, i), "y": element(case.y, i), "message": problem.message,
                             "allowed": problem.verdict == "unsupported" or kind in policy.raising_allowed})
        else:
            values.append(i)
            other_dtype = other_dtype or problem
    record["rejected"] = rejected
    wrong = [r for r in rejected if not r["allowed"]]
    if not values:
        if not wrong:
            return {**record, "verdict": "unsupported",
                    "message": f"rejects every special input, as the policy allows: {rejected[0]['message']}"}
        return _with_raised(record, wrong, len(rejected))
    keep = np.array(values)
    x, y = case.x[keep], case.y[keep]
    got = judged_values(*call_quantity(adapter, impl, quantity, x, y, device))
    if got is None:  # element by element they ran; together they did not
        again = [call_quantity(adapter, impl, quantity, x[i : i + 1], y[i : i + 1], device) for i in range(x.size)]
        problems = [problem for value, problem in again if judged_values(value, problem) is None]
        if problems:  # nor one by one a second time: the implementation's answer depends on its history
            return {**record, "verdict": "crashed",
                    "message": f"special inputs that ran one at a time failed when run again: {problems[0].message}"}
        got = np.concatenate([judged_values(value, problem) for value, problem in again])
    spec = spec_for(impl, quantity)
    record, errors, ref = judge(record, got, None, x, y, spec, policy)
    kinds = record[explain.ELEMENTS][2]  # the signatures judge gave the elements
    record["elements"] = [
        {"x": element(x, i), "y": element(y, i), "got": element(got, i), "rounded": element(ref.rounded, i),
         "ok": bool(errors[i] <= record["bound"]["limit"]), "signature": kinds[i]} for i in range(x.size)
    ]
    record = _with_raised(record, wrong, len(rejected)) if wrong else record
    return in_another_dtype(record, other_dtype) if other_dtype else record


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
        got, problem = call_quantity(adapter, impl, quantity, case.x[i : i + 1], case.y[i : i + 1], device)
        kind = "raises" if problem else ("nan" if np.isnan(got.astype(np.float64)[0]) else f"returns {float(got[0])!r}")
        behaviour.append({"x": element(case.x, i), "y": element(case.y, i), "behaviour": kind,
                          "message": problem.message if problem else ""})
    numbers = [b for b in behaviour if b["behaviour"].startswith("returns")]
    record.update(behaviour=behaviour, count=len(behaviour), failures=len(numbers),
                  verdict="fail" if numbers else "pass")
    explain.attach(record, case.x, case.y, np.array(["missing-nan" if b in numbers else "" for b in behaviour],
                                                    dtype=object),
                   np.array([np.inf if b in numbers else 0.0 for b in behaviour]))
    if numbers:
        record["message"] = f"returns a number for p = {numbers[0]['x']['value']}: {numbers[0]['behaviour']}"
    return record


def exact_sum(values: np.ndarray, weights: np.ndarray) -> mpmath.mpf:
    """Σ wᵢvᵢ without rounding, for float64 values and small integer weights (below 2^16), as an
    mpmath number; the context's precision must hold it (2200 bits do: 2,097 bits of exponent range,
    53 of significand, 16 of weight, 20 of count). Each finite value is m·2^e with an integer m of 53
    bits, split in halves of 27 and 26 bits so that a sum of up to 2^20 products of a half and a
    weight stays exact in int64; those sums are added per exponent as Python integers. More terms, a
    NaN or an infinity: mpmath sums them one by one."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(values).all() or values.size > 1 << 20:
        return mpmath.fsum(mpmath.mpf(w) * v for w, v in zip(weights, values, strict=True))
    fraction, exponent = np.frexp(values)
    magnitude = (np.abs(fraction) * 2.0**53).astype(np.int64)
    sign = np.where(values < 0, -1, 1) * weights.astype(np.int64)
    high, low = (magnitude >> 26) * sign, (magnitude & ((1 << 26) - 1)) * sign
    exponent = exponent.astype(np.int64) - 53
    total, lowest = 0, int(exponent.min()) if values.size else 0
    for e in np.unique(exponent):
        at = exponent == e
        total += (int(high[at].sum()) << (int(e) - lowest + 26)) + (int(low[at].sum()) << (int(e) - lowest))
    return mpmath.ldexp(mpmath.mpf(total), lowest)


def _exact_reduction(spec: Spec, case: cases.Case, reduction: str) -> Reference:
    """The exact mean, sum or weighted mean (Σ wᵢLᵢ / Σ wᵢ, w = ``sample_weights``) of the exact
    elementwise values, rounded once to the dtype."""
    ref = reference(spec, case)
    fmt = FORMATS[case.dtype]
    weights = sample_weights(case.x.size) if reduction == "weighted-mean" else np.ones(case.x.size)
    with mpmath.workprec(2200):  # exact: every float64 term (times a small integer) fits in 2200 bits
        total = exact_sum(np.concatenate([ref.exact.reshape(-1), ref.exact_lo.reshape(-1)]),
                          np.concatenate([weights, weights]))
        if case.x.size == 0:
            value = mpmath.mpf(0) if reduction == "sum" else mpmath.mpf("nan")
        else:
            value = total if reduction == "sum" else total / mpmath.fsum(weights)
        head = float(value)
        tail = float(value - head) if math.isfinite(head) else 0.0
        rounded = round_mpf(value._mpf_, fmt)
    return Reference(np.array([rounded], dtype=fmt.dtype), np.array([head]), np.array([tail]), 0)


def reduction(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    got, problem = call_quantity(adapter, impl, quantity, case.x, case.y, device)
    values = judged_values(got, problem)
    if values is None:
        return {**record, "verdict": problem.verdict, "message": problem.message}
    spec = spec_for(impl, "loss")
    ref = _exact_reduction(spec, case, impl.reduction)
    record = judge(record, values.reshape(1), ref, case.x[:1], case.y[:1], spec, policy)[0]
    return in_another_dtype(record, problem) if problem else record


def unchanged_inputs(adapter, impl, device, case: cases.Case, quantity: str, policy: Policy, record: dict) -> dict:
    """The implementation must not write into its inputs, in the loss or in its derivatives."""
    fx, fy = adapter.from_numpy(case.x, device), adapter.from_numpy(case.y, device)
    ran = []
    for each in ("loss", "grad", "hess")[: ("loss", "grad", "hess").index(quantity) + 1]:
        try:
            with fenv.theirs():
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
    got, other_dtype = call_quantity(adapter, impl, "loss", empty, empty, device)
    got = judged_values(got, other_dtype)
    if got is None:
        return {**record, "verdict": other_dtype.verdict, "message": f"empty input: {other_dtype.message}"}
    expected = {"none": 0, "sum": 0.0, "mean": math.nan, "weighted-mean": math.nan}[impl.reduction]
    if impl.reduction != "none" and not (got == expected or (np.isnan(expected) and np.isnan(got))):
        message = f"empty input: {impl.reduction} is {got!r}, expected {expected}"
        return {**record, "verdict": "fail", "message": message}
    x = case.x[:12].reshape(3, 4)
    y = case.y[:4]
    got, problem = call_quantity(adapter, impl, "loss", x, y, device)
    values = judged_values(got, problem)
    if values is None:
        verdict = "unsupported" if problem.verdict == "crashed" else problem.verdict
        rejected = {**record, "verdict": verdict, "message": f"broadcast labels rejected: {problem.message}"}
        return in_another_dtype(rejected, other_dtype) if other_dtype else rejected
    other_dtype = other_dtype or problem
    spec = spec_for(impl, "loss")
    xb, yb = (np.ascontiguousarray(a) for a in np.broadcast_arrays(x, y))
    if impl.reduction != "none":  # the reduced value against the exact reduction of the 12 losses
        flat = cases.Case(case.form, case.dtype, "broadcast", "broadcast", xb.ravel(), yb.ravel())
        record = judge(record, values.reshape(1), _exact_reduction(spec, flat, impl.reduction), flat.x[:1],
                       flat.y[:1], spec, policy)[0]
    else:
        record = judge(record, values, None, xb, yb, spec, policy)[0]
    return in_another_dtype(record, other_dtype) if other_dtype else record


CHECKS = {"accuracy": accuracy, "special": special, "domain": domain, "reduction": reduction,
          "unchanged-inputs": unchanged_inputs, "shapes": shapes}
