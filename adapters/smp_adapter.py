"""segmentation_models_pytorch (smp): ``losses.SoftBCEWithLogitsLoss`` (smp/losses/soft_bce.py) and
``losses._functional.focal_loss_with_logits``, as smp declares them.

- SoftBCEWithLogitsLoss(smooth_factor=s): soft targets (1 − t)·s + t·(1 − s) = t(1 − 2s) + s, the
  oracle's label smoothing with ε = 2s (s = 0.1 takes [1, 0] to [0.9, 0.1]); targets equal to
  ignore_index (−100) count 0; the mean by default. Checked elementwise (reduction="none") with
  s = 0.05 (ε = 0.1) and as called by default (no smoothing, the mean).
- focal_loss_with_logits: ce = BCE with logits, p_t = exp(−ce), loss = (1 − p_t)^γ·ce·α_t; γ = 2,
  α = 0.25 and the mean by default; for soft labels exp(−ce) is not p_t (labels "hard"). Checked
  elementwise.

smp imports timm, and timm torchvision, when it is imported: unavailable where torchvision does
not load (``torch_library``).
"""

from __future__ import annotations

from bcebench.adapters.base import Implementation, builtin, focal_parameters
from bcebench.adapters.torch_library import TorchLibraryAdapter, import_library

smp_losses = import_library("segmentation_models_pytorch.losses")
functional = import_library("segmentation_models_pytorch.losses._functional")

SMOOTH_FACTOR = 0.05  # ε = 2s = 0.1
ALPHA = 0.25
GAMMA = 2.0


class SmpAdapter(TorchLibraryAdapter):
    name = "smp"
    library = "segmentation_models_pytorch"

    def implementations(self) -> list[Implementation]:
        return [
            builtin("smp.losses.SoftBCEWithLogitsLoss()[mean]", "smp", "logits", smp_losses.SoftBCEWithLogitsLoss(),
                    reduction="mean"),
            builtin(f"smp.losses.SoftBCEWithLogitsLoss(smooth_factor={SMOOTH_FACTOR}, reduction=none)", "smp", "logits",
                    smp_losses.SoftBCEWithLogitsLoss(smooth_factor=SMOOTH_FACTOR, reduction="none"),
                    parameters={"smoothing": 2 * SMOOTH_FACTOR}),
            self.focal(GAMMA, ALPHA),
        ]

    def focal(self, gamma: float, alpha: float | None) -> Implementation:
        oracle = focal_parameters(gamma, alpha)

        def call(z, y):
            return functional.focal_loss_with_logits(z, y, gamma=gamma, alpha=alpha, reduction="none")

        return builtin(f"smp focal_loss_with_logits(alpha={alpha}, gamma={gamma:g})", "smp", "logits", call,
                       parameters=oracle, labels="hard", with_parameters=self.focal)
