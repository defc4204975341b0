"""bcebench's pytest plugin, registered by installing bcebench (the ``pytest11`` entry point): a
project gates its own BCE with the pytest it already runs.

    def test_my_bce(bce_check):
        bce_check(my_bce, framework="torch", form="logits", dtypes=["float32", "bfloat16"])

``bce_check(function, **options)`` takes ``bcebench.suite.api.check``'s arguments and runs it;
``bce_check("bcebench.toml", **filters)``, the path of a declarations file, checks every function it
declares (``api.check_declared``). Either way it fails the test with the report's failure lines (one
per failing check: its id, the elements out of bound by
signature, the worst input with what came back and the exact value), so that pytest's own
``-x``, ``-k``, ``--junitxml`` and reports carry bcebench's verdict. It returns the ``Result``.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def bce_check():
    """Check a function against the exact reference; fail the test where the gate would."""

    def run(function_or_file, **options):
        from pathlib import Path

        from bcebench.suite import api  # here, not at start-up: every pytest run loads the plugin

        declared = isinstance(function_or_file, (str, Path))
        result = (api.check_declared if declared else api.check)(function_or_file, **options)
        if not result.passed:
            pytest.fail(f"bcebench: {result.explanation}", pytrace=False)
        return result

    return run
