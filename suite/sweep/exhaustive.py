"""Exhaustive sweeps: an implementation at every bit pattern of a dtype (or a named range of them),
against the oracle, sharded over a Dask cluster.

With a hard label, BCE in either form is a function of one variable, so every float16 and
bfloat16 input (2^16) and every float32 input (2^32) can be checked, as CORE-MATH checks all
binary32 inputs of a libm function: only that proves a maximum error. For 16-bit dtypes the
two-variable sweep over (x, y), y every value of the dtype in [0, 1], is an option.

A shard is a contiguous block of the input index (bit patterns, or pair indices). A worker
evaluates the implementation through its adapter and the oracle (its fast path, mpmath only where
that cannot decide) and returns ``sweep.stats.Stats``, which merge exactly. Finished shards are
appended to a checkpoint file as they complete (one JSON line each, flushed and synced), so an
interrupted sweep resumes where it stopped; a shard whose worker dies is run again by Dask.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.util
import json
import logging
import os
import platform
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bcebench.adapters import base, rewrites
from bcebench.adapters.declaration import Declaration
from bcebench.reference import cache, fenv, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, Format, as_dtype, from_bits
from bcebench.suite.sweep.stats import Stats, finalize, measure

# inputs evaluated at once inside a shard: arrays of 2^16 float64 come back from the heap each chunk, where
# those of 2^18 were mapped and faulted in again (a quarter of the oracle's time went to page faults)
CHUNK = 1 << 16
DEFAULT_SHARD = 1 << 22
RANGES = ("all", "positive", "negative", "normal", "subnormal")


class SweepError(ValueError):
    """A sweep that cannot be run as asked (one line for the user)."""


@dataclass(frozen=True)
class Target:
    """What is swept: an implementation (built-in, or a user's ``spec`` with its ``form``), a dtype,
    a quantity, and a hard label (0 or 1), or ``label=None`` for every (x, y) pair, on a device of
    the framework (the oracle runs on the CPU)."""

    framework: str
    implementation: str
    dtype: str
    quantity: str
    label: float | None
    user_spec: str | None = None
    user_form: str | None = None
    device: str = "cpu"

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _bits(fmt: Format) -> int:
    return 8 * fmt.dtype.itemsize


def intervals(name: str, fmt: Format, form: str = "logits") -> list[tuple[int, int]]:
    """Bit-pattern intervals [start, stop) for a named range, or 'A:B' (hex or decimal, stop
    exclusive). For the probability form every range is cut to p in [0, 1] (+0 up to 1): outside
    it there is nothing to be right about."""
    spans = _named(name, fmt)
    if form == "probs":
        one = int(np.array([1.0], fmt.dtype).view(fmt.bits_dtype)[0])
        spans = [(a, min(b, one + 1)) for a, b in spans if a <= one]
        if not spans:
            raise SweepError(f"--range {name!r} holds no probability in [0, 1]")
    return spans


def _named(name: str, fmt: Format) -> list[tuple[int, int]]:
    width = _bits(fmt)
    sign = 1 << (width - 1)
    mantissa = fmt.precision - 1
    infinity = ((1 << (width - 1 - mantissa)) - 1) << mantissa  # exponent all ones: inf and NaN above
    smallest_normal = 1 << mantissa
    if name == "all":
        return [(0, 1 << width)]
    if name == "positive":
        return [(0, sign)]
    if name == "negative":
        return [(sign, 1 << width)]
    if name == "normal":
        return [(smallest_normal, infinity), (sign + smallest_normal, sign + infinity)]
    if name == "subnormal":
        return [(1, smallest_normal), (sign + 1, sign + smallest_normal)]
    start, colon, stop = name.partition(":")
    try:
        lo, hi = int(start, 0), int(stop, 0)
    except ValueError:
        raise SweepError(f"--range {name!r}: expected one of {', '.join(RANGES)} or START:STOP bit patterns") from None
    if not colon or not 0 <= lo < hi <= 1 << width:
        raise SweepError(f"--range {name!r}: need 0 <= START < STOP <= {hex(1 << width)} for {fmt.name}")
    return [(lo, hi)]


def label_values(fmt: Format) -> np.ndarray:
    """Every value of the format in [0, 1], for the two-variable sweep."""
    width = _bits(fmt)
    one = int(np.array([1.0], fmt.dtype).view(fmt.bits_dtype)[0])
    return from_bits(np.arange(0, one + 1, dtype=np.uint64), fmt) if width == 16 else np.array([], fmt.dtype)


def result_name(target: Target, range_name: str) -> str:
    """A file name for a sweep's result: dtype, implementation, quantity, label and range; an id that
    several frameworks share (a stable rewrite's, a Keras name on each backend) is preceded by the
    framework's."""
    label = "pairs" if target.label is None else f"y{target.label:g}"
    device = "" if target.device == "cpu" else f"-{target.device}"
    shared = target.implementation in rewrites.IDS.values() or target.framework.startswith("keras-")
    implementation = f"{target.framework}-{target.implementation}" if shared else target.implementation
    name = f"{target.dtype}-{implementation}{device}-{target.quantity}-{label}-{range_name}"
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name) + ".json"


def shards(spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, hi)) for start, hi in spans for lo in range(start, hi, size)]


