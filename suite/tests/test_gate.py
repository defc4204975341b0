"""The gate itself: it catches planted faults, passes a correct implementation, survives crashes
and hangs, writes its results, and keeps the `bcebench check` contract (exit 0 / 1 / 2)."""

import json
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import mpmath
import numpy as np
import pytest

from bcebench.adapters import base
from bcebench.adapters.numpy_adapter import NumpyAdapter
from bcebench.reference.formats import FORMATS
from bcebench.reports.results import SCHEMA_VERSION
from bcebench.suite import cli
from bcebench.suite.checks import cases, elementwise
from bcebench.suite.cli import common
from bcebench.suite.gate import controller, planning, verdicts
from bcebench.suite.policy import explain
from bcebench.suite.policy.bounds import load_policy
from bcebench.suite.policy.data_files import PolicyError
from bcebench.suite.policy.deviations import Condition, Deviation, Explains, load_deviations
from bcebench.suite.tests import planted

POLICY = load_policy("strict")
ADAPTER = NumpyAdapter()
DTYPES = ("float16", "bfloat16", "float32", "float64")


def run_planted(name: str, reduction: str = "none") -> list[dict]:
    impl = base.Implementation(f"user:bcebench.suite.tests.planted:{name}", "numpy", "logits", getattr(planted, name),
                               reduction=reduction)
    selection = planning.Selection(["numpy"])
    return [r for dtype in DTYPES for r in planning.run_in_process(ADAPTER, impl, "cpu", dtype, selection, POLICY, ())]


# (planted fault, the check that must catch it, its quantity)
FAULTS = [
    ("naive_sigmoid_then_log", "accuracy", "loss"),
    ("gradient_off_by_one_part_in_a_thousand", "accuracy", "grad"),
    ("float64_through_float32", "accuracy", "loss"),
    ("logits_clamped_to_15", "accuracy", "loss"),
    ("soft_labels_rounded_to_hard", "accuracy", "loss"),
    ("nan_replaced_by_zero", "special", "loss"),
    ("writes_into_its_input", "unchanged-inputs", "hess"),
]


@pytest.mark.parametrize("name, check, quantity", FAULTS)
def test_planted_fault_is_caught(name, check, quantity):
    records = run_planted(name)
    caught = [r for r in records if r["verdict"] == "fail" and r["check"] == check and r["quantity"] == quantity]
    assert caught, f"{name} was not caught by {check}/{quantity}"
    assert not verdicts.gate_passes(records)


def test_mean_over_n_minus_1_is_caught():
    records = run_planted("mean_divided_by_n_minus_1", reduction="mean")
    assert any(r["verdict"] == "fail" and r["check"] == "reduction" for r in records)


def test_float64_through_float32_fails_only_in_float64():
    failing = {r["dtype"] for r in run_planted("float64_through_float32") if r["verdict"] == "fail"}
    assert failing == {"float64"}


def test_correct_implementation_passes_every_check():
    records = run_planted("correct")
    assert len(records) > 100
    assert verdicts.failures(records) == []
    assert {r["verdict"] for r in records} == {"pass"}


def check_command(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "check", *args], capture_output=True, text=True,
                          cwd=cwd or Path(__file__).resolve().parents[2], check=False)


def test_user_file_implementation_plugs_in_and_writes_results(tmp_path):
    """A user's function in a file, through the command line; results as JSON and JUnit XML."""
    module = tmp_path / "mine.py"
    module.write_text("from adapters.numpy_adapter import stable_logits as mine\n")
    results, junit = tmp_path / "out" / "results.json", tmp_path / "junit.xml"
    done = check_command("--framework", "numpy", "--impl", f"{module}:mine", "--form", "logits", "--with-builtins",
                         "--dtype", "float32", "--json", str(results), "--junit", str(junit))
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(results.read_text())
    assert document["schema_version"] == SCHEMA_VERSION and document["passed"]
    assert document["metadata"]["frameworks"]["numpy"]["version"]
    assert document["metadata"]["policy"]["name"] == "strict"
    ids = {r["implementation"] for r in document["checks"]}
    assert "user:mine.py:mine" in ids and "numpy.stable_logits" in ids  # beside the built-ins
    suites = ElementTree.parse(junit).getroot().findall("testsuite")
    assert int(suites[0].get("tests")) == len(document["checks"])
    assert not list(tmp_path.glob("out/.results.json.*"))  # no temporary file left behind


