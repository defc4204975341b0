"""The identical tests: every implementation of every available framework, on every device and
dtype, against the oracle under the strict policy, with the known deviations applied.

The parameters are framework × device × implementation × dtype, and the test body is the same
for all of them: nothing here looks at a framework's name. A framework that is not installed,
and a GPU that is not present, are skipped with the reason in the skip message. A framework that
fixes process-wide state when loaded (Keras's backend) runs the same plan through the gate's
worker process instead of in this one.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcebench.adapters import base
from bcebench.reference.formats import FORMATS, from_bits
from bcebench.suite.checks import cases, elementwise
from bcebench.suite.gate import controller, planning, verdicts
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import load_policy

POLICY = load_policy("strict")
SELECTION = planning.Selection(frameworks=list(base.REGISTRY))
DEVIATIONS = planning.known_deviations(SELECTION)


def _matrix(elementwise_only: bool = False):
    params = []
    for name in [n for n in base.REGISTRY if n not in base.PROCESS_BOUND]:
        adapter, reason = base.load(name)
        if adapter is None:
            params.append(pytest.param(name, None, None, None, marks=pytest.mark.skip(reason=f"{name}: {reason}"),
                                       id=f"{name}-unavailable"))
            continue
        devices = adapter.devices()
        gpu = adapter.gpu_device
        if gpu and gpu not in devices:
            params.append(pytest.param(name, gpu, None, None, id=f"{name}-{gpu}",
                                       marks=pytest.mark.skip(reason=f"{name}: no {gpu} device here")))
        for device in devices:
            for impl in adapter.implementations():
                if elementwise_only and impl.reduction != "none":
                    continue
                for dtype in adapter.dtypes(device):
                    params.append(pytest.param(name, device, impl.id, dtype, id=f"{name}-{device}-{impl.id}-{dtype}"))
    return params


_adapters: dict = {}


def _adapter_and_impl(framework: str, implementation: str):
    if framework not in _adapters:
        _adapters[framework] = base.load(framework)[0]
    adapter = _adapters[framework]
    return adapter, next(i for i in adapter.implementations() if i.id == implementation)


@pytest.mark.parametrize("framework, device, implementation, dtype", _matrix())
def test_implementation_passes_or_deviates_as_documented(framework, device, implementation, dtype):
    adapter, impl = _adapter_and_impl(framework, implementation)
    records = planning.run_in_process(adapter, impl, device, dtype, SELECTION, POLICY, DEVIATIONS)
    assert records, "no check ran"
    problems = verdicts.failures(records)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("framework", sorted(base.PROCESS_BOUND))
def test_process_bound_framework_passes_or_deviates_as_documented(framework):
    """Every check the gate plans for the framework, run in its own worker process."""
    results = controller.run(planning.Selection([framework]))
    unavailable = results["metadata"]["unavailable"]
    if framework in unavailable:
        pytest.skip(f"{framework}: {unavailable[framework]}")
    assert results["checks"], "no check ran"
    problems = verdicts.failures(results["checks"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("framework, device, implementation, dtype", _matrix(elementwise_only=True))
@settings(max_examples=20)
@given(data=st.data())
def test_hypothesis_drawn_inputs(framework, device, implementation, dtype, data):
    """16 inputs drawn by bit pattern (every binade and special value) with hard or soft labels;
    the loss and gradient are judged like any other case."""
    adapter, impl = _adapter_and_impl(framework, implementation)
    fmt = FORMATS[dtype]
    width = 8 * fmt.dtype.itemsize
    patterns = data.draw(st.lists(st.integers(0, 2**width - 1), min_size=16, max_size=16))
    x = from_bits(np.array(patterns, dtype=np.uint64), fmt)
    with np.errstate(invalid="ignore"):
        x = np.where(np.isfinite(x.astype(np.float64)), x, np.zeros(1, fmt.dtype))
        if impl.form == "probs":
            x = np.abs(x)
            x = np.where((x.astype(np.float64) > 0) & (x.astype(np.float64) < 1), x, np.full(1, 0.5, fmt.dtype))
    kind = data.draw(st.sampled_from(["hard"] if impl.hard_labels_only else list(cases.LABELS)))
    y = cases.exact_cast(cases.labels(kind, np.random.default_rng(data.draw(st.integers(0, 999))), 16), fmt)
    case = cases.Case(impl.form, dtype, "hypothesis", kind, x, y)
    records = []
    for quantity in ("loss", "grad") if impl.derivatives else ("loss",):
        record = {"framework": framework, "device": device, "implementation": impl.id, "form": impl.form,
                  "dtype": dtype, "check": "accuracy", "quantity": quantity, "regime": "hypothesis",
                  "labels": kind, "gating": impl.gating, "id": f"hypothesis/{impl.id}/{dtype}/{quantity}"}
        records.append(elementwise.accuracy(adapter, impl, device, case, quantity, POLICY, record))
    records = [explain.apply(r, DEVIATIONS) for r in records]
    problems = verdicts.failures(records)
    assert not problems, "\n".join(problems)

