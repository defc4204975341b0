"""Adapters: arrays cross to each framework and back without changing a bit, and a missing
framework is reported, not raised."""

import numpy as np
import pytest

from bcebench.adapters import base
from bcebench.reference.formats import FORMATS, bits_of, from_bits


def _available():
    """The frameworks that load in this process; a process-bound one (Keras on a backend) hands its
    arrays to its backend's adapter, tested here."""
    params = []
    for name in [n for n in base.REGISTRY if n not in base.PROCESS_BOUND]:
        adapter, reason = base.load(name)
        mark = pytest.mark.skip(reason=f"{name}: {reason}") if adapter is None else ()
        params.append(pytest.param(name, marks=mark, id=name))
    return params


def every_pattern(dtype: str) -> np.ndarray:
    """All 2**16 patterns of a 16-bit format; for float32 and float64 every exponent and sign with
    random significands (NaN payloads and subnormals included)."""
    fmt = FORMATS[dtype]
    if fmt.dtype.itemsize == 2:
        return from_bits(np.arange(2**16), fmt)
    rng = np.random.default_rng(3)
    width = 8 * fmt.dtype.itemsize
    return from_bits(rng.integers(0, 2**width, 2**16, dtype=np.uint64), fmt)


@pytest.mark.parametrize("framework", _available())
@pytest.mark.parametrize("dtype", list(FORMATS))
def test_round_trip_changes_no_bit(framework, dtype):
    adapter, _ = base.load(framework)
    values = every_pattern(dtype)
    devices = [d for d in adapter.devices() if dtype in adapter.dtypes(d)]
    if not devices:
        pytest.skip(f"{framework} has no {dtype}: {adapter.missing_dtypes(adapter.devices()[0]).get(dtype, '')}")
    for device in devices:
        back = adapter.to_numpy(adapter.from_numpy(values, device))
        assert back.dtype == values.dtype
        assert np.array_equal(bits_of(back), bits_of(values)), f"{framework} on {device} changed bits of {dtype}"


def test_unknown_framework_is_a_key_error_and_missing_one_is_unavailable(monkeypatch):
    with pytest.raises(KeyError, match="unknown framework"):
        base.load("theano")
    adapter, reason = base.load(base.ARRAY_API + "no_such_namespace")
    assert adapter is None and "not installed" in reason
    adapter, reason = base.load(base.ARRAY_API + "json")  # importable, but not an Array API namespace
    assert adapter is None and "__array_api_version__" in reason
    monkeypatch.setitem(base.REGISTRY, "absent", "bcebench.adapters.no_such_adapter:Adapter")
    adapter, reason = base.load("absent")  # a module of the project itself missing: a broken installation
    assert adapter is None
    assert reason == "import failed: ModuleNotFoundError: No module named 'bcebench.adapters.no_such_adapter'"


def test_any_array_api_namespace_is_a_framework():
    """NumPy 2 is an Array API namespace: the generic adapter runs on it with no NumPy-specific code."""
    adapter, reason = base.load(base.ARRAY_API + "numpy")
    assert adapter is not None, reason
    assert adapter.dtypes("cpu") == ["float16", "float32", "float64"]
    logits = next(i for i in adapter.implementations() if i.form == "logits")
    z, y = np.array([-800.0, 0.0, 800.0]), np.array([1.0, 0.5, 0.0])
    # exact values: 800 (softplus(800) − 0), ln 2, 800
    assert np.allclose(adapter.run(logits, "loss", z, y, "cpu"), [800.0, np.log(2), 800.0], rtol=1e-15)
    assert np.array_equal(adapter.run(logits, "grad", z, y, "cpu"), [-1.0, 0.0, 1.0])  # σ(z) − y, exact here


def test_keras_on_a_second_backend_is_unavailable_in_the_same_process(monkeypatch):
    """Keras fixes its backend at import: asking for another one here says so instead of lying."""
    import sys
    import types

    keras = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", keras)
    adapter, reason = base.load("keras-torch")
    assert adapter is None and "jax backend in this process" in reason


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_cuda_refuses_what_the_cpu_kernel_raises_on(dtype):
    """On CUDA, BCE in the probability form asserts on the device for p or y outside [0, 1]; the adapter
    refuses those inputs before the call, with the CPU kernel's message. Over every special input and
    every out-of-domain input of the checks, the refusal matches the CPU kernel's exception exactly."""
    torch = pytest.importorskip("torch")
    from bcebench.adapters.torch_adapter import refuse_outside_unit_interval
    from bcebench.suite.checks import cases

    special, outside = cases.special_case("probs", dtype), cases.out_of_domain_case(dtype)
    pairs = list(zip(special.x, special.y, strict=True)) + list(zip(outside.x, outside.y, strict=True))
    assert any(np.isnan(float(y)) or not 0 <= float(y) <= 1 for _, y in pairs)  # a target outside is tried
    for p, y in pairs:
        tp, ty = (torch.tensor([float(v)], dtype=getattr(torch, dtype)) for v in (p, y))
        try:
            torch.nn.functional.binary_cross_entropy(tp, ty)
            cpu = None
        except RuntimeError as error:
            cpu = str(error)
        try:
            refuse_outside_unit_interval(tp, ty)
            refused = None
        except RuntimeError as error:
            refused = str(error)
        assert (refused is None) == (cpu is None), (p, y, cpu, refused)
        assert refused is None or refused.startswith(cpu), (p, y, cpu, refused)


def test_a_builtin_is_declared_as_a_users_function_is():
    """One mechanism: a built-in is made from the same declaration as a user's function (its id its
    name), validated the same way, with the same attributes."""
    from dataclasses import replace

    from bcebench.adapters.declaration import Declaration
    from bcebench.adapters.numpy_adapter import stable_logits

    made = base.builtin("numpy.mine", "numpy", "logits", stable_logits, parameters={"gamma": 2.0}, labels="hard")
    user = base.user_implementation(Declaration("", "numpy", "logits", "numpy.mine", {"gamma": 2.0}, labels="hard"),
                                    call=stable_logits)
    assert made.id == "numpy.mine" and user.id == "user:numpy.mine"
    assert replace(made, id="") == replace(user, id="")
    with pytest.raises(ValueError, match="unknown parameter"):
        base.builtin("numpy.mine", "numpy", "logits", stable_logits, parameters={"gama": 2.0})
    with pytest.raises(ValueError, match="reduction 'weighted-mean'"):
        base.user_implementation(Declaration("", "numpy", "logits", "mine", reduction="weighted-mean"),
                                 call=stable_logits)
