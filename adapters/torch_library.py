"""A library built on PyTorch (kornia, MONAI, torchvision, timm, segmentation_models_pytorch) as a
framework of its own: its losses declared as built-ins, judged through the PyTorch adapter (the
same devices, dtypes, arrays and autograd), each library named in the ids, versions and known
deviations, so that its rows stand beside torch's own in the report.

A library that does not import is unavailable with the reason its import gave. The one reason
worth spelling out: a torchvision wheel whose compiled operators link PyTorch's CUDA libraries
does not load beside PyTorch's CPU build (its import fails with "operator torchvision::nms does
not exist"); timm and segmentation_models_pytorch import torchvision when they are imported.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from pathlib import Path

import torch

from bcebench.adapters.base import Implementation, Unavailable
from bcebench.adapters.torch_adapter import TorchAdapter

CUDA_LIBRARY = b"libc10_cuda.so"  # what a CUDA build of torchvision's _C.so links


def import_library(name: str):
    """The module ``name``; Unavailable with the reason where it is installed but does not import
    (ImportError for one that is not installed, as for any framework)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise
    except Exception as error:  # a broken installation: say what broke, never crash the caller
        said = str(error).splitlines()[0] if str(error) else ""
        raise Unavailable(f"import failed: {type(error).__name__}: {said}"
                          f"{_torchvision_reason() if 'torchvision' in said else ''}") from None


def _torchvision_reason() -> str:
    """Where torchvision is a CUDA build beside PyTorch's CPU build, that fact (read from its
    compiled operators' file), else nothing."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None or torch.version.cuda is not None:
        return ""
    compiled = next(Path(spec.origin).parent.glob("_C*.so"), None)
    if compiled is None or CUDA_LIBRARY not in compiled.read_bytes():
        return ""
    return (f" (torchvision {importlib.metadata.version('torchvision')} is a CUDA build: its _C.so links "
            f"{CUDA_LIBRARY.decode()}, which PyTorch {torch.__version__}, a CPU build, does not have)")


class TorchLibraryAdapter(TorchAdapter):
    """Subclasses set ``name`` and ``library`` (the distribution whose version is reported) and
    declare the library's losses in ``implementations``."""

    library = ""

    def version(self) -> str:
        return f"{importlib.metadata.version(self.library)} (torch {torch.__version__})"

    def implementations(self) -> list[Implementation]:
        raise NotImplementedError

    def rewrites(self) -> list[Implementation]:
        return []  # the stable rewrites in torch's operations are torch's
