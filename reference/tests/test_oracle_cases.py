"""The oracle against values computed independently of this project (data/oracle-cases.tsv:
mpmath at 600 bits, round to nearest even), through the API and through `bcebench oracle`."""

from pathlib import Path

import mpmath
import pytest

from reference import oracle
from reference.exact import Spec
from reference.formats import FORMATS, as_dtype, bits_of, parse_decimal

CASES_FILE = Path(__file__).parent / "data" / "oracle-cases.tsv"
MATCHING_DIGITS = 30


def load_cases():
    rows = [line.rstrip("\n").split("\t") for line in CASES_FILE.read_text().splitlines()]
    return [row for row in rows if row and not row[0].startswith("#")]


CASES = load_cases()


def test_cases_file_is_not_empty():
    assert len(CASES) == 14


def digits_agree(got, expected: str) -> bool:
    """got (an mpf, or a decimal string read here at 60 digits) matches expected to 30 digits."""
    with mpmath.workdps(60):
        got, want = mpmath.mpf(got), mpmath.mpf(expected)
        if want == 0:
            return got == 0
        return abs(got - want) <= abs(want) * mpmath.mpf(10) ** -MATCHING_DIGITS


@pytest.mark.parametrize("quantity, form, dtype, x, y, exact, bits", CASES, ids=lambda v: str(v))
def test_api_reproduces_case(quantity, form, dtype, x, y, exact, bits):
    fmt = FORMATS[dtype]
    xv, yv = parse_decimal(x, fmt), parse_decimal(y, fmt)
    spec = Spec(quantity, form)
    for fast in (True, False):
        result = oracle.evaluate(spec, as_dtype([xv], fmt), as_dtype([yv], fmt), fast=fast)
        assert hex(int(bits_of(result.rounded)[0])) == bits
    assert digits_agree(oracle.exact_value(spec, xv, yv), exact)
