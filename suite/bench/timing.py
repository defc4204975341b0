"""``bcebench bench``: the same implementations as the gate, timed with pytest-benchmark, and
regressions between two runs.

Each framework runs ``pytest suite/bench_cases.py --benchmark-json`` in a process of its own. The
run also times two walls on each device in the same run, in every framework that has them: a
copy of the input into a buffer of its own (the memory roofline: NumPy's copyto and PyTorch's
copy_ on the CPU, copy_ on CUDA) and log1p(exp(−|x|)), one exp and one log1p per element, in one
pass over memory (the compute ceiling: jax.jit, torch.compile, TensorFlow's XLA, NumPy in
cache-sized blocks). Each wall is the fastest of its kind on that hardware (PyTorch's cuda and
JAX's gpu are the same GPU). Each case then gets: median time and interquartile range, ns per
element, bytes moved per second (inputs read and the output written), the ratio to the fastest
implementation of the same case, and the wall it is closest to: memory (the copy time of its
bytes) or compute (the fused pass's time), whichever is the larger lower bound; ``efficiency``
is that bound over the median, at most 1 but for noise (None where no wall was timed).

Every framework is timed in PROCESSES worker processes in turn (as asv does): a case's median
is the mean of the processes' medians and its interquartile range runs from the lowest q1 to the
highest q3, so a process that landed on a fast or slow mode (JAX's jitted kernels on these two
cores moved by 70 to 90 % between fresh processes of the same code) widens the measured noise
instead of looking like a change.

A regression is a case whose median grew by more than ``fail_over`` percent with the two runs'
interquartile ranges apart (slower beyond the threshold and beyond the runs' own noise).
``bcebench bench --compare`` then times each flagged case again, twice, and keeps it only if it is
slower every time: a burst of load does not repeat, a slower implementation does. Dividing by a
wall timed in the same run was tried and rejected: the walls are as noisy as what they would
normalise (PyTorch's two-thread exp + log1p: 146 % IQR at 1e6).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bcebench.adapters import base
from bcebench.adapters.declaration import Declaration
from bcebench.reference.formats import FORMATS
from bcebench.reports.results import glob_match, write_atomically
from bcebench.suite.supervisor import answers_to_parent, supervising

SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
SAVED = Path(".benchmarks") / "bcebench"
CONFIRMATIONS = 2  # re-timings a flagged case must fail too
PLAN_TIMEOUT_SECONDS = 300
PROCESSES = 2  # each framework is timed in this many worker processes, one after another
BENCH_CASES = Path(__file__).resolve().parent / "cases.py"  # timed by pytest-benchmark


def expand(adapter: base.Adapter, requests: list[dict], user_impl: dict | None = None,
           only: set | None = None) -> list[dict]:
    """The concrete cases of one framework: its implementations (and a user's) × modes, and the
    two walls, for each requested dtype and size; with ``only``, just those case ids and the
    walls at their dtypes and sizes."""
    rewrites = list(adapter.rewrites())  # timed only where a pattern names them: rewrite(...)
    impls = list(adapter.implementations()) + rewrites
    if user_impl and user_impl["framework"] == adapter.name:
        impls.append(base.user_implementation(Declaration.from_dict(user_impl)))
    cases = []
    for request in requests:
        for device in adapter.devices():
            if request.get("devices") and device not in request["devices"]:
                continue
            common = {"framework": adapter.name, "device": device, "dtype": request["dtype"], "size": request["size"]}
            cases.append({**common, "kind": "exp+log1p", "implementation": f"{adapter.name}.exp+log1p",
                          "mode": "forward"})
            cases.append({**common, "kind": "memcpy", "implementation": f"{adapter.name}.copy", "mode": "forward"})
            for impl in impls:
                rewrite = any(impl is r for r in rewrites)
                named = [p for p in request["patterns"] if p.startswith("rewrite") or not rewrite]
                if impl.reduction != "none" or not any(glob_match(p, impl.id) for p in named):
                    continue
                for mode in request["modes"]:
                    if mode in ("backward", "forward+backward") and not impl.derivatives:
                        continue
                    cases.append({**common, "kind": "implementation", "implementation": impl.id, "mode": mode,
                                  "user_impl": user_impl if impl.id.startswith("user:") else None})
    for case in cases:
        case["id"] = "/".join([case["framework"], case["device"], case["implementation"], case["dtype"],
                               case["mode"], str(case["size"])])
    if only is not None:
        kept = [c for c in cases if c["id"] in only]
        needed = {(c["dtype"], c["size"]) for c in kept}
        cases = kept + [c for c in cases if c["kind"] != "implementation" and (c["dtype"], c["size"]) in needed]
    return cases


def _plan(framework: str, requests: list[dict], user_impl: dict | None, only: set | None) -> tuple[list[dict], str]:
    """(cases, '') or ([], why the framework is unavailable), the framework loaded and expanded in a
    process of its own (``python -m bcebench.suite.bench.timing``), as the gate's workers load theirs:
    this process imports no framework (Keras fixes its backend per process, and PaddlePaddle imported
    after TensorFlow ends the process with SIGSEGV)."""
    request = {"framework": framework, "requests": requests, "user_impl": user_impl,
               "only": sorted(only) if only is not None else None}
    try:
        with supervising() as supervisor:
            done = supervisor.run([sys.executable, "-m", "bcebench.suite.bench.timing"],
                                  timeout=PLAN_TIMEOUT_SECONDS, input=json.dumps(request))
    except subprocess.TimeoutExpired:
        return [], f"planning ran past {PLAN_TIMEOUT_SECONDS} s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"{framework}: planning failed: {lines[-1] if lines else done.returncode}")
    answer = json.loads(done.stdout)
    if answer["notice"]:
        print(answer["notice"], file=sys.stderr)
    return answer["cases"], answer["reason"]


def _run_framework(framework: str, requests: list[dict], user_impl: dict | None,
                   only: set | None, case_timeout: float) -> tuple[list[dict], dict, str, list[dict]]:
    """(cases with pytest-benchmark stats, pytest-benchmark's own JSON document, why unavailable
    or '', the cases that failed: each planned case that raised, or was still running when its
    process ran out of time, with what happened). A run that fails or runs out of time is run
    again one implementation at a time, so that a hanging or crashing one loses only its cases."""
    cases, reason = _plan(framework, requests, user_impl, only)
    if reason or not cases:
        return [], {}, reason, []
    timed, document, failed = _time_cases(cases, case_timeout)
    if failed:
        timed, documents, failed = [], [], []
        for implementation in dict.fromkeys(c["implementation"] for c in cases):
            own = [c for c in cases if c["implementation"] == implementation]
            found, raw, lost = _time_cases(own, case_timeout)
            timed += found
            failed += lost
            documents += [raw] if raw else []
        document = documents[0] if documents else {}
    return timed, document, "", failed


def _time_cases(cases: list[dict], case_timeout: float) -> tuple[list[dict], dict, list[dict]]:
    """Time the cases in one supervised pytest-benchmark process, ``case_timeout`` seconds a case:
    (timed, its JSON, failed). A case the framework does not offer is neither: it is left out."""
    limit = case_timeout * len(cases)
    with tempfile.TemporaryDirectory() as folder, supervising() as supervisor:
        plan_file, out = Path(folder) / "plan.json", Path(folder) / "bench.json"
        unsupported_file = Path(folder) / "unsupported.jsonl"
        plan_file.write_text(json.dumps(cases))
        settings = Path(folder) / "pytest.ini"  # bcebench's own settings, never those of the folder it runs in
        settings.write_text("[pytest]\n")
        try:
            done = supervisor.run(
                [sys.executable, "-m", "pytest", str(BENCH_CASES), "-c", str(settings), "--rootdir", folder,
                 "--import-mode=importlib", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:xdist",
                 "--benchmark-only", f"--benchmark-json={out}", "--benchmark-disable-gc",
                 f"--benchmark-storage=file://{folder}/storage"],  # never ./.benchmarks of the caller's folder
                timeout=limit,
                env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")},  # timed alone
                     "BCEBENCH_BENCH_PLAN": str(plan_file), "COLUMNS": "1000",  # -rf lines whole
                     "BCEBENCH_BENCH_UNSUPPORTED": str(unsupported_file)})
            output = done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            output = f"ran past the time limit of {limit:g} s"
        document = json.loads(out.read_text()) if out.exists() else {}
        offered_not = {json.loads(line)["id"] for line in unsupported_file.read_text().splitlines()} \
            if unsupported_file.exists() else set()
    timed = []
    for entry in document.get("benchmarks", []):
        stats = entry["stats"]
        timed.append({**entry["extra_info"], **{k: stats[k] for k in ("median", "iqr", "q1", "q3", "min",
                                                                        "mean", "stddev", "rounds")}})
    seen = {c["id"] for c in timed}
    failed = [{"id": c["id"], "framework": c["framework"], "implementation": c["implementation"],
               "verdict": "crashed", "message": _failure(output, c["id"])} for c in cases
              if c["id"] not in seen and c["id"] not in offered_not]
    return timed, document, failed


def _failure(output: str, case_id: str) -> str:
    """pytest's one-line reason for a case (its -rf line), or the last line of the run."""
    for line in output.splitlines():
        if line.startswith("FAILED") and f"[{case_id}]" in line:
            return line.split(" - ", 1)[-1].strip()
    lines = output.strip().splitlines()
    return lines[-1] if lines else "no output"


def _merge(samples: list[dict]) -> list[dict]:
    """One case per id from its processes: mean of the medians, the widest quartiles."""
    by_id: dict = {}
    for sample in samples:
        by_id.setdefault(sample["id"], []).append(sample)
    cases = []
    for group in by_id.values():
        case = dict(group[0])
        case["process_medians"] = [g["median"] for g in group]
        case["median"] = sum(case["process_medians"]) / len(group)
        case["q1"], case["q3"] = min(g["q1"] for g in group), max(g["q3"] for g in group)
        case["iqr"] = case["q3"] - case["q1"]
        case["min"] = min(g["min"] for g in group)
        case["rounds"] = sum(g["rounds"] for g in group)
        case["first_call_seconds"] = max(g["first_call_seconds"] for g in group)
        cases.append(case)
    return cases


def _bytes_moved(case: dict) -> int:
    itemsize = FORMATS[case["dtype"]].dtype.itemsize
    reads_writes = {"forward": 3, "forward-mean": 2, "backward": 3, "forward+backward": 3}[case["mode"]]
    return (2 if case["kind"] == "memcpy" else reads_writes) * itemsize * case["size"]


def hardware(device: str) -> str:
    """What a device name runs on: 'cpu', or 'gpu' for PyTorch's cuda and JAX's or TensorFlow's gpu."""
    return "cpu" if device == "cpu" else "gpu"


def _fastest(cases: list[dict], kind: str) -> dict:
    """The smallest median of each (hardware, dtype, size) among the cases of one wall's kind."""
    walls: dict = {}
    for c in cases:
        if c["kind"] == kind:
            key = (hardware(c["device"]), c["dtype"], c["size"])
            walls[key] = min(walls.get(key, float("inf")), c["median"])
    return walls


def analyse(cases: list[dict]) -> list[dict]:
    """Add ns per element, GB/s, the ratio to the fastest on the same device, the two walls of the
    case's hardware and the efficiency."""
    copy, compute = _fastest(cases, "memcpy"), _fastest(cases, "exp+log1p")
    fastest: dict = {}
    for c in cases:
        if c["kind"] == "implementation":
            key = (c["device"], c["dtype"], c["size"], c["mode"])
            fastest[key] = min(fastest.get(key, float("inf")), c["median"])
    for c in cases:
        key = (hardware(c["device"]), c["dtype"], c["size"])
        c["ns_per_element"] = c["median"] / c["size"] * 1e9
        c["bytes"] = _bytes_moved(c)
        c["gb_per_s"] = c["bytes"] / c["median"] / 1e9
        if c["kind"] != "implementation":
            continue
        c["vs_fastest"] = c["median"] / fastest[(c["device"], c["dtype"], c["size"], c["mode"])]
        copied = 2 * FORMATS[c["dtype"]].dtype.itemsize * c["size"]  # bytes a copy reads and writes
        c["vs_memory_copy"] = c["gb_per_s"] / (copied / copy[key] / 1e9) if key in copy else None
        memory_bound = copy[key] * c["bytes"] / copied if key in copy else 0.0
        compute_bound = compute.get(key, 0.0)
        c["memory_wall_s"], c["compute_wall_s"] = memory_bound, compute_bound
        c["wall"] = "memory" if memory_bound >= compute_bound else "compute"
        c["efficiency"] = max(memory_bound, compute_bound) / c["median"] if max(memory_bound, compute_bound) else None
    return cases


def run(frameworks: list[str], implementations: list[str] | None, dtypes: list[str], modes: list[str],
        sizes: list[int], user_impl: dict | None = None, progress=lambda framework: None,
        only: set | None = None, devices: list[str] | None = None, case_timeout: float = 120.0,
        processes: int = PROCESSES) -> dict:
    """The speed document: metadata and one record per case. Frameworks run one after another, so
    that they do not compete for the cores while timed; the walls are timed in the same run; each
    framework in ``processes`` worker processes in turn (one for a quick look, not a regression test)."""
    requests = [{"dtype": d, "size": n, "patterns": implementations or ["*"], "modes": modes, "devices": devices}
                for d in dtypes for n in sizes]
    samples, raw, unavailable, failed = [], [], {}, {}
    for _ in range(processes):
        for framework in frameworks:
            if framework in unavailable:
                continue
            progress(framework)
            found, document, reason, lost = _run_framework(framework, requests, user_impl, only, case_timeout)
            if reason:
                unavailable[framework] = reason
            samples += found
            failed.update({case["id"]: case for case in lost})
            if document:
                raw.append(document)
    timed = {s["id"] for s in samples}
    return {"schema_version": 1, "kind": "bcebench-speed",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": raw[0]["machine_info"] if raw else {}, "unavailable": unavailable,
            "cases": analyse(_merge(samples)), "pytest_benchmark": raw,
            "failed": [case for case_id, case in failed.items() if case_id not in timed],
            "selection": {"frameworks": frameworks, "implementations": implementations, "dtypes": dtypes,
                          "modes": modes, "sizes": sizes, "devices": devices}}


def saved_path(name: str) -> Path:
    return SAVED / f"{name}.json"


def save(document: dict, name: str) -> Path:
    """NAME.json (this document) and NAME-pytest-benchmark-K.json (each worker's own
    pytest-benchmark JSON, with its machine and commit information) under SAVED."""
    path = saved_path(name)
    for k, raw in enumerate(document.get("pytest_benchmark", [])):
        write_atomically(SAVED / f"{name}-pytest-benchmark-{k}.json", json.dumps(raw, indent=1))
    write_atomically(path, json.dumps(document, indent=1))
    return path


def load_saved(name: str) -> dict:
    path = Path(name) if name.endswith(".json") else SAVED / f"{name}.json"
    return json.loads(path.read_text())


if __name__ == "__main__":  # the planning half of _plan, in the framework's own process
    answers = answers_to_parent()
    asked = json.loads(sys.stdin.read())
    adapter, reason = base.load(asked["framework"])
    only = set(asked["only"]) if asked["only"] is not None else None
    planned = expand(adapter, asked["requests"], asked["user_impl"], only) if adapter is not None else []
    notice = (f"{adapter.name}: no {adapter.gpu_device} device here, its cases are timed on the cpu only"
              if adapter is not None and adapter.gpu_device and adapter.gpu_device not in adapter.devices() else "")
    print(json.dumps({"cases": planned, "reason": reason, "notice": notice}), file=answers)
