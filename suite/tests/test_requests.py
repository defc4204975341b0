"""Every bad request is one line on stderr and exit 2, before any work starts; output locations
are checked first; result files honour the umask; the report exits with the gate's status."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bcebench.reports.results import write_atomically
from bcebench.suite import api, cli

ROOT = Path(__file__).resolve().parents[2]


def bcebench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bcebench.suite.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=120)


def one_line_exit_2(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def test_an_impl_file_with_a_syntax_error(tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text("def bce(z, y):\n    return z +\n")
    one_line_exit_2(bcebench("check", "--framework", "numpy", "--impl", f"{mine}:bce", "--form", "logits"),
                    f"{mine}, line 2: invalid syntax")


def test_an_impl_module_that_raises_or_exits_when_it_loads(tmp_path):
    for body, raised in (("raise RuntimeError('no GPU here')\n", "raised RuntimeError: no GPU here"),
                         ("import sys\nsys.exit(3)\n", "raised SystemExit: 3")):
        mine = tmp_path / "mine.py"
        mine.write_text(body)
        one_line_exit_2(bcebench("check", "--framework", "numpy", "--impl", f"{mine}:bce", "--form", "logits"),
                        raised)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--timeout", "-1"], "--timeout -1: must be a number of seconds > 0"),
    (["--dtype", "float16", "--input", "0x10000:0x0"], "bit pattern 0x10000 does not fit float16 (16 bits)"),
    (["--input", "0x1:0x0"], "--input X:Y needs --dtype"),
])
def test_bad_check_options(argv, fragment):
    one_line_exit_2(bcebench("check", "--framework", "numpy", *argv), fragment)


def test_output_locations_are_checked_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for option in ("--json", "--junit"):
        one_line_exit_2(bcebench("check", "--framework", "numpy", option, str(blocker / "results.json")),
                        f"{option} {blocker / 'results.json'}: {blocker} is not a writable folder")
    one_line_exit_2(bcebench("report", "--framework", "numpy", "--out", str(blocker)), "is not a folder")
    one_line_exit_2(bcebench("check", "--framework", "numpy", "--json", str(tmp_path)), "is a folder")


def test_result_files_honour_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        write_atomically(tmp_path / "results.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == 0o640


def test_the_report_exits_with_the_gates_status(tmp_path, capsys):
    done = bcebench("check", "--framework", "numpy", "--impl", "bcebench.suite.tests.planted:logits_clamped_to_15",
                    "--form",
                    "logits", "--implementation", "user:*", "--dtype", "float32", "--check", "accuracy",
                    "--quantity", "loss", "--json", str(tmp_path / "results.json"))
    assert done.returncode == 1
    assert cli.main(["report", "--from", str(tmp_path / "results.json"), "--out", str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "latest" / "report.html").exists()
    capsys.readouterr()


def test_api_takes_a_deviations_path_as_a_string_and_contains_a_call_of_sys_exit(tmp_path):
    def exits(z, y):
        sys.exit(4)

    result = api.check(exits, framework="numpy", dtypes=["float32"], checks=["accuracy"], quantities=["loss"],
                       deviations=str(ROOT / "suite" / "policy" / "deviations.toml"))
    assert not result.passed and {r["verdict"] for r in result.records} == {"crashed"}
    assert all(r["message"] == "SystemExit: 4" for r in result.records)
    assert json.loads(json.dumps(result.records)) == result.records  # plain data, nothing half-built