_adapters: dict = {}


def load_implementation(target: Target) -> tuple[base.Adapter, base.Implementation]:
    """The adapter and implementation, loaded once per worker process."""
    key = (target.framework, target.implementation, target.user_spec)
    if key not in _adapters:
        adapter, reason = base.load(target.framework)
        if adapter is None:
            raise SweepError(f"{target.framework} is unavailable: {reason}")
        if target.user_spec:
            impl = base.user_implementation(Declaration(target.user_spec, target.framework, target.user_form))
        else:
            impl = adapter.find(target.implementation)
            if impl is None:
                raise SweepError(f"{target.framework} has no implementation {target.implementation!r}")
        if target.device not in adapter.devices():
            raise SweepError(f"{target.framework} has no device {target.device!r} here "
                             f"(devices: {', '.join(adapter.devices())})")
        _adapters[key] = (adapter, impl)
    return _adapters[key]


def require_support(target: Target) -> None:
    """SweepError unless the implementation is elementwise, the adapter lists the target's dtype on
    its device and the implementation has the derivatives the quantity needs (what the request says,
    before any worker starts)."""
    adapter, impl = load_implementation(target)
    if impl.reduction != "none":
        raise SweepError(f"{impl.id} reduces its inputs to one number ({impl.reduction}): a sweep measures the "
                         "value at each input, so sweep its elementwise form")
    if target.dtype not in adapter.dtypes(target.device):
        why = adapter.missing_dtypes(target.device).get(target.dtype)
        raise SweepError(f"{target.framework} has no {target.dtype} on {target.device}{f': {why}' if why else ''} "
                         f"(dtypes: {', '.join(adapter.dtypes(target.device))})")
    if target.quantity != "loss" and not impl.derivatives:
        raise SweepError(f"{impl.id} gives no {target.quantity}: {target.framework} has no derivatives of it")


def probe(target: Target) -> str | None:
    """Why the implementation declines the target on one input, or None: it raises Unsupported, or
    returns other than one result in the input's dtype (a sweep judges each input's result as the
    dtype's number). Run in a worker before the shards, since the implementation's code may end or
    hang the process it runs in. An input it rejects otherwise is a finding of the sweep, not a bad
    request."""
    adapter, impl = load_implementation(target)
    fmt = FORMATS[target.dtype]
    label = as_dtype([0.0 if target.label is None else target.label], fmt)
    try:
        got = adapter.run(impl, target.quantity, as_dtype([0.5], fmt), label, target.device)
    except base.Unsupported as error:
        return f"{impl.id} gives no {target.quantity} in {target.dtype}: {error}"
    except Exception:
        return None
    if got.shape != (1,) or got.dtype != fmt.dtype:
        return (f"{impl.id} returned shape {got.shape} {got.dtype} for one {target.dtype} input: a sweep judges one "
                f"result per input, in the input's dtype")
    return None


