"""What the commands share: exit codes, the one-line bad request, the options that pick what runs,
and the checks on a request made before any work.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bcebench.suite.supervisor import printing_to_stderr

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed the policy
EXIT_USAGE = 2  # the request itself is wrong
EXIT_BROKEN_PIPE = 128 + 13
EXIT_INTERRUPTED = 128 + 2  # as a shell reports a command ended by SIGINT
# The sweep results committed with the checkout (an installed package has none): what the report and the
# reproducers quote by default. What a command writes goes, unless told, under ./bcebench-*.
COMMITTED_SWEEPS = Path(__file__).resolve().parents[2] / "reports" / "sweeps"


class UsageError(Exception):
    """A request that cannot be carried out as asked."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad request in one line and exits 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message}")


def split_values(values: list[str] | None, option: str = "", command: str = "", known=None,
                 ids: bool = False) -> list[str] | None:
    """Repeated and comma-separated values, flattened; None when the option was not given (``ids``:
    implementation ids and patterns, split only where a comma separates them). A value given but
    empty, or (with ``known``) not one of the known values, is a usage error: a typo must never widen
    or narrow what runs without a word."""
    if values is None:
        return None
    items = [item.strip() for value in values for item in (_separating_commas(value) if ids else value.split(","))]
    if not items or any(not item for item in items):
        raise UsageError(f"bcebench {command}: {option} has an empty value")
    unknown = [item for item in items if known is not None and item not in known]
    if unknown:
        raise UsageError(f"bcebench {command}: {option} {unknown[0]!r}: expected one of {', '.join(known)}")
    return list(dict.fromkeys(items))


