"""The suite's tests use the project's fixed Hypothesis profile."""

from bcebench.reference.tests import hypothesis_profile


def pytest_report_header(config):
    return hypothesis_profile.header()
