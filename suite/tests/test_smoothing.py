"""Label smoothing judged by a rule an implementation can meet (suite/checks/smoothing.py): the label
y(1 − ε) + ε/2 formed in the input's dtype. An ideal smoothed BCE, which forms it there and computes the
rest exactly, failed 44 of 124 checks against the exact smoothed label; it passes in every dtype, and
one smoothed with another ε, or not at all, still fails."""

from fractions import Fraction

import numpy as np
import pytest

from bcebench.reference import metrics
from bcebench.reference.formats import FORMATS, as_dtype
from bcebench.suite import api
from bcebench.suite.checks import smoothing
from bcebench.suite.tests import planted

DTYPES = ["float16", "bfloat16", "float32", "float64"]


def test_an_ideal_smoothed_bce_passes_every_check_in_every_dtype():
    result = api.check(planted.smoothed_in_the_dtype, framework="numpy", smoothing=0.2)
    assert result.passed, result.explanation
    assert {r["dtype"] for r in result.records} == set(DTYPES)
    assert not [r for r in result.records if r["verdict"] != "pass"]


@pytest.mark.parametrize("function", [planted.smoothed_with_another_epsilon, planted.correct],
                         ids=["another-epsilon", "not-smoothed"])
def test_a_loss_smoothed_otherwise_still_fails_in_every_dtype(function):
    result = api.check(function, framework="numpy", smoothing=0.2, checks=["accuracy"],
                       quantities=["loss"])
    failing = {r["dtype"] for r in result.records if r["verdict"] == "fail"}
    assert failing == set(DTYPES), result.explanation


def test_the_gradient_of_a_smoothed_loss_is_judged_as_a_soft_label_quantity():
    """Every smoothed label is soft: the hard-label cases' gradient is judged in ULPs of the operands
    of p − y (the policy's soft-label bound), not of the result."""
    result = api.check(planted.smoothed_in_the_dtype, framework="numpy", smoothing=0.2,
                       dtypes=["float32"], checks=["accuracy"], quantities=["grad"])
    hard = [r for r in result.records if r["labels"] == "hard"]
    assert hard and all(r["bound"]["scale"] == "operands" for r in hard)
    plain = api.check(planted.correct, framework="numpy", dtypes=["float32"], checks=["accuracy"], quantities=["grad"])
    assert {r["bound"]["scale"] for r in plain.records if r["labels"] == "hard"} == {"result"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_labels_admitted_are_those_forming_them_in_the_dtype_can_give(dtype):
    """Forming y·(1 − ε) + ε/2 in the dtype (the constants rounded to it, product and sum rounded)
    gives one of the admitted labels; every admitted label lies within two ULPs of the exact one."""
    fmt = FORMATS[dtype]
    y = as_dtype(np.concatenate([[0.0, 1.0, 0.5], np.random.default_rng(7).uniform(0, 1, 200)]), fmt)
    for eps in (0.1, 0.2, 0.3):
        admitted = smoothing.formed_labels(y, eps, fmt).astype(np.float64)
        formed = (y * y.dtype.type(1 - eps) + y.dtype.type(eps / 2)).astype(np.float64)
        assert np.all((admitted == formed).any(axis=0))
        exact = np.array([float(Fraction(float(v)) * (1 - Fraction(eps)) + Fraction(eps) / 2) for v in y])
        assert np.all(np.abs(admitted - exact) <= 2 * metrics.ulp(exact, fmt))
