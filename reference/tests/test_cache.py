"""The oracle's tables on disk: written once, taken bit for bit, never trusted beyond what they hold."""

import numpy as np
import pytest

from bcebench.reference import cache, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS

# The bfloat16 z with 2^-60 <= |z| < 2^-40 and the label 1/2: the gradient σ(z) − 1/2 = z/4 − z³/48 + …
# lies so close to a bfloat16 value that the fast path leaves every one to the mpmath path (all 22,786
# elements of every finite z below 2^-38 in magnitude, measured), so the table has content.
SPEC = Spec("grad", "logits")


def _inputs():
    x = np.arange(1 << 16, dtype=np.uint16).view(FORMATS["bfloat16"].dtype)
    with np.errstate(invalid="ignore"):  # widening a NaN
        size = np.abs(x.astype(np.float64))
    x = x[(size >= 2.0**-60) & (size < 2.0**-40)]
    return x, np.full(x.size, 0.5).astype(x.dtype)


def _same(a: oracle.Reference, b: oracle.Reference) -> bool:
    return all(np.array_equal(p.view(np.uint8), q.view(np.uint8)) for p, q in
               ((a.rounded, b.rounded), (a.exact, b.exact), (a.exact_lo, b.exact_lo)))


@pytest.fixture(autouse=True)
def small_tables(monkeypatch):
    monkeypatch.setattr(cache, "ON_DISK", 1024)  # the inputs here number 5,120


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("BCEBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "_answers", type(cache._answers)())
    return tmp_path


def test_a_table_is_written_once_and_taken_bit_for_bit(fresh, monkeypatch):
    x, y = _inputs()
    first = cache.evaluate(SPEC, x, y)
    tables = list(fresh.rglob("*.npz"))
    assert first.mpmath_count == x.size == 5120 and len(tables) == 1
    assert _same(first, oracle.evaluate(SPEC, x, y))
    monkeypatch.setattr(cache, "_answers", type(cache._answers)())
    monkeypatch.setattr(oracle, "decide_scalar", lambda *a: pytest.fail("the table was not taken"))
    assert _same(cache.evaluate(SPEC, x, y), first)


def test_a_table_for_other_elements_or_unreadable_is_decided_again(fresh, monkeypatch):
    x, y = _inputs()
    first = cache.evaluate(SPEC, x, y)
    (table,) = fresh.rglob("*.npz")
    with np.load(table) as stored:
        parts = dict(stored)
    np.savez(table, **{**parts, "index": parts["index"][1:], "rounded": parts["rounded"][1:],
                       "exact": parts["exact"][1:], "exact_lo": parts["exact_lo"][1:]})
    monkeypatch.setattr(cache, "_answers", type(cache._answers)())
    assert _same(cache.evaluate(SPEC, x, y), first)
    table.write_bytes(b"not a table")
    monkeypatch.setattr(cache, "_answers", type(cache._answers)())
    assert _same(cache.evaluate(SPEC, x, y), first)


def test_no_table_where_the_cache_is_off_or_cannot_be_written(monkeypatch, tmp_path):
    x, y = _inputs()
    monkeypatch.setattr(cache, "_answers", type(cache._answers)())
    monkeypatch.setenv("BCEBENCH_CACHE", "")
    assert cache.folder() is None
    expected = cache.evaluate(SPEC, x, y)
    blocked = tmp_path / "a file"
    blocked.write_text("in the way")
    monkeypatch.setenv("BCEBENCH_CACHE", str(blocked))
    monkeypatch.setattr(cache, "_answers", type(cache._answers)())
    assert _same(cache.evaluate(SPEC, x, y), expected)
    assert list(tmp_path.iterdir()) == [blocked]
