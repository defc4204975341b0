"""The fixed Hypothesis profile of every test here: derandomized, so each run draws the same
examples, and printed in the pytest header so that a run records what it used."""

from hypothesis import HealthCheck, settings

NAME = "bcebench"
settings.register_profile(
    NAME,
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(NAME)


def header() -> str:
    return f"hypothesis profile: {NAME} ({settings.get_profile(NAME)})"
