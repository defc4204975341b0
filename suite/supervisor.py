"""The one owner of every child process a bcebench command starts (the gate's workers, the bench's
pytest runs, the frameworks' descriptions).

Each child starts in a process group of its own, so that ending it ends whatever it started too.
While a command runs, the first SIGINT or SIGTERM sets ``interrupted`` and ends every child at
once: the command stops starting work, keeps what finished, marks the run interrupted and exits
130 (a command that cleans up as its stack unwinds gets KeyboardInterrupt at once instead). A
second SIGINT raises KeyboardInterrupt at once. Leaving the supervisor's scope ends every
child that is still running, whatever the way out, so no process of a command outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

_active: Supervisor | None = None


class Supervisor:
    """With ``unwind``, the first signal also raises KeyboardInterrupt in the main thread, for a
    command whose own clean-up runs as the stack unwinds (a sweep closes its Dask cluster)."""

    def __init__(self, unwind: bool = False) -> None:
        self.unwind = unwind
        self.interrupted = threading.Event()
        self.reason = ""
        self._children: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._previous: dict = {}

    def __enter__(self) -> Supervisor:
        global _active
        self._outer, _active = _active, self
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        global _active
        self.end_all()
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        _active = self._outer

    def _on_signal(self, number, frame) -> None:
        if self.interrupted.is_set() and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop(f"interrupted by {signal.Signals(number).name}")
        if self.unwind:
            raise KeyboardInterrupt(self.reason)

    def stop(self, reason: str) -> None:
        """Stop the run: no new work starts and every child ends now."""
        if not self.interrupted.is_set():
            self.reason = reason
            self.interrupted.set()
        self.end_all()

    def spawn(self, args: list[str], **options) -> subprocess.Popen:
        """A child process in a group of its own, ended with the supervisor."""
        if self.interrupted.is_set():
            raise Interrupted(self.reason)
        process = subprocess.Popen(args, start_new_session=True, **options)
        with self._lock:
            self._children.add(process)
        if self.interrupted.is_set():  # stopped while it started: end_all may have missed it
            self.end(process)
            raise Interrupted(self.reason)
        return process

    def end(self, process: subprocess.Popen) -> None:
        """End a child and everything in its group, and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        with self._lock:
            self._children.discard(process)

    def end_all(self) -> None:
        with self._lock:
            children = list(self._children)
        for process in children:
            self.end(process)

    def run(self, args: list[str], timeout: float | None = None, input: str | None = None,
            **options) -> subprocess.CompletedProcess:
        """subprocess.run (text mode) under supervision: on a timeout the child's group is ended
        and subprocess.TimeoutExpired is raised; on an interruption, Interrupted."""
        process = self.spawn(args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        finally:
            self.end(process)
        if self.interrupted.is_set():
            raise Interrupted(self.reason)
        return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


class Interrupted(Exception):
    """The run was stopped (a signal, or its time budget): what finished is kept."""


@contextlib.contextmanager
def supervising():
    """The supervisor of the running command, or, outside one, a supervisor for this scope."""
    if _active is not None:
        yield _active
    else:
        with Supervisor() as fresh:
            yield fresh


def answers_to_parent():
    """The stream a child process answers its parent on: its standard output as it was. File descriptor
    1 (``sys.stdout``, and C's stdout) becomes standard error from here on, so that whatever the judged
    code prints, from Python or from a C library, goes where the parent keeps messages, never between
    the answers."""
    sys.stdout.flush()
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return answers


@contextlib.contextmanager
def printing_to_stderr():
    """What the block prints to standard output, from Python or C, goes to standard error: a user's
    module imported to be checked prints nothing into a command's report."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
