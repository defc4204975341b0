"""A declarations file: the user's implementations a project gates, several at once, each declared as
``--impl`` and its options declare one (adapters.declaration), committed beside the code:

    [[implementation]]
    impl = "losses/focal.py:focal_loss"   # path/to/file.py:fn or package.module:fn, from the current folder
    framework = "torch"
    form = "logits"
    name = "focal"                        # the checks' ids: user:focal
    gamma = 2.0
    alpha = 0.25
    reduction = "mean"
    labels = "hard"
    like = "torch focal, torchvision formula(alpha=0.25, gamma=2)"
    input_rank = 2
    arguments = ["input", "target"]

Only impl, framework and form are required. Validated like a policy: an unknown key, a value of the
wrong type or one the declaration refuses, and two entries with one id are a PolicyError naming
file:line.
"""

from __future__ import annotations

from pathlib import Path

from bcebench.adapters.declaration import PARAMETERS, Declaration
from bcebench.suite.policy.data_files import Located, check_keys, read_toml

TEXT_KEYS = ("impl", "framework", "form", "name", "reduction", "labels", "like")
REQUIRED = ("impl", "framework", "form")
KEYS = {*TEXT_KEYS, *PARAMETERS, "input_rank", "arguments"}


def _typed(entry: dict, where: Located, index: int) -> None:
    """Each value of its key's type: text, a number (γ, α, the weights, ε), an integer, two names."""
    for key, value in entry.items():
        if key in TEXT_KEYS:
            ok, expected = isinstance(value, str) and bool(value), "a non-empty string"
        elif key in PARAMETERS:
            ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        elif key == "input_rank":
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        else:
            ok, expected = isinstance(value, list) and all(isinstance(v, str) for v in value), "a list of two names"
        if not ok:
            raise where.error(f"implementation {index + 1}: {key} must be {expected}, not {value!r}", index, key)


def load_declarations(path: Path) -> list[Declaration]:
    """The declarations in a file, in order."""
    data, lines = read_toml(path, "declarations")
    where = Located(path, lines, "implementation")
    unknown = sorted(set(data) - {"implementation"})
    if unknown:
        raise where.error(f"unknown key {unknown[0]!r} (expected implementation)", None, unknown[0])
    entries = data.get("implementation")
    if not isinstance(entries, list) or not entries:
        raise where.error("declares no implementation: expected [[implementation]] tables", None)
    declarations, ids = [], {}
    for i, entry in enumerate(entries):
        check_keys(entry, KEYS, where, i, "implementation")
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise where.error(f"implementation {i + 1}: {missing[0]} is missing", i)
        _typed(entry, where, i)
        try:
            declaration = Declaration(entry["impl"], entry["framework"], entry["form"], entry.get("name", ""),
                                      {k: float(entry[k]) for k in PARAMETERS if k in entry},
                                      entry.get("reduction", "none"), entry.get("labels", "all"), entry.get("like", ""),
                                      entry.get("input_rank", 1), tuple(entry.get("arguments", ())))
        except ValueError as error:
            raise where.error(f"implementation {i + 1}: {error}", i) from None
        if declaration.id in ids:
            raise where.error(f"implementation {i + 1}: {declaration.id} is declared twice (first as implementation "
                              f"{ids[declaration.id] + 1}): give each a name", i)
        ids[declaration.id] = i
        declarations.append(declaration)
    return declarations
