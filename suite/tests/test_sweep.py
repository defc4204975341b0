"""Exhaustive sweeps: the fast path against mpmath alone on a float32 block, every float16 input of
every built-in implementation, exact merging, resuming, a lost worker, and a fault at one input."""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="sweeps run on Dask: pip install 'bcebench[sweep]'")

from bcebench.adapters import base
from bcebench.reference import metrics, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, from_bits
from bcebench.suite.cli import common
from bcebench.suite.sweep import exhaustive as sweep
from bcebench.suite.sweep.stats import Stats, exact_error

ROOT = Path(__file__).resolve().parents[2]
ADAPTER_NUMPY = base.load("numpy")[0]


def target(implementation="numpy.stable_logits", dtype="float16", quantity="loss", label=1.0, user=None):
    return sweep.Target("numpy", implementation, dtype, quantity, label, user, "logits" if user else None)


def test_named_ranges_count_what_they_say():
    fmt = FORMATS["float16"]
    size = lambda name: sum(b - a for a, b in sweep.intervals(name, fmt))  # noqa: E731
    assert size("all") == 2**16 and size("positive") == size("negative") == 2**15
    assert size("normal") == 2 * 30 * 2**10  # exponents 1..30, 10 fraction bits, both signs
    assert size("subnormal") == 2 * (2**10 - 1)
    assert sweep.intervals("0x10:0x20", fmt) == [(16, 32)]
    for bad in ("everything", "0x20:0x10", "5:70000"):
        with pytest.raises(sweep.SweepError):
            sweep.intervals(bad, fmt)


def test_a_float32_block_through_the_fast_path_equals_mpmath_alone():
    """2^16 float32 gradients with y = 1 around z = 16, where σ(z) − 1 needs care: every count,
    bin, mismatch and worst input agrees between the fast path and the mpmath path."""
    block = (0x41800000, 0x41800000 + 2**16)
    t = target(dtype="float32", quantity="grad")
    fast = sweep.run_shard(t, *block)
    slow = sweep.run_shard(t, *block, fast=False)
    assert slow.mpmath_count == 2**16 and fast.mpmath_count < 2**16
    assert fast.same_findings(slow)


def _elementwise():
    params = []
    for name in base.REGISTRY:
        adapter, reason = base.load(name)
        if adapter is None:
            params.append(pytest.param(name, None, marks=pytest.mark.skip(reason=f"{name}: {reason}")))
            continue
        params += [pytest.param(name, i.id, id=f"{name}-{i.id}") for i in adapter.implementations()
                   if i.reduction == "none"]
    return params


@pytest.mark.parametrize("framework, implementation", _elementwise())
def test_every_float16_input_of_every_builtin_implementation(framework, implementation):
    """All 65,536 float16 inputs (p in [0, 1] for the probability form), loss and gradient, y = 0
    and 1: every input is counted once,
    and the worst input, run again on its own, gives the value and error recorded."""
    first = sweep.Target(framework, implementation, "float16", "loss", 0.0)
    declined = sweep.probe(first)
    if declined:  # computed in another dtype (MONAI's FocalLoss): the sweep says so before it counts any ULP
        assert f"{implementation} returned shape (1,) float32 for one float16 input" in declined
        return
    given = sweep.load_implementation(first)[1].derivatives
    for quantity in ("loss", "grad") if given else ("loss",):
        for label in (0.0, 1.0):
            t = sweep.Target(framework, implementation, "float16", quantity, label)
            spans = sweep.intervals("all", FORMATS["float16"], sweep.load_implementation(t)[1].form)
            stats = Stats()
            for a, b in spans:
                stats = stats.merge(sweep.run_shard(t, a, b))
            assert stats.total == sum(b - a for a, b in spans)
            wrong = sum(stats.histogram.values()) + sum(n for k, n in stats.mismatches.items() if k != "zero-sign")
            assert stats.correct + wrong == stats.total
            specials = {k for k in stats.mismatches if k != "zero-sign"}
            assert {e["kind"] for e in stats.specials} <= specials and bool(stats.specials) == bool(specials)
            if not stats.worst:
                continue
            worst = stats.worst[0]
            adapter, impl = sweep.load_implementation(t)
            # again in the block it came from: TensorFlow's result at an input can depend on the array's
            # length (its vectorised loop and its scalar tail round differently)
            a, b = next((a, b) for a, b in spans if a <= worst["pattern"] < b)
            block, labels = sweep._inputs(t, FORMATS["float16"], a, b)
            at = worst["pattern"] - a
            got = adapter.run(impl, quantity, block, labels, "cpu")[at : at + 1]
            x, y = block[at : at + 1], labels[at : at + 1]
            assert repr(float(got[0])) == worst["got"]
            spec = Spec(quantity, impl.form, **impl.oracle)
            assert worst["error"] == stats.max_error == exact_error(float(got[0]), spec, float(x[0]), label,
                                                                     FORMATS["float16"])
            approximate = metrics.ulp_error(got, oracle.evaluate(spec, x, y))[0]  # exact to ~40 bits there
            assert approximate == pytest.approx(worst["error"], rel=1e-6)


