"""Reproducers: the committed scripts fail today in a process that can import only their framework,
each built-in's standalone source computes what its adapter checks, the accepted interval is the
policy's, a reproducer passes once the fault is gone, and bad requests are one line and exit 2."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bcebench.adapters import standalone
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS
from bcebench.suite.policy.bounds import load_policy
from bcebench.suite.policy.deviations import load_deviations
from bcebench.suite.repro import findings as repro

ROOT = Path(__file__).resolve().parents[2]
REPRO = ROOT / "reports" / "repro"
SCRIPTS = sorted(REPRO.glob("*.py"))
GPU_DEVICES = ("cuda", "gpu")

BLOCKER = """import importlib.machinery, runpy, sys, sysconfig
ALLOWED = set(sys.argv[1].split(","))
STDLIB = tuple(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib"))
def shipped_inside_allowed():
    return tuple(folder + "/" for top, module in list(sys.modules.items())
                 if top in ALLOWED for folder in getattr(module, "__path__", None) or [])
class OnlyTheFramework:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ALLOWED or top in sys.stdlib_module_names or "." in name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or (spec.origin or "").startswith(STDLIB):  # absent anyway, or a private stdlib module
            return None
        places = [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])  # a namespace
        if places and all(place.startswith(shipped_inside_allowed()) for place in places):  # vendored (setuptools)
            return None
        raise ModuleNotFoundError(f"{top} is installed but not the framework's (blocked)", name=name)
sys.meta_path.insert(0, OnlyTheFramework())
script = sys.argv[2]
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
"""


def requirement_closure(names: tuple[str, ...]) -> set[str]:
    """The distributions ``names`` need, transitively (extras and unmet markers left out)."""
    seen, todo = set(), [canonicalize_name(_installed_name(n)) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def importable_modules(framework: str) -> set[str]:
    """The top-level modules of the framework's distributions and of what they require."""
    closure = requirement_closure(standalone.FRAMEWORKS[framework].requires)
    return {module for module, distributions in importlib.metadata.packages_distributions().items()
            if any(canonicalize_name(d) in closure for d in distributions)}


def installed(framework: str) -> bool:
    return all(any(_has(d) for d in names.split("|")) for names in standalone.FRAMEWORKS[framework].requires)


def _installed_name(names: str) -> str:
    """The name, of "a|b", under which the distribution is installed (the first if none is)."""
    options = names.split("|")
    return next((d for d in options if _has(d)), options[0])


