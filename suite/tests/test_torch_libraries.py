"""Libraries built on PyTorch (kornia, MONAI, torchvision, timm, smp): each a framework of its own,
listed by `bcebench frameworks` as available or with the reason it is not, and that reason exact
where an installed library does not import (a CUDA build of torchvision beside PyTorch's CPU build,
which timm and smp import)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bcebench.adapters import base

LIBRARIES = ("kornia", "monai", "torchvision", "timm", "smp")


def test_frameworks_lists_every_library_available_or_with_its_reason():
    done = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "frameworks", *(
        f"--framework={name}" for name in LIBRARIES)], capture_output=True, text=True, check=True)
    heads = {line.split()[0]: line for line in done.stdout.splitlines() if line and not line.startswith(" ")}
    assert sorted(heads) == sorted(LIBRARIES)
    for name, line in heads.items():
        adapter, reason = base.load(name)
        assert (f"unavailable: {reason}" in line) if adapter is None else (adapter.version() in line)


def _fake_torchvision_cuda_build(folder: Path) -> None:
    """A torchvision that fails to import as the registry's CUDA build does beside CPU PyTorch, a
    timm that imports it (as timm/layers does), and a MONAI broken otherwise."""
    package = folder / "torchvision"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    (package / "_C.so").write_bytes(b"\x7fELF...libc10.so\0libc10_cuda.so\0...")
    (folder / "torchvision-0.28.0.dist-info").mkdir()
    (folder / "torchvision-0.28.0.dist-info" / "METADATA").write_text("Name: torchvision\nVersion: 0.28.0\n")
    (folder / "timm").mkdir()
    (folder / "timm" / "__init__.py").write_text("import torchvision\n")
    (folder / "timm" / "loss.py").write_text("")
    (folder / "monai").mkdir()  # broken for a reason of its own: torchvision's is not its
    (folder / "monai" / "__init__.py").write_text("raise RuntimeError('a broken build')\n")


def test_a_torchvision_cuda_build_beside_cpu_torch_is_named_as_the_reason(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.version.cuda is not None:
        pytest.skip("PyTorch here is a CUDA build: a CUDA torchvision loads beside it")
    _fake_torchvision_cuda_build(tmp_path)
    code = ("import json; from bcebench.adapters import base; "
            "print(json.dumps({n: base.load(n)[1] for n in ('torchvision', 'timm', 'monai')}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    reasons = json.loads(done.stdout)
    expected = (f"import failed: RuntimeError: operator torchvision::nms does not exist (torchvision 0.28.0 is a "
                f"CUDA build: its _C.so links libc10_cuda.so, which PyTorch {torch.__version__}, a CPU build, does not "
                f"have)")
    own = "import failed: RuntimeError: a broken build"
    assert reasons == {"torchvision": expected, "timm": expected, "monai": own}


def test_a_library_that_is_not_installed_is_unavailable_not_a_crash():
    for name in LIBRARIES:
        adapter, reason = base.load(name)
        assert adapter is not None or reason, name