def test_merging_is_associative_and_commutative():
    t = target(quantity="grad", label=0.0)
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, 2**16), 9))
    pieces = [sweep.run_shard(t, a, b) for a, b in zip([0, *cuts], [*cuts, 2**16], strict=True)]
    whole = sweep.run_shard(t, 0, 2**16)
    for _ in range(5):
        rng.shuffle(pieces)
        left = Stats()
        for piece in pieces:
            left = left.merge(piece)
        right = Stats()
        for piece in reversed(pieces):
            right = piece.merge(right)
        assert left.same_findings(whole) and right.same_findings(whole)


def test_a_fault_at_one_random_float32_input_is_found(monkeypatch):
    pattern = random.Random().randrange(0x35800000, 0x42800000)  # z in [2^-20, 64): y = 1 gives a loss > 0
    monkeypatch.setenv("BCEBENCH_PLANTED_PATTERN", hex(pattern))
    start = pattern & ~0xFFFF
    t = target("user:bcebench.suite.tests.planted:wrong_at_one_input", "float32",
               user="bcebench.suite.tests.planted:wrong_at_one_input")
    stats = sweep.run_shard(t, start, start + 2**16)
    assert stats.worst[0]["pattern"] == pattern and stats.max_error > 2**20, hex(pattern)
    assert sum(1 for w in stats.worst if w["error"] > 4) == 1 and not stats.specials


