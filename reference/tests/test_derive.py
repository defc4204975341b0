"""The derivation certificate: every identity proved, and a false one caught."""


import sympy as sp

from bcebench.reference import derive
from bcebench.reference.derive import Claim, Fact, sigmoid, z


def test_every_identity_of_the_design_is_proved():
    verdicts = derive.certificate()
    assert {v.id for v in verdicts} >= {
        "loss-forms", "grad-probs", "sigmoid-derivative", "grad-logits", "hessian", "hessian-maximum",
        "convexity", "entropy-floor", "kl-identity", "label-smoothing", "focal", "hinge-contrast",
        "sgd-step", "xor",
    }
    failed = [(v.id, v.methods) for v in verdicts if v.status != "proved"]
    assert failed == []
    assert all(v.numeric_residual <= float(derive.NUMERIC_TOLERANCE) for v in verdicts)


def test_a_false_identity_fails_symbolically_and_numerically():
    sig = sigmoid(z)
    wrong = Claim("wrong-derivative", "σ′ = σ(1 + σ)", r"\sigma' = \sigma(1+\sigma)",
                  [Fact("zero", sp.diff(sig, z) - sig * (1 + sig))])
    [verdict] = derive.certificate([wrong])
    assert verdict.status == "failed"
    assert verdict.numeric_residual > 1e-3


def test_a_wrong_limit_fails():
    """The label-smoothing limit is +ε/2 for y = 1; −ε/2 there would be wrong."""
    eps = derive.eps
    gradient = sp.diff(derive.loss_logits(z, 1 * (1 - eps) + eps / 2), z)
    [verdict] = derive.certificate([Claim("wrong-limit", "", "", [Fact("limit", gradient, -eps / 2, z, sp.oo)])])
    assert verdict.status == "failed"
