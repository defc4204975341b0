"""The Python API: a project checks its own BCE from its own pytest suite."""

import numpy as np
import pytest

from suite import api


def careful_bce(z, y):
    """(1 − y)·z for z > 0 or −y·z otherwise, plus log1p(e^−|z|) (no term cancels another), with its
    gradient σ(z) − y written as (1 − y)σ(z) − yσ(−z). (max(z, 0) − y·z + log1p(e^−|z|) would not
    pass: with y near 1 the difference cancels, 181 ULPs at float32 z = 83.7, y = 0.998.)"""
    return np.where(z > 0, (1 - y) * z, -y * z) + np.log1p(np.exp(-np.abs(z)))


def _careful_grad(z, y):
    e = np.exp(-np.abs(z))
    big, small = 1 / (1 + e), e / (1 + e)
    s, s_minus = np.where(z >= 0, big, small), np.where(z >= 0, small, big)
    return (1 - y) * s - y * s_minus


careful_bce.grad = _careful_grad


def naive_bce(z, y):
    """ln(1 + e^z) − y·z: e^z overflows for z > 88.7 in float32 and the loss becomes ∞."""
    return np.log(1 + np.exp(z)) - y * z


def test_a_careful_kernel_passes():
    result = api.check(careful_bce, framework="numpy", form="logits", dtypes=["float32"], checks=["accuracy"])
    assert result.passed, result.explanation
    assert {r["quantity"] for r in result.records} == {"loss", "grad", "hess"}
    assert all(r["verdict"] == "unsupported" for r in result.records if r["quantity"] == "hess")  # no fn.hess


def test_a_naive_kernel_fails_with_the_reports_explanation():
    result = api.check(naive_bce, framework="numpy", form="logits", dtypes=["float32"], checks=["accuracy"],
                       quantities=["loss"])
    assert not result.passed
    with pytest.raises(AssertionError) as raised:
        result.assert_passed()
    message = str(raised.value)
    assert "fail: numpy/cpu/user:naive_bce/float32/accuracy/loss/" in message
    assert "first overflow x=" in message and "got=inf" in message  # the overflow, with its input


def test_bad_requests_are_value_errors():
    with pytest.raises(ValueError, match="unknown framework"):
        api.check(careful_bce, framework="theano")
    with pytest.raises(ValueError, match="form must be"):
        api.check(careful_bce, form="odds")
    assert not api.check(careful_bce, dtypes=["float128"]).passed  # nothing selected: not a pass
