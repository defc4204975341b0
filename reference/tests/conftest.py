"""The fixed Hypothesis profile of the reference tests: derandomized, so every run draws the
same examples, and printed in the pytest header so that a run records what it used."""

from hypothesis import HealthCheck, settings

PROFILE = "bcebench"
settings.register_profile(
    PROFILE,
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(PROFILE)


def pytest_report_header(config):
    return f"hypothesis profile: {PROFILE} ({settings.get_profile(PROFILE)})"
