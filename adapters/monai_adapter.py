"""MONAI's focal loss with the sigmoid, ``monai.losses.FocalLoss`` (monai/losses/focal_loss.py), as
MONAI declares it: input (B, C, *) with the channels on axis 1 (a column here), a target of the same
shape; γ = 2, no α and the mean by default. Its forward casts input and target to float32
(``input.float()``) before ``sigmoid_focal_loss``:

    ce = z − z t − logsigmoid(z),   loss = exp(γ logsigmoid(−z (2t − 1))) · ce   [· (tα + (1 − t)(1 − α))]

For t = 0 and t = 1 the factor is (1 − p_t)^γ and this is the focal loss; for soft labels it is
not the definition's factor (labels "hard"). Checked as it is called by default (the mean) and
elementwise (reduction="none").
"""

from __future__ import annotations

from bcebench.adapters.base import Implementation, builtin, focal_parameters
from bcebench.adapters.torch_library import TorchLibraryAdapter, import_library

monai_losses = import_library("monai.losses")

GAMMA = 2.0


class MonaiAdapter(TorchLibraryAdapter):
    name = "monai"
    library = "monai"

    def implementations(self) -> list[Implementation]:
        return [self.focal(GAMMA, None), self.focal(GAMMA, None, "mean")]

    def focal(self, gamma: float, alpha: float | None, reduction: str = "none") -> Implementation:
        options = [f"gamma={gamma:g}"] + ([] if alpha is None else [f"alpha={alpha}"])
        name = f"monai.losses.FocalLoss({', '.join(options)}{', reduction=none' if reduction == 'none' else ''})"
        oracle = focal_parameters(gamma, alpha)
        loss = monai_losses.FocalLoss(gamma=gamma, alpha=alpha, reduction=reduction)
        return builtin(name + ("[mean]" if reduction == "mean" else ""), "monai", "logits", loss,
                       parameters=oracle, reduction=reduction, labels="hard", rank=2,
                       with_parameters=None if reduction != "none" else self.focal)
