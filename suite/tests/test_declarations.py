"""A declarations file (suite/policy/declarations.py): several of a project's functions declared at
once, each judged as its --impl and options would be, each failure's repro line with its own
declaration; a bad file is exit 2 in one line that names file:line, before any work."""

import os
import shlex
import subprocess
import sys

import pytest

TWO = '''# the project's losses
[[implementation]]
impl = "losses.py:bce"
framework = "numpy"
form = "logits"
name = "plain"

[[implementation]]
impl = "losses.py:focal"
framework = "numpy"
form = "logits"
gamma = 2.0
alpha = 0.25
'''


def bcebench(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bcebench.suite.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), check=False)


@pytest.fixture
def project(tmp_path):
    planted = "from bcebench.suite.tests.planted import"
    (tmp_path / "losses.py").write_text(f"{planted} correct as bce\n"
                                        f"{planted} focal_loss_off_by_a_part_in_a_thousand as focal\n")
    (tmp_path / "bcebench.toml").write_text(TWO)
    return tmp_path


def test_every_function_a_file_declares_is_judged_with_its_own_declaration(project):
    done = bcebench("check", "--declarations", "bcebench.toml", "--dtype", "float32", "--check", "accuracy",
                    "--quantity", "loss", "--json", "results.json", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "user:plain" in done.stdout and "user:losses.py:focal" in done.stdout
    failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert failing and all("/user:losses.py:focal/" in line for line in failing), failing
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("repro: "))
    assert "--gamma 2 --alpha 0.25" in line and "--impl losses.py:focal" in line, line
    error = done.stdout.split(line)[0].rsplit("error=", 1)[1].split()[0]
    again = bcebench(*shlex.split(line.strip().removeprefix("repro: "))[1:], cwd=project)
    assert again.returncode == 1 and f"error={error}" in again.stdout, again.stdout + again.stderr


@pytest.mark.parametrize(("edit", "message"), [
    (lambda text: text.replace("gamma = 2.0", "gama = 2.0"), "bcebench.toml:12: implementation 2: unknown key 'gama'"),
    (lambda text: text.replace("gamma = 2.0", 'gamma = "2"'), "bcebench.toml:12: implementation 2: gamma must be a"),
    (lambda text: text.replace('form = "logits"\ngamma', "gamma"), "bcebench.toml:8: implementation 2: form is"),
    (lambda text: text.replace('name = "plain"', 'name = "losses.py:focal"'),
     "bcebench.toml:8: implementation 2: user:losses.py:focal is declared twice"),
    (lambda text: text.replace("losses.py:focal", "losses.py:nofocal"),
     "bcebench.toml: implementation 2: --impl 'losses.py:nofocal': losses.py has no function 'nofocal'"),
    (lambda text: text.replace('name = "plain"', 'name = "plain"\nlabels = "soft"'),
     "bcebench.toml:2: implementation 1: labels 'soft': expected one of all, hard"),
    (lambda text: text + "[options]\nquiet = true\n", "unknown key 'options'"),
    (lambda text: "", "declares no implementation"),
])
def test_a_bad_declarations_file_is_one_line_and_exit_2(project, edit, message):
    (project / "bcebench.toml").write_text(edit(TWO))
    done = bcebench("check", "--declarations", "bcebench.toml", cwd=project)
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_a_framework_filter_that_leaves_a_declared_function_out_is_refused(project):
    done = bcebench("check", "--declarations", "bcebench.toml", "--framework", "torch", cwd=project)
    assert done.returncode == 2 and "declares user:plain for numpy, which --framework leaves out" in done.stderr


def test_two_declared_files_each_import_the_module_beside_them(tmp_path):
    """a/loss.py and b/loss.py each import their own helpers.py: b's was judged as a's (the first
    helpers cached in the process) and a wrong loss passed the gate. Each file now imports its own."""
    planted = "from bcebench.suite.tests.planted import"
    for folder, function in (("a", "correct"), ("b", "focal_loss_off_by_a_part_in_a_thousand")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "helpers.py").write_text(f"{planted} {function} as bce\n")
        (tmp_path / folder / "loss.py").write_text("from helpers import bce  # the module beside this file\n")
    (tmp_path / "bcebench.toml").write_text("".join(f'[[implementation]]\nimpl = "{folder}/loss.py:bce"\n'
                                                    'framework = "numpy"\nform = "logits"\n\n' for folder in "ab"))
    done = bcebench("check", "--declarations", "bcebench.toml", "--dtype", "float32", "--check", "accuracy",
                    "--quantity", "loss", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert failing and all("/user:b/loss.py:bce/" in line for line in failing), failing


@pytest.mark.parametrize("first", ["at its load", "when it runs", "a package's module"])
def test_a_declared_function_imports_the_module_beside_it_when_it_runs(tmp_path, first):
    """b's function runs ``import helpers`` in its body, when the checks call it: it crashed (its
    folder was on the import path only while its file loaded), and where a's file had imported a's
    helpers first, b's got a's and a wrong loss passed the gate. Each gets its own either way, a
    package's module too (``helpers/losses.py`` beside each)."""
    planted = "from bcebench.suite.tests.planted import"
    module = "helpers.losses" if first == "a package's module" else "helpers"
    lazy = f"def bce(z, y):\n    import {module}  # when the loss runs\n\n    return {module}.bce(z, y)\n"
    loads = {"a": f"from {module} import bce  # the module beside this file\n" if first != "when it runs" else lazy,
             "b": lazy}
    for folder, function in (("a", "correct"), ("b", "focal_loss_off_by_a_part_in_a_thousand")):
        (tmp_path / folder).mkdir()
        source = tmp_path / folder / "helpers.py"
        if first == "a package's module":
            (tmp_path / folder / "helpers").mkdir()
            (tmp_path / folder / "helpers" / "__init__.py").write_text("")
            source = tmp_path / folder / "helpers" / "losses.py"
        source.write_text(f"{planted} {function} as bce\n")
        (tmp_path / folder / "loss.py").write_text(loads[folder])
    (tmp_path / "bcebench.toml").write_text("".join(f'[[implementation]]\nimpl = "{folder}/loss.py:bce"\n'
                                                    'framework = "numpy"\nform = "logits"\n\n' for folder in "ab"))
    done = bcebench("check", "--declarations", "bcebench.toml", "--dtype", "float32", "--check", "accuracy",
                    "--quantity", "loss", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 1 and "CRASHED" not in done.stdout, done.stdout + done.stderr
    failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert failing and all("/user:b/loss.py:bce/" in line for line in failing), failing
