"""The results file: its schema version and verdicts, how it is read (and what an older version
means), how a run's implementation patterns match ids, and how it is written (whole or not at all).
One home for the gate that writes results and the reports that read them.

Version 2 adds, to version 1: ``unjudged`` (what the gate would otherwise have passed without
judging), per check ``signatures`` (failing elements grouped by failure signature, most severe
first: count, range of x and y, largest error), ``signature`` on each ``worst`` entry and on each
special ``elements`` entry, and ``allowed`` on each ``rejected`` special input. Version 1 files are
read as they are.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from pathlib import Path

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
VERDICTS = ("pass", "known-deviation", "fail", "unsupported", "crashed")
PASSING = ("pass", "known-deviation", "unsupported")
JUDGED = ("pass", "known-deviation")


def glob_match(pattern: str, text: str) -> bool:
    """``*`` matches any run of characters; every other character, brackets included, is literal
    (implementation ids such as ``torch.binary_cross_entropy[mean]`` contain brackets)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


class ResultsError(ValueError):
    """A results file that cannot be read as bcebench results."""


def load(path: str) -> dict:
    target = Path(path)
    if target.is_dir():
        target = target / "results.json"
    try:
        raw = target.read_bytes()
        document = json.loads(gzip.decompress(raw) if target.suffix == ".gz" else raw)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as error:
        raise ResultsError(f"{path}: not JSON ({error})") from None
    if not isinstance(document, dict) or "schema_version" not in document or "checks" not in document:
        raise ResultsError(f"{path}: not a bcebench results file (no schema_version or checks)")
    if document["schema_version"] not in READABLE_VERSIONS:
        raise ResultsError(f"{path}: schema version {document['schema_version']!r}, this bcebench reads "
                           f"{', '.join(map(str, READABLE_VERSIONS))}")
    if not isinstance(document["checks"], list):
        raise ResultsError(f"{path}: checks is not a list")
    for i, record in enumerate(document["checks"]):
        problem = _record_problem(record)
        if problem:
            raise ResultsError(f"{path}: check {i + 1}: {problem}")
    return document


def _record_problem(record) -> str:
    """What makes a check record unusable for a comparison ('' if nothing)."""
    if not isinstance(record, dict):
        return "not an object"
    if not isinstance(record.get("id"), str):
        return "no id"
    if record.get("verdict") not in VERDICTS:
        return f"{record['id']}: verdict {record.get('verdict')!r} is not one of {', '.join(VERDICTS)}"
    errors = record.get("errors")
    if errors is not None and (not isinstance(errors, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in errors.values())):
        return f"{record['id']}: errors must hold numbers, not {errors!r}"
    return ""


def write_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing: a temporary file beside it, then one rename; the file gets the
    permissions the umask gives a new file (mkstemp's own are 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