def _has(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run_alone(script: Path, framework: str) -> subprocess.CompletedProcess:
    """The script in a fresh isolated Python that can import the standard library and the
    framework's distributions, nothing else (bcebench included)."""
    allowed = ",".join(sorted(importable_modules(framework)))
    return subprocess.run([sys.executable, "-I", "-c", BLOCKER, allowed, str(script)], cwd=script.parent,
                          capture_output=True, text=True, timeout=600)


def constants(script: Path) -> dict:
    """The script's upper-case constants (FRAMEWORK, DEVICE, …), read without running it."""
    found = {}
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper():
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def imported_top_levels(script: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.partition(".")[0])
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_committed_reproducer_fails_today_with_only_its_framework(script):
    facts = constants(script)
    framework = facts["FRAMEWORK"]
    if not installed(framework):
        pytest.skip(f"{framework} is not installed here")
    if facts["DEVICE"] in GPU_DEVICES:
        pytest.skip(f"needs the {facts['DEVICE']} device, absent here")
    outside = imported_top_levels(script) - set(sys.stdlib_module_names) - importable_modules(framework)
    assert outside == set(), f"{script.name} imports {outside}, which {framework} does not require"
    done = run_alone(script, framework)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fault(s): present" in done.stdout and "blocked" not in done.stderr


def test_every_known_deviation_has_a_committed_reproducer():
    """Keyed by the entry's fingerprint: an entry edited since its reproducer was written has none. An
    entry whose ``reproducer`` says why no script can show it has none by design."""
    keys = {match.group(1) for s in SCRIPTS if (match := re.search(r"-([0-9a-f]{12})$", s.stem))}
    missing = [d.key for d in load_deviations()
               if d.key not in keys and d.keys.get("device") not in GPU_DEVICES and not d.reproducer]
    assert missing == [], f"no reproducer for {missing}: bcebench repro RESULTS --deviation all --verify"
    for script in SCRIPTS:
        assert script.with_suffix(".md").exists(), f"{script.name} has no issue text"


def test_gpu_entries_wait_for_a_device_run():
    """The device-keyed entries are reproduced where their device is: the device script writes them."""
    device_run = (ROOT / ".ci" / "device-run").read_text()
    assert "bcebench.suite.cli repro" in device_run and "--deviation all" in device_run and "--verify" in device_run


def _namespace(framework: str, implementation: str, dtype: str) -> dict:
    fw = standalone.FRAMEWORKS[framework]
    namespace = {"DEVICE": standalone.DEVICES.get(framework.removeprefix("keras-"), {}).get("cpu", "cpu"),
                 "DTYPE": dtype, "IMPLEMENTATION": implementation}
    exec("import contextlib, functools\n" + fw.imports, namespace)
    for text in (fw.array, fw.evaluate, fw.floats, fw.scope, standalone.source(framework, implementation)):
        exec(text, namespace)
    return namespace


SAME_SOURCE = """
import json, sys
import numpy as np
from bcebench.adapters import base
from bcebench.suite.checks import cases
from bcebench.suite.tests import test_repro
framework = sys.argv[1]
adapter, reason = base.load(framework)
compared = 0
for impl in adapter.implementations():
    if test_repro.standalone.source(framework, impl.id) is None:
        continue
    for dtype in ("float32", "bfloat16"):
        if dtype not in adapter.dtypes("cpu"):
            continue
        case = cases.make_case(impl.form, dtype, cases.REGIMES[impl.form][0], "hard")
        ns = test_repro._namespace(framework, impl.id, dtype)
        quantities = ("loss", "grad") if impl.derivatives and impl.reduction == "none" else ("loss",)
        for quantity in quantities:
            ours = np.asarray(adapter.run(impl, quantity, case.x, case.y, "cpu"), np.float64)
            with ns["scope"]():
                values, name, shape = ns["floats"](ns["evaluate"](ns["bce"], quantity, ns["array"](case.x.astype(
                    np.float64).tolist(), dtype), ns["array"](case.y.astype(np.float64).tolist(), dtype)))
            theirs = np.array(values).reshape(ours.shape)
            assert np.array_equal(ours.reshape(-1), theirs.reshape(-1), equal_nan=True), (impl.id, dtype, quantity)
            compared += 1
print(json.dumps(compared))
"""


@pytest.mark.parametrize("framework", sorted(standalone.SOURCES))
def test_standalone_source_computes_what_the_adapter_checks(framework):
    """Each built-in's standalone text, run as the scripts run it, gives the adapter's bits (loss and
    gradient, float32 and bfloat16), in a process of its own (Keras takes one backend per process)."""
    if not installed(framework):
        pytest.skip(f"{framework} is not installed here")
    done = subprocess.run([sys.executable, "-c", SAME_SOURCE, framework], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) > 0


def _record(**changes) -> dict:
    record = {"id": "torch/cpu/torch.binary_cross_entropy_with_logits/float32/accuracy/loss/wide-hard",
              "framework": "torch", "device": "cpu", "implementation": "torch.binary_cross_entropy_with_logits",
              "form": "logits", "family": "bce", "oracle": {}, "dtype": "float32", "check": "accuracy",
              "quantity": "loss", "regime": "wide", "labels": "hard", "verdict": "fail", "worst": []}
    return {**record, **changes}


def _worst(x: float, y: float, got: float, signature: str, dtype: str = "float32") -> dict:
    fmt = FORMATS[dtype]

    def element(v):
        return {"value": repr(v), "hex": hex(int(np.array([v], fmt.dtype).view(fmt.bits_dtype)[0]))}

    return {"x": element(x), "y": element(y), "got": element(got), "signature": signature, "error": 1e9}


def test_accepted_interval_is_the_policys_bound():
    """The interval's ends are within the bound and the next values out are not (strict: 4 ULPs)."""
    policy = load_policy("strict")
    record = _record()
    bound = policy.bound_for(record)
    fmt = FORMATS["float32"]
    x = np.float32(-3.0)
    expected, low, high, _ = repro.accepted(Spec("loss", "logits"), float(x), 0.0, fmt, bound)
    below, above = np.nextafter(np.float32(low), np.float32(-1)), np.nextafter(np.float32(high), np.float32(1))
    assert low < expected < high
    assert math.isclose(math.log1p(math.exp(-3.0)), expected, rel_tol=1e-6)  # L = ln(1 + e^z) at z = −3, y = 0
    from bcebench.reference import cache
    xs = np.array([x], np.float32)
    ref = cache.evaluate(Spec("loss", "logits"), xs, np.zeros(1, np.float32))
    for value, inside in ((low, True), (high, True), (below, False), (above, False)):
        error = bound.errors(np.array([value], np.float32), ref, fmt, xs, np.zeros(1, np.float32),
                             Spec("loss", "logits"))[0]
        assert (error <= bound.limit) == inside, (value, error)


def test_a_deviation_reproduces_only_the_inputs_it_explains():
    """A worst input outside the entry's region is never chosen: an entry that explains none of the
    record's inputs gives no reproducer."""
    policy = load_policy("strict")
    entries = {d.key: d for d in load_deviations()}
    lost_tail = next(d for d in entries.values() if d.implementation[0] == "torch.binary_cross_entropy_with_logits*"
                     and d.keys["quantity"] == "loss")
    inside = _worst(-20.0, 0.0, 0.0, "lost-tail")
    outside = _worst(20.0, 1.0, 0.0, "lost-tail")  # z > 0: no region of the entry
    found = repro.for_deviation(lost_tail, [_record(worst=[outside, inside])], policy, lambda r: True)
    assert [(e.x, e.signature) for e in found.elements] == [(-20.0, "lost-tail")]
    assert found.elements[0].expected > 0 and found.elements[0].low > 0  # 0 is outside what is accepted
    with pytest.raises(repro.ReproError):
        repro.for_deviation(lost_tail, [_record(worst=[outside])], policy, lambda r: True)


@pytest.mark.skipif(not installed("torch"), reason="torch is not installed here")
def test_reproducer_passes_once_the_fault_is_gone(tmp_path):
    """The same script with the stable formula in place of the built-in exits 0: the exit code
    follows the fault, not the script."""
    from bcebench.suite.repro import files as repro_files

    policy = load_policy("strict")
    record = _record(worst=[_worst(-20.0, 0.0, 0.0, "lost-tail"), _worst(-100.0, 0.0, 0.0, "flushed-subnormal")])
    found = repro.from_record(record, policy)
    text = repro_files.script(found, "torch", "strict")
    broken = tmp_path / "broken.py"
    broken.write_text(text)
    assert run_alone(broken, "torch").returncode == 1
    fixed = tmp_path / "fixed.py"
    fixed.write_text(text.replace("bce = lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction='none')",
                                  "bce = lambda z, y: torch.where(z > 0, (1 - y) * z + torch.log1p(torch.exp(-z)), "
                                  "-y * z + torch.log1p(torch.exp(z)))"))
    done = run_alone(fixed, "torch")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 fault(s): gone" in done.stdout


@pytest.mark.parametrize("arguments, message", [
    (["missing.json", "--deviation", "all"], "no such results file"),
    (["RESULTS"], "give --check ID or --deviation"),
    (["RESULTS", "--input", "0x0:0x0"], "not both"),
    (["--input", "0x0:0x0", "--framework", "torch"], "--input needs one --implementation"),
    (["RESULTS", "--check", "nope"], "no check 'nope'"),
    (["RESULTS", "--deviation", "0123456789ab"], "no known deviation"),
    (["RESULTS", "--check", "torch/cpu/x/float32/accuracy/loss/wide-hard"], "is pass"),
])
def test_bad_requests_are_one_line_and_exit_2(tmp_path, arguments, message):
    results = tmp_path / "results.json"
    passing = _record(id="torch/cpu/x/float32/accuracy/loss/wide-hard", verdict="pass")
    results.write_text(json.dumps({"schema_version": 2, "metadata": {}, "checks": [passing]}))
    arguments = [str(results) if a == "RESULTS" else a for a in arguments]
    done = subprocess.run([sys.executable, "-m", "bcebench.suite.cli", "repro", *arguments, "--out",
                           str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_verify_tells_a_crash_from_a_reproduced_fault(tmp_path):
    """Exit 1 alone is what an uncaught exception gives: only the script's own verdict line counts."""
    from bcebench.suite.cli.repro import verify_reproducer

    crash = tmp_path / "crash.py"
    crash.write_text("import module_that_is_not_there\n")
    fault = tmp_path / "fault.py"
    fault.write_text("import sys\nprint('1 fault(s): present')\nsys.exit(1)\n")
    gone = tmp_path / "gone.py"
    gone.write_text("print('0 fault(s): gone')\n")
    assert verify_reproducer(crash)[0] is False and "ModuleNotFoundError" in verify_reproducer(crash)[1]
    assert verify_reproducer(fault) == (True, "reproduces (exit 1)")
    assert verify_reproducer(gone)[0] is False


def test_the_readme_of_the_reproducers_lists_each_one():
    readme = (REPRO / "README.md").read_text()
    assert all(f"({script.name})" in readme for script in SCRIPTS)


def test_results_are_read_gzipped_too(tmp_path):
    import gzip

    from bcebench.reports import results as results_file

    document = {"schema_version": 2, "metadata": {}, "checks": []}
    (tmp_path / "results.json.gz").write_bytes(gzip.compress(json.dumps(document).encode()))
    assert results_file.load(str(tmp_path / "results.json.gz"))["checks"] == []
    (tmp_path / "broken.json.gz").write_bytes(b"not gzip")
    with pytest.raises(results_file.ResultsError, match="not JSON"):
        results_file.load(str(tmp_path / "broken.json.gz"))


@pytest.mark.skipif(not installed("torch"), reason="torch is not installed here")
def test_one_input_of_an_implementation_gives_a_reproducer_that_fails_today(tmp_path):
    """--input runs the accuracy check on that input, then writes and verifies its reproducer; an
    input where the implementation is right gives none (exit 1, nothing written). The check's results
    file lives only while the command runs: the temporary folder is left as it was."""
    command = [sys.executable, "-m", "bcebench.suite.cli", "repro", "--framework", "torch", "--implementation",
               "torch.binary_cross_entropy_with_logits", "--dtype", "float32", "--quantity", "loss"]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    environment = {**os.environ, "TMPDIR": str(scratch)}
    lost = subprocess.run([*command, "--input", "0xc1a80486:0x0", "--out", str(tmp_path / "lost"), "--verify"],
                          cwd=ROOT, capture_output=True, text=True, env=environment)  # z = −21.0022, y = 0: lost tail
    assert lost.returncode == 0 and "reproduces (exit 1)" in lost.stdout, lost.stdout + lost.stderr
    script = next((tmp_path / "lost").glob("*.py"))
    assert run_alone(script, "torch").returncode == 1 and "lost-tail" in script.read_text()
    right = subprocess.run([*command, "--input", "0x3f800000:0x3f800000", "--out", str(tmp_path / "right")],
                           cwd=ROOT, capture_output=True, text=True, env=environment)  # z = 1, y = 1: correctly rounded
    assert right.returncode == 1 and "nothing to reproduce" in right.stdout
    assert not (tmp_path / "right").exists()
    assert not list(scratch.glob("bcebench-*"))  # (PyTorch keeps its own compile cache there)