def _sweep_command(tmp_path, *extra, env=None):
    command = [sys.executable, "-m", "bcebench.suite.cli", "sweep", "--framework", "numpy", "--dtype", "float16",
               "--checkpoint", str(tmp_path / "checkpoints"), "--workers", "2", *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def test_an_interrupted_sweep_resumes_and_loses_no_finished_shard(tmp_path):
    args = ("--impl", "bcebench.suite.tests.planted:slow_correct", "--form", "logits", "--shard-size", "2048")
    first = _sweep_command(tmp_path, *args, "--out", str(tmp_path / "first.json"))
    folder = tmp_path / "checkpoints"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = list(folder.glob("*.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 4:  # the header and three shards
            break
        time.sleep(0.05)
    first.kill()
    first.wait()
    finished = len(files[0].read_text().splitlines()) - 1
    assert 3 <= finished < 32 and not (tmp_path / "first.json").exists()
    second = _sweep_command(tmp_path, *args, "--out", str(tmp_path / "second.json"))
    assert second.wait(timeout=300) == 0, second.stderr.read()
    resumed = json.loads((tmp_path / "second.json").read_text())
    assert resumed["resumed_shards"] >= finished and resumed["shards"] == 32
    whole = sweep.run_shard(target("user:bcebench.suite.tests.planted:slow_correct",
                                   user="bcebench.suite.tests.planted:slow_correct"), 0, 2**16)
    assert Stats.from_json(resumed["stats"]).same_findings(whole)


def test_a_shard_whose_worker_dies_is_run_again(tmp_path):
    marker = tmp_path / "died"
    run = _sweep_command(tmp_path, "--impl", "bcebench.suite.tests.planted:dies_once", "--form", "logits",
                         "--shard-size", "8192",
                         "--out", str(tmp_path / "result.json"), env={"BCEBENCH_DIES_ONCE": str(marker)})
    assert run.wait(timeout=300) == 0, run.stderr.read()
    assert marker.exists()
    result = json.loads((tmp_path / "result.json").read_text())
    whole = sweep.run_shard(target(), 0, 2**16)
    assert Stats.from_json(result["stats"]).same_findings(whole)


@pytest.mark.parametrize("extra, message", [
    (["--implementation", "numpy.absent"], "no implementation 'numpy.absent'"),
    (["--implementation", "numpy.stable_logits", "--range", "backwards"], "--range 'backwards'"),
    (["--implementation", "numpy.stable_logits", "--dtype", "float32", "--label", "pairs"], "16-bit dtype"),
    (["--framework", "numpy"], "give one --framework and --implementation"),
    (["--implementation", "numpy.stable_logits", "--device", "cuda"], "numpy has no device 'cuda' here"),
    (["--impl", "bcebench.suite.tests.planted:does_nothing", "--form", "logits", "--quantity", "grad"],
     "gives no grad in float16"),
    (["--impl", "bcebench.suite.tests.planted:unsupported_everywhere", "--form", "logits"], "declines every input"),
    (["--implementation", "numpy.textbook_probs", "--compare-with", "rewrite(probs)", "--quantity", "grad"],
     "rewrite(probs) gives no grad"),
    (["--implementation", "numpy.stable_logits", "--implementation", "numpy.textbook_probs"],
     "take different forms (numpy.stable_logits: logits, numpy.textbook_probs: probs)"),
    (["--implementation", "numpy.stable_logits", "--implementation", "rewrite(logits)", "--compare-with",
      "rewrite(logits)"], "--compare-with compares one implementation"),
    (["--implementation", "numpy.stable_logits", "--implementation", "rewrite(logits)", "--out", "x.json"],
     "--out names one result"),
])
def test_bad_requests_exit_2_with_one_line(tmp_path, extra, message):
    run = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "sweep", "--framework", "numpy",
                          "--checkpoint", str(tmp_path), *extra], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == common.EXIT_USAGE and message in run.stderr and len(run.stderr.splitlines()) == 1


@pytest.mark.skipif(base.load("torch")[0] is None, reason="PyTorch is not installed")
def test_a_reduction_is_refused_before_any_work():
    """A mean has one value per call, not one per input: sweeping it ended in an IndexError traceback."""
    with pytest.raises(sweep.SweepError, match=r"reduces its inputs to one number \(mean\)"):
        sweep.require_support(sweep.Target("torch", "torch.binary_cross_entropy_with_logits[mean]", "float16",
                                           "loss", 0.0))


def test_a_dtype_the_framework_lacks_is_refused_with_its_reason(monkeypatch):
    """A framework that does not offer the dtype says why (its adapter's missing_dtypes)."""
    from bcebench.adapters.numpy_adapter import NumpyAdapter

    monkeypatch.setattr(NumpyAdapter, "missing_dtypes", lambda self, device: {"bfloat16": "no kernel for it here"})
    with pytest.raises(sweep.SweepError, match=r"numpy has no bfloat16 on cpu: no kernel for it here \(dtypes: "
                                               r"float16, float32, float64\)"):
        sweep.require_support(sweep.Target("numpy", "numpy.stable_logits", "bfloat16", "loss", 0.0))


def test_an_implementation_that_declines_is_never_counted_as_rejecting_every_input():
    """Unsupported met inside a shard (past the CLI's one-input probe) ends the sweep with its
    reason: counted as inputs rejected, it made a result of 0 % correctly rounded that judged nothing."""
    with pytest.raises(sweep.SweepError, match="declines every input"):
        sweep.run_shard(target("bcebench.suite.tests.planted:unsupported_everywhere",
                               user="bcebench.suite.tests.planted:unsupported_everywhere"),
                        0x3C00, 0x3C40)


def test_a_checkpoint_of_another_sweep_is_refused(tmp_path):
    t = target()
    path = sweep.checkpoint_path(tmp_path, t, [(0, 2**16)], 4096)
    path.write_text(json.dumps({"target": "something else"}) + "\n")
    with pytest.raises(sweep.SweepError, match="another sweep"):
        sweep.read_checkpoint(path, {"target": "mine"})


def test_the_two_variable_sweep_walks_every_label_of_each_input():
    """--label pairs: index = x pattern · (labels in [0, 1]) + label number; a block of it gives the
    same findings as the one-variable sweeps of its x patterns at those labels."""
    fmt = FORMATS["bfloat16"]
    labels = sweep.label_values(fmt)
    assert labels[0] == 0 and labels[-1] == 1 and labels.size == 0x3F80 + 1  # +0 up to 1.0 in bfloat16
    t = sweep.Target("numpy", "numpy.stable_logits", "bfloat16", "loss", None)
    x_pattern = 0x4049  # 3.140625
    block = sweep.run_shard(t, x_pattern * labels.size, (x_pattern + 1) * labels.size)
    assert block.total == labels.size
    x, y = sweep._inputs(t, fmt, x_pattern * labels.size, (x_pattern + 1) * labels.size)
    assert np.all(x == x[0]) and np.array_equal(y, labels)
    got = ADAPTER_NUMPY.run(sweep.load_implementation(t)[1], "loss", x, y, "cpu")
    rounded = oracle.evaluate(Spec("loss", "logits"), x, y).rounded
    assert block.correct == int(np.sum(got.astype(np.float64) == rounded.astype(np.float64)))


def test_a_sweep_counts_each_failure_signature():
    """Every float16 input of a loss whose tail is cut to 0 below z = −8 (y = 0): each input there
    whose correctly rounded loss is normal counts as lost-tail, subnormal as flushed-subnormal."""
    from bcebench.suite.sweep.stats import measure

    fmt = FORMATS["float16"]
    patterns = np.arange(2**16)
    x = from_bits(patterns, fmt)
    labels = np.zeros(x.size)
    ref = oracle.evaluate(Spec("loss", "logits"), x, labels)
    with np.errstate(invalid="ignore"):
        cut = (x.astype(np.float64) < -8) & (ref.rounded != 0)
    got = np.where(cut, np.float16(0), ref.rounded)
    stats = measure(0, x, labels, got, ref, fmt)
    normal = cut & (np.abs(ref.rounded.astype(np.float64)) >= 2.0**-14)
    assert stats.signatures == {"lost-tail": int(normal.sum()), "flushed-subnormal": int((cut & ~normal).sum())}
    assert stats.signatures["lost-tail"] > 0 and stats.signatures["flushed-subnormal"] > 0


def _run(tmp_path, *extra):
    run = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "sweep", "--framework", "numpy", "--dtype",
                          "float16",
                          "--checkpoint", str(tmp_path / "checkpoints"), "--workers", "1", "--range",
                          "0x3c00:0x3c40", "--shard-size", "32", "--out", str(tmp_path / "result.json"), *extra],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads((tmp_path / "result.json").read_text()), run.stderr


def test_a_checkpoint_of_other_code_is_never_reused_and_a_finished_one_only_with_resume(tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text("import numpy as np\n\n\ndef bce(z, y):\n"
                    "    return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - y * z\n")
    args = ("--impl", f"{mine}:bce", "--form", "logits")
    first, _ = _run(tmp_path, *args)
    assert first["resumed_shards"] == 0 and first["shards"] == 2
    again, said = _run(tmp_path, *args)
    assert again["resumed_shards"] == 0 and "holds a finished sweep: computed again" in said
    reused, _ = _run(tmp_path, *args, "--resume")
    assert reused["resumed_shards"] == 2
    assert Stats.from_json(reused["stats"]).same_findings(Stats.from_json(first["stats"]))
    mine.write_text(mine.read_text().replace("np.maximum(z, 0) - y * z", "np.maximum(z, 0) - y * z + 0.5"))
    edited, said = _run(tmp_path, *args, "--resume")
    assert edited["resumed_shards"] == 0 and "was written by other code (implementation" in said
    assert edited["stats"]["correct"] < first["stats"]["correct"]


def test_a_torn_last_line_is_cut_off_and_a_record_without_stats_is_refused(tmp_path):
    t = target()
    header = {"target": "mine", "code": {"implementation": "a"}}
    shard = {"shard": [0, 32], "stats": sweep.run_shard(t, 0, 32).as_json()}
    path = tmp_path / "checkpoint.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(shard) + "\n" + '{"shard": [32, 64], "sta')
    done, complete, set_aside = sweep.read_checkpoint(path, header)
    assert list(done) == [(0, 32)] and not complete and not set_aside
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 2  # the torn line is gone
    path.write_text(json.dumps(header) + "\n" + json.dumps({"shard": [0, 32]}) + "\n")
    with pytest.raises(sweep.SweepError, match="line 2: not a shard record"):
        sweep.read_checkpoint(path, header)


def test_a_rewrite_result_is_named_after_its_framework():
    """rewrite(logits) is every framework's id: two frameworks' sweeps of it must not share a file."""
    names = {sweep.result_name(sweep.Target(framework, "rewrite(logits)", "float32", "loss", 0.0), "all")
             for framework in ("torch", "jax")}
    assert names == {"float32-torch-rewrite_logits_-loss-y0-all.json", "float32-jax-rewrite_logits_-loss-y0-all.json"}
    keras = {sweep.result_name(sweep.Target(framework, "keras.ops.binary_crossentropy(from_logits=True)", "float16",
                                            "loss", 0.0), "all") for framework in ("keras-jax", "keras-torch")}
    assert len(keras) == 2  # one Keras name, two backends: two files


def test_a_result_in_another_dtype_is_refused_before_the_sweep():
    """A function that returns float64 for float16 inputs was swept as if its float64 bits were the
    dtype's results: 30 % correctly rounded, worst 3.8e-317 ULPs. The one-input probe refuses it."""
    spec = "bcebench.suite.tests.planted:computes_in_float64"
    declined = sweep.probe(target(spec, user=spec))
    assert declined == (f"user:{spec} returned shape (1,) float64 for one float16 input: a sweep judges one result "
                        "per input, in the input's dtype")
    assert sweep.probe(target()) is None


def test_one_oracle_pass_judges_several_implementations(monkeypatch):
    """Swept together, two implementations of the same function get the statistics each gets alone, from
    one evaluation of the oracle a chunk (a before/after comparison evaluated it twice); a focal loss
    beside them computes another function and gets its own."""
    calls = []
    evaluate = sweep._reference
    monkeypatch.setattr(sweep, "_reference", lambda spec, x, y, fast: calls.append(spec) or evaluate(spec, x, y, fast))
    both = (target(), target("rewrite(logits)"), target("numpy.focal_logits(alpha=0.25, gamma=2)"))
    together = sweep.run_shards(both, 0, 2**16)
    assert len(calls) == 2  # one chunk: BCE once, the focal loss once
    alone = [sweep.run_shard(t, 0, 2**16) for t in both]
    for joint, single in zip(together, alone, strict=True):
        assert joint.same_findings(single) and joint.total == 2**16
    with pytest.raises(sweep.SweepError, match="another quantity"):
        sweep.same_inputs((target(), target(quantity="grad")))


def test_the_command_sweeps_several_implementations_into_a_result_each(tmp_path):
    """`--implementation` twice: one run, one result file for each beside the checkpoints, each naming the
    other it was swept with, each the statistics of that implementation alone."""
    names = ["numpy.stable_logits", "rewrite(logits)"]
    run = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "sweep", "--framework", "numpy", "--dtype",
                          "float16", "--range", "0x3c00:0x4400", "--workers", "1", "--checkpoint",
                          str(tmp_path / "checkpoints"), *[a for n in names for a in ("--implementation", n)]],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name, other in (names, names[::-1]):
        path = tmp_path / sweep.result_name(target(name), "0x3c00:0x4400")
        document = json.loads(path.read_text())
        assert document["swept_with"] == [other] and f"{name}: 2048 inputs" in run.stdout
        assert Stats.from_json(document["stats"]).same_findings(sweep.run_shard(target(name), 0x3C00, 0x4400))
    assert "one oracle pass" in run.stdout


def test_your_function_beside_a_rewrite_is_timed_as_the_rewrite_is(tmp_path):
    """`--impl` with `--compare-with`: both swept and both timed by the bench harness in one run, each
    result carrying its own time per element (the user's function by its declaration, not as a built-in)."""
    (tmp_path / "mine.py").write_text("from bcebench.adapters.numpy_adapter import stable_logits as bce\n")
    run = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "sweep", "--framework", "numpy", "--impl",
                          "./mine.py:bce", "--form", "logits", "--dtype", "float16", "--range", "0x3c00:0x3e00",
                          "--compare-with", "rewrite(logits)", "--workers", "1", "--checkpoint", "cp"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    documents = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]
    assert sorted(d["target"]["implementation"] for d in documents) == ["./mine.py:bce", "rewrite(logits)"]
    assert all(d["speed"]["seconds_per_element"] > 0 for d in documents)
