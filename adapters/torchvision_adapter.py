"""torchvision's focal loss, ``torchvision.ops.sigmoid_focal_loss`` (torchvision/ops/focal_loss.py),
as torchvision declares it: inputs and targets of any shape, α = 0.25, γ = 2 and no reduction by
default:

    ce = BCE with logits,  p_t = p·t + (1 − p)(1 − t),  loss = α_t·ce·(1 − p_t)^γ,  α_t = αt + (1 − α)(1 − t)

For t = 0 and 1 it is the focal loss; for soft labels (1 − p_t)^γ is not the definition's factor
(labels "hard"). torch's own rows hold the same formula written in torch operations (``torch focal,
torchvision formula``), so the two can be told apart where torchvision loads. torchvision imports
its compiled operators when it is imported: a CUDA build beside PyTorch's CPU build does not load
(``torch_library``), and this framework is unavailable then.
"""

from __future__ import annotations

from bcebench.adapters.base import Implementation, builtin, focal_parameters
from bcebench.adapters.torch_library import TorchLibraryAdapter, import_library

ops = import_library("torchvision.ops")

ALPHA = 0.25
GAMMA = 2.0


class TorchvisionAdapter(TorchLibraryAdapter):
    name = "torchvision"
    library = "torchvision"

    def implementations(self) -> list[Implementation]:
        return [self.focal(GAMMA, ALPHA)]

    def focal(self, gamma: float, alpha: float | None) -> Implementation:
        oracle = focal_parameters(gamma, alpha)

        def call(z, y):  # alpha < 0 is torchvision's "no weighting"
            return ops.sigmoid_focal_loss(z, y, alpha=-1 if alpha is None else alpha, gamma=gamma)

        return builtin(f"torchvision.ops.sigmoid_focal_loss(alpha={alpha}, gamma={gamma:g})", "torchvision", "logits",
                       call, parameters=oracle, labels="hard", with_parameters=self.focal)
