"""The controller side of the gate's worker processes, spread over the cores.

A framework's first worker loads it, plans its checks and reports them in units (one
implementation in one dtype on one device). Executors, as many as ``jobs`` (one per core by
default), take units from one shared queue and run each in a worker of that framework, started
when an executor first needs one and kept for its next units: no more checks run at once than
there are executors, and each worker runs its framework on one thread (``base.worker_environment``), so
the frameworks' own thread pools do not fight over the cores and a worker's figures do not depend
on the machine's core count. A worker that dies, or spends longer than the time limit on one
check, is ended; that check is recorded as crashed and the rest of its unit goes back to the
queue, so one crash can take neither the others nor the run down.
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from bcebench.adapters import base
from bcebench.suite.supervisor import Interrupted, Supervisor

SHORT_TIMEOUT_SECONDS = 10.0  # at most, for the checks of an implementation that has run out of time once
WORKER_START_SECONDS = 300.0  # at least, for a worker to load its framework and the user's modules and plan


def default_jobs() -> int:
    """One executor per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _lines(stream, timeout):
    """Lines from a pipe as they arrive; None when nothing arrived for ``timeout()`` seconds (asked
    again at each wait: it depends on the check that is running). Reads the file descriptor
    itself: a buffered readline could hold a line that select() never sees."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    pending = b""
    while True:
        if not selector.select(timeout=max(timeout(), 0.0)):
            yield None
            return
        chunk = os.read(stream.fileno(), 1 << 16)
        if not chunk:
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line.decode() for line in complete)


@dataclass
class Limits:
    """Per-check and whole-run time limits: after an implementation's first timeout its other
    checks get a tenth of the limit (SHORT_TIMEOUT_SECONDS at most), so one hanging function
    costs one full timeout, not one per check; the record of each says which limit it ran under.
    A worker's start (importing its framework and the user's modules, planning) is no check: it
    gets the check limit or WORKER_START_SECONDS, whichever is longer (a cold import of torch or
    JAX on a loaded runner takes longer than a short --timeout)."""

    timeout: float
    budget: float | None = None  # seconds for the whole run, from now
    slow: set = field(default_factory=set)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.budget if self.budget else None

    def for_task(self, task_id: str | None) -> float:
        limit = self.timeout
        if task_id and implementation_of(task_id) in self.slow:
            limit = min(limit / 10, SHORT_TIMEOUT_SECONDS)
        return self._within_budget(limit)

    def for_start(self) -> float:
        return self._within_budget(max(self.timeout, WORKER_START_SECONDS))

    def _within_budget(self, limit: float) -> float:
        if self.deadline is not None:
            limit = min(limit, self.deadline - time.monotonic())
        return limit


def implementation_of(task_id: str) -> str:
    return "/".join(task_id.split("/")[:3])


class FrameworkUnavailable(Exception):
    """A worker's word that its framework cannot be loaded here, and why."""


class WorkerDied(Exception):
    """A worker ended or stalled: (the check it was running, or None, and what happened)."""

    def __init__(self, task_id: str | None, message: str) -> None:
        super().__init__(message)
        self.task_id, self.message = task_id, message


