"""What one shard of an exhaustive sweep found, in a form that merges exactly.

Per input the implementation's result ``got`` is compared with the oracle's correctly rounded
``r`` and its exact value (hi + lo):

- correctly rounded: got == r (+0 and −0 equal), or both NaN;
- otherwise the error in ULPs, e = |got − exact| / ulp(exact) (``reference.metrics.ulp``), counted
  in the histogram bin k with 2^(k−1) <= e < 2^k (k = 0 holds 1/2 <= e < 1: a result that is not
  the correct rounding is at least half an ULP away);
- special-value disagreements are counted by kind instead (nan: NaN where r is not; missing-nan:
  a number where r is NaN; inf: an infinity r is not; finite: a finite number where r is
  infinite; raises: the implementation rejected the input); a zero of the wrong sign is counted
  under zero-sign and otherwise taken as correct.

The largest error is over the results that are numbers where r is a number (special-value
disagreements are counted, never averaged into it). The worst such inputs (largest error first,
then the lowest index) are kept, and when a shard ends their errors are recomputed from the exact
value at 160 bits (``finalize``), so the largest error reported is exact to double precision
whichever path of the oracle decided the rounding; the first special-value disagreements (lowest
index first) are kept as examples. Every field is a count, a maximum or a sorted, truncated list,
so merging is associative and commutative: the order in which shards finish never changes the
answer. The one exception is ``error_sum``, the sum of the error of every result that is a number
where r is one (correctly rounded ones included, each below 1/2), for the mean error: shards add
theirs in the order planned, and two sweeps of the same inputs cut into other shards, or decided
by the other path of the oracle (exact values that agree far below an ULP, not bit for bit),
agree in it to 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np

from bcebench.reference import metrics
from bcebench.reference.exact import Spec
from bcebench.reference.formats import Format, bits_of
from bcebench.reference.oracle import Reference, exact_value
from bcebench.suite.sweep.scan import scan

WORST_KEPT = 8
# where a shard's time goes: making the inputs and the oracle (shared by the implementations swept
# together), the implementation's own call, and judging its results (these statistics)
PHASES = ("inputs", "oracle", "implementation", "judging")
KINDS = ("nan", "missing-nan", "inf", "finite", "raises", "zero-sign")


@dataclass
class Stats:
    total: int = 0
    correct: int = 0
    histogram: dict[int, int] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)
    max_error: float = 0.0
    worst: list[dict] = field(default_factory=list)
    specials: list[dict] = field(default_factory=list)
    mpmath_count: int = 0
    seconds: float = 0.0
    signatures: dict[str, int] = field(default_factory=dict)
    error_sum: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds in each step of a shard (PHASES)

    @property
    def numbers(self) -> int:
        """How many results were numbers where the correctly rounded one is (the mean's count)."""
        return self.total - sum(n for kind, n in self.mismatches.items() if kind != "zero-sign")

    def merge(self, other: Stats) -> Stats:
        return Stats(self.total + other.total, self.correct + other.correct,
                     _add(self.histogram, other.histogram), _add(self.mismatches, other.mismatches),
                     max(self.max_error, other.max_error),
                     sorted(self.worst + other.worst, key=_worst_order)[:WORST_KEPT],
                     sorted(self.specials + other.specials, key=_special_order)[:WORST_KEPT],
                     self.mpmath_count + other.mpmath_count, self.seconds + other.seconds,
                     _add(self.signatures, other.signatures), self.error_sum + other.error_sum,
                     _add(self.phases, other.phases))

    def as_json(self) -> dict:
        return {"total": self.total, "correct": self.correct,
                "histogram": {str(k): n for k, n in self.histogram.items()}, "mismatches": self.mismatches,
                "max_error": self.max_error, "worst": self.worst, "specials": self.specials,
                "mpmath_count": self.mpmath_count, "seconds": self.seconds, "signatures": self.signatures,
                "error_sum": self.error_sum, "phases": self.phases}

    @classmethod
    def from_json(cls, data: dict) -> Stats:
        return cls(data["total"], data["correct"], {int(k): n for k, n in data["histogram"].items()},
                   dict(data["mismatches"]), float(data["max_error"]), list(data["worst"]),
                   list(data["specials"]), data["mpmath_count"], float(data["seconds"]),
                   dict(data.get("signatures", {})),  # sweeps written before signatures were counted lack them
                   float(data.get("error_sum", "nan")),  # and before the mean error was: unknown
                   {k: float(v) for k, v in data.get("phases", {}).items()})  # and before the time was split

    def same_findings(self, other: Stats) -> bool:
        """Equal in everything but the time taken and the oracle path that decided."""
        mine, theirs = self.as_json(), other.as_json()
        for data in (mine, theirs):
            data.pop("seconds"), data.pop("mpmath_count"), data.pop("phases")
        a, b = mine.pop("error_sum"), theirs.pop("error_sum")
        return mine == theirs and abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _add(a: dict, b: dict) -> dict:
    total = dict(a)
    for key, count in b.items():
        total[key] = total.get(key, 0) + count
    return dict(sorted(total.items()))


def _worst_order(entry: dict) -> tuple:
    return (-entry["error"], entry["pattern"], entry["label"])


def _special_order(entry: dict) -> tuple:
    return (entry["pattern"], entry["label"])


def exact_error(got: float, spec: Spec, x: float, y: float, fmt: Format) -> float:
    """|got − exact| / ulp(exact) from the exact value at 160 bits (the binade from its exponent)."""
    exact = exact_value(spec, x, y)
    if exact == 0:
        binade = fmt.emin
    else:
        binade = min(max(int(mpmath.floor(mpmath.log(abs(exact), 2))), fmt.emin), fmt.emax)
        if abs(exact) < mpmath.ldexp(1, binade):  # log2 rounded up across a power of two
            binade = max(binade - 1, fmt.emin)
    with mpmath.workprec(200):
        return float(abs(mpmath.mpf(got) - exact) / mpmath.ldexp(1, binade - fmt.precision + 1))


def _entry(i: int, first: int, x, labels, got, rounded) -> dict:
    return {"pattern": first + int(i), "x": repr(float(x[i])), "x_hex": hex(int(bits_of(x[i : i + 1])[0])),
            "label": float(labels[i]), "got": repr(float(got[i])), "rounded": repr(float(rounded[i]))}


def measure(first: int, x: np.ndarray, labels: np.ndarray, got: np.ndarray, ref: Reference, fmt: Format,
            rejected: np.ndarray | None = None, shared: dict | None = None) -> Stats:
    """The statistics of one block whose inputs have the indices (bit patterns) ``first``, ``first`` + 1,
    …; ``rejected`` marks inputs the implementation raised on; ``shared`` is ``scan``'s dict kept with
    ``ref`` (what every result judged on the same reference can share). ``scan`` counts the correctly
    rounded results, sums their own errors and finds the others; the special values, signatures,
    histogram, worst inputs and errors of the mean are worked out on those others alone, in the block
    (gathered over a whole shard instead, a sweep with many of them judged them out of cache: 1.6
    times as long)."""
    rejected = np.zeros(got.shape, dtype=bool) if rejected is None else rejected
    correct, own_sum, zero_sign, suspects = scan(got, ref.rounded, ref.exact, ref.exact_lo, rejected, fmt, shared)
    zero_signs = {"zero-sign": zero_sign} if zero_sign else {}
    if not suspects.size:  # every result correctly rounded, as in most blocks
        return Stats(total=int(got.size), correct=correct, mismatches=zero_signs, mpmath_count=ref.mpmath_count,
                     error_sum=own_sum)
    subset = Reference(ref.rounded[suspects], ref.exact[suspects], ref.exact_lo[suspects], 0)
    suspect_got, suspect_rejected = got[suspects], rejected[suspects]
    masks = metrics.mismatch_masks(suspect_got, subset)
    # a zero of the wrong sign compares equal: counted by the scan
    kinds = {k: mask & ~suspect_rejected if suspect_rejected.any() else mask for k, mask in masks.items()
             if k != "zero-sign"} | {"raises": suspect_rejected}
    special_among = np.logical_or.reduce(list(kinds.values()))
    wrong = suspects[~special_among]
    with np.errstate(over="ignore", invalid="ignore"):
        error = np.abs((suspect_got.astype(np.float64) - subset.exact) - subset.exact_lo)
        error /= metrics.ulp(subset.exact, fmt)
    error = error[~special_among]  # finite: got and r are finite numbers here
    _, exponents = np.frexp(error)  # error in [2^(e−1), 2^e)
    low = int(exponents.min()) if exponents.size else 0
    counts = np.bincount(exponents - low) if exponents.size else np.zeros(0, dtype=np.int64)
    stats = Stats(
        total=int(got.size), correct=correct,
        histogram={low + k: int(n) for k, n in enumerate(counts) if n},
        mismatches={k: int(np.count_nonzero(mask)) for k, mask in kinds.items() if mask.any()} | zero_signs,
        mpmath_count=ref.mpmath_count,
        signatures=_signature_counts(suspect_got, subset, suspect_rejected, masks),
        error_sum=own_sum + float(np.sum(error)),  # special values are not numbers
    )
    if wrong.size:
        keep = np.arange(wrong.size)
        if wrong.size > WORST_KEPT:  # the largest few (all that tie with the last), then sort those
            cut = np.partition(error, wrong.size - WORST_KEPT)[wrong.size - WORST_KEPT]
            keep = np.flatnonzero(error >= cut)
        order = keep[np.lexsort((wrong[keep], -error[keep]))][:WORST_KEPT]
        stats.worst = [{**_entry(wrong[k], first, x, labels, got, ref.rounded), "error": float(error[k]),
                        "exact": False} for k in order]
        stats.max_error = stats.worst[0]["error"]
    stats.specials = [{**_entry(suspects[k], first, x, labels, got, ref.rounded),
                       "kind": next(kind for kind, mask in kinds.items() if mask[k])}
                      for k in np.flatnonzero(special_among)[:WORST_KEPT]]
    return stats


def _signature_counts(got: np.ndarray, subset: Reference, rejected: np.ndarray, masks: dict) -> dict[str, int]:
    """How many inputs of each failure signature (reference/metrics.py) among those not correctly
    rounded (their results ``got``, oracle values ``subset`` and ``mismatch_masks``; ``rejected`` among
    them: counted as ``raised``); clamps are not told apart from inaccurate results, so that the counts merge exactly
    across shards — and so that each element's signature is its own: only these elements are
    classified, as codes, and counted (classifying a whole block as strings and sorting them took
    half a float32 sweep's time)."""
    if not got.size:
        return {}
    codes = metrics.signature_codes(got, subset, ~rejected, clamps=False, masks=masks)
    codes[rejected] = RAISED
    counts = np.bincount(codes, minlength=len(metrics.SIGNATURE_NAMES))
    return dict(sorted((str(metrics.SIGNATURE_NAMES[i]), int(n)) for i, n in enumerate(counts) if i and n))


RAISED = list(metrics.SIGNATURE_NAMES).index("raised")


def finalize(stats: Stats, spec: Spec, fmt: Format) -> Stats:
    """The kept worst inputs with their errors recomputed from the exact value (a shard does this
    once, at its end), re-sorted; the largest error is the first of them."""
    worst = [{**w, "error": w["error"] if w["exact"] else exact_error(float(w["got"]), spec, float(w["x"]),
                                                                       w["label"], fmt), "exact": True}
             for w in stats.worst]
    worst.sort(key=_worst_order)
    return Stats(stats.total, stats.correct, stats.histogram, stats.mismatches, worst[0]["error"] if worst else 0.0,
                 worst, stats.specials, stats.mpmath_count, stats.seconds, stats.signatures, stats.error_sum,
                 stats.phases)
