"""The benchmark cases, run by pytest-benchmark in a worker process (``bcebench bench``).

The plan (which framework, device, implementation, dtype, mode and size) comes as a JSON file
named by BCEBENCH_BENCH_PLAN; its values are data, never code. A case the framework does not
offer (Unsupported) is skipped and written, with why, to the file named by
BCEBENCH_BENCH_UNSUPPORTED. Every case times the adapter's
``timed`` call, which waits for the device (CUDA synchronisation, JAX's block_until_ready). The
first call, which includes any compilation (jit, torch.compile), is timed apart and kept in
extra_info; then warm-up rounds, then the timed rounds. Inputs are never zeros: logits N(0, 4²),
probabilities uniform in (0, 1), labels uniform in [0, 1].
"""

import functools
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from bcebench.adapters import base
from bcebench.adapters.declaration import Declaration
from bcebench.reference.formats import FORMATS, round_float64

PLAN = json.loads(Path(os.environ["BCEBENCH_BENCH_PLAN"]).read_text()) if "BCEBENCH_BENCH_PLAN" in os.environ else []
TARGET_SECONDS = 0.25  # timed rounds per case take about this long
_adapters: dict = {}


@functools.lru_cache(maxsize=2)  # consecutive cases share their inputs (10^8 of them take seconds to draw)
def _inputs(form: str, dtype: str, size: int):
    fmt = FORMATS[dtype]
    rng = np.random.default_rng(size)
    x = rng.normal(0, 4, size) if form == "logits" else rng.uniform(1e-3, 1 - 1e-3, size)
    y = rng.uniform(0, 1, size)
    return round_float64(x, fmt).astype(fmt.dtype), round_float64(y, fmt).astype(fmt.dtype)


def _target(case: dict):
    if case["framework"] not in _adapters:
        _adapters[case["framework"]] = base.load(case["framework"])[0]
    adapter = _adapters[case["framework"]]
    if case["kind"] in ("memcpy", "exp+log1p"):  # the walls: a copy on the device, one fused exp + log1p pass
        x, _ = _inputs("logits", case["dtype"], case["size"])
        wall = (adapter.copy if case["kind"] == "memcpy" else adapter.elementary)(
            adapter.from_numpy(x, case["device"]), case["device"])
        if wall is None:
            raise base.Unsupported(f"{case['framework']} has no plain copy to time")
        return wall, None
    if case.get("user_impl"):
        user = case["user_impl"]
        impl = base.user_implementation(Declaration.from_dict(user))
    else:
        impl = adapter.find(case["implementation"])
    x, y = _inputs(impl.form, case["dtype"], case["size"])
    fx, fy = adapter.from_numpy(x, case["device"]), adapter.from_numpy(y, case["device"])
    return adapter.timed(impl, case["mode"], fx, fy, case["device"]), impl


@pytest.mark.parametrize("case", PLAN, ids=[c["id"] for c in PLAN])
def test_speed(benchmark, case):
    try:
        function, impl = _target(case)
        start = time.perf_counter()
        function()
        first = time.perf_counter() - start
        start = time.perf_counter()
        function()
        second = time.perf_counter() - start
    except base.Unsupported as error:
        if "BCEBENCH_BENCH_UNSUPPORTED" in os.environ:  # the run reports these apart from crashes
            with open(os.environ["BCEBENCH_BENCH_UNSUPPORTED"], "a") as record:
                record.write(json.dumps({"id": case["id"], "message": str(error)}) + "\n")
        pytest.skip(f"unsupported: {error}")
    benchmark.extra_info.update(case)
    benchmark.extra_info["first_call_seconds"] = first
    if impl is not None and impl.compile_seconds is not None:
        benchmark.extra_info["compile_seconds"] = impl.compile_seconds()
    rounds = int(min(200, max(5, TARGET_SECONDS / max(second, 1e-7))))
    benchmark.pedantic(function, rounds=rounds, warmup_rounds=2, iterations=1)