class _Worker:
    """One worker process of a framework, with its line reader."""

    def __init__(self, framework: str, request: str, supervisor: Supervisor, limits: Limits) -> None:
        self.framework, self.supervisor, self.limits = framework, supervisor, limits
        self.running: str | None = None
        self.about: dict = {}  # what the worker says it is: version, devices, checks, units
        self.errors = tempfile.TemporaryFile()
        self.process = supervisor.spawn([sys.executable, "-m", "bcebench.suite.gate.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors,
                                        env=base.worker_environment(os.environ))
        self.process.stdin.write(request.encode() + b"\n")
        self.process.stdin.flush()
        self.lines = _lines(self.process.stdout, self.limit)

    def limit(self) -> float:
        """How long the worker may stay silent now: its start until it has said what it is, then
        the check it is running."""
        return self.limits.for_task(self.running) if self.about else self.limits.for_start()

    def next_line(self) -> str:
        """The worker's next line; WorkerDied when it ends or stalls first."""
        line = next(self.lines, "")
        if self.supervisor.interrupted.is_set():
            raise Interrupted(self.supervisor.reason)
        if line is None:
            limit = self.limit()
            self.close()
            if self.supervisor.interrupted.is_set():
                raise Interrupted(self.supervisor.reason)
            if self.limits.deadline is not None and time.monotonic() >= self.limits.deadline:
                self.supervisor.stop(f"the run's time budget of {self.limits.budget:g} s ran out")
                raise Interrupted(self.supervisor.reason)
            if not self.about:
                raise WorkerDied(None, f"did not load its framework and plan within the start limit of {limit:g} s")
            if self.running:
                self.limits.slow.add(implementation_of(self.running))
            raise WorkerDied(self.running, f"ran past the time limit of {limit:g} s")
        if line == "":
            code = self.process.wait()
            self.errors.seek(0)
            last = (self.errors.read().decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            self.close()
            if self.supervisor.interrupted.is_set():
                raise Interrupted(self.supervisor.reason)
            raise WorkerDied(self.running, f"the process died (exit {code}): {last}")
        return line

    def run(self, ids: list[str], record) -> None:
        """Run the checks ``ids``, passing each result to ``record``; WorkerDied names the check
        that was running (None if none was)."""
        try:
            self.process.stdin.write(json.dumps(ids).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: the read below says how
        while True:
            kind, _, payload = self.next_line().partition("\t")
            if kind == "start":
                self.running = payload
            elif kind == "result":
                record(json.loads(payload))
                self.running = None
            elif kind == "done":
                return

    def close(self) -> None:
        self.supervisor.end(self.process)
        self.errors.close()


class _Queue:
    """The units of every framework, and the frameworks still to be planned."""

    def __init__(self, frameworks: list[str]) -> None:
        self.unplanned = collections.deque(frameworks)
        self.units: dict[str, collections.deque] = {name: collections.deque() for name in frameworks}
        self.planning = 0
        self.condition = threading.Condition()

    def take(self, preferred) -> tuple[str, str, list[str] | None] | None:
        """('plan', framework, None) or ('run', framework, ids): a unit of a framework in
        ``preferred`` first; None when nothing is left and nothing more can come."""
        with self.condition:
            while True:
                for name in [*preferred, *self.units]:
                    if self.units.get(name):
                        return "run", name, self.units[name].popleft()
                if self.unplanned:
                    self.planning += 1
                    return "plan", self.unplanned.popleft(), None
                if not self.planning:
                    return None
                self.condition.wait()

    def add(self, framework: str, units: list[list[str]], front: bool = False) -> None:
        with self.condition:
            if front:
                self.units[framework].extendleft(reversed(units))
            else:
                self.units[framework].extend(units)
            self.condition.notify_all()

    def planned(self) -> None:
        with self.condition:
            self.planning -= 1
            self.condition.notify_all()

    def exhausted(self, framework: str) -> bool:
        with self.condition:
            return not self.units[framework] and framework not in self.unplanned


def run_all(frameworks: list[str], selection_json: dict, progress, supervisor: Supervisor, limits: Limits,
            jobs: int, on_unavailable=lambda framework, reason: None) -> dict[str, tuple[list[dict], dict]]:
    """Every planned check of every framework: {framework: (records in plan order, about)}, about
    holding the framework's version, devices and units ('info') or why it is unavailable
    ('unavailable'; ``on_unavailable`` may raise, which stops the run and is raised here). A worker
    that dies or stalls before it has planned is one crashed record ``FRAMEWORK/worker``, never a
    silent absence."""
    queue = _Queue(frameworks)
    results = {name: ([], {}) for name in frameworks}
    lock = threading.Lock()

    def record(framework: str, entry: dict) -> None:
        with lock:
            results[framework][0].append(entry)
        progress(entry)

    def request(framework: str) -> str:
        return json.dumps({"framework": framework, "selection": selection_json})

    def start(framework: str) -> _Worker:
        """A worker that has said what it is (its plan is the first one's: the same code and request)."""
        worker = _Worker(framework, request(framework), supervisor, limits)
        kind, _, payload = worker.next_line().partition("\t")
        if kind == "unavailable":
            worker.close()
            raise FrameworkUnavailable(payload)
        if kind != "about":
            worker.close()
            raise WorkerDied(None, f"said {kind!r} before what it is")
        worker.about = json.loads(payload)
        return worker

    def plan(framework: str, workers: dict) -> None:
        about = results[framework][1]
        try:
            worker = start(framework)
            about["info"] = worker.about
            workers[framework] = worker
            queue.add(framework, worker.about["units"])  # before planned(): an idle executor waits for them
        except FrameworkUnavailable as why:
            about["unavailable"] = str(why)
        except WorkerDied as death:
            record(framework, {"id": f"{framework}/worker", "framework": framework, **WORKER_IDENTITY,
                               "verdict": "crashed", "gating": True,
                               "message": f"the worker ended before its first check: {death.message}"})
        finally:
            queue.planned()
        if "unavailable" in about:
            on_unavailable(framework, about["unavailable"])
        elif "info" in about:
            progress({"planned": about["info"]["checks"], "framework": framework})

    def run_unit(framework: str, ids: list[str], workers: dict) -> None:
        done: set = set()

        def keep(entry: dict) -> None:
            done.add(entry["id"])
            record(framework, entry)

        try:
            worker = workers.get(framework) or start(framework)
            workers[framework] = worker
            worker.run(ids, keep)
        except WorkerDied as death:
            workers.pop(framework, None)
            rest = [i for i in ids if i not in done]
            if not rest:  # it died after its last result: nothing was lost
                return
            blamed = death.task_id if death.task_id in rest else rest[0]
            record(framework, crashed_record(framework, blamed, death.message))
            rest.remove(blamed)
            if rest:
                queue.add(framework, [rest], front=True)

    def executor() -> None:
        workers: dict[str, _Worker] = {}
        try:
            while not supervisor.interrupted.is_set():
                job = queue.take(list(workers))
                if job is None:
                    break
                for name in [n for n in workers if n != job[1] and queue.exhausted(n)]:
                    workers.pop(name).close()  # its framework is done: free the memory
                kind, framework, ids = job
                if kind == "plan":
                    plan(framework, workers)
                else:
                    run_unit(framework, ids, workers)
        except Interrupted:
            pass
        except BaseException as error:  # reported by the main thread, which raises it
            errors.append(error)
            supervisor.stop(str(error))
        finally:
            for worker in workers.values():
                worker.close()
            with queue.condition:
                queue.condition.notify_all()

    errors: list[BaseException] = []
    threads = [threading.Thread(target=executor, daemon=True) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for records, about in results.values():
        order = {task_id: i for i, task_id in enumerate(
            task_id for unit in about.get("info", {}).get("units", []) for task_id in unit)}
        records.sort(key=lambda r: order.get(r["id"], len(order)))
    return results


# what a record names, for a worker that died before it said which checks it would run
WORKER_IDENTITY = {"device": "—", "implementation": "(worker)", "dtype": "—", "check": "worker", "quantity": "—"}


def crashed_record(framework: str, task_id: str, message: str) -> dict:
    """The record of a check whose worker died or stalled while (or before) running it."""
    from bcebench.suite.checks.claims import identity_from_task_id

    entry = {"id": task_id, "framework": framework, "verdict": "crashed", "message": message}
    entry.update(dict(zip(("framework", "device", "implementation", "dtype", "check", "quantity"),
                          task_id.split("/"), strict=False)))
    if entry.get("check") == "claim":
        entry["claim"] = identity_from_task_id(task_id)
    return entry
