"""`bcebench bench`: a real (tiny) run through pytest-benchmark, the figures derived from it, the
regression rule, and the command's contract. Timings themselves are measured by the harness, not
asserted here, except where a difference is made five times larger than any noise."""

import copy
import json

import pytest

from bcebench.reports import speed
from bcebench.suite import cli
from bcebench.suite.bench import timing

pytest.importorskip("pytest_benchmark")


@pytest.fixture(scope="module")
def document():
    return timing.run(["numpy"], ["numpy.stable_logits"], ["float32"], ["forward", "forward+backward"], [1000])


def test_a_run_times_every_case_and_both_walls(document):
    kinds = {c["kind"] for c in document["cases"]}
    assert kinds == {"implementation", "memcpy", "exp+log1p"}
    modes = {c["mode"] for c in document["cases"] if c["kind"] == "implementation"}
    assert modes == {"forward", "forward+backward"}
    for case in document["cases"]:
        assert case["median"] > 0 and case["rounds"] >= 5 and case["first_call_seconds"] > 0
        assert case["ns_per_element"] == pytest.approx(case["median"] / 1000 * 1e9)
        assert len(case["process_medians"]) == timing.PROCESSES  # one sample per worker process
        assert case["q1"] <= case["median"] <= case["q3"]
    implementation = next(c for c in document["cases"] if c["kind"] == "implementation")
    assert implementation["vs_fastest"] >= 1.0 and implementation["wall"] in ("memory", "compute")
    assert implementation["efficiency"] > 0 and 0 < implementation["vs_memory_copy"] < 10
    assert document["machine"]["cpu"]  # pytest-benchmark's machine information
    assert len(document["pytest_benchmark"]) == timing.PROCESSES  # its own JSON, one per worker


def _stats(median, spread):
    return {"median": median, "q1": median * (1 - spread), "q3": median * (1 + spread), "iqr": 2 * spread * median}


def _pair(change, old_spread, new_spread):
    old = {"cases": [{"id": "c", "kind": "implementation", **_stats(1.0, old_spread)}]}
    new = {"cases": [{"id": "c", "kind": "implementation", **_stats(1.0 + change, new_spread)}]}
    return old, new


@pytest.mark.parametrize(
    "change, spread, fail_over, verdict",
    [
        (0.20, 0.02, 10, "slower"),     # 20 % slower, quartiles apart: flagged
        (0.20, 0.15, 10, "unchanged"),  # 20 % slower but within the run's own noise: not flagged
        (0.05, 0.01, 10, "unchanged"),  # beyond the noise but under the threshold
        (-0.30, 0.02, 10, "faster"),
    ],
)
def test_regression_needs_the_threshold_and_to_clear_the_noise(change, spread, fail_over, verdict):
    old, new = _pair(change, spread, spread)
    result = speed.regressions(old, new, fail_over)
    assert [name for name, rows in result.items() if rows] == [verdict]


