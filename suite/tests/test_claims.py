"""The claims themselves: each is caught breaking by a planted fault, its searches agree with
brute force, its outcomes are classified against the oracle, and every claim is tied to a
proven identity. (The claims also run, identically, on every framework's implementations in
test_frameworks.py, through the gate's plan.)"""

import math

import numpy as np
import pytest

from bcebench.adapters import base
from bcebench.adapters.numpy_adapter import NumpyAdapter, focal_logits, stable_logits
from bcebench.reference import derive
from bcebench.reference.exact import Spec
from bcebench.reference.formats import FORMATS, as_dtype, bits_of, from_bits, round_float64
from bcebench.reference.oracle import evaluate
from bcebench.suite.checks import claims, claims_elementwise, claims_training
from bcebench.suite.checks.claim_context import Context
from bcebench.suite.gate import planning
from bcebench.suite.policy.bounds import load_policy
from bcebench.suite.tests import planted

POLICY = load_policy("strict")
ADAPTER = NumpyAdapter()
DTYPES = ("float16", "bfloat16", "float32", "float64")


def planted_impl(name: str) -> base.Implementation:
    return base.Implementation(f"user:bcebench.suite.tests.planted:{name}", "numpy", "logits", getattr(planted, name))


def measure(impl: base.Implementation, slug: str, dtype: str) -> dict:
    claim = claims.BY_SLUG[slug]
    task = {"kind": "claim", "check": "claim", "quantity": claim.quantity, "regime": slug, "labels": claim.labels,
            "dtype": dtype, "implementation": impl.id, "framework": "numpy", "device": "cpu", "form": impl.form}
    return claims.run_claim(ADAPTER, impl, "cpu", task, POLICY)


def test_every_claim_rests_on_a_proven_identity():
    needed = {claim.derive for claim in claims.CLAIMS}
    proven = {v.id: v.status for v in derive.certificate([c for c in derive.claims() if c.id in needed])}
    assert [c.number for c in claims.CLAIMS] == list(range(1, 11))
    for claim in claims.CLAIMS:
        assert proven.get(claim.derive) == "proved", claim.slug


def test_the_gate_plans_every_applicable_claim_for_a_users_implementation():
    ids = {t["regime"] for t in planning.tasks_for("numpy", "cpu", planted_impl("correct"), "float32",
                                               planning.Selection(["numpy"])) if t["check"] == "claim"}
    assert ids == {c.slug for c in claims.CLAIMS if c.family == "bce"}


def test_a_correct_implementation_keeps_every_claim():
    for dtype in DTYPES:
        for claim in claims.applicable(planted_impl("correct")):
            record = measure(planted_impl("correct"), claim.slug, dtype)
            assert record["verdict"] == "pass", (dtype, claim.slug, record.get("message"))


# (planted fault, the claim that must catch it, the dtype it is measured in)
BREAKS = [
    ("sigmoid_minus_label", "zero-gradient", "float32"),
    ("hessian_a_part_in_sixty_four_high", "convexity", "float32"),
    ("logits_clamped_to_15", "nll", "float32"),
    ("loss_a_part_in_a_thousand_low", "kl-identity", "float64"),
    ("loss_a_part_in_a_thousand_low", "entropy-floor", "float32"),
    ("gradient_off_by_one_part_in_a_thousand", "sgd-step", "float32"),
    ("gradient_off_by_one_part_in_a_thousand", "label-smoothing", "float32"),
    ("frozen_gradient", "xor", "float32"),
    ("frozen_gradient", "saturation", "float64"),
]


@pytest.mark.parametrize("name, slug, dtype", BREAKS)
def test_a_planted_fault_breaks_its_claim(name, slug, dtype):
    record = measure(planted_impl(name), slug, dtype)
    assert record["verdict"] == "fail" and record["outcome"] == "breaks", record.get("message")
    assert record["message"]


def _float32_where_sigmoid_rounds_to_one() -> float:
    """Brute force: the first float32 z >= 1 at which 1/(1 + e^−z), in float32, is 1."""
    z = from_bits(np.arange(0x3F800000, 0x42000000, dtype=np.uint64), FORMATS["float32"])  # 1 <= z < 32
    with np.errstate(over="ignore"):
        one = np.float32(1) / (np.float32(1) + np.exp(-z)) == 1
    return float(z[np.argmax(one)])


def test_zero_gradient_search_finds_the_first_zero_exactly():
    record = measure(planted_impl("sigmoid_minus_label"), "zero-gradient", "float32")
    assert record["figures"]["y = 1: gradient 0 from z ="] == _float32_where_sigmoid_rounds_to_one()


