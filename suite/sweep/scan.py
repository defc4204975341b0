"""The passes over a whole block that judging a sweep needs.

Per element, with the result g, the correctly rounded r and the exact value hi + lo
(``oracle.Reference``): g is correctly rounded where g == r (+0 and −0 equal) or both are NaN, and
the implementation did not reject the input. Such an element adds r's own error to the block's sum
of errors, min(|(r − hi) − lo| / ulp(hi), 1/2), 0 where that is NaN (an exact infinity or NaN),
ulp as ``reference.metrics.ulp`` takes it: 2^(b + 1 − p), the binade b of hi's float64 exponent
field clipped to the format's [emin, emax] (for an infinite or NaN hi the error is ∞ or NaN whatever
the spacing, so the clip serves there too). A zero of the other sign than r's is counted. Every
other element is a suspect, judged by ``stats.measure`` on its own.

The results whose bits differ from r's (or that were rejected) are found with one NumPy comparison
of the bit patterns. Where they are few (at most one in ``FEW``, as in most blocks of most
implementations), only they are gathered and looked at as numbers: the same value (the other zero),
both NaN (another payload), or a suspect; the correctly rounded elements' own errors are then the
block's total less the suspects' own. r's own errors depend on the oracle alone, so that total
(``own_error_units``) is summed once a block for every result judged on it (a built-in and its
rewrite share it). Where many differ, the whole block is classified and the correct elements' own
errors summed under a mask.

Each own error is summed as a whole number of 2^−44 ULP (truncated; an error of 1/2 is 2^43 of them):
the sum is exact in any order, so that it subtracts exactly and the compiled loop adds in vector
lanes without branching on anything. The mean error it feeds agrees with a float64 sum of the same
errors to 1e-12. One compiled loop that branched on every result took longer where few results
differ, shorter where most do: over all float32 inputs, the judging of torch.nn.BCEWithLogitsLoss's
loss at y = 1 went from 43.4 to 35.6 worker-seconds, that of numpy.textbook_probs's loss at y = 0
(98.6 % suspects) from 72.4 to 78.2. Without Numba the sum runs interpreted, with the same result,
about a hundred times slower: enough for a 16-bit sweep, not for a float32 one (``bcebench sweep``
says so).
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np

from bcebench.reference.formats import Format

COMPILED = importlib.util.find_spec("numba") is not None
UNIT = 2.0**44  # an own error of 1/2 is 2^43 units: 2^19 of them sum below 2^62
SPAN = 1 << 19  # elements summed in one call of the kernel, within int64
FEW = 8  # at most one result in FEW differing from r: those are gathered and looked at alone


def scan(got: np.ndarray, rounded: np.ndarray, exact: np.ndarray, exact_lo: np.ndarray, rejected: np.ndarray,
         fmt: Format, shared: dict | None = None) -> tuple[int, float, int, np.ndarray]:
    """(correctly rounded count, the sum of their own errors, zeros of the wrong sign among them,
    the indices of the other elements) for flat arrays of one block, the results in r's dtype.
    ``shared``: a dict kept with the reference while results are judged on it, which holds the
    block's ``own_error_units`` once one result needed it."""
    if got.dtype != rounded.dtype:
        raise ValueError(f"results in {got.dtype} judged against a reference in {rounded.dtype}")
    differ = _bits(got) != _bits(rounded)
    if rejected.any():
        differ |= rejected
    if np.count_nonzero(differ) > got.size // FEW:  # many: the whole block is looked at, not gathered copies
        correct, zero_sign = _correct(got, rounded, rejected, differ)
        suspects = np.flatnonzero(~correct)
        own = own_error_units(rounded, exact, exact_lo, fmt, correct)
    else:  # few: those are gathered and looked at alone; the others' own errors are the block's less theirs
        candidates = np.flatnonzero(differ)
        correct, zero_sign = _correct(got[candidates], rounded[candidates], rejected[candidates], True)
        suspects = candidates[~correct]
        shared = {} if shared is None else shared
        if "own_total" not in shared:
            shared["own_total"] = own_error_units(rounded, exact, exact_lo, fmt)
        own = shared["own_total"] - own_error_units(rounded[suspects], exact[suspects], exact_lo[suspects], fmt)
    return got.size - suspects.size, own / UNIT, zero_sign, suspects


def _correct(got: np.ndarray, rounded: np.ndarray, rejected: np.ndarray, differ) -> tuple[np.ndarray, int]:
    """(got == r or both NaN where the input was not rejected, how many of those are the zero of the
    other sign than r's): equal in value where the bits ``differ``, which only the two zeros are."""
    g, r = _wide(got), _wide(rounded)
    with np.errstate(invalid="ignore"):
        equal = (g == r) & ~rejected
        correct = equal | (np.isnan(g) & np.isnan(r) & ~rejected)
    return correct, int(np.count_nonzero(equal & differ))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _wide(a: np.ndarray) -> np.ndarray:
    """Float16 and bfloat16 as float32 (exact), where every NumPy comparison and test is defined."""
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def own_error_units(rounded: np.ndarray, exact: np.ndarray, exact_lo: np.ndarray, fmt: Format,
                    where: np.ndarray | None = None) -> int:
    """Σ min(|(r − hi) − lo| / ulp(hi), 1/2) over flat arrays (0 where NaN), or over the elements
    ``where`` is true, in units of 2^−44 ULP, each term truncated: a sum that is the same in any order
    and subtracts exactly."""
    if rounded.dtype not in (np.float32, np.float64):
        rounded = rounded.astype(np.float32)  # exact
    where = np.ones(rounded.size, dtype=bool) if where is None else where
    kernel, spacing = _kernel(), spacings(fmt)
    with np.errstate(all="ignore"):  # interpreted, ∞ − ∞ of an infinite exact value warns
        return sum(int(kernel(*(np.ascontiguousarray(a[i : i + SPAN]) for a in (rounded, exact, exact_lo, where)),
                              spacing, fmt.emin))
                   for i in range(0, rounded.size, SPAN))


@functools.cache
def spacings(fmt: Format) -> np.ndarray:
    """The format's spacing in each binade from emin to emax: 2^(b + 1 − p)."""
    return 2.0 ** (np.arange(fmt.emin, fmt.emax + 1, dtype=np.float64) + (1 - fmt.precision))


@functools.cache
def _kernel():
    """``_own_units`` compiled (its machine code cached on disk by Numba where it finds a writable
    folder: beside this file, NUMBA_CACHE_DIR or the user's cache), or as it is without Numba."""
    if not COMPILED:
        return _own_units
    import numba

    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(_own_units)
    except RuntimeError:  # no folder to cache it in: compiled again in each process
        return numba.njit(nogil=True, error_model="numpy")(_own_units)


def _own_units(rounded, exact, exact_lo, where, spacing, emin):
    bits = exact.view(np.int64)
    top = spacing.size - 1
    total = 0
    for i in range(rounded.size):
        binade = ((bits[i] >> 52) & 0x7FF) - 1023
        error = abs((np.float64(rounded[i]) - exact[i]) - exact_lo[i]) / spacing[min(max(binade - emin, 0), top)]
        error = 0.5 if error > 0.5 else error  # selects, not branches: the loop runs in vector lanes
        error = 0.0 if error != error or not where[i] else error
        total += np.int64(error * UNIT)
    return total
