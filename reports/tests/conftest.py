"""The report tests use the project's fixed Hypothesis profile."""

from bcebench.reference.tests import hypothesis_profile  # noqa: F401
