"""bcebench as a user's project gets it: a wheel built from this checkout, installed in a fresh
virtual environment beside the other distribution named ``adapters``, used from a project that has
``suite``, ``adapters``, ``reports`` and ``reference`` packages of its own, with relative paths.

One environment serves every test here (building it is most of the cost). Its packages come from
the index under the same pins as the test run (PIP_CONSTRAINT, which tox sets; constraints.txt pins
the other distribution's dependencies too)."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OTHER_ADAPTERS = "adapters==1.3.0"  # parameter-efficient transfer learning: also installs `adapters`
USER_FUNCTION = """
import numpy as np

def bce(z, y):  # nothing cancels: (1 - y)z or -yz, then log1p(e^-|z|) (suite/tests/test_api.py's careful_bce)
    return np.where(z > 0, (1 - y) * z, -y * z) + np.log1p(np.exp(-np.abs(z)))
"""


def run(command: list[str], cwd: Path, **options) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=environment, timeout=900, **options)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                str(ROOT)], cwd=out)
    assert done.returncode == 0, done.stderr
    return next(out.glob("bcebench-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh environment: bcebench with its bench and torch extras (no Hypothesis, no test extra)
    and the other `adapters` distribution beside it (which imports transformers and torch)."""
    folder = tmp_path_factory.mktemp("venv")
    assert run([sys.executable, "-m", "venv", str(folder)], cwd=folder).returncode == 0
    done = run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[bench,torch]",
                OTHER_ADAPTERS], cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's project whose own packages carry bcebench's folder names, and a test of its own BCE
    through the bce_check fixture."""
    for package in ("suite", "adapters", "reports", "reference"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"OWNER = 'the project: {package}'\n")
    (tmp_path / "suite" / "api.py").write_text("def check():\n    return 'the project'\n")
    (tmp_path / "adapters" / "base.py").write_text("class Implementation:\n    owner = 'the project'\n")
    (tmp_path / "suite" / "test_own.py").write_text(textwrap.dedent("""
        import adapters.base, reference, reports, suite.api

        def test_the_projects_packages_are_its_own():
            assert suite.api.check() == adapters.base.Implementation.owner == "the project"
            assert reports.OWNER.endswith("reports") and reference.OWNER.endswith("reference")
        """))
    (tmp_path / "mine.py").write_text(USER_FUNCTION)
    (tmp_path / "test_bce.py").write_text(textwrap.dedent("""
        from mine import bce

        def test_my_bce(bce_check):
            result = bce_check(bce, framework="numpy", form="logits", dtypes=["float32"], checks=["accuracy"])
            assert result.passed and len(result.records) > 10
        """))
    return tmp_path


def test_the_wheel_holds_one_package_and_no_tests_reproducers_or_measurements(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"bcebench", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    committed = ("bcebench/reports/repro/", "bcebench/reports/sweeps/", "bcebench/reports/screenshots/",
                 "bcebench/reports/2026")
    assert not [n for n in names if "/tests/" in n or n.endswith("conftest.py") or n.startswith(committed)
                or n.endswith((".json", ".gz", ".png"))]
    assert "bcebench/suite/policy/deviations.toml" in names and "bcebench/suite/policy/policies/strict.toml" in names


def test_bcebench_and_the_other_adapters_distribution_both_import(venv):
    code = ("import json, adapters, bcebench.adapters.base, bcebench.suite.api; "
            "print(json.dumps([adapters.__version__, adapters.__file__, bcebench.adapters.base.__file__]))")
    done = run([str(venv / "bin" / "python"), "-c", code], cwd=venv)
    assert done.returncode == 0, done.stderr[-2000:]
    version, theirs, ours = json.loads(done.stdout)
    assert version == OTHER_ADAPTERS.split("==")[1] and Path(theirs).parent.name == "adapters"
    assert Path(ours).parts[-3:] == ("bcebench", "adapters", "base.py")


@pytest.mark.parametrize("pytest_command", [["pytest"], ["python", "-m", "pytest"]], ids=["pytest", "python-m-pytest"])
def test_a_project_with_suite_and_adapters_packages_runs_all_its_tests_and_the_fixture_judges(
        venv, project, pytest_command):
    command = [str(venv / "bin" / pytest_command[0]), *pytest_command[1:], "-q", "-p", "no:cacheprovider"]
    done = run(command, cwd=project)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


def test_check_with_a_relative_path_from_the_project_writes_nothing_there(venv, project):
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    done = run([str(venv / "bin" / "bcebench"), "check", "--framework", "numpy", "--impl", "mine.py:bce", "--form",
                "logits", "--dtype", "float32", "--check", "accuracy"], cwd=project)
    assert done.returncode == 0 and "Gate passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    after = sorted(p.relative_to(project) for p in project.rglob("*") if "__pycache__" not in p.parts)
    assert after == [p for p in before if "__pycache__" not in p.parts]


def test_bench_runs_with_the_bench_extra_alone(venv, project):
    """The bench's child pytest loads no test configuration of bcebench's (which needs Hypothesis)
    and none of the project's."""
    (project / "conftest.py").write_text("raise RuntimeError('the project conftest was loaded')\n")
    done = run([str(venv / "bin" / "bcebench"), "bench", "--framework", "numpy", "--implementation",
                "numpy.stable_logits", "--dtype", "float32", "--mode", "forward", "--size", "1e3"], cwd=project)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert not (project / ".benchmarks").exists()
