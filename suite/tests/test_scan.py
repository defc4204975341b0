"""The sweep's pass over a whole block (suite/sweep/scan.py): what it counts and sums is what the
NumPy statement of the same rules gives, and compiled it gives what it gives interpreted."""

import numpy as np
import pytest

from bcebench.reference import metrics, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, from_bits
from bcebench.suite.sweep import scan


def block(dtype: str):
    """Every 16-bit pattern, or 2^16 float32 patterns spread over the whole range (NaNs, infinities,
    zeros and subnormals included), with the oracle's loss at y = 1 weighted by pos_weight = 2 (which
    overflows the dtype where −z is near its largest value: an infinite r whose own error is 1/2), and
    results that are the correct rounding except for planted faults: one ULP off, NaN, +inf, the other
    zero, and rejected inputs."""
    fmt = FORMATS[dtype]
    patterns = np.arange(2**16, dtype=np.uint64)
    if dtype == "float32":
        patterns = patterns * 65537 % 2**32
    x = from_bits(patterns, fmt)
    ref = oracle.evaluate(Spec("loss", "logits", pos_weight=2.0), x, np.ones(1, dtype=fmt.dtype))
    got = ref.rounded.copy()
    got[1::7] = np.nextafter(got[1::7].astype(np.float32), np.float32(np.inf)).astype(fmt.dtype)
    got[2::11] = np.nan
    got[3::13] = np.inf
    zeros = np.flatnonzero(ref.rounded == 0)
    got[zeros[::2]] = -ref.rounded[zeros[::2]]
    rejected = np.zeros(x.size, dtype=bool)
    rejected[5::17] = True
    return got, ref, rejected, fmt


def numpy_statement(got, ref, rejected, fmt):
    """The rules of the scan's docstring, one NumPy pass per step."""
    g, r = got.astype(np.float64), ref.rounded.astype(np.float64)
    correct = ((g == r) | (np.isnan(g) & np.isnan(r))) & ~rejected
    with np.errstate(invalid="ignore", over="ignore"):
        own = np.minimum(np.abs((r - ref.exact) - ref.exact_lo) / metrics.ulp(ref.exact, fmt), 0.5)
    own[np.isnan(own)] = 0.0
    zero_sign = correct & (r == 0) & (np.signbit(g) != np.signbit(r))
    return int(correct.sum()), float(own[correct].sum()), int(zero_sign.sum()), np.flatnonzero(~correct)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_the_scan_counts_and_sums_what_numpy_does(dtype):
    got, ref, rejected, fmt = block(dtype)
    correct, own, zero_sign, suspects = scan.scan(got, ref.rounded, ref.exact, ref.exact_lo, rejected, fmt)
    want_correct, want_own, want_zero_sign, want_suspects = numpy_statement(got, ref, rejected, fmt)
    assert (correct, zero_sign) == (want_correct, want_zero_sign) and np.array_equal(suspects, want_suspects)
    assert 0 < zero_sign and 0 < suspects.size < got.size  # the planted faults are there, and overflow
    assert np.any(np.isinf(ref.rounded) & np.isfinite(ref.exact) & (got == ref.rounded))
    assert own == pytest.approx(want_own, rel=1e-12)  # the same terms, summed in another order


@pytest.mark.skipif(not scan.COMPILED, reason="Numba is not installed: the scan runs interpreted only")
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_the_compiled_sum_is_the_interpreted_one(dtype):
    _, ref, rejected, fmt = block(dtype)
    args = (ref.rounded.astype(np.float32), ref.exact, ref.exact_lo, ~rejected, scan.spacings(fmt), fmt.emin)
    assert scan._kernel()(*args) == scan._own_units(*args) > 0


@pytest.mark.skipif(not scan.COMPILED, reason="Numba is not installed: the scan runs interpreted only")
def test_the_scan_compiles_where_nothing_can_hold_its_cache(monkeypatch):
    """A read-only installation with no home folder: Numba finds no folder for the cache (no locator)."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    kernel = scan._kernel.__wrapped__()  # what the functools.cache of an earlier call would hide
    assert kernel.py_func is scan._own_units  # compiled, not interpreted
    monkeypatch.setattr(scan, "_kernel", lambda: kernel)
    got, ref, rejected, fmt = block("float16")
    correct, own, zero_sign, suspects = scan.scan(got, ref.rounded, ref.exact, ref.exact_lo, rejected, fmt)
    want_correct, want_own, want_zero_sign, want_suspects = numpy_statement(got, ref, rejected, fmt)
    assert (correct, zero_sign) == (want_correct, want_zero_sign) and np.array_equal(suspects, want_suspects)
    assert own == pytest.approx(want_own, rel=1e-12)


def sparse(got, ref, rejected):
    """The block's faults in its first 32nd and at one zero in 16 only: results that differ from r
    are few (the scan gathers them instead of looking at the whole block)."""
    index = np.arange(got.size)
    kept = (index < got.size // 32) | ((ref.rounded == 0) & (index % 16 == 0))
    return np.where(kept, got, ref.rounded), kept & rejected


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_the_scan_counts_and_sums_what_numpy_does_where_few_results_differ(dtype):
    got, ref, rejected, fmt = block(dtype)
    got, rejected = sparse(got, ref, rejected)
    correct, own, zero_sign, suspects = scan.scan(got, ref.rounded, ref.exact, ref.exact_lo, rejected, fmt)
    want_correct, want_own, want_zero_sign, want_suspects = numpy_statement(got, ref, rejected, fmt)
    assert (correct, zero_sign) == (want_correct, want_zero_sign) and np.array_equal(suspects, want_suspects)
    differ = np.count_nonzero(got.view(f"u{got.itemsize}") != ref.rounded.view(f"u{got.itemsize}"))
    assert 0 < zero_sign and 0 < suspects.size <= differ <= got.size // scan.FEW
    assert own == pytest.approx(want_own, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_own_errors_sum_exactly_in_any_split_and_a_shared_total_serves_every_result(dtype):
    """The own-error total of a block is its parts' totals added (a sum in units, order-free), so the
    correctly rounded elements' sum is the block's total less the suspects' own; the total kept in
    ``shared`` by one result's judgement (as a sweep keeps it for the implementations of one chunk)
    gives the next result the answer it gets alone."""
    got, ref, rejected, fmt = block(dtype)
    whole = scan.own_error_units(ref.rounded, ref.exact, ref.exact_lo, fmt)
    odd, even = slice(1, None, 2), slice(0, None, 2)
    parts = [scan.own_error_units(ref.rounded[s], ref.exact[s], ref.exact_lo[s], fmt) for s in (odd, even)]
    assert whole == sum(parts) and min(parts) > 0
    shared: dict = {}
    first = sparse(ref.rounded, ref, rejected)  # only the rejected inputs differ
    scan.scan(*first[:1], ref.rounded, ref.exact, ref.exact_lo, first[1], fmt, shared)
    assert shared == {"own_total": whole}
    got, rejected = sparse(got, ref, rejected)
    alone = scan.scan(got, ref.rounded, ref.exact, ref.exact_lo, rejected, fmt)
    after = scan.scan(got, ref.rounded, ref.exact, ref.exact_lo, rejected, fmt, shared)
    assert alone[:3] == after[:3] and np.array_equal(alone[3], after[3])


def test_results_in_another_dtype_than_the_reference_are_refused():
    got, ref, rejected, fmt = block("float16")
    with pytest.raises(ValueError, match="float32 judged against a reference in float16"):
        scan.scan(got.astype(np.float32), ref.rounded, ref.exact, ref.exact_lo, rejected, fmt)
