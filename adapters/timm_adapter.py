"""timm's ``timm.loss.BinaryCrossEntropy`` (timm/loss/binary_cross_entropy.py), as timm declares it:
logits (N, C) and targets; targets of another shape are class indices, one-hot encoded with
smoothing ε/C off and 1 − ε + ε/C on; targets of the logits' shape (dense, multi-label) are taken
as they are, unless ``smooth_dense`` moves each towards 0.5: t(1 − ε) + ε/2, which is the oracle's
label smoothing with the same ε. Then ``F.binary_cross_entropy_with_logits``; ε = 0.1 and the mean
by default. Checked with dense targets (bcebench's labels are per element): as called by default
(ε = 0.1 is then not applied: plain BCE, mean) and with ``smooth_dense=True`` elementwise.

timm imports torchvision when it is imported (timm/layers): unavailable where torchvision does not
load (``torch_library``).
"""

from __future__ import annotations

from bcebench.adapters.base import Implementation, builtin
from bcebench.adapters.torch_library import TorchLibraryAdapter, import_library

timm_loss = import_library("timm.loss")

SMOOTHING = 0.1


class TimmAdapter(TorchLibraryAdapter):
    name = "timm"
    library = "timm"

    def implementations(self) -> list[Implementation]:
        return [
            builtin("timm.loss.BinaryCrossEntropy()[mean]", "timm", "logits", timm_loss.BinaryCrossEntropy(),
                    reduction="mean"),
            builtin(f"timm.loss.BinaryCrossEntropy(smoothing={SMOOTHING}, smooth_dense=True, reduction=none)", "timm",
                    "logits", timm_loss.BinaryCrossEntropy(smoothing=SMOOTHING, smooth_dense=True, reduction="none"),
                    parameters={"smoothing": SMOOTHING}),
        ]
