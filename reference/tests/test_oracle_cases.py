"""The oracle against values computed independently of this project (data/oracle-cases.tsv:
mpmath at 600 bits, round to nearest even), through the API and through `bcebench oracle`."""


import pytest

from bcebench.reference import oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, as_dtype, bits_of, parse_decimal
from bcebench.reference.tests.case_files import digits_agree, oracle_cases

CASES = oracle_cases()


def test_cases_file_is_not_empty():
    assert len(CASES) == 14


@pytest.mark.parametrize("quantity, form, dtype, x, y, exact, bits", CASES, ids=lambda v: str(v))
def test_api_reproduces_case(quantity, form, dtype, x, y, exact, bits):
    fmt = FORMATS[dtype]
    xv, yv = parse_decimal(x, fmt), parse_decimal(y, fmt)
    spec = Spec(quantity, form)
    for fast in (True, False):
        result = oracle.evaluate(spec, as_dtype([xv], fmt), as_dtype([yv], fmt), fast=fast)
        assert hex(int(bits_of(result.rounded)[0])) == bits
    assert digits_agree(oracle.exact_value(spec, xv, yv), exact)
