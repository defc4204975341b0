"""A thread whose floating-point environment is not IEEE 754's default, as a user's process may make
it: ``torch.set_flush_denormal(True)`` sets MXCSR's flush-to-zero and denormals-are-zero bits; so do
these helpers, without PyTorch, and they set the rounding mode as C99's ``fesetround`` does. x86-64
Linux only (glibc's fenv_t holds MXCSR at byte 28); elsewhere the tests that need them skip."""

import ctypes
import platform
import sys
from contextlib import contextmanager

import pytest

from bcebench.reference import fenv

MXCSR_OFFSET = 28
FLUSH_TO_ZERO, DENORMALS_ARE_ZERO = 0x8000, 0x0040
FE_UPWARD = 0x800  # x86's

needs_x86_linux = pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                                     reason="sets MXCSR through glibc's x86-64 fenv_t")


def flush_subnormals() -> None:
    """From now on the calling thread flushes subnormal results and reads subnormal operands as zero."""
    library = fenv._library()
    environment = ctypes.create_string_buffer(fenv.ENVIRONMENT_BYTES)
    library.fegetenv(environment)
    mxcsr = ctypes.c_uint32.from_buffer(environment, MXCSR_OFFSET)
    mxcsr.value |= FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    library.fesetenv(environment)


@contextmanager
def flushing():
    """``flush_subnormals`` until the block ends, then the environment before it."""
    library = fenv._library()
    saved = ctypes.create_string_buffer(fenv.ENVIRONMENT_BYTES)
    library.fegetenv(saved)
    flush_subnormals()
    try:
        yield
    finally:
        library.fesetenv(saved)


@contextmanager
def rounding_upward():
    library = fenv._library()
    saved = ctypes.create_string_buffer(fenv.ENVIRONMENT_BYTES)
    library.fegetenv(saved)
    library.fesetround(FE_UPWARD)
    try:
        yield
    finally:
        library.fesetenv(saved)