def test_failing_gate_exits_1_and_prints_a_repro():
    done = check_command("--framework", "numpy", "--impl", "bcebench.suite.tests.planted:logits_clamped_to_15",
                         "--form", "logits",
                         "--implementation", "user:*", "--dtype", "float32")
    assert done.returncode == 1
    assert "Gate FAILED" in done.stdout and "repro: bcebench check" in done.stdout
    repro = next(line for line in done.stdout.splitlines() if "repro:" in line).split("repro: ")[1]
    replay = check_command(*shlex.split(repro)[2:])  # the repro line, run as written
    assert replay.returncode == 1 and "1 checks: 1 fail" in replay.stdout


def test_repro_input_runs_one_element(tmp_path):
    """--input X:Y runs the accuracy checks on that one input: z = 20 (0x41a00000), y = 0."""
    results = tmp_path / "results.json"
    check_command("--framework", "numpy", "--implementation", "numpy.stable_logits", "--dtype", "float32",
                  "--input", "0x41a00000:0x0", "--json", str(results))
    document = json.loads(results.read_text())
    assert {r["count"] for r in document["checks"]} == {1} and document["passed"]


def test_a_crash_and_a_hang_are_recorded_and_the_run_goes_on(tmp_path):
    results = tmp_path / "results.json"
    done = check_command("--framework", "numpy", "--impl", "bcebench.suite.tests.planted:kills_its_process", "--form",
                         "logits",
                         "--implementation", "user:*", "--dtype", "float32", "--check", "accuracy",
                         "--quantity", "loss", "--json", str(results))
    assert done.returncode == 1
    checks = json.loads(results.read_text())["checks"]
    assert [r["verdict"] for r in checks] == ["crashed"] * 9  # every accuracy case, each in a fresh worker
    assert "the process died (exit 13)" in checks[0]["message"]
    check_command("--framework", "numpy", "--impl", "bcebench.suite.tests.planted:hangs", "--form", "logits",
                  "--implementation", "user:*", "--dtype", "float32", "--check", "accuracy", "--quantity",
                  "loss", "--timeout", "3", "--json", str(results))
    checks = json.loads(results.read_text())["checks"]
    assert "ran past the time limit of 3 s" in checks[0]["message"] and len(checks) == 9


def test_a_worker_that_dies_before_planning_is_a_crash_named_as_such(tmp_path):
    """The command imports the user's module to validate it; the worker, importing it second, dies."""
    (tmp_path / "second_import_dies.py").write_text(
        "import os\nfrom pathlib import Path\n\nimported = Path(__file__).with_suffix('.imported')\n"
        "if imported.exists():\n    os._exit(13)\nimported.write_text('')\n"
        "from bcebench.suite.tests.planted import correct  # noqa: E402\n")
    done = check_command("--framework", "numpy", "--impl", "second_import_dies.py:correct", "--form", "logits",
                         "--implementation", "user:*", "--dtype", "float32", "--json", "results.json", cwd=tmp_path)
    checks = json.loads((tmp_path / "results.json").read_text())["checks"]
    assert done.returncode == 1 and [r["id"] for r in checks] == ["numpy/worker"]
    assert "the worker ended before its first check: the process died (exit 13)" in checks[0]["message"]
    assert ("nothing judged for your implementation user:second_import_dies.py:correct: its numpy worker ended "
            "first") in done.stdout
    assert done.stdout.count("--implementation 'user:*' matched no implementation that ran") == 1  # said once


