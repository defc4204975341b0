"""The stable rewrites (adapters/rewrites.py): in every framework that spells them, correctly
rounded within the policy's bound at every float16 input, labels 0 and 1, where the built-ins are
not; and the table of signatures they remove names only what the gate reports."""

import pytest

from bcebench.adapters import base, rewrites
from bcebench.reference import metrics
from bcebench.reference.formats import FORMATS
from bcebench.suite.policy.bounds import load_policy
from bcebench.suite.sweep import exhaustive as sweep

POLICY = load_policy("strict")
FRAMEWORKS = [name for name in ("numpy", "torch", "jax", "tensorflow") if base.load(name)[0] is not None]
CASES = [(framework, form, quantity, label) for framework in FRAMEWORKS
         for form, quantities in (("logits", ("loss", "grad", "hess")), ("probs", ("loss",)))
         for quantity in quantities for label in (0.0, 1.0)]


def every_float16_input(framework: str, implementation: str, form: str, quantity: str, label: float,
                        family: str = "bce"):
    """(largest error, special-value mismatches but a zero's sign, the policy's bound for the family) over
    every float16 input of the form with the hard label."""
    target = sweep.Target(framework, implementation, "float16", quantity, label)
    stats = None
    for lo, hi in sweep.intervals("all", FORMATS["float16"], form):
        shard = sweep.run_shard(target, lo, hi)
        stats = shard if stats is None else stats.merge(shard)
    bound = POLICY.bound_for({"check": "accuracy", "family": family, "quantity": quantity, "form": form,
                              "dtype": "float16", "labels": "hard"})
    return stats.max_error, {kind: n for kind, n in stats.mismatches.items() if kind != "zero-sign"}, bound.limit


@pytest.mark.parametrize("framework, form, quantity, label", CASES)
def test_a_rewrite_is_within_the_bound_at_every_float16_input(framework, form, quantity, label):
    largest, specials, limit = every_float16_input(framework, rewrites.IDS[form], form, quantity, label)
    assert specials == {} and largest <= limit, (largest, specials)


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="PyTorch is not installed")
def test_the_same_sweep_fails_the_built_in_it_rewrites():
    """PyTorch's loss with y = 0 loses its tail from z = −6.24 (2,050 ULPs) and is NaN at z = −∞."""
    largest, specials, limit = every_float16_input("torch", "torch.binary_cross_entropy_with_logits", "logits",
                                                   "loss", 0.0)
    assert largest > 100 * limit and specials == {"nan": 1}


# numpy has no autodiff: its focal rewrite is swept in the loss alone
FOCAL_CASES = [(framework, quantity, label) for framework in FRAMEWORKS
               for quantity in (("loss",) if framework == "numpy" else ("loss", "grad")) for label in (0.0, 1.0)]


@pytest.mark.parametrize("framework, quantity, label", FOCAL_CASES)
def test_the_focal_rewrite_is_within_the_bound_at_every_float16_input(framework, quantity, label):
    """α = 0.25, γ = 2, as the built-ins are called: no NaN at z = ±∞ nor where the built-ins' gradient
    overflows (y = 0, z ≥ 43,680), every error within the focal bound (16 ULPs; 5.48 measured)."""
    largest, specials, limit = every_float16_input(framework, rewrites.IDS["focal"], "logits", quantity, label,
                                                   family="focal")
    assert specials == {} and largest <= limit, (largest, specials)


@pytest.mark.skipif("torch" not in FRAMEWORKS, reason="PyTorch is not installed")
def test_the_same_sweep_fails_the_focal_formula_it_rewrites():
    """torchvision's formula in torch: 45.6 ULPs where 1 − p_t cancels, and a NaN gradient for y = 0
    wherever 0.75·2·z overflows float16 and at z = ±∞ (685 inputs; reports/sweeps/rewrites)."""
    largest, specials, limit = every_float16_input("torch", "torch focal, torchvision formula(alpha=0.25, gamma=2)",
                                                   "logits", "grad", 0.0, family="focal")
    assert largest > 2 * limit and specials == {"nan": 685}


def test_every_rewrite_names_a_signature_of_the_gate():
    assert {r.signature for r in rewrites.REWRITES} <= set(metrics.SIGNATURES)
    assert set(rewrites.FOCAL_SIGNATURES) <= set(metrics.SIGNATURES)
    assert rewrites.for_failure("lost-tail", "loss", "logits").formula == "log1p(e^−|z|)"
    assert rewrites.for_failure("raised", "loss", "logits") is None


def test_a_focal_loss_is_offered_the_focal_rewrite_never_the_bce_one():
    """An issue text for a focal loss's fault names the focal formula (a BCE rewrite would not fix it)."""
    focal = rewrites.for_failure("lost-tail", "loss", "logits", family="focal")
    assert focal.formula == rewrites.FOCAL_FORMULA and focal.signature == "lost-tail"
    assert rewrites.for_failure("nan", "grad", "logits", family="focal").formula == rewrites.FOCAL_FORMULA
    assert rewrites.for_failure("lost-tail", "hess", "logits", family="focal") is None
