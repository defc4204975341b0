"""Every run ends cleanly: SIGINT or SIGTERM to `bcebench check` ends its workers, writes what
finished marked interrupted and exits 130 with one line; no process of it is left; a hanging
implementation costs one full timeout, not one per check; --budget bounds the whole run."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bcebench.reports import speed
from bcebench.suite.supervisor import Interrupted, Supervisor

ROOT = Path(__file__).resolve().parents[2]


def processes_with(token: bytes) -> list[int]:
    """The processes whose environment holds ``token`` (those we may read), this one aside."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if token in Path(f"/proc/{name}/environ").read_bytes():
                found.append(int(name))
        except OSError:
            continue
    return found


def start_check(tmp_path, token: str, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bcebench.suite.cli", "check", "--framework", "numpy", "--impl",
                             "bcebench.suite.tests.planted:hangs", "--form", "logits", "--implementation", "user:*",
                             "--dtype",
                             "float32", "--json", str(tmp_path / "results.json"), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BCEBENCH_TEST_TOKEN": token})


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the processes left")
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_gate_cleanly_and_keeps_what_finished(tmp_path, number):
    token = f"bcebench-{uuid.uuid4()}"
    run = start_check(tmp_path, token, "--timeout", "2", "--verbose")
    finished = []
    while len(finished) < 2:  # --verbose: a line as each check ends (the first hang ends at 2 s)
        line = run.stderr.readline()
        assert line, f"the run ended first: {run.communicate()}"
        finished.append(line.split()[1])
    deadline = time.monotonic() + 10  # a worker ended at its time limit is replaced: wait for the next one
    while (alive := len(processes_with(token.encode()))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert alive >= 2  # the command and its worker
    run.send_signal(number)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130
    said = [line for line in err.splitlines() if not re.fullmatch(r"[a-z-]+ +\S+/\S+", line)]  # --verbose's aside
    assert len(said) == 1 and f"interrupted by {signal.Signals(number).name}" in said[0]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["interrupted"] and not results["passed"]
    assert set(finished) <= {r["id"] for r in results["checks"]}
    assert not list(tmp_path.glob(".results.json.*"))  # nothing half-written
    time.sleep(0.5)
    assert processes_with(token.encode()) == []


def test_a_signal_while_a_child_starts_ends_that_child_too(monkeypatch):
    """stop() between spawn's check and the child's registration (a signal in the middle of Popen)
    must not leave that child to run: end_all saw the children before it was one of them."""
    started = []
    real_popen = subprocess.Popen

    def popen_interrupted_midway(*args, **options):
        supervisor.stop("interrupted by SIGTERM")  # the signal arrives while the child starts
        started.append(real_popen(*args, **options))
        return started[-1]

    with Supervisor() as supervisor:
        monkeypatch.setattr(subprocess, "Popen", popen_interrupted_midway)
        with pytest.raises(Interrupted, match="SIGTERM"):
            supervisor.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
        monkeypatch.undo()
        assert started and started[0].poll() is not None  # ended, not left running


def test_a_hanging_implementation_costs_one_full_timeout_and_the_budget_bounds_the_run(tmp_path):
    token = f"bcebench-{uuid.uuid4()}"
    started = time.monotonic()
    run = start_check(tmp_path, token, "--timeout", "6", "--check", "accuracy", "--quantity", "loss")
    run.communicate(timeout=120)
    took = time.monotonic() - started
    records = json.loads((tmp_path / "results.json").read_text())["checks"]
    assert [r["verdict"] for r in records] == ["crashed"] * 9
    assert "6 s" in records[0]["message"] and all("0.6 s" in r["message"] for r in records[1:])
    assert took < 6 + 8 * 0.6 + 30  # one full limit, then a tenth for each (process starts aside)
    budget = start_check(tmp_path, token, "--budget", "4")
    _, err = budget.communicate(timeout=60)
    assert budget.returncode == 1 and "time budget of 4 s ran out" in err and err.count("\n") == 1
    time.sleep(0.5)
    assert processes_with(token.encode()) == []


def test_a_worker_that_starts_slower_than_one_check_may_run_is_not_a_crash(tmp_path):
    """--timeout bounds a check, not a worker's start: importing a heavy framework or the user's
    module (here 4 s of sleep at import) and planning may take longer than one check may run."""
    (tmp_path / "slow_start.py").write_text("import time\n\ntime.sleep(4)\n\n"
                                            "from bcebench.suite.tests.planted import correct  # noqa: E402\n")
    done = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "check", "--framework", "numpy", "--impl",
                           "slow_start.py:correct", "--form", "logits", "--implementation", "user:*", "--dtype",
                           "float32", "--check", "accuracy", "--quantity", "loss", "--timeout", "3", "--json",
                           "results.json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    records = json.loads((tmp_path / "results.json").read_text())["checks"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert records and {r["verdict"] for r in records} == {"pass"}


def test_bench_records_a_crashing_and_a_hanging_case_and_compare_counts_them_lost(tmp_path):
    token = f"bcebench-{uuid.uuid4()}"
    common = ["bench", "--framework", "numpy", "--form", "logits", "--implementation", "user:*", "--size", "1e3",
              "--mode", "forward", "--timeout", "5"]
    env = {**os.environ, "BCEBENCH_TEST_TOKEN": token}
    for name, says in (("raises_always", "RuntimeError: this kernel is broken"), ("hangs", "ran past the time limit")):
        done = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", *common, "--impl",
                               f"bcebench.suite.tests.planted:{name}",
                               "--json", str(tmp_path / f"{name}.json")], cwd=ROOT, capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 1, done.stdout + done.stderr
        crashed = f"CRASHED numpy/cpu/user:bcebench.suite.tests.planted:{name}/float32/forward/1000: "
        assert crashed in done.stdout and says in done.stdout, done.stdout
    time.sleep(0.5)
    assert processes_with(token.encode()) == []

    timed = json.loads((tmp_path / "hangs.json").read_text())
    assert timed["failed"] and not [c for c in timed["cases"] if c["kind"] == "implementation"]
    baseline = {"cases": [{"id": timed["failed"][0]["id"], "kind": "implementation", "median": 1e-6, "q1": 1e-6,
                           "q3": 1e-6}]}
    assert speed.regressions(baseline, timed, 10)["lost"][0][0] == timed["failed"][0]["id"]


@pytest.mark.parametrize("to_group", [False, True], ids=["to-the-command", "ctrl-c-to-its-process-group"])
def test_sigint_to_a_sweep_keeps_its_finished_shards_says_one_line_and_leaves_no_process(tmp_path, to_group):
    """A terminal's Ctrl-C reaches every process of the foreground group, Dask's workers included;
    whatever Dask logs while its cluster closes, stderr holds the progress bar and then one line."""
    token = f"bcebench-{uuid.uuid4()}"
    run = subprocess.Popen([sys.executable, "-m", "bcebench.suite.cli", "sweep", "--framework", "numpy", "--dtype",
                            "float16",
                            "--impl", "bcebench.suite.tests.planted:slow_correct", "--form", "logits",
                            "--shard-size", "2048",
                            "--workers", "2", "--checkpoint", str(tmp_path / "checkpoints"),
                            "--out", str(tmp_path / "result.json")],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True, env={**os.environ, "BCEBENCH_TEST_TOKEN": token})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = list((tmp_path / "checkpoints").glob("*.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    if to_group:
        os.killpg(run.pid, signal.SIGINT)
    else:
        run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    said = [line for line in err.replace("\r", "\n").splitlines()
            if line.strip() and not line.startswith("bcebench sweep: ")]  # the progress bar's redraws aside
    assert run.returncode == 130 and said == ["bcebench: interrupted by SIGINT: stopped"]
    assert len(files[0].read_text().splitlines()) >= 3 and not (tmp_path / "result.json").exists()
    time.sleep(1)
    assert processes_with(token.encode()) == []
