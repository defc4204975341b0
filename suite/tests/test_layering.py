"""The layers import only downwards: ``reference`` (its tests included) imports nothing of
``suite``, ``adapters`` or ``reports``; ``reports`` reads results files and imports nothing of the
gate that writes them (``suite.gate``); neither imports a framework."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("torch", "jax", "optax", "tensorflow", "keras", "sklearn", "array_api_strict")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_reference_imports_no_other_layer_and_reports_no_gate():
    wrong = []
    for path in sorted((ROOT / "reference").rglob("*.py")):
        wrong += [(path, n) for n in imported(path) if n.split(".")[0] in ("suite", "adapters", "reports", *FRAMEWORKS)]
    for path in sorted((ROOT / "reports").glob("*.py")):  # its tests make results with the gate
        wrong += [(path,
                   n) for n in imported(path) if n.startswith("bcebench.suite.gate") or n.split(".")[0] in FRAMEWORKS]
    assert wrong == [], wrong