@pytest.mark.parametrize(
    "args, message",
    [
        (["--framework", "theano"], "unknown framework 'theano'"),
        (["--framework", "numpy", "--policy", "no/such/policy.toml"], "no such file"),
        (["--framework", "numpy", "--impl", "nowhere.py:fn", "--form", "logits"], "no such file"),
        (["--framework", "numpy", "--impl", "bcebench.suite.tests.planted:absent", "--form", "logits"],
         "no function 'absent'"),
        (["--framework", "numpy", "--impl", "bcebench.suite.tests.planted:correct"],
         "--impl needs one --framework and --form"),
        (["--framework", "numpy", "--input", "zz:0", "--dtype", "float32"], "not a hex bit pattern: 'zz'"),
    ],
)
def test_bad_requests_exit_2_with_one_line(args, message, capsys):
    assert cli.main(["check", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_run_that_executes_no_check_fails(capsys):
    assert cli.main(["check", "--framework", "numpy", "--implementation", "nothing-matches"]) == 1
    assert "no check ran" in capsys.readouterr().err


def test_policy_files_are_validated(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[bound]]\nquantity = "loss"\nmax_ulp = 1\nreason = "x"\n')
    with pytest.raises(PolicyError, match="last bound must match everything"):
        load_policy(str(bad))
    bad.write_text("[[bound]\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(str(bad))
    assert load_policy("relaxed").bounds[0].scale == "absolute"


def test_deviation_that_no_longer_reproduces_is_reported(tmp_path):
    stale = tmp_path / "deviations.toml"
    stale.write_text('[[deviation]]\nimplementation = "numpy.stable_logits"\ncheck = "accuracy"\nquantity = "loss"\n'
                     'what = "pretends the careful form fails"\nwhy = "a test"\n[[deviation.explains]]\n'
                     'signature = "lost-tail"\nregion = ["z < 0"]\n')
    selection = planning.Selection(["numpy"], implementations=["numpy.stable_logits"], dtypes=["float32"])
    results = controller.run(selection, deviations_path=stale)
    assert results["passed"]
    assert results["stale_deviations"][0]["message"].startswith("no longer reproduces")


def _record(x, kinds, errors):
    record = {"implementation": "a", "check": "accuracy", "quantity": "loss", "verdict": "fail"}
    explain.attach(record, np.array(x, dtype=float), np.zeros(len(x)), np.array(kinds, dtype=object),
                   np.array(errors, dtype=float))
    return record


def _entry(what, signature, region, max_error=None):
    return Deviation("a", what, "a test", "", {"quantity": "loss"},
                     (Explains(signature, tuple(Condition.parse(c) for c in region), max_error),))


def test_a_deviation_explains_elements_in_its_region_not_whole_checks():
    """The lost tail at z < 0 is explained; an inaccurate element at z = 5 is not, and keeps the
    check failing with that element named first; an error beyond max_error is not explained either."""
    tail = _entry("tail", "lost-tail", ["z < 0"])
    small = _entry("small", "inaccurate", ["z > 0"], max_error=10.0)
    explained = explain.apply(_record([-20, -30, 5], ["lost-tail", "lost-tail", "inaccurate"], [1e7, 1e7, 8]),
                              (tail, small))
    assert explained["verdict"] == "known-deviation" and [d["what"] for d in explained["deviations"]] == [
        "tail", "small"]
    beyond = explain.apply(_record([-20, 5], ["lost-tail", "inaccurate"], [1e7, 10800]), (tail, small))
    assert beyond["verdict"] == "fail" and beyond["unexplained"] == 1
    assert beyond["message"].startswith("1 failing element(s) beyond the known deviations (inaccurate 1): first x=5.0")
    elsewhere = explain.apply(_record([-20, 5], ["lost-tail", "lost-tail"], [1e7, 1e7]), (tail,))
    assert elsewhere["verdict"] == "fail" and elsewhere["unexplained"] == 1


def test_an_entry_shadowed_by_an_earlier_one_or_whose_fault_went_away_is_stale():
    first, shadowed = _entry("first", "lost-tail", ["z < 0"]), _entry("shadowed", "lost-tail", ["z < -10"])
    records = [explain.apply(_record([-20], ["lost-tail"], [1e7]), (first, shadowed)),
               explain.apply(_record([-20], [""], [0.1]) | {"verdict": "pass"}, (first, shadowed))]
    assert records[0]["deviation"]["what"] == "first"
    assert [s["what"] for s in explain.stale(records, (first, shadowed))] == ["shadowed"]
    assert explain.stale([records[1]], (first,))[0]["what"] == "first"  # covered, and nothing failed


def test_every_known_deviation_has_an_explanation_and_a_link():
    for deviation in load_deviations():
        assert deviation.what and deviation.why and deviation.link.startswith("https://")


def test_relaxed_policy_passes_careful_code_and_still_catches_gross_faults():
    relaxed = load_policy("relaxed")
    selection = planning.Selection(["numpy"])
    for name, should_pass in (("correct", True), ("naive_sigmoid_then_log", False)):
        impl = base.Implementation(f"user:{name}", "numpy", "logits", getattr(planted, name))
        records = planning.run_in_process(ADAPTER, impl, "cpu", "float32", selection, relaxed, ())
        assert verdicts.gate_passes(records) is should_pass, name


def test_frameworks_command_lists_each_adapter(capsys):
    assert cli.main(["frameworks"]) == 0
    out = capsys.readouterr().out
    for name in base.REGISTRY:
        assert out.count(f"{name} ") >= 1
    assert "numpy.stable_logits (logits)" in out and "numpy.textbook_probs (probs, not gating)" in out


def test_weighted_mean_is_judged_against_the_exact_weighted_mean():
    """The reduction scikit-learn's sample weights give: a correct Σ wᵢLᵢ / Σ wᵢ passes every
    dtype, the plain mean in its place fails the reduction checks."""
    right = run_planted("weighted_mean", reduction="weighted-mean")
    assert right and all(r["verdict"] == "pass" for r in right), verdicts.failures(right)
    wrong = run_planted("weighted_mean_ignoring_weights", reduction="weighted-mean")
    # float64 tells the means apart in every case; a 16-bit dtype may round both to one value
    assert {r["verdict"] for r in wrong if r["check"] == "reduction" and r["dtype"] == "float64"} == {"fail"}


def test_hard_label_implementations_get_the_hard_special_inputs():
    plain, hard = (planning.tasks_for("numpy", "cpu", base.Implementation("i", "numpy", "probs", planted.correct,
                                                                      hard_labels_only=only), "float32",
                                  planning.Selection(["numpy"])) for only in (False, True))
    assert {t["labels"] for t in plain if t["check"] == "special"} == {"special"}
    assert {t["labels"] for t in hard if t["check"] == "special"} == {"special-hard"}
    assert {t["labels"] for t in hard if t["check"] != "special"} <= {"hard", "mixed", "special-hard"} | {
        t["labels"] for t in hard if t["check"] == "claim"}
    case = cases.special_case("probs", "float32", hard_only=True)
    assert set(case.y.tolist()) == {0.0, 1.0} and case.x.size < cases.special_case("probs", "float32").x.size


def test_array_api_option_checks_a_namespace_as_its_own_framework(tmp_path):
    """NumPy 2 is an Array API namespace: `--array-api numpy` checks the generic adapter on it."""
    out = tmp_path / "results.json"
    code = cli.main(["check", "--array-api", "numpy", "--dtype", "float32", "--check", "accuracy", "--json", str(out)])
    results = json.loads(out.read_text())
    assert code == 0 and results["checks"]
    assert {r["framework"] for r in results["checks"]} == {"array-api:numpy"}


def test_workers_run_single_threaded_and_the_verdicts_do_not_depend_on_how_many(tmp_path):
    """Each worker gets one thread per framework (a planted function is right only there), and
    one executor or two judge the same checks alike, check by check (``compare --identical``)."""
    runs = []
    for jobs in ("1", "2"):
        results = tmp_path / f"jobs{jobs}.json"
        done = check_command("--framework", "numpy", "--impl",
                             "bcebench.suite.tests.planted:right_only_on_one_thread", "--form",
                             "logits", "--dtype", "float32", "--dtype", "float16", "--jobs", jobs,
                             "--json", str(results))
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(str(results))
    same = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "compare", *runs, "--identical"],
                          capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2])
    assert same.returncode == 0 and "identical" in same.stdout, same.stdout