def _inputs(target: Target, fmt: Format, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) for the indices [start, stop): bit patterns of x with the target's label, or, for the
    two-variable sweep, index = x pattern · (number of labels) + label number."""
    if target.label is not None:  # the patterns made in their own width, the labels in the dtype: one pass each
        x = np.arange(start, stop, dtype=fmt.bits_dtype).view(fmt.dtype)
        return x, np.full(x.size, target.label, dtype=fmt.dtype)
    labels = label_values(fmt)
    index = np.arange(start, stop, dtype=np.int64)
    return from_bits((index // labels.size).astype(np.uint64), fmt), labels[index % labels.size]


def _evaluate(adapter: base.Adapter, impl: base.Implementation, quantity: str, x: np.ndarray,
              y: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """(results, rejected): where the implementation raises on a block, the block is halved until
    the inputs it rejects are found; those are marked rejected (their result NaN)."""
    try:
        return adapter.run(impl, quantity, x, y, device), np.zeros(x.size, dtype=bool)
    except base.Unsupported as error:  # declined, not rejected: nothing of the sweep can be judged
        raise SweepError(f"{impl.id} gives no {quantity} here: {error}") from None
    except Exception:
        if x.size == 1:
            return np.full(1, np.nan, dtype=x.dtype), np.ones(1, dtype=bool)
    half = x.size // 2
    (a, ra), (b, rb) = _evaluate(adapter, impl, quantity, x[:half], y[:half], device), _evaluate(
        adapter, impl, quantity, x[half:], y[half:], device)
    return np.concatenate([a, b]), np.concatenate([ra, rb])


def _reference(spec: Spec, x: np.ndarray, y: np.ndarray, fast: bool) -> oracle.Reference:
    """The oracle on one chunk; a 16-bit dtype's whole range is small enough to be kept
    (``reference.cache``), so implementations of the same function share it (every focal loss
    needs mpmath); a wider dtype's chunks are never asked for twice, and not kept."""
    return cache.evaluate(spec, x, y, fast=fast) if x.dtype.itemsize <= 2 else oracle.evaluate(spec, x, y, fast=fast)


def run_shard(target: Target, start: int, stop: int, fast: bool = True) -> Stats:
    """One target's statistics of one shard."""
    return run_shards((target,), start, stop, fast)[0]


def run_shards(targets: tuple[Target, ...], start: int, stop: int, fast: bool = True) -> list[Stats]:
    """The statistics of one shard for each target (the same inputs: dtype, quantity and label), in chunks
    of CHUNK inputs: the inputs are made once a chunk, and the oracle evaluated once a chunk for each
    function the targets compute (a built-in and its rewrite share one evaluation). Each target's
    ``seconds`` is the shard's wall time, shared, and its ``phases`` the seconds of each step (the
    inputs and the oracle shared)."""
    began = time.perf_counter()
    loaded = [load_implementation(target) for target in targets]
    fmt = FORMATS[targets[0].dtype]
    specs = [Spec(target.quantity, impl.form, **impl.oracle) for target, (_, impl) in zip(targets, loaded, strict=True)]
    stats = [Stats() for _ in targets]
    shared = dict.fromkeys(("inputs", "oracle"), 0.0)
    own = [dict.fromkeys(("implementation", "judging"), 0.0) for _ in targets]
    clock = time.perf_counter
    with fenv.ours():  # the implementations run in their own floating-point environment (reference.fenv)
        for lo in range(start, stop, CHUNK):
            tick = clock()
            x, y = _inputs(targets[0], fmt, lo, min(lo + CHUNK, stop))
            shared["inputs"] += clock() - tick
            references: dict = {}
            found: dict = {}  # what judging finds of each reference once, for every result judged on it
            for i, (target, (adapter, impl), spec) in enumerate(zip(targets, loaded, specs, strict=True)):
                with np.errstate(all="ignore"):
                    tick = clock()
                    got, rejected = _evaluate(adapter, impl, target.quantity, x, y, target.device)
                    own[i]["implementation"] += clock() - tick
                    if spec not in references:
                        tick = clock()
                        references[spec] = _reference(spec, x, y, fast)
                        shared["oracle"] += clock() - tick
                tick = clock()
                judged = measure(lo, x, y, got, references[spec], fmt, rejected, found.setdefault(spec, {}))
                stats[i] = stats[i].merge(judged)
                own[i]["judging"] += clock() - tick
        for i, spec in enumerate(specs):
            tick = clock()
            stats[i] = finalize(stats[i], spec, fmt)
            own[i]["judging"] += clock() - tick
    for one, mine in zip(stats, own, strict=True):
        one.seconds = time.perf_counter() - began
        one.phases = {**shared, **mine}
    return stats


def same_inputs(targets: tuple[Target, ...]) -> None:
    """SweepError unless the targets sweep the same inputs: dtype, quantity, label and device."""
    first = targets[0]
    for other in targets[1:]:
        for name in ("dtype", "quantity", "label", "device"):
            if getattr(other, name) != getattr(first, name):
                raise SweepError(f"{other.implementation} is swept with another {name} than {first.implementation}: "
                                 "targets swept together share their inputs")


# --- checkpoints ----------------------------------------------------------------------------------