def test_save_and_compare_through_the_command(document, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(timing, "SAVED", tmp_path)
    fast = copy.deepcopy(document)
    for case in fast["cases"]:  # a baseline five times faster than anything this run can measure
        if case["kind"] == "implementation":
            for key in ("median", "q1", "q3"):
                case[key] = case[key] / 5
    (tmp_path / "fast.json").write_text(json.dumps(fast))
    args = ["bench", "--framework", "numpy", "--implementation", "numpy.stable_logits", "--mode", "forward",
            "--size", "1e3"]
    assert cli.main([*args, "--compare", "fast", "--save", "now"]) == 1
    assert "SLOWER" in capsys.readouterr().out
    assert (tmp_path / "now.json").exists() and (tmp_path / "now-pytest-benchmark-0.json").exists()
    slow = copy.deepcopy(fast)
    for case in slow["cases"]:
        if case["kind"] == "implementation":
            for key in ("median", "q1", "q3"):
                case[key] = case[key] * 25
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    assert cli.main([*args, "--compare", "slow"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--framework", "theano"], "unknown framework"),
        (["--framework", "numpy", "--size", "big"], "expected numbers"),
        (["--framework", "numpy", "--mode", "sideways"], "--mode"),
        (["--framework", "numpy", "--compare", "no-such-run"], "--compare no-such-run"),
    ],
)
def test_bad_requests_exit_2(args, message, capsys):
    assert cli.main(["bench", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_case_asked_for_and_not_timed_is_lost_and_one_not_asked_for_is_not():
    case = {"id": "numpy/cpu/numpy.stable_logits/float32/forward/1000", "kind": "implementation",
            "framework": "numpy", "implementation": "numpy.stable_logits", "dtype": "float32", "mode": "forward",
            "size": 1000, "device": "cpu", "median": 1e-6, "q1": 1e-6, "q3": 1e-6}
    baseline = {"cases": [case]}
    asked = {"frameworks": ["numpy"], "implementations": None, "dtypes": ["float32"], "modes": ["forward"],
             "sizes": [1000], "devices": None}
    vanished = {"cases": [], "failed": [], "selection": asked}
    assert speed.regressions(baseline, vanished, 10)["lost"] == [(case["id"], "not timed in this run")]
    narrower = {"cases": [], "failed": [], "selection": {**asked, "modes": ["backward"]}}
    assert speed.regressions(baseline, narrower, 10)["lost"] == []


def _timed(framework, device, kind, median, implementation="impl"):
    return {"id": f"{framework}/{device}/{implementation}/{kind}", "framework": framework, "device": device,
            "kind": kind, "implementation": implementation, "dtype": "float32", "size": 1000, "mode": "forward",
            "median": median}


def test_each_device_is_judged_against_its_own_walls():
    """The GPU's copy and fused pass never bound a CPU case, nor the CPU's a GPU case; PyTorch's cuda
    and JAX's gpu are one GPU, so the fastest wall of either bounds both."""
    cases = timing.analyse([
        _timed("numpy", "cpu", "memcpy", 4e-6), _timed("torch", "cpu", "exp+log1p", 3e-6),
        _timed("torch", "cuda", "memcpy", 1e-7), _timed("jax", "gpu", "exp+log1p", 2e-7),
        _timed("torch", "cuda", "exp+log1p", 5e-7),
        _timed("numpy", "cpu", "implementation", 1e-5), _timed("jax", "gpu", "implementation", 4e-7),
    ])
    on_cpu, on_gpu = (c for c in cases if c["kind"] == "implementation")
    assert on_cpu["memory_wall_s"] == pytest.approx(4e-6 * 1.5) and on_cpu["compute_wall_s"] == 3e-6
    assert on_cpu["efficiency"] == pytest.approx(0.6) and on_cpu["vs_fastest"] == 1.0
    assert on_gpu["memory_wall_s"] == pytest.approx(1e-7 * 1.5) and on_gpu["compute_wall_s"] == 2e-7
    assert on_gpu["wall"] == "compute" and on_gpu["efficiency"] == pytest.approx(0.5)


def test_no_wall_timed_is_no_efficiency():
    (case,) = (c for c in timing.analyse([_timed("jax", "gpu", "implementation", 1e-6)])
               if c["kind"] == "implementation")
    assert case["efficiency"] is None and case["vs_memory_copy"] is None


def test_the_default_report_times_every_implementation_it_judged(tmp_path):
    """The scorecard's time column was empty ("—" in every row) unless the report was built with
    --bench: now one quick pass (forward, 10^5 elements, one process a framework) fills it."""
    pytest.importorskip("matplotlib")
    assert cli.main(["report", "--framework", "numpy", "--dtype", "float32", "--out", str(tmp_path),
                     "--quiet"]) == 0
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    timed = results["speed"]["cases"]
    assert results["speed"]["selection"]["sizes"] == [100_000] and {c["mode"] for c in timed} == {"forward"}
    assert {len(c["process_medians"]) for c in timed} == {1}
    judged = {r["implementation"] for r in results["checks"] if r.get("check") == "accuracy"}
    assert judged and judged <= {c["implementation"] for c in timed if c["kind"] == "implementation"}
    scorecard = (tmp_path / "latest" / "report.md").read_text().split("## Scorecard")[1].split("\n## ")[0]
    rows = [line for line in scorecard.splitlines() if line.startswith("| ") and "(numpy, cpu)" in line]
    assert rows and all(line.rstrip(" |").endswith("×") or line.rstrip(" |").endswith("×★") for line in rows)


def test_the_parent_of_a_bench_or_a_listing_loads_no_framework(monkeypatch, capsys):
    """PaddlePaddle imported after TensorFlow ends a process with SIGSEGV: planning every framework in
    the one process that times them all (and listing them in one) killed the report's speed pass and
    `bcebench frameworks` where both are installed. Each is now loaded in a process of its own."""
    from bcebench.adapters import base

    def refuse(*_, **__):
        raise AssertionError("a framework was loaded in the parent process")

    monkeypatch.setattr(base, "load", refuse)
    cases, reason = timing._plan("numpy", [{"dtype": "float32", "size": 1000, "patterns": ["*"],
                                            "modes": ["forward"], "devices": None}], None, None)
    assert reason == "" and {c["kind"] for c in cases} == {"implementation", "memcpy", "exp+log1p"}
    assert cli.main(["frameworks", "--framework", "numpy", "--framework", "sklearn"]) == 0
    assert capsys.readouterr().out.startswith("numpy ")
