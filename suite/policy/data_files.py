"""Reading the policy and deviation files: TOML, every key known and every value of its type, each
error one line that names the file, the entry and the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bcebench.reports.results import glob_match

# The checks a task, a policy bound or a deviation can name (the gate plans them; the claims are one).
CHECK_NAMES = ("accuracy", "special", "domain", "reduction", "unchanged-inputs", "shapes", "claim")
MATCH_KEYS = ("framework", "device", "check", "family", "quantity", "form", "dtype", "regime", "labels")


class PolicyError(ValueError):
    """A policy or deviations file that cannot be used."""


def keys_match(keys: dict, context: dict) -> bool:
    """Each key's pattern (or any of a list of patterns) matches the context's value."""
    for key, patterns in keys.items():
        options = patterns if isinstance(patterns, list) else [patterns]
        if not any(glob_match(str(p), str(context.get(key, ""))) for p in options):
            return False
    return True


def read_toml(path: Path, what: str) -> tuple[dict, list[str]]:
    """(the document, its lines) of a policy or deviations file; PolicyError when it cannot be read."""
    try:
        text = path.read_text()
        return tomllib.loads(text), text.splitlines()
    except FileNotFoundError:
        raise PolicyError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise PolicyError(f"{what} {path}: a directory, not a file") from None
    except OSError as error:
        raise PolicyError(f"{what} {path}: cannot be read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PolicyError(f"{what} {path}: not valid TOML ({error})") from None


class Located:
    """Line numbers of the entries of an array of tables ([[bound]], [[deviation]]) and of their
    keys, for errors that say file:line (tomllib keeps none)."""

    def __init__(self, path: Path, lines: list[str], table: str):
        self.path, self.lines = path, lines
        self.starts = [i + 1 for i, line in enumerate(lines) if re.match(rf"\s*\[\[\s*{table}\s*\]\]", line)]

    def line(self, index: int | None = None, key: str | None = None) -> int:
        if index is None or index >= len(self.starts):
            start, end = 1, (self.starts[0] if self.starts else len(self.lines) + 1)
        else:
            start = self.starts[index]
            end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines) + 1
        for number in range(start, end):
            if key is not None and re.match(rf"\s*{re.escape(key)}\s*=", self.lines[number - 1]):
                return number
        return start

    def error(self, message: str, index: int | None = None, key: str | None = None) -> PolicyError:
        return PolicyError(f"{self.path}:{self.line(index, key)}: {message}")


def known_values() -> dict[str, tuple[str, ...]]:
    """The values a match key can take, where the set is closed (regimes, labels and
    implementations are open: claims and frameworks add their own)."""
    from bcebench.adapters.base import DEVICES, known
    from bcebench.reference.exact import FORMS, QUANTITIES
    from bcebench.reference.formats import DTYPE_NAMES

    return {"check": CHECK_NAMES,
            "family": ("bce", "focal"), "quantity": QUANTITIES, "device": DEVICES, "form": FORMS, "dtype": DTYPE_NAMES,
            "framework": known}


def check_match_keys(entry: dict, where: Located, index: int) -> None:
    """Each match key is a string or a non-empty list of strings; a value without * must be one of
    the key's known values (a typo would otherwise match nothing, or everything)."""
    closed = known_values()
    for key in (*MATCH_KEYS, "implementation"):
        if key not in entry:
            continue
        value = entry[key]
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise where.error(f"{key} must be a non-empty string or list of strings, not {value!r}", index, key)
        allowed = closed.get(key)
        for v in values:
            if "*" in v or allowed is None:
                continue
            if not (allowed(v) if callable(allowed) else v in allowed):
                expected = "a registered framework" if callable(allowed) else ", ".join(allowed)
                raise where.error(f"{key} {v!r} is not one of {expected}", index, key)


def check_keys(entry, allowed: set, where: Located, index: int, what: str) -> None:
    if not isinstance(entry, dict):
        raise where.error(f"{what} {index + 1} is not a table", index)
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise where.error(f"{what} {index + 1}: unknown key {unknown[0]!r} (expected {', '.join(sorted(allowed))})",
                          index, unknown[0])


def text_field(entry: dict, key: str, where: Located, index: int, what: str, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        problem = "is missing" if value is None else f"must be a non-empty string, not {value!r}"
        raise where.error(f"{what} {index + 1}: {key} {problem}", index, key if value is not None else None)
    return value
