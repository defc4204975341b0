"""An implementation, declared once: where the function is and the name its checks carry, what it
computes (the oracle's parameters and its reduction), which labels it takes, and which built-in it
is built on. The command line, a declarations file, ``api.check`` and the pytest fixture each make
one for a user's function; the gate's workers rebuild it from ``as_dict``; a repro line writes it
back as options (``options``). The adapters declare their built-ins the same way (``builtin``: the
id is the name itself, and a framework's own reductions, such as scikit-learn's weighted mean, are
allowed); ``adapters.base.declared`` makes every implementation from its declaration.

- ``location``: ``path/to/file.py:fn`` (relative to the current folder, or absolute) or
  ``package.module:fn`` (found from the current folder first, as ``python -m`` would); empty for a
  function handed to ``api.check``.
- ``name``: what the checks' ids call it, ``user:NAME``. By default the location as written, a path
  inside the current folder made relative to it and one outside it cut to its file name, so that an
  id never holds a machine's absolute path and the same function checked from two checkouts has the
  same ids.
- ``parameters``: the focal loss's γ and α, a constant ``weight`` and ``pos_weight`` the function
  applies itself, label ``smoothing`` ε.
- ``reduction``: none (elementwise, with derivatives), mean or sum (one number per call).
- ``labels``: all (y anywhere in [0, 1]) or hard (y in {0, 1} only: a function defined, or defined as
  BCE, for hard labels alone is judged on those).
- ``like``: the id of a built-in of the same framework that the function is built on; that built-in's
  known deviations explain this function's failing elements exactly as they explain the built-in's
  (same signatures, regions and sizes), reported as inherited; anything beyond still fails.
- ``rank`` and ``arguments``: its calling convention, where it is not ``fn(x, y)`` on 1-D arrays:
  rank 2 for a function that takes a column of inputs (n, 1) and returns one (the checks pass x[:, None]
  and read result[:, 0]); ``arguments``, the keyword names of the input and the target (``input``,
  ``target``) for a function called by keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bcebench.reference.exact import FORMS, Spec

PARAMETERS = ("gamma", "alpha", "weight", "pos_weight", "smoothing")
REDUCTIONS = ("none", "mean", "sum")
BUILTIN_REDUCTIONS = (*REDUCTIONS, "weighted-mean")  # Σ wᵢLᵢ / Σ wᵢ with bcebench's sample weights
LABELS = ("all", "hard")


@dataclass(frozen=True)
class Declaration:
    location: str
    framework: str
    form: str
    name: str = ""
    parameters: dict = field(default_factory=dict)
    reduction: str = "none"
    labels: str = "all"
    like: str = ""
    rank: int = 1
    arguments: tuple = ()
    builtin: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", tuple(self.arguments))  # a list, read back from JSON
        if self.rank not in (1, 2):
            raise ValueError(f"rank {self.rank!r}: expected 1 or 2")
        if self.arguments and not (len(self.arguments) == 2 and all(str(a).isidentifier() for a in self.arguments)):
            raise ValueError(f"arguments {','.join(map(str, self.arguments))!r}: expected two keyword names, "
                             "the input's and the target's, e.g. input,target")
        reductions = BUILTIN_REDUCTIONS if self.builtin else REDUCTIONS
        for what, value, known in (("form", self.form, FORMS), ("reduction", self.reduction, reductions),
                                   ("labels", self.labels, LABELS)):
            if value not in known:
                raise ValueError(f"{what} {value!r}: expected one of {', '.join(known)}")
        unknown = sorted(set(self.parameters) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}: expected {', '.join(PARAMETERS)}")
        Spec("loss", self.form, **self.parameters)  # ValueError for parameters the oracle does not take
        if not (self.name or self.location) or (self.builtin and not self.name):
            raise ValueError("a declaration needs a location or a name (a built-in, its name)")

    @property
    def id(self) -> str:
        """A built-in's name, or ``user:`` and the user's function's name."""
        return self.name if self.builtin else f"user:{self.name or display_name(self.location)}"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Declaration:
        unknown = sorted(set(data) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise ValueError(f"unknown key(s) in a declaration: {', '.join(unknown)}")
        return cls(**data)

    def options(self) -> str:
        """The command-line options that declare this function again (for a repro line)."""
        words = [f"--impl {_quoted(_inside_current_folder(self.location))}", f"--form {self.form}"]
        if self.name:
            words.append(f"--name {_quoted(self.name)}")
        words += [f"--{key.replace('_', '-')} {value:g}" for key, value in self.parameters.items()]
        if self.reduction != "none":
            words.append(f"--reduction {self.reduction}")
        if self.labels != "all":
            words.append(f"--labels {self.labels}")
        if self.like:
            words.append(f"--like {_quoted(self.like)}")
        if self.rank != 1:
            words.append(f"--input-rank {self.rank}")
        if self.arguments:
            words.append(f"--arguments {','.join(self.arguments)}")
        return " ".join(words)

    def adapt(self, function: Callable) -> Callable:
        """``function`` as the checks call every implementation, ``call(x, y)`` on 1-D arrays with one
        loss per element (one number when reduced), through the declared calling convention."""
        if self.rank == 1 and not self.arguments:
            return function
        column, names, elementwise = self.rank == 2, self.arguments, self.reduction == "none"

        def call(x, y):
            if column:
                x, y = x[:, None], (y[:, None] if y.ndim == 1 else y)
            result = function(**dict(zip(names, (x, y), strict=True))) if names else function(x, y)
            return result[:, 0] if column and elementwise and result.ndim == 2 else result

        return call


def display_name(location: str) -> str:
    """The location as the checks' ids show it: a file path inside the current folder relative to
    it, one outside it by its file name alone; a module path as written."""
    target, _, function = _inside_current_folder(location).rpartition(":")
    return f"{Path(target).name}:{function}" if Path(target).is_absolute() else f"{target}:{function}"


def _inside_current_folder(location: str) -> str:
    """An absolute file path inside the current folder made relative to it (it reruns from there);
    any other location as written."""
    target, _, function = location.rpartition(":")
    if not (target.endswith(".py") and Path(target).is_absolute()):
        return location
    try:
        return f"{Path(target).resolve().relative_to(Path.cwd().resolve()).as_posix()}:{function}"
    except ValueError:
        return location


def _quoted(text: str) -> str:
    plain = all(c.isalnum() or c in "._-/:=+" for c in text)
    return text if plain else "'" + text.replace("'", "'\\''") + "'"