def checkpoint_path(folder: Path, target: Target, spans: list[tuple[int, int]], shard_size: int) -> Path:
    digest = hashlib.sha256(json.dumps([target.key(), spans, shard_size]).encode()).hexdigest()[:16]
    return folder / f"{target.dtype}-{target.quantity}-{digest}.jsonl"


def code_fingerprint(target: Target, adapter: base.Adapter) -> dict:
    """What the results depend on besides the target: the implementation's code (the user's file or
    module, else the adapter's module, with the framework's version) and the oracle's code."""
    import inspect

    if target.user_spec:
        location, _, _ = target.user_spec.rpartition(":")
        if location.endswith(".py"):
            source = Path(location).read_bytes()
        else:
            found = importlib.util.find_spec(location)
            source = Path(found.origin).read_bytes() if found and found.origin else location.encode()
    else:
        source = Path(inspect.getfile(type(adapter))).read_bytes()
    return {"implementation": hashlib.sha256(source).hexdigest()[:16], "framework": adapter.version(),
            "oracle": cache.oracle_code()}


def read_checkpoint(path: Path, header: dict) -> tuple[dict[tuple[int, int], Stats], bool, str]:
    """(finished shards, whether the sweep completed, why the file is not reused or '') from
    ``path``. A file written for another target is an error; one written by other code (another
    implementation source, framework or oracle version) is never reused. A last line cut short by a
    crash is cut off the file, so that the next record starts on a line of its own."""
    if not path.exists():
        return {}, False, ""
    data = path.read_bytes()
    lines = data.split(b"\n")  # the part after the last newline is b"" when the file ends whole
    try:
        first = json.loads(lines[0])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SweepError(f"checkpoint {path} is not a sweep checkpoint") from None
    if {k: v for k, v in first.items() if k != "code"} != {k: v for k, v in header.items() if k != "code"}:
        raise SweepError(f"checkpoint {path} belongs to another sweep")
    if first.get("code") != header["code"]:
        return {}, False, (f"checkpoint {path} was written by other code "
                           f"({_difference(first.get('code'), header['code'])}): not reused")
    done, complete, whole = {}, False, len(lines[0]) + 1
    for number, line in enumerate(lines[1:-1], start=2):
        try:
            entry = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SweepError(f"checkpoint {path}, line {number}: not JSON") from None
        if entry == {"complete": True}:
            complete = True
        else:
            try:
                done[tuple(entry["shard"])] = Stats.from_json(entry["stats"])
            except (KeyError, TypeError, ValueError):
                raise SweepError(f"checkpoint {path}, line {number}: not a shard record") from None
        whole += len(line) + 1
    if whole < len(data):  # a last line without its newline: the write the crash interrupted
        with open(path, "r+b") as stream:
            stream.truncate(whole)
    return done, complete, ""


def _difference(old: dict | None, new: dict) -> str:
    if not isinstance(old, dict):
        return "no code recorded"
    return ", ".join(f"{k} {old.get(k)} → {v}" for k, v in new.items() if old.get(k) != v)


def _append(stream, entry: dict) -> None:
    stream.write(json.dumps(entry) + "\n")
    stream.flush()
    os.fsync(stream.fileno())


# --- the run --------------------------------------------------------------------------------------