@pytest.mark.parametrize("platform", [frozenset(), frozenset({"flushed-subnormal"})], ids=["keeps", "flushes"])
def test_underflow_point_is_where_the_oracle_first_rounds_to_zero(platform):
    """Against the oracle itself: the correctly rounded gradient is nonzero one float below the
    point and zero at it, for every dtype and both sides; on a platform that flushes subnormals,
    normal one float below it and subnormal at it."""
    for dtype in DTYPES:
        fmt = FORMATS[dtype]
        context = Context(None, None, "cpu", dtype, None, platform)
        for label, sign in ((1.0, 1.0), (0.0, -1.0)):
            point = claims_elementwise._underflow_point(context, label, sign)
            z = np.array([point], dtype=fmt.dtype)
            below = np.nextafter(np.abs(z.astype(np.float64)), 0) * sign
            below = as_dtype(round_float64(below, fmt), fmt)
            if below[0] == z[0]:  # the float64 step is below the dtype's spacing: step on bit patterns
                below = from_bits(np.array([int(bits_of(z)[0]) - 1], dtype=np.uint64), fmt)
            spec = Spec("grad", "logits")
            at, before = (abs(float(evaluate(spec, v, np.array([label], fmt.dtype)).rounded[0])) for v in (z, below))
            smallest = 2.0**fmt.emin if platform else 0.0  # the smallest value the platform returns as itself
            assert at < smallest or at == 0, (dtype, label)
            assert before >= smallest and before != 0, (dtype, label)


def test_first_zero_agrees_with_a_scan_of_every_float16():
    """A predicate with isolated early hits and a threshold: the search returns the threshold's
    first point when the hits below it fall between sample points, and never anything below the
    first hit it can see."""
    fmt = FORMATS["float16"]
    threshold = 300.0
    found = claims_elementwise._first_zero(lambda z: z.astype(np.float64) >= threshold, fmt, 1.0)
    assert found == threshold
    assert claims_elementwise._first_zero(lambda z: np.zeros(z.shape, bool), fmt, 1.0) is None


def test_training_that_the_dtype_itself_stops_is_a_dtype_limit_not_a_fault():
    """bfloat16 has 8 bits: the XOR model with x₁x₂ stalls above 10^-3 even with exact gradients
    rounded once, so the claim holds in exact arithmetic only; the verdict passes."""
    record = measure(planted_impl("correct"), "xor", "bfloat16")
    assert record["outcome"] == "dtype-limit" and record["verdict"] == "pass"
    exact_w, _ = claims_training._exact_training("xor-crossed", "bfloat16")
    assert exact_w.dtype == FORMATS["bfloat16"].dtype


def test_separable_training_settles_at_the_exact_minimiser_with_l2():
    optimum, curvature = claims_training._l2_optimum()
    # the root of mean((σ(wx) − y)x) + w/64 for x = (−2, −1, 1, 2), y = (0, 0, 1, 1), checked here in float64
    residual = sum((1 / (1 + math.exp(-optimum * x)) - y) * x for x, y in zip((-2, -1, 1, 2), (0, 0, 1, 1),
                                                                            strict=True)) / 4 + optimum / 64
    assert abs(residual) < 1e-15 and curvature > 0
    record = measure(planted_impl("correct"), "saturation", "float64")
    assert record["outcome"] == "holds"
    assert abs(record["figures"]["L2: w after 512"] - optimum) < 1e-12


def test_focal_claim_catches_a_focal_loss_whose_gamma_zero_is_not_bce():
    def rebuilt(gamma, alpha):
        function = focal_logits(gamma, alpha)
        if gamma == 0:
            wrong = lambda z, y: function(z, y) * z.dtype.type(1.01)  # noqa: E731
            wrong.grad = function.grad
            return base.Implementation("wrong", "numpy", "logits", wrong, oracle={"gamma": 0.0})
        return base.Implementation("focal", "numpy", "logits", function, oracle={"gamma": gamma})

    impl = base.Implementation("planted focal", "numpy", "logits", focal_logits(2.0, 0.25),
                               oracle={"gamma": 2.0, "alpha": 0.25}, with_parameters=rebuilt)
    record = measure(impl, "focal", "float32")
    assert record["outcome"] == "breaks" and "γ = 0 is not BCE" in record["message"]
    builtin = next(i for i in ADAPTER.implementations() if i.oracle.get("gamma"))
    assert measure(builtin, "focal", "float32")["outcome"] == "holds"


def test_claims_apply_by_definition_not_by_name():
    plain = base.Implementation("any", "numpy", "logits", stable_logits)
    probs = base.Implementation("any", "numpy", "probs", stable_logits)
    weighted = base.Implementation("any", "numpy", "logits", stable_logits, oracle={"weight": 0.75})
    mean = base.Implementation("any", "numpy", "logits", stable_logits, reduction="mean")
    assert len(claims.applicable(plain)) == 9
    assert {c.slug for c in claims.applicable(probs)} == {"nll", "entropy-floor", "kl-identity"}
    assert claims.applicable(weighted) == [] and claims.applicable(mean) == []