def _separating_commas(value: str) -> list[str]:
    """``value`` split at the commas that separate values: those outside parentheses and not followed
    by a space. An implementation's id may hold commas, "torch focal, torchvision formula(alpha=0.25,
    gamma=2)", and is one value (as a repro line writes it)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(value):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth <= 0 and not value[i + 1 : i + 2].isspace():
            parts.append(value[start:i])
            start = i + 1
    return [*parts, value[start:]]


def filters(args: argparse.Namespace, command: str) -> dict:
    """The --device, --dtype, --quantity and --check values of a command, each one known."""
    from bcebench.suite.gate.planning import FILTERS, RequestError, known_filter

    try:
        return {name: known_filter(name, split_values(getattr(args, name, None), f"--{name}", command))
                for name in FILTERS}
    except RequestError as error:
        raise UsageError(f"bcebench {command}: {error}") from None


def selected_frameworks(args: argparse.Namespace, command: str) -> list[str]:
    """The --framework values (default: every registered one); a name not registered is a usage error."""
    from bcebench.adapters import base

    extra = [base.ARRAY_API + module for module in split_values(getattr(args, "array_api", None), "--array-api",
                                                                command)
             or []]
    named = split_values(args.framework, "--framework", command)
    frameworks = (named or ([] if extra else list(base.REGISTRY))) + extra
    unknown = [f for f in frameworks if not base.known(f)]
    if unknown:
        expected = ", ".join(base.REGISTRY)
        raise UsageError(f"bcebench {command}: unknown framework {unknown[0]!r}: expected one of {expected}")
    return list(dict.fromkeys(frameworks))


def single_input_bits(text: str, dtypes: list[str] | None) -> tuple[str, str]:
    """--input X:Y: two hex bit patterns, each fitting every --dtype (which it needs)."""
    from bcebench.reference.formats import FORMATS, parse_bits

    x, sep, y = text.partition(":")
    if not sep or not dtypes:
        raise UsageError("bcebench check: --input X:Y needs --dtype")
    for dtype in dtypes:
        for pattern in (x, y):
            try:
                parse_bits(pattern, FORMATS[dtype])
            except ValueError as error:
                raise UsageError(f"bcebench check: --input {text!r}: {error}") from None
    return hex(int(x, 16)), hex(int(y, 16))


def check_writable(path: str | None, option: str, command: str) -> None:
    """An output location that can be written, checked before any work starts: its nearest
    existing folder must be a writable folder, and the path itself no folder (for --out, a folder)."""
    if not path:
        return
    target = Path(path)
    if target.exists() and target.is_dir() != (option == "--out"):
        raise UsageError(f"bcebench {command}: {option} {path}: is {'not ' if option == '--out' else ''}a folder")
    existing = next(p for p in [target, *target.parents] if p.exists())
    if existing == target and option != "--out":
        existing = target.parent
    if not existing.is_dir() or not _can_create_in(existing):
        raise UsageError(f"bcebench {command}: {option} {path}: {existing} is not a writable folder")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made there (the permission bits say yes for /proc, which makes none):
    a temporary file is made and removed."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bcebench-probe-"):
            return True
    except OSError:
        return False


def named_frameworks(args: argparse.Namespace) -> list[str]:
    """The frameworks asked for by name (--framework, --array-api): each must be there."""
    from bcebench.adapters import base

    named = split_values(args.framework, "--framework", "") or []
    return named + [base.ARRAY_API + m for m in split_values(getattr(args, "array_api", None), "--array-api", "") or []]


def user_implementation(args: argparse.Namespace, frameworks: list[str], command: str) -> dict | None:
    """--impl with what declares it (adapters.declaration: --form, the parameters, --reduction,
    --name, --labels, --like) and a single --framework, loaded once here so that a bad one is a usage
    error before anything runs; the declaration as a dict for the workers."""
    from bcebench.adapters.declaration import PARAMETERS, Declaration

    parameters = {name: getattr(args, name) for name in PARAMETERS if getattr(args, name, None) is not None}
    given = {name: getattr(args, name, None) for name in ("reduction", "name", "labels", "like", "input_rank",
                                                           "arguments")}
    if not args.impl:
        named = [*parameters, *(name for name, value in given.items() if value)]
        if named:
            options = ", ".join(f"--{name.replace('_', '-')}" for name in named)
            raise UsageError(f"bcebench {command}: {options} describe(s) your implementation: give --impl")
        return None
    if len(frameworks) != 1 or not args.form:
        raise UsageError(f"bcebench {command}: --impl needs one --framework and --form logits|probs")
    try:
        declaration = Declaration(args.impl, frameworks[0], args.form, given["name"] or "", parameters,
                                  given["reduction"] or "none", given["labels"] or "all", given["like"] or "",
                                  given["input_rank"] or 1, tuple(given["arguments"].split(",")) if given["arguments"]
                                  else ())
    except ValueError as error:
        raise UsageError(f"bcebench {command}: {error}") from None
    loadable(declaration, command)
    return declaration.as_dict()



def loadable(declaration, command: str, where: str = "") -> None:
    """A declared function that can be loaded, and the built-in it names as ``like`` one of its
    framework's: checked here, so that a bad one is a usage error before anything runs."""
    from bcebench.adapters import base

    try:
        with printing_to_stderr():
            base.user_implementation(declaration)
        if declaration.like:
            adapter, reason = base.load(declaration.framework, scoped=True)
            if adapter is None:
                raise ValueError(f"like {declaration.like!r}: {declaration.framework} is unavailable: {reason}")
            base.require_builtin(adapter, declaration.like)
    except ValueError as error:
        raise UsageError(f"bcebench {command}: {where}{error}") from None


def sweep_folders(option: str | None) -> list[Path]:
    """The sweep folders whose figures an issue text quotes: the one given, or every folder of
    results under the default one."""
    if option:
        return [Path(option)]
    root = COMMITTED_SWEEPS
    return sorted({p.parent for p in root.rglob("*.json") if "checkpoints" not in p.parts}) if root.is_dir() else []


def hex_bits(bits) -> str:
    return hex(int(bits))


def add_framework(parser: argparse.ArgumentParser) -> None:
    from bcebench.adapters.base import REGISTRY

    parser.add_argument("--framework", action="append", help=f"{', '.join(REGISTRY)} (default: all available)")
    parser.add_argument("--array-api", action="append", metavar="MODULE",
                        help="any Array API namespace, e.g. array_api_strict: checked as framework array-api:MODULE")


def add_selection(parser: argparse.ArgumentParser, dtypes: str) -> None:
    """The options that pick what runs, shared by check and bench (repeatable, or comma-separated)."""
    from bcebench.reference.exact import FORMS

    add_framework(parser)
    parser.add_argument("--device", action="append", help="cpu, cuda, gpu (default: every device present)")
    parser.add_argument("--implementation", action="append", help="implementation id glob, e.g. 'torch.binary*'")
    parser.add_argument("--dtype", action="append", help=dtypes)
    parser.add_argument("--impl", help="your implementation: path/to/file.py:fn or package.module:fn")
    parser.add_argument("--form", choices=FORMS, help="the form of --impl")
