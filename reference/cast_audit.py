"""Whether a library's cast to a 16-bit dtype rounds correctly: ``python -m bcebench.reference.cast_audit``.

The reference rounds with ``formats.round_float64``, whose one rounding is exact by construction.
A library's cast (``numpy.ndarray.astype``, through ml_dtypes for bfloat16) is 10 to 25 times
faster, and may replace it only where it gives the same bits on every input the reference rounds.
Two sets of inputs decide that:

- every float32 value (2^32, in blocks), the whole domain of a float32 → 16-bit cast;
- float64 values beside every tie of the format: each midpoint m between two neighbouring 16-bit
  values, and m ± 2^-k·ulp(m) for k = 16, 30 and 40 (below float32's precision, so a cast that first
  rounds to float32 lands on the tie and rounds it to even: the double rounding ml_dtypes before
  0.7 did from float64 to bfloat16). float64 inputs cannot all be tried; these are the ones where a
  second rounding differs from one.

It prints, per format, the inputs tried, the mismatches (and the first), and the library's speed
over the reference's, and exits 0 when the library is correct on every input tried, else 1.
"""

from __future__ import annotations

import sys
import time

import ml_dtypes
import numpy as np

from bcebench.reference.formats import FORMATS, Format, from_bits, round_float64

BLOCK = 1 << 24
PERTURBATIONS = (16, 30, 40)


def library_cast(values: np.ndarray, fmt: Format) -> np.ndarray:
    """The cast under audit: NumPy's astype, ml_dtypes' for bfloat16."""
    return values.astype(fmt.dtype)


def tie_neighbourhoods(fmt: Format) -> np.ndarray:
    """Every midpoint between neighbouring finite values of ``fmt`` (both signs) and the float64
    values just beside it (see the module docstring)."""
    with np.errstate(invalid="ignore"):  # ml_dtypes warns when it widens a NaN
        finite = from_bits(np.arange(1 << 15, dtype=np.uint32), fmt).astype(np.float64)
    finite = finite[np.isfinite(finite)]
    low, high = finite[:-1], finite[1:]
    middle = (low + high) / 2  # exact: both are 16-bit values
    spacing = high - low
    near = [middle] + [middle + sign * spacing * 2.0**-k for k in PERTURBATIONS for sign in (-1, 1)]
    values = np.concatenate(near)
    return np.concatenate([values, -values])


def correctly_rounded(values: np.ndarray, fmt: Format) -> np.ndarray:
    """``values`` (float32 or float64) rounded once to ``fmt`` by the reference; non-finite kept."""
    wide = values.astype(np.float64)
    finite = np.isfinite(wide)
    return np.where(finite, round_float64(np.where(finite, wide, 0.0), fmt), wide).astype(fmt.dtype)


def differing(values: np.ndarray, expected: np.ndarray, got: np.ndarray, fmt: Format) -> np.ndarray:
    """The elements of ``values`` whose ``got`` differs from ``expected`` in its bit pattern (NaN
    inputs aside: they have no rounding)."""
    differ = expected.view(fmt.bits_dtype) != got.view(fmt.bits_dtype)
    return values[differ & ~np.isnan(values)]


def mismatches(values: np.ndarray, fmt: Format, cast=library_cast) -> np.ndarray:
    """The elements of ``values`` whose cast differs from the correct rounding."""
    return differing(values, correctly_rounded(values, fmt), cast(values, fmt), fmt)


def every_float32(fmt: Format, cast=library_cast) -> tuple[int, list[float], float]:
    """(inputs tried, mismatching inputs, library seconds / reference seconds) over all 2^32."""
    found: list[float] = []
    library = reference = 0.0
    for start in range(0, 1 << 32, BLOCK):
        values = np.arange(start, start + BLOCK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        began = time.perf_counter()
        got = cast(values, fmt)
        library += time.perf_counter() - began
        began = time.perf_counter()
        expected = correctly_rounded(values, fmt)
        reference += time.perf_counter() - began
        found.extend(differing(values, expected, got, fmt).tolist())
    return 1 << 32, found, library / reference


def main() -> int:
    usable = True
    print(f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}")
    for name in ("bfloat16", "float16"):
        fmt = FORMATS[name]
        ties = tie_neighbourhoods(fmt)
        near_ties = mismatches(ties, fmt)
        tried, wrong, ratio = every_float32(fmt)
        usable &= not (near_ties.size or wrong)
        first = [f"{v!r}" for v in [*near_ties[:1].tolist(), *wrong[:1]]]
        print(f"{name}: float64 beside every tie: {near_ties.size} of {ties.size} wrong; "
              f"every float32: {len(wrong)} of {tried} wrong; library/reference time {ratio:.3f}"
              + (f"; first wrong: {', '.join(first)}" if first else ""))
    print("the library's cast rounds correctly on every input tried" if usable
          else "the library's cast is not usable for rounding")
    return 0 if usable else 1


if __name__ == "__main__":
    sys.exit(main())
