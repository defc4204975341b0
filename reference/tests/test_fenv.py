"""The oracle computes in IEEE 754's default floating-point environment whatever its thread's is,
and leaves the caller's environment as it found it."""

import numpy as np

from bcebench.reference import fenv, oracle
from bcebench.reference.exact import Spec
from bcebench.reference.tests.flushing import flushing, needs_x86_linux, rounding_upward

# Subnormal float32 inputs (2**-149, 2**-130, the subnormal nearest 1e-40) with y = 1 in the
# probability form, whose losses are near 103, 90 and 92; and logits whose gradients at y = 0,
# σ(z), are float32 subnormals (z = -100, -103) or 0 (z = -110).
CASES = [(Spec("loss", "probs"), np.array([2.0**-149, 2.0**-130, 1e-40], dtype=np.float32), np.float32(1)),
         (Spec("grad", "logits"), np.array([-100.0, -103.0, -110.0], dtype=np.float32), np.float32(0)),
         (Spec("loss", "logits"), np.array([1e-40, -1e-40, 2.0**-149], dtype=np.float32), np.float32(0))]


def _answers():
    return [oracle.evaluate(spec, x, y) for spec, x, y in CASES]


def _bits(answers):
    return [(a.rounded.view(np.uint32).tolist(), a.exact.tolist()) for a in answers]


@needs_x86_linux
def test_a_flushing_thread_gets_the_same_answers_and_keeps_its_flushing():
    expected = _bits(_answers())  # in the default environment a test process starts with
    assert fenv.faults() == []
    with flushing():
        found = fenv.faults()
        assert found == ["subnormal operands read as zero (denormals-are-zero)",
                         "subnormal results flushed to zero (flush-to-zero)"]  # the probe sees what the test set
        assert _bits(_answers()) == expected
        assert fenv.faults() == found  # the caller's environment, as it was
    assert expected[0][0][0] != np.float32(np.inf).view(np.uint32)  # the loss at p = 2**-149 is finite


@needs_x86_linux
def test_a_thread_rounding_upward_gets_the_same_answers():
    expected = _bits(_answers())
    with rounding_upward():
        assert fenv.faults() == ["a rounding mode other than to nearest"]
        assert _bits(_answers()) == expected
        assert fenv.faults() == ["a rounding mode other than to nearest"]


@needs_x86_linux
def test_judged_code_runs_in_the_callers_environment_and_keeps_what_it_changes():
    with flushing():
        caller = fenv.faults()
        with fenv.ours():
            assert fenv.faults() == []
            with fenv.theirs():
                assert fenv.faults() == caller
                fenv._set(fenv.DEFAULT_ENVIRONMENT)  # the judged code turns flushing off
            assert fenv.faults() == []
            with fenv.theirs():
                assert fenv.faults() == []  # and finds it off at its next call
        assert fenv.faults() == []  # the caller's thread as the judged code left it
    with fenv.theirs():  # outside ours(): the thread's own, untouched
        assert fenv.faults() == []


def test_without_fenv_a_foreign_environment_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(fenv, "_library", lambda: None)
    monkeypatch.setattr(fenv, "faults", lambda: ["subnormal results flushed to zero (flush-to-zero)"])
    try:
        with fenv.ours():
            raise AssertionError("judged in a flushing environment")
    except fenv.ForeignEnvironment as error:
        assert "flush-to-zero" in str(error)
