"""scikit-learn: ``sklearn.metrics.log_loss``, a metric that reduces over the samples.

It is tested through what it offers: the mean (normalize=True), the sum (normalize=False), the
weighted mean with per-sample weights (``base.sample_weights``), and one sample per call with
normalize=False, which is its elementwise loss, so that the accuracy, special-value and domain
checks see each element. Labels must be class labels (hard: soft ones are rejected); labels=[0, 1]
is always passed, so that a case with one class present is accepted. log_loss computes in the
dtype of the probabilities (float16, float32 or float64; bfloat16 is rejected) and returns a
Python float, which holds that dtype's value exactly and is returned in it. It clips p to
[eps, 1 − eps] with eps the dtype's machine epsilon: the checks report what that does. It has no
gradient, and is not timed (a metric, not a training loss).
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.metrics import log_loss

from bcebench.adapters.base import Adapter, Implementation, Unsupported, builtin, sample_weights

LABELS = [0, 1]


def _log_loss(p: np.ndarray, y: np.ndarray, **options) -> np.ndarray:
    if p.ndim != 1 or y.shape != p.shape:
        raise Unsupported(f"log_loss takes one sample axis, matching labels: got {p.shape} and {y.shape}")
    if p.size == 0:
        raise Unsupported("log_loss rejects an empty input")
    return np.array(log_loss(y, p, labels=LABELS, **options), dtype=p.dtype)


def per_sample(p, y):
    return np.array([_log_loss(p[i : i + 1], y[i : i + 1], normalize=False) for i in range(p.size)],
                    dtype=p.dtype).reshape(p.shape)


class SklearnAdapter(Adapter):
    name = "sklearn"

    def version(self) -> str:
        return sklearn.__version__

    def missing_dtypes(self, device: str) -> dict[str, str]:
        return {"bfloat16": "scikit-learn's log_loss rejects bfloat16 arrays"}

    def implementations(self) -> list[Implementation]:
        def implementation(id_, call, reduction="none"):
            return builtin(id_, "sklearn", "probs", call, reduction=reduction, labels="hard",
                           derivatives=False)

        return [
            implementation("sklearn.metrics.log_loss(normalize=False), one sample per call", per_sample),
            implementation("sklearn.metrics.log_loss[mean]", _log_loss, "mean"),
            implementation("sklearn.metrics.log_loss(normalize=False)[sum]",
                           lambda p, y: _log_loss(p, y, normalize=False), "sum"),
            implementation("sklearn.metrics.log_loss(sample_weight)[weighted-mean]",
                           lambda p, y: _log_loss(p, y, sample_weight=sample_weights(p.size)), "weighted-mean"),
        ]

    def from_numpy(self, array: np.ndarray, device: str):
        return array.copy()

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value)

    def evaluate(self, impl: Implementation, quantity: str, x, y, device: str):
        if quantity != "loss":
            raise Unsupported("log_loss has no gradient")
        if y.ndim != x.ndim:  # broadcast labels: log_loss has one sample axis
            raise Unsupported("log_loss takes labels of the same shape as the probabilities")
        return impl.call(x.reshape(-1), y.reshape(-1)).reshape(x.shape if impl.reduction == "none" else ())

    def elementary(self, x, device: str):
        raise Unsupported("scikit-learn computes in NumPy: the walls are NumPy's")

    def timed(self, impl: Implementation, mode: str, x, y, device: str):
        raise Unsupported("log_loss is a metric over samples, one call per sample for elements: not timed")
