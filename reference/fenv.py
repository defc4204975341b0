"""The floating-point environment: bcebench's own arithmetic in IEEE 754's default, the code it
judges in the environment its process set.

A thread's environment holds the rounding mode and, on x86-64, MXCSR's flush-to-zero (a subnormal
result becomes 0) and denormals-are-zero (a subnormal operand reads as 0); ``torch.set_flush_denormal
(True)`` sets both. Under them, widening a float32 subnormal input to float64 reads 0 and narrowing
a subnormal result flushes it: the oracle would then give +inf for the loss of p = 2**-149, y = 1
(exactly 103.28…), and agree with a function that does the same. So the oracle and the judge run
inside ``ours()`` (round to nearest, subnormals kept: the environment a process starts with), and
the judged code inside ``theirs()``: the environment that was in force where ``ours()`` was entered,
with whatever the judged code changed in it since (a module that calls ``set_flush_denormal`` when
imported or called keeps it for its later calls). Leaving ``ours()`` restores that environment, so
the caller's process is left as it was.

The environment is read and set with C99's ``fegetenv``/``fesetenv`` and glibc's and musl's
FE_DFL_ENV, through ctypes. Where they are not to be had, ``ours()`` checks the environment
(``faults``) and refuses to judge in one it cannot restore.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from contextlib import contextmanager
from functools import cache

import numpy as np

ENVIRONMENT_BYTES = 64  # at least sizeof(fenv_t): 32 on x86-64 glibc, 8 on aarch64
DEFAULT_ENVIRONMENT = ctypes.c_void_p(-1)  # FE_DFL_ENV of glibc and musl: ((const fenv_t *) -1)


class ForeignEnvironment(ArithmeticError):
    """The thread's floating-point environment is not IEEE 754's default and cannot be made so here."""


_stack = threading.local()  # .saved: the environment outside each ``ours()`` block, innermost last


@cache
def _library():
    """libm's fegetenv and fesetenv, or None where there is no glibc or musl to give FE_DFL_ENV."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("m")
    try:
        library = ctypes.CDLL(name or "libm.so.6")
        library.fegetenv.argtypes = library.fesetenv.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return library


def _get():
    environment = ctypes.create_string_buffer(ENVIRONMENT_BYTES)
    _library().fegetenv(environment)
    return environment


def _set(environment) -> None:
    _library().fesetenv(environment)


def faults() -> list[str]:
    """What keeps this thread's environment from IEEE 754's default, as words; [] where nothing does.
    Each probe is an operation whose operands are arrays, so that no compiler folds it."""
    tiny32 = np.array([2.0**-149], dtype=np.float32)
    small64 = np.array([2.0**-140])
    one, half_ulp = np.array([1.0]), np.array([2.0**-53])
    found = []
    if tiny32.astype(np.float64)[0] == 0:
        found.append("subnormal operands read as zero (denormals-are-zero)")
    if small64.astype(np.float32)[0] == 0 or (small64 * 2.0**-900)[0] == 0:
        found.append("subnormal results flushed to zero (flush-to-zero)")
    if (one + 1.5 * half_ulp)[0] != 1 + 2 * half_ulp[0] or (-one - 1.5 * half_ulp)[0] != -1 - 2 * half_ulp[0] \
            or (one + 0.5 * half_ulp)[0] != 1:
        found.append("a rounding mode other than to nearest")
    return found


@contextmanager
def ours():
    """Run the block in IEEE 754's default environment, then restore the one it was entered with
    (as ``theirs()`` left it)."""
    if _library() is None:
        found = faults()
        if found:
            raise ForeignEnvironment(f"this thread's floating-point arithmetic has {', '.join(found)}, and "
                                    "bcebench cannot set IEEE 754's default on this platform to judge in it")
        yield
        return
    saved = getattr(_stack, "saved", None)
    if saved is None:
        saved = _stack.saved = []
    saved.append(_get())
    _set(DEFAULT_ENVIRONMENT)
    try:
        yield
    finally:
        _set(saved.pop())


@contextmanager
def theirs():
    """Run judged code in the environment ``ours()`` was entered with, keeping what it changes there;
    outside ``ours()`` the thread's environment already is that one."""
    saved = getattr(_stack, "saved", None)
    if not saved:
        yield
        return
    _set(saved[-1])
    try:
        yield
    finally:
        saved[-1] = _get()
        _set(DEFAULT_ENVIRONMENT)