# A worker is one process on one core: the frameworks' own thread pools would only fight each other.
# Dask's nanny sets MALLOC_TRIM_THRESHOLD_ to 64 KiB, which turns off glibc's adaptive mmap
# threshold and trims the task thread's heap after every free: each chunk's float64 temporaries
# were then mapped, page-faulted in and given back again, and a worker ran at 6 M inputs/s where the
# same shard in a plain process ran at 14. Buffers up to 64 MiB stay in a heap that is trimmed only
# past 256 MiB. glibc reads these when the process starts, so they go in before the nanny spawns
# the worker (its pre-spawn environment), not into the worker's os.environ afterwards. (Workers of
# a cluster given by --scheduler want the same environment.)
# A worker's own log is the cluster's chatter: every failure of a shard reaches the command through
# its future, and is said there in one line. Closing the cluster, a worker whose scheduler has gone
# logs CommClosedError tracebacks from its heartbeat; so distributed logs nothing below CRITICAL in
# a worker (Dask reads DASK_LOGGING__* when the worker imports it).
WORKER_ENV = {**base.worker_environment({}), "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
              "MALLOC_TRIM_THRESHOLD_": str(256 << 20), "DASK_LOGGING__DISTRIBUTED": "critical"}


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A Dask client, closed on the way out with the local cluster it started: the scheduler at
    ``scheduler`` ('tcp://host:port'), or a local cluster of worker processes, one thread each
    (default: one per CPU). The cluster closes before the command says its last line (left to
    Dask's exit hook, it closed after it), with this process's distributed log silent meanwhile."""
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as error:
            raise SweepError(f"--scheduler {scheduler}: cannot connect ({error})") from None
    else:
        environment = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **WORKER_ENV}
        preload = [*dask.config.get("distributed.worker.preload"), __name__]
        # kept: a restarted worker gets them too
        dask.config.set({"distributed.nanny.pre-spawn-environ": environment, "distributed.worker.preload": preload})
        # no dashboard; the scheduler's own HTTP routes on a free local port (by default it tries 8787
        # and warns on stderr where another sweep holds it)
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        with _silent("distributed"):
            client.close()
            if cluster is not None:
                cluster.close()


def dask_setup(worker) -> None:
    """Run by Dask in each local worker process as it starts (a preload): the worker ignores SIGINT.
    Ctrl-C in a terminal reaches every process of the foreground group; the command that owns the
    cluster stops it, and a worker interrupted on its own printed a KeyboardInterrupt traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _silent(name: str):
    """Every stream handler of logger ``name`` (Dask's go to stderr) drops every record meanwhile."""
    handlers = [h for h in logging.getLogger(name).handlers if isinstance(h, logging.StreamHandler)]
    levels = [h.level for h in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


def sweep(targets: tuple[Target, ...], spans: list[tuple[int, int]], *, shard_size: int = DEFAULT_SHARD,
          checkpoint_dir: Path, client, progress=lambda done, total, inputs: None, resume: bool = False,
          notice=lambda line: None) -> list[dict]:
    """Run every shard not yet in each target's checkpoint on ``client`` (the targets together, over the
    same inputs: one oracle pass serves them all), record each as it finishes, and return a result
    document per target (the target, the ranges and the merged statistics)."""
    from distributed import as_completed

    same_inputs(targets)
    adapters = [load_implementation(target)[0] for target in targets]  # fail here, before any worker starts
    paths, done, complete = [], [], []
    for target, adapter in zip(targets, adapters, strict=True):
        header = json.loads(json.dumps({"target": asdict(target), "spans": spans, "shard_size": shard_size,
                                        "code": code_fingerprint(target, adapter)}))
        path = checkpoint_path(checkpoint_dir, target, spans, shard_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        finished, whole, set_aside = read_checkpoint(path, header)
        if set_aside:
            notice(set_aside)
        if whole and not resume:
            notice(f"checkpoint {path} holds a finished sweep: computed again (--resume reuses it)")
            finished = {}
        if set_aside or (whole and not resume) or not path.exists():
            with open(path, "w") as stream:
                _append(stream, header)
        paths.append(path)
        done.append(finished)
        complete.append(whole)
    planned = shards(spans, shard_size)
    todo = [s for s in planned if any(s not in finished for finished in done)]
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(open(path, "a")) for path in paths]
        futures = {client.submit(run_shards, targets, lo, hi, key=f"{paths[0].stem}-{len(targets)}-{lo}", pure=False,
                                 retries=2): (lo, hi) for lo, hi in todo}
        for count, future in enumerate(as_completed(futures), 1):
            shard = futures[future]
            for finished, stream, stats in zip(done, streams, future.result(), strict=True):
                finished[shard] = stats
                _append(stream, {"shard": list(shard), "stats": stats.as_json()})
            progress(len(planned) - len(todo) + count, len(planned), shard[1] - shard[0])
        for stream, whole in zip(streams, complete, strict=True):
            if not whole or not resume:
                _append(stream, {"complete": True})
    wall = time.perf_counter() - started
    documents = []
    for target, adapter, finished, path in zip(targets, adapters, done, paths, strict=True):
        merged = Stats()
        for shard in planned:
            merged = merged.merge(finished[shard])
        documents.append({
            "target": asdict(target), "version": adapter.version(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
            "workers": len(client.scheduler_info()["workers"]),
            "spans": [[hex(a), hex(b)] for a, b in spans], "shards": len(planned),
            "resumed_shards": len(planned) - len(todo), "wall_seconds": wall,
            **({"swept_with": [t.implementation for t in targets if t is not target]} if len(targets) > 1 else {}),
            "stats": merged.as_json(), "checkpoint": str(path)})
    return documents