def test_impl_is_always_checked_and_the_builtins_join_when_asked_for(tmp_path):
    module = tmp_path / "mine.py"
    module.write_text("from adapters.numpy_adapter import stable_logits as mine\n")
    common = ["--framework", "numpy", "--impl", f"{module}:mine", "--form", "logits", "--dtype", "float32"]
    ids = {}
    for extra in ([], ["--with-builtins"], ["--implementation", "numpy.stable*"]):
        results = tmp_path / "results.json"
        done = check_command(*common, *extra, "--json", str(results))
        assert done.returncode in (0, 1), done.stderr
        ids[tuple(extra)] = {r["implementation"] for r in json.loads(results.read_text())["checks"]}
    mine = "user:mine.py:mine"  # a path outside the folder it runs in, named by its file alone
    assert ids[()] == {mine}
    assert ids[("--with-builtins",)] == {mine, "numpy.stable_logits", "numpy.textbook_probs",
                                         "numpy.focal_logits(alpha=0.25, gamma=2)"}
    assert ids[("--implementation", "numpy.stable*")] == {mine, "numpy.stable_logits"}  # patterns add built-ins


def test_what_impl_computes_is_declared_on_the_command_line(tmp_path):
    """NumPy's focal loss as a user's function: right with --gamma/--alpha, wrong as plain BCE."""
    module = tmp_path / "focal.py"
    module.write_text("from adapters.numpy_adapter import focal_logits\nfocal = focal_logits(2.0, 0.25)\n")
    common = ["--framework", "numpy", "--impl", f"{module}:focal", "--form", "logits", "--dtype", "float32",
              "--check", "accuracy", "--quantity", "loss"]
    assert check_command(*common, "--gamma", "2", "--alpha", "0.25").returncode == 0
    assert check_command(*common).returncode == 1


