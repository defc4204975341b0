"""Adapters: arrays cross to each framework and back without changing a bit, and a missing
framework is reported, not raised."""

import numpy as np
import pytest

from adapters import base
from reference.formats import FORMATS, bits_of, from_bits


def _available():
    params = []
    for name in base.REGISTRY:
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
    for device in adapter.devices():
        back = adapter.to_numpy(adapter.from_numpy(values, device))
        assert back.dtype == values.dtype
        assert np.array_equal(bits_of(back), bits_of(values)), f"{framework} on {device} changed bits of {dtype}"


def test_unknown_framework_is_a_key_error_and_missing_one_is_unavailable(monkeypatch):
    with pytest.raises(KeyError, match="unknown framework"):
        base.load("tensorflow")
    monkeypatch.setitem(base.REGISTRY, "absent", "adapters.no_such_adapter:Adapter")
    adapter, reason = base.load("absent")
    assert adapter is None and "not installed" in reason
