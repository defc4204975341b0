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

Failure signatures: what went wrong at an element that failed its bound, from the value returned
and the exact value, one name from a small fixed set that the checks, the failure lines, the
reports and the known deviations share (``SIGNATURES``, most severe first):

- raised: an exception where the policy does not allow one (set by the check that called);
- nan: NaN where the exact result is a number or an infinity;
- wrong-infinity: the exact value is infinite and the result is the other infinity or finite;
- overflow: ±inf where the exact result is finite;
- missing-nan: a number where the exact result is NaN (the input is outside the domain);
- clamped: the same finite nonzero value returned at three or more failing elements whose exact
  values differ (a ceiling or floor, such as 100 or −1e12);
- lost-tail: 0 where the correctly rounded result is a normal number;
- flushed-subnormal: 0 where the correctly rounded result is a nonzero subnormal;
- inaccurate: a finite result, the error above the bound (its size is the error itself);
- zero-sign: a zero of the wrong sign (judged only where signed zeros are asked for).
"""

from __future__ import annotations

import numpy as np

from bcebench.reference.formats import Format, format_of
from bcebench.reference.oracle import Reference

MISMATCH_KINDS = ("nan", "missing-nan", "inf", "finite", "zero-sign")
SIGNATURES = ("raised", "nan", "wrong-infinity", "overflow", "missing-nan", "clamped", "lost-tail",
              "flushed-subnormal", "inaccurate", "zero-sign")
CLAMP_REPEATS = 3
# failures of a whole check rather than of elements: a claim that breaks, an input written into, a
# result of the wrong shape (or the wrong value for an empty input), a result in another dtype than
# the input's (whose values are still judged, rounded to the input's dtype)
CHECK_SIGNATURES = ("claim-breaks", "writes-input", "wrong-result", "wrong-dtype")


def ulp(exact: np.ndarray, fmt: Format) -> np.ndarray:
    """The spacing of ``fmt`` at each exact value (float64 array): 2^(binade − precision + 1), the binade
    floor(log2 |exact|) clipped to the format's exponent range (a zero's is emin; an infinity's or a NaN's
    −1, frexp's answer). 2^binade is the float64 exponent field alone (0 for a float64 subnormal, which
    lies below every format's emin; ∞ for an infinity or a NaN), clipped and scaled: five passes over
    the values, exact, the same numbers as frexp and ldexp."""
    exact = np.asarray(exact, dtype=np.float64)
    power = (exact.view(np.uint64) & EXPONENT_FIELD).view(np.float64)
    spacing = np.clip(power, 2.0**fmt.emin, 2.0**fmt.emax)
    spacing *= 2.0 ** (1 - fmt.precision)
    return np.where(power == np.inf, 2.0**-fmt.precision, spacing)


EXPONENT_FIELD = np.uint64(0x7FF0_0000_0000_0000)


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


def signatures(got: np.ndarray, ref: Reference, failing: np.ndarray, clamps: bool = True) -> np.ndarray:
    """The failure signature of each element, flat (``SIGNATURES``; '' where ``failing`` is False). A
    clamp is a pattern across elements; without ``clamps`` its elements count as inaccurate (a
    sweep's shards must merge to the same counts however the range is cut). Only the failing
    elements are classified (a clamp is sought among them alone), so a few failures among 2^18
    elements cost what they are."""
    failing = np.asarray(failing, dtype=bool).reshape(-1)
    kinds = np.full(failing.size, "", dtype=object)
    index = np.flatnonzero(failing)
    if index.size:
        subset = Reference(*(np.asarray(a).reshape(-1)[index] for a in (ref.rounded, ref.exact, ref.exact_lo)), 0)
        codes = signature_codes(np.asarray(got).reshape(-1)[index], subset, np.ones(index.size, dtype=bool), clamps)
        kinds[index] = SIGNATURE_NAMES[codes]
    return kinds


SIGNATURE_NAMES = np.array(("", *SIGNATURES), dtype=object)  # a signature code's name: 0 is none


def signature_codes(got: np.ndarray, ref: Reference, failing: np.ndarray, clamps: bool = True,
                    masks: dict | None = None) -> np.ndarray:
    """``signatures`` as small integers, the index in ``SIGNATURE_NAMES`` (0 where ``failing`` is False):
    what a sweep counts, a block at a time, without arrays of strings; ``masks``: ``mismatch_masks(got,
    ref)`` where the caller has them already."""
    code = {name: i for i, name in enumerate(SIGNATURE_NAMES)}
    got64 = np.asarray(got).astype(np.float64).reshape(-1)
    r = ref.rounded.astype(np.float64).reshape(-1)
    failing = np.asarray(failing, dtype=bool).reshape(-1)
    fmt = format_of(np.asarray(got).dtype)
    smallest_normal = 2.0**fmt.emin
    kinds = np.full(got64.shape, code["inaccurate"], dtype=np.int8)
    masks = {kind: mask.reshape(-1) for kind, mask in (masks or mismatch_masks(got, ref)).items()}
    with np.errstate(invalid="ignore"):
        zero = (got64 == 0) & (r != 0) & np.isfinite(r)
        kinds[zero & (np.abs(r) >= smallest_normal)] = code["lost-tail"]
        kinds[zero & (np.abs(r) < smallest_normal)] = code["flushed-subnormal"]
    kinds[masks["zero-sign"]] = code["zero-sign"]
    kinds[masks["finite"] | (masks["inf"] & np.isinf(r))] = code["wrong-infinity"]
    kinds[masks["inf"] & ~np.isinf(r)] = code["overflow"]
    kinds[masks["missing-nan"]] = code["missing-nan"]
    kinds[masks["nan"]] = code["nan"]
    candidates = failing & (kinds == code["inaccurate"]) & np.isfinite(got64) & (got64 != 0)
    if clamps and candidates.any():
        values, counts = np.unique(got64[candidates], return_counts=True)
        for value in values[counts >= CLAMP_REPEATS]:
            same = candidates & (got64 == value)
            if np.unique(ref.exact.reshape(-1)[same]).size > 1:
                kinds[same] = code["clamped"]
    kinds[~failing] = 0
    return kinds