@pytest.mark.parametrize("args, message", [
    (["--framework", "numpy", "--gamma", "2"], "--gamma describe(s) your implementation: give --impl"),
    (["--framework", "numpy", "--impl", "bcebench.suite.tests.planted:correct", "--form", "logits", "--alpha", "0.5"],
     "give gamma too"),
    (["--framework", "numpy", "--impl", "bcebench.suite.tests.planted:correct", "--form", "logits", "--weight", "-1"],
     "weight must be"),
])
def test_parameters_that_describe_nothing_are_exit_2(args, message, capsys):
    assert cli.main(["check", *args]) == common.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_a_failure_line_prints_the_exact_value_past_the_double_doubles_range():
    """The oracle's double-double stands in for values below 2^-960 (past |z| = 700) with a bound, which
    failure lines printed as the exact value: −9.86e-305 for the float32 gradient at z = 1000, y = 1,
    where the exact value is −σ(−1000) (``bcebench oracle grad --form logits --dtype float32 1000 1``)."""
    from bcebench.reference import oracle
    from bcebench.reference.exact import Spec
    from bcebench.suite.checks.judge import exact_text

    x, y = np.array([1000.0], dtype=np.float32), np.array([1.0], dtype=np.float32)
    ref = oracle.evaluate(Spec("grad", "logits"), x, y)
    assert exact_text(ref, Spec("grad", "logits"), x, y, 0) == "-5.0759588975494568e-435"


def test_a_quantity_an_implementation_lacks_plans_nothing_for_it():
    """--quantity hess with a focal loss (the oracle has no focal Hessian) ended the worker with an
    IndexError before its first check; the focal loss now has no task, the others theirs."""
    from bcebench.adapters.numpy_adapter import NumpyAdapter

    tasks = planning.plan(NumpyAdapter(), planning.Selection(["numpy"], quantities=["hess"]))
    assert tasks and not [t for t in tasks if "focal" in t["implementation"]]
    assert {t["quantity"] for t in tasks if t["check"] == "accuracy"} == {"hess"}


def test_a_part_measured_in_one_dtype_explains_nothing_in_another():
    """An explains table with a dtype is what that dtype showed: the same element in another dtype the
    entry matches stays unexplained, and the entry is not even covered there."""
    entry = Deviation("a", "tail", "a test", "", {"quantity": "loss"},
                      (Explains("lost-tail", (Condition.parse("z < 0"),), None, ("float16",)),))
    here = explain.apply(_record([-20], ["lost-tail"], [1e7]) | {"dtype": "float16"}, (entry,))
    there = explain.apply(_record([-20], ["lost-tail"], [1e7]) | {"dtype": "bfloat16"}, (entry,))
    assert here["verdict"] == "known-deviation"
    assert there["verdict"] == "fail" and "deviations_covered" not in there


# Every finite 16-bit value: 2^16 bit patterns less those whose exponent bits are all ones (±∞ and the
# NaNs: 2 × 2^10 in float16's 10-bit significand, 2 × 2^7 in bfloat16's 7-bit one); strictly between 0
# and 1, the positive patterns below 1.0 (0x3C00 in float16, 0x3F80 in bfloat16) less +0.
FINITE = {"float16": 65536 - 2 * 1024, "bfloat16": 65536 - 2 * 128}
INSIDE_0_1 = {"float16": 0x3C00 - 1, "bfloat16": 0x3F80 - 1}


