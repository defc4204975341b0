"""Error of a result against the oracle: in ULPs of the target format, and absolute.

ulp(v) in a format of precision p and exponent range [emin, emax] is
2**(min(max(floor(log2 |v|), emin), emax) − p + 1): the spacing of the format at the exact value,
the subnormal spacing below the smallest normal (and at 0), the top binade's spacing beyond the
largest finite value. Errors are measured against the exact value (``Reference.exact`` +
``exact_lo``), not against its rounding, so a correctly rounded result has error <= 0.5.

Special values, judged against the correctly rounded value r (``Reference.rounded``):
- got and r both NaN agree (error 0); exactly one NaN disagrees (error inf);
- r = ±inf (the exact value is infinite or overflows): got must be that same infinity;
- got = ±inf where r is finite disagrees;
- +0 and −0 are equal, unless ``signed_zeros`` asks that a zero carry the exact value's sign.
"""

from __future__ import annotations

import numpy as np

from reference.formats import Format, format_of
from reference.oracle import Reference

MISMATCH_KINDS = ("nan", "missing-nan", "inf", "finite", "zero-sign")


def ulp(exact: np.ndarray, fmt: Format) -> np.ndarray:
    """The spacing of ``fmt`` at each exact value (float64 array)."""
    exact = np.asarray(exact, dtype=np.float64)
    _, e = np.frexp(exact)
    binade = np.where(exact == 0, fmt.emin, np.clip(e - 1, fmt.emin, fmt.emax))
    return np.ldexp(1.0, binade - fmt.precision + 1)


def _finite_difference(got: np.ndarray, ref: Reference) -> np.ndarray:
    """got − exact with exact = exact + exact_lo, in float64 (exact when got is near exact)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return (got.astype(np.float64) - ref.exact) - ref.exact_lo


def mismatch_masks(got: np.ndarray, ref: Reference) -> dict[str, np.ndarray]:
    """Per kind of MISMATCH_KINDS, where it occurs (boolean arrays): nan (NaN where r is not),
    missing-nan (a number where r is NaN), inf (±inf where r is not that infinity), finite (a
    finite number where r is infinite), zero-sign (a zero whose sign differs from r's)."""
    got64 = np.asarray(got).astype(np.float64)
    r = ref.rounded.astype(np.float64)
    got_nan, r_nan = np.isnan(got64), np.isnan(r)
    numbers = ~got_nan & ~r_nan
    return {
        "nan": got_nan & ~r_nan,
        "missing-nan": ~got_nan & r_nan,
        "inf": numbers & np.isinf(got64) & (got64 != r),
        "finite": numbers & np.isfinite(got64) & np.isinf(r),
        "zero-sign": numbers & (got64 == 0) & (r == 0) & (np.signbit(got64) != np.signbit(r)),
    }


def mismatch(got: np.ndarray, ref: Reference, *, signed_zeros: bool = False) -> np.ndarray:
    """Per element, the special-value disagreement ('' where none), one of MISMATCH_KINDS
    (``mismatch_masks``); zero-sign only with ``signed_zeros``."""
    kinds = np.full(np.shape(got), "", dtype=object)
    for kind, mask in mismatch_masks(got, ref).items():
        if kind != "zero-sign" or signed_zeros:
            kinds[mask] = kind
    return kinds


def ulp_error(got: np.ndarray, ref: Reference, *, signed_zeros: bool = False) -> np.ndarray:
    """|got − exact| / ulp(exact) per element; 0 or inf where the special-value rules decide."""
    fmt = format_of(np.asarray(got).dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # the special-value rules settle inf and NaN
        error = np.abs(_finite_difference(got, ref)) / ulp(ref.exact, fmt)
    return _apply_special_rules(error, got, ref, signed_zeros)


def abs_error(got: np.ndarray, ref: Reference, *, signed_zeros: bool = False) -> np.ndarray:
    """|got − exact| per element; 0 or inf where the special-value rules decide."""
    error = np.abs(_finite_difference(got, ref))
    return _apply_special_rules(error, got, ref, signed_zeros)


def _apply_special_rules(error: np.ndarray, got: np.ndarray, ref: Reference, signed_zeros: bool) -> np.ndarray:
    got64 = np.asarray(got).astype(np.float64)
    r = ref.rounded.astype(np.float64)
    agree_special = (np.isnan(got64) & np.isnan(r)) | (np.isinf(r) & (got64 == r))
    error = np.where(agree_special, 0.0, error)
    return np.where(mismatch(got, ref, signed_zeros=signed_zeros) != "", np.inf, error)
