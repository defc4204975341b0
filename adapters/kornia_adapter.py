"""kornia's binary focal loss, ``kornia.losses.binary_focal_loss_with_logits``, as kornia declares it
(kornia/losses/focal.py): logits of shape (B, C, *), at least two axes (a column here), a target of
the same shape with values in [0, 1]; α = 0.25 and γ = 2 by default; reduction "none" by default.

    loss = −α t (1 − p)^γ log p − (1 − α)(1 − t) p^γ log(1 − p),   p = σ(z)

written with log p = logsigmoid(z), log(1 − p) = logsigmoid(−z) and (1 − p)^γ = exp(γ logsigmoid(−z)):
for soft labels too it is the focal loss as the oracle defines it (labels "all"). Checked as it is
called by default (elementwise) and with its mean.
"""

from __future__ import annotations

from bcebench.adapters.base import Implementation, builtin, focal_parameters
from bcebench.adapters.torch_library import TorchLibraryAdapter, import_library

kornia_losses = import_library("kornia.losses")

ALPHA = 0.25
GAMMA = 2.0


class KorniaAdapter(TorchLibraryAdapter):
    name = "kornia"
    library = "kornia"

    def implementations(self) -> list[Implementation]:
        return [self.focal(GAMMA, ALPHA), self.focal(GAMMA, ALPHA, "mean")]

    def focal(self, gamma: float, alpha: float | None, reduction: str = "none") -> Implementation:
        suffix = "" if reduction == "none" else f"[{reduction}]"
        oracle = focal_parameters(gamma, alpha)

        def call(z, y):
            return kornia_losses.binary_focal_loss_with_logits(z, y, alpha=alpha, gamma=gamma, reduction=reduction)

        return builtin(f"kornia.losses.binary_focal_loss_with_logits(alpha={alpha}, gamma={gamma:g}){suffix}",
                       "kornia", "logits", call, parameters=oracle, reduction=reduction, rank=2,
                       with_parameters=None if reduction != "none" else self.focal)
