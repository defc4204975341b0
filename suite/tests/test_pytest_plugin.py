"""The pytest plugin: installing bcebench gives every pytest run the ``bce_check`` fixture, and
pytest's own options carry its verdict. Each run is a pytest process of its own, as a user's is
(in-process runs would import NumPy's extension modules a second time)."""

import importlib.metadata
import xml.etree.ElementTree as ElementTree

pytest_plugins = ["pytester"]

USER_TESTS = """
import numpy as np
from bcebench.adapters.numpy_adapter import stable_logits

def naive(z, y):
    return np.log(1 + np.exp(z)) - y * z

OPTIONS = {"framework": "numpy", "dtypes": ["float32"], "checks": ["accuracy"], "quantities": ["loss"]}

def test_naive(bce_check):
    bce_check(naive, **OPTIONS)

def test_careful(bce_check):
    result = bce_check(stable_logits, **OPTIONS)
    assert result.passed and len(result.records) == 9
"""


def test_installing_bcebench_registers_the_plugin():
    points = importlib.metadata.entry_points(group="pytest11")
    assert [point.value for point in points if point.name == "bcebench"] == ["bcebench.suite.pytest_plugin"]


def test_a_failing_check_fails_the_test_with_the_reports_lines(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*bcebench: 9 checks: 9 fail*",
        "fail: numpy/cpu/user:naive/float32/accuracy/loss/wide-hard: * out of bound (overflow*"])
    cases = ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    failures = {case.get("name"): case.find("failure") for case in cases}
    assert failures["test_careful"] is None
    failure = failures["test_naive"]
    assert "bcebench: 9 checks: 9 fail" in failure.get("message")
    assert "user:naive/float32/accuracy/loss/wide-hard" in failure.text


def test_x_and_k_select_as_pytest_does(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.runpytest_subprocess("-x").assert_outcomes(failed=1)  # stops at the first failure, before test_careful
    pytester.runpytest_subprocess("-k", "careful").assert_outcomes(passed=1, deselected=1)


def test_a_declarations_file_is_checked_through_the_fixture(pytester):
    """The file a project commits for `bcebench check --declarations` serves its pytest run too."""
    pytester.makepyfile(losses="from bcebench.suite.tests.planted import correct as bce\n"
                               "from bcebench.suite.tests.planted import naive_sigmoid_then_log as naive\n")
    pytester.makefile(".toml", declared='[[implementation]]\nimpl = "losses.py:bce"\nframework = "numpy"\n'
                      'form = "logits"\n\n[[implementation]]\nimpl = "losses.py:naive"\nframework = "numpy"\n'
                      'form = "logits"\n')
    options = '{"dtypes": ["float32"], "checks": ["accuracy"], "quantities": ["loss"]}'
    pytester.makepyfile(test_user=f'def test_declared(bce_check):\n    bce_check("declared.toml", **{options})\n')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bcebench: 18 checks: 9 fail, 9 pass*",
                                 "fail: numpy/cpu/user:losses.py:naive/float32/accuracy/loss/*"])
