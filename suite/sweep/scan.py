"""The one pass over a whole block that judging a sweep needs, compiled with Numba.

Per element, with the result g, the correctly rounded r and the exact value hi + lo
(``oracle.Reference``): g is correctly rounded where g == r (+0 and −0 equal) or both are NaN, and
the implementation did not reject the input. Such an element adds r's own error to the block's sum
of errors, min(|(r − hi) − lo| / ulp(hi), 1/2), 0 where that is NaN (an exact infinity or NaN),
ulp as ``reference.metrics.ulp`` takes it: 2^(b + 1 − p), the binade b of hi's float64 exponent
field clipped to the format's [emin, emax] (for an infinite or NaN hi the error is ∞ or NaN whatever
the spacing, so the clip serves there too). Each error is the same float64 number as those NumPy
operations give, a quotient by a power of two; the sum is taken in element order. A zero of the
other sign than r's is counted. Every other element is a suspect, judged by ``stats.measure`` on its
own.

In NumPy the same took a dozen passes over the block (comparisons, a float64 difference, the
exponent field, the clip, the quotient, the minimum, the sum), half as long as the oracle itself on
a float32 sweep; compiled, one pass takes a quarter of the oracle's time. Without Numba the same
function runs interpreted, with the same results, about a hundred times slower: enough for a 16-bit
sweep, not for a float32 one (``bcebench sweep`` says so). Float16 and bfloat16 results are widened
to float32 first (exactly).
"""

from __future__ import annotations

import functools
import importlib.util
import math

import numpy as np

from bcebench.reference.formats import Format

COMPILED = importlib.util.find_spec("numba") is not None


def scan(got: np.ndarray, rounded: np.ndarray, exact: np.ndarray, exact_lo: np.ndarray, rejected: np.ndarray,
         fmt: Format) -> tuple[int, float, int, np.ndarray]:
    """(correctly rounded count, the sum of their own errors, zeros of the wrong sign among them,
    the indices of the other elements) for flat arrays of one block."""
    if got.dtype not in (np.float32, np.float64):
        got, rounded = got.astype(np.float32), rounded.astype(np.float32)
    with np.errstate(all="ignore"):  # interpreted, ∞ − ∞ of an infinite exact value warns
        correct, own, zero_sign, suspects = _kernel()(
            np.ascontiguousarray(got), np.ascontiguousarray(rounded), np.ascontiguousarray(exact),
            np.ascontiguousarray(exact_lo), np.ascontiguousarray(rejected), spacings(fmt), fmt.emin)
    return int(correct), float(own), int(zero_sign), suspects


@functools.cache
def spacings(fmt: Format) -> np.ndarray:
    """The format's spacing in each binade from emin to emax: 2^(b + 1 − p)."""
    return 2.0 ** (np.arange(fmt.emin, fmt.emax + 1, dtype=np.float64) + (1 - fmt.precision))


@functools.cache
def _kernel():
    """``_scan`` compiled (its machine code cached on disk by Numba where it finds a writable folder:
    beside this file, NUMBA_CACHE_DIR or the user's cache), or as it is without Numba."""
    if not COMPILED:
        return _scan
    import numba

    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(_scan)
    except RuntimeError:  # no folder to cache it in: compiled again in each process
        return numba.njit(nogil=True, error_model="numpy")(_scan)


def _scan(got, rounded, exact, exact_lo, rejected, spacing, emin):
    n = got.size
    suspects = np.empty(n, dtype=np.int64)
    bits = exact.view(np.int64)
    top = spacing.size - 1
    count = correct = zero_sign = 0
    own = 0.0
    for i in range(n):
        g, r = got[i], rounded[i]
        if rejected[i] or not (g == r or (g != g and r != r)):
            suspects[count] = i
            count += 1
            continue
        correct += 1
        if r == 0 and math.copysign(1.0, g) != math.copysign(1.0, r):
            zero_sign += 1
        binade = ((bits[i] >> 52) & 0x7FF) - 1023
        error = abs((np.float64(r) - exact[i]) - exact_lo[i]) / spacing[min(max(binade - emin, 0), top)]
        if error != error:
            error = 0.0
        elif error > 0.5:
            error = 0.5
        own += error
    return correct, own, zero_sign, suspects[:count]
