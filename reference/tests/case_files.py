"""The reference values the tests read from data/: oracle-cases.tsv (computed independently of this
project: mpmath at 600 bits, round to nearest even) and extension-cases.tsv (inputs the oracle once
got wrong, each with its correctly rounded bits)."""

import csv
from pathlib import Path

import mpmath

DATA = Path(__file__).parent / "data"
MATCHING_DIGITS = 30


def oracle_cases() -> list[list[str]]:
    """(quantity, form, dtype, x, y, exact digits, rounded bits) per case."""
    rows = [line.rstrip("\n").split("\t") for line in (DATA / "oracle-cases.tsv").read_text().splitlines()]
    return [row for row in rows if row and not row[0].startswith("#")]


def extension_cases() -> list[dict]:
    rows = [line for line in (DATA / "extension-cases.tsv").read_text().splitlines() if not line.startswith("#")]
    names = ("quantity", "form", "dtype", "parameters", "x", "y", "rounded", "catches")
    cases = [dict(zip(names, row, strict=True)) for row in csv.reader(rows, delimiter="\t")]
    for case in cases:
        case["parameters"] = {k: float(v) for k, v in (p.split("=") for p in case["parameters"].split(",") if p)}
    return cases


def digits_agree(got, expected: str) -> bool:
    """got (an mpf, or a decimal string read here at 60 digits) matches expected to 30 digits."""
    with mpmath.workdps(60):
        got, want = mpmath.mpf(got), mpmath.mpf(expected)
        if want == 0:
            return got == 0
        return abs(got - want) <= abs(want) * mpmath.mpf(10) ** -MATCHING_DIGITS