@pytest.mark.parametrize("dtype", cases.EXHAUSTIVE_DTYPES)
def test_the_16_bit_cases_hold_every_input_once_per_label(dtype):
    for form, count in (("logits", FINITE[dtype]), ("probs", INSIDE_0_1[dtype])):
        for kind, labels in cases.EVERY_LABELS.items():
            case = cases.make_case(form, dtype, cases.EVERY, kind)
            assert case.x.size == count * len(labels)
            bits = case.x.view(np.uint16).reshape(len(labels), count)
            assert all(np.unique(row).size == count for row in bits) and (bits == bits[0]).all()
            wide = case.x.astype(np.float64)
            assert np.isfinite(wide).all() and (form == "logits" or ((wide > 0) & (wide < 1)).all())
            assert [float(v) for v in np.unique(case.y.astype(np.float64))] == sorted(
                float(cases.exact_cast(np.array([v]), FORMATS[dtype]).astype(np.float64)[0]) for v in labels)


def test_the_16_bit_plan_judges_every_input_and_draws_only_random_labels():
    impl = base.Implementation("i", "numpy", "logits", planted.correct)
    plan = planning.tasks_for("numpy", "cpu", impl, "float16", planning.Selection(["numpy"]))
    accuracy = {(t["regime"], t["labels"]) for t in plan if t["check"] == "accuracy"}
    assert accuracy == {("every", "hard"), ("every", "soft"), ("wide", "random"), ("moderate", "random"),
                        ("overflow", "random")}
    wider = planning.tasks_for("numpy", "cpu", impl, "float32", planning.Selection(["numpy"]))
    assert {(t["regime"], t["labels"]) for t in wider if t["check"] == "accuracy"} == {
        (regime, kind) for regime in cases.REGIMES["logits"] for kind in cases.LABELS}


def test_one_wrong_float16_input_that_no_draw_meets_fails_the_gate(monkeypatch):
    """A function right everywhere but at z = 0x4248 (3.140625): no drawn case holds it, and the
    exhaustive cases find it, once per label, and say they judged every input."""
    monkeypatch.setenv("BCEBENCH_PLANTED_PATTERN", "0x4248")
    impl = base.Implementation("user:bcebench.suite.tests.planted:wrong_at_one_input", "numpy", "logits",
                               planted.wrong_at_one_input)
    records = planning.run_in_process(ADAPTER, impl, "cpu", "float16", planning.Selection(["numpy"]), POLICY, ())
    drawn = [cases.make_case("logits", "float16", regime, "random") for regime in cases.REGIMES["logits"]]
    assert not any((case.x.view(np.uint16) == 0x4248).any() for case in drawn)
    failing = {r["labels"]: r for r in records if r["verdict"] == "fail"}
    assert set(failing) == {"hard", "soft"} and not verdicts.gate_passes(records)
    assert failing["hard"]["failures"] == 2 and failing["soft"]["failures"] == len(cases.SOFT_LABELS)
    assert failing["hard"]["worst"][0]["x"]["hex"] == "0x4248"
    assert all(r["exhaustive"] and r["count"] == FINITE["float16"] * len(cases.EVERY_LABELS[r["labels"]])
               for r in failing.values())


def test_the_exact_sum_of_a_reduction_is_mpmaths_exact_sum():
    """Σ wᵢvᵢ of float64 terms over the whole exponent range (subnormals, ±max, both zeros) with the
    weighted mean's weights, against mpmath adding the same products one by one at 2200 bits, where
    every such sum is exact."""
    rng = np.random.default_rng(20261205)
    values = rng.standard_normal(3000) * np.exp2(rng.integers(-1074, 1000, 3000).astype(np.float64))
    values = np.concatenate([values, [5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 0.0, -0.0]])
    weights = base.sample_weights(values.size)
    with mpmath.workprec(2200):
        expected = mpmath.fsum(mpmath.mpf(w) * v for w, v in zip(weights, values, strict=True))
        assert elementwise.exact_sum(values, weights) == expected
        assert elementwise.exact_sum(values[:1], weights[:1]) == mpmath.mpf(values[0])
        assert elementwise.exact_sum(np.zeros(0), np.zeros(0)) == 0
