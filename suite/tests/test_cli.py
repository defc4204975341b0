"""`bcebench oracle` and `bcebench derive` and the command line's error contract: one line, exit 2."""

import json
import os
import subprocess
import sys

import pytest

from bcebench.reference import derive
from bcebench.reference.derive import Claim, Fact, sigmoid, z
from bcebench.reference.tests.case_files import digits_agree, extension_cases, oracle_cases
from bcebench.suite import cli


def run_json(*args):
    return cli.main(["oracle", *args, "--format", "json"])


def test_oracle_text_output(capsys):
    assert cli.main(["oracle", "loss", "--form", "logits", "--dtype", "float32", "-30", "0"]) == 0
    out = capsys.readouterr().out
    # bits from data/oracle-cases.tsv, row 1
    assert "0x29d2b706" in out and "exact" in out and "x = -30.0 [0xc1f00000]" in out


def test_negative_x_works_with_and_without_double_dash(capsys):
    options = ["--form", "logits", "--dtype", "float32", "--format", "json"]
    for argv in (["grad", "-17.5", "0", *options], ["grad", *options, "--", "-17.5", "0"]):
        assert cli.main(["oracle", *argv]) == 0
        assert json.loads(capsys.readouterr().out)["bits"] == "0x32d7b174"  # data/oracle-cases.tsv


def test_focal_and_smoothing_options(capsys):
    assert run_json("loss", "0.5", "1", "--form", "probs", "--dtype", "float64", "--gamma", "0") == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["exact"].startswith("0.693147180559945309417232121458")  # ln 2
    assert run_json("grad", "100", "1", "--form", "logits", "--dtype", "float32", "--smoothing", "0.1") == 0
    assert json.loads(capsys.readouterr().out)["exact"].startswith("0.05")  # ε/2, see test_specials


@pytest.mark.parametrize(
    "argv, message",
    [
        (["oracle", "lose", "--form", "logits", "--dtype", "float32", "1", "0"], "invalid choice"),
        (["oracle", "loss", "--form", "logits", "--dtype", "float8", "1", "0"], "invalid choice"),
        (["oracle", "loss", "--form", "logits", "--dtype", "float32", "abc", "0"], "not a decimal"),
        (["oracle", "loss", "--form", "logits", "--dtype", "float32", "1"], "required"),
        (["oracle", "loss", "--form", "logits", "--dtype", "float32", "1", "0", "--gamma", "-2"], "gamma"),
        (["oracle", "hess", "--form", "logits", "--dtype", "float32", "1", "0", "--gamma", "2"], "focal Hessian"),
        (["oracle", "loss", "--form", "logits", "--dtype", "float32", "1", "0", "--gamma", "x"], "invalid float"),
        (["nonsense"], "invalid choice"),
        (["report", "--bench", "--no-speed"], "not allowed with argument --bench"),  # was --bench, silently
        ([], "required"),
        pytest.param(["check", "--framework", "numpy", "--json", "/proc/x.json"], "/proc is not a writable folder",
                     marks=pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc here"),
                     id="json-where-no-file-can-be-made"),
    ],
)
def test_bad_requests_exit_2_with_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_module_entry_point_runs():
    """The console command is `bcebench.suite.cli:main`; run it as a process, as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "bcebench.suite.cli", "oracle", "hess", "--form", "probs", "--dtype", "float32", "0.5",
         "1"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0 and "0x40800000" in done.stdout  # data/oracle-cases.tsv
    bad = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "oracle"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_derive_command_text_and_json(capsys, monkeypatch):
    assert cli.main(["derive"]) == 0
    text = capsys.readouterr().out
    assert "identities:" in text and "0 failed" in text
    assert cli.main(["derive", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["failed"] == 0 and record["schema_version"] == 1
    assert {"id", "statement", "latex", "methods", "numeric_residual", "status"} <= set(record["claims"][0])
    sig = sigmoid(z)
    monkeypatch.setattr(derive, "claims", lambda: [Claim("false", "", "", [Fact("zero", sig - 1)])])
    assert cli.main(["derive"]) == 1


@pytest.mark.parametrize("quantity, form, dtype, x, y, exact, bits", oracle_cases(), ids=lambda v: str(v))
def test_command_reproduces_case(quantity, form, dtype, x, y, exact, bits, capsys):
    status = cli.main(["oracle", quantity, "--form", form, "--dtype", dtype, "--format", "json", "--", x, y])
    record = json.loads(capsys.readouterr().out)
    assert status == 0
    assert record["bits"] == bits
    assert digits_agree(record["exact"], exact)


@pytest.mark.parametrize("case", extension_cases(), ids=lambda c: f"{c['quantity']}-{c['dtype']}-{c['x']}-{c['y']}")
def test_the_command_gives_the_bits_of_the_cases_once_got_wrong(case, capsys):
    options = [f"--{k.replace('_', '-')}={v}" for k, v in case["parameters"].items()]
    argv = ["oracle", case["quantity"], case["x"], case["y"], "--form", case["form"], "--dtype", case["dtype"]]
    assert cli.main([*argv, *options, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["bits"] == case["rounded"]


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_in_a_log_is_a_line_every_few_seconds_not_a_bar(quiet):
    """Without a terminal, tox -e report wrote its bar as ~11,000 redraws into a CI log: now a line
    every INTERVAL seconds and one at the end (none with --quiet)."""
    import io

    from bcebench.suite.cli import progress

    now = [0.0]
    log = io.StringIO()  # not a terminal
    with progress.Progress("bcebench report", "check", quiet=quiet, stream=log, clock=lambda: now[0]) as shown:
        shown.planned(3000)
        for _ in range(3000):
            now[0] += 35 / 3000  # 35 s in all
            shown.finished("numpy: numpy.stable_logits")
    lines = log.getvalue().splitlines()
    if quiet:
        assert lines == []
    else:
        assert len(lines) == 35 // progress.INTERVAL + 1 and "\r" not in log.getvalue(), lines
        assert lines[-1] == "bcebench report: 3000 of 3000 checks (100%), 35 s"


def test_an_implementation_id_with_commas_is_one_value():
    """A repro line names the implementation it reruns, and some ids hold commas: split at every
    comma, "torch focal, torchvision formula(alpha=0.25, gamma=2)" matched nothing, so the repro line of
    such a check ran no check at all. Commas inside parentheses now belong to the value."""
    from bcebench.suite.cli.common import split_values

    focal = "torch focal, torchvision formula(alpha=0.25, gamma=2)"
    assert split_values([f"{focal},numpy.*", "jit(optax.sigmoid_focal_loss*"], "--implementation", "check",
                        ids=True) == [focal, "numpy.*", "jit(optax.sigmoid_focal_loss*"]
    assert split_values(["float32, float64"], "--dtype", "check") == ["float32", "float64"]
