"""The rule for label smoothing: the smoothed label is formed in the input's dtype.

With smoothing ε the label is y_ε = y(1 − ε) + ε/2, which the input's dtype seldom holds (0.9 has
no float64). Every implementation forms it in that dtype, in one rounding or in a few (Keras rounds
y·(1 − ε) and then adds ε/2; timm fills its targets with ε/2 and 1 − ε/2 taken to the dtype), so the
label it uses is some float ŷ of the dtype near y_ε, and its loss is at best the loss at ŷ rounded
once. The rule: an element of a smoothed loss (or of its gradient or Hessian) is judged against the
exact value, without smoothing, at each label ŷ of the dtype that forming y·(1 − ε) + ε/2 in the
dtype can give (1 − ε and ε/2 rounded to the dtype, the product and the sum each rounded once: every
float within the largest error of that, ``_near``), and keeps the smallest error. That covers the
rounding of forming the label, and nothing more: a loss smoothed with another ε, or not smoothed, is
judged as before and fails. A smoothed label lies strictly between 0 and 1, so the gradient is
judged as a soft-label quantity (the policy's bound for soft labels, in ULPs of the operands of p − y).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction

import numpy as np

from bcebench.reference import cache as oracle_cache
from bcebench.reference import metrics
from bcebench.reference.exact import Spec
from bcebench.reference.formats import Format, as_dtype, bits_of, format_of, from_bits, round_fraction
from bcebench.reference.oracle import Reference

AS_SOFT = {"hard": "soft", "special-hard": "special", "given": "soft", "mixed": "soft"}  # a case's labels, smoothed


def smooths(spec: Spec) -> bool:
    return bool(spec.smoothing)


def judged_labels(labels: str, spec: Spec) -> str:
    """The labels a check's elements are judged as: soft, where smoothing makes a hard label soft."""
    return AS_SOFT.get(labels, labels) if smooths(spec) else labels


def _spacing(value: Fraction, fmt: Format) -> Fraction:
    """The format's ULP at ``value``."""
    return Fraction(float(metrics.ulp(np.array([float(value)]), fmt)[0]))


def _near(label: float, smoothing: float, fmt: Format) -> list[float]:
    """The floats of the format that forming label·(1 − ε) + ε/2 in it can give, nearest first:
    those within |y|·|c₁ − (1 − ε)| + |c₂ − ε/2| + ulp(y·c₁)/2 + ulp(y_ε)/2 of the exact y_ε, where
    c₁ and c₂ are 1 − ε and ε/2 rounded to the format (the product and the sum each rounded once)."""
    if not math.isfinite(label):
        return [label * (1 - smoothing) + smoothing / 2]
    y, eps = Fraction(label), Fraction(smoothing)
    exact = y * (1 - eps) + eps / 2
    c1, c2 = (Fraction(round_fraction(c, fmt)) for c in (1 - eps, eps / 2))
    reach = (abs(y) * abs(c1 - (1 - eps)) + abs(c2 - eps / 2) + _spacing(y * c1, fmt) / 2
             + _spacing(exact, fmt) / 2)
    nearest = round_fraction(exact, fmt)
    found = [nearest]
    bits = int(bits_of(as_dtype([nearest], fmt))[0])
    for step in (-1, 1):  # outward from the nearest float while the next one is within reach
        pattern = bits + step
        while nearest != 0:
            value = float(from_bits([pattern], fmt)[0])
            if not math.isfinite(value) or abs(Fraction(value) - exact) > reach:
                break
            found.append(value)
            pattern += step
    return sorted(found, key=lambda v: abs(Fraction(v) - exact))


def formed_labels(y: np.ndarray, smoothing: float, fmt: Format) -> np.ndarray:
    """(k, n): for each of the n labels, the k labels an implementation may form in the format,
    nearest first (a label with fewer repeats its nearest)."""
    y64 = np.asarray(y, dtype=np.float64).reshape(-1)
    choices = {}
    for value in y64:
        key = repr(float(value))  # NaN compares unequal to itself; its repr does not
        if key not in choices:
            choices[key] = _near(float(value), smoothing, fmt)
    rows = [choices[repr(float(value))] for value in y64]
    width = max((len(r) for r in rows), default=1)
    table = np.array([r + [r[0]] * (width - len(r)) for r in rows], dtype=np.float64).reshape(y64.size, width)
    return as_dtype(table.T, fmt)


def reference(spec: Spec, x: np.ndarray, y: np.ndarray,
              errors_of: Callable[[Reference, np.ndarray], np.ndarray]
              ) -> tuple[Reference, np.ndarray, np.ndarray, Spec]:
    """(the reference each element is judged against, the label it was formed from, its error by
    ``errors_of(reference, labels)``, the spec without smoothing that computes it): for each element
    the formed label whose exact value gives the smallest error, the nearest on a tie."""
    x, y = (np.ascontiguousarray(a).reshape(-1) for a in np.broadcast_arrays(x, y))
    plain = replace(spec, smoothing=None)
    best = labels = None
    for candidate in formed_labels(y, spec.smoothing, format_of(x.dtype)):
        ref = oracle_cache.evaluate(plain, x, candidate)
        errors = errors_of(ref, candidate)
        if best is None:
            best, labels, smallest = ref, candidate, errors
            continue
        take = errors < smallest
        best = Reference(*(np.where(take, new, old) for new, old in
                           ((ref.rounded, best.rounded), (ref.exact, best.exact), (ref.exact_lo, best.exact_lo))),
                         best.mpmath_count + ref.mpmath_count)
        labels, smallest = np.where(take, candidate, labels), np.where(take, errors, smallest)
    return best, labels, smallest, plain
