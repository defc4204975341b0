"""The report tests use the project's fixed Hypothesis profile."""

from suite import hypothesis_profile  # noqa: F401
