"""The article's ten claims about BCE, measured on an implementation in one dtype.

Each claim is proven in exact arithmetic by ``reference.derive`` (its ``derive`` id). Here it is
measured: the implementation's numbers, through its adapter, against the oracle, and every claim
ends in one of three outcomes:

- ``holds``: the implementation's numbers satisfy the claim;
- ``dtype-limit``: they do not, and neither do the correctly rounded numbers (or exact-gradient
  training in the dtype): the claim holds in exact arithmetic only, and the figure says where
  the dtype ends it; the implementation is not at fault (verdict pass);
- ``breaks``: the implementation fails where correctly rounded arithmetic keeps the claim
  (verdict fail, unless a known deviation explains it).

Tolerances are the policy's bound for the quantity (ULPs of the dtype), never a literal here.
Nothing here knows which framework it is looking at. This module holds the list of claims and runs
one; their measures are in ``claims_elementwise`` and ``claims_training``.
"""

from __future__ import annotations

import time
from functools import cache

from bcebench.adapters.base import Adapter, Implementation, Unsupported
from bcebench.suite.checks.claim_context import Claim, Context
from bcebench.suite.checks.claims_elementwise import (
    convexity,
    entropy_floor,
    focal,
    kl_identity,
    label_smoothing,
    nll,
    zero_gradient,
)
from bcebench.suite.checks.claims_training import saturation, sgd_step, xor
from bcebench.suite.policy.bounds import Policy
from bcebench.suite.policy.deviations import everywhere, load_platforms

CLAIMS = (
    Claim(1, "nll", "BCE is the negative log-likelihood: −ln p for y = 1, −ln(1 − p) for y = 0",
          "loss-forms", ("probs", "logits"), "bce", "loss", "hard", nll),
    Claim(2, "sgd-step", "For logistic regression the SGD update w ← w − η(ŷ − y)x is autodiff's gradient step",
          "sgd-step", ("logits",), "bce", "grad", "hard", sgd_step),
    Claim(3, "zero-gradient", "Hinge gives confident correct examples zero gradient; BCE's p − y is never 0 for "
          "finite z", "hinge-contrast", ("logits",), "bce", "grad", "hard", zero_gradient),
    Claim(4, "convexity", "BCE is convex in z and its gradient 1/4-Lipschitz: the Hessian lies in (0, 1/4], "
          "largest at z = 0", "hessian-maximum", ("logits",), "bce", "hess", "random", convexity),
    Claim(5, "xor", "A linear model cannot beat ln 2 on XOR; with the feature x₁x₂ the loss goes to 0",
          "xor", ("logits",), "bce", "loss", "hard", xor),
    Claim(6, "entropy-floor", "For a soft label y the smallest loss over p is H(y), at p = y",
          "entropy-floor", ("probs", "logits"), "bce", "loss", "soft", entropy_floor),
    Claim(7, "label-smoothing", "With y = 0.9 the gradient at saturation tends to 0.1, not 0, and the smallest "
          "loss is H(0.9), not 0", "label-smoothing", ("logits",), "bce", "grad", "soft", label_smoothing),
    Claim(8, "saturation", "The hard-label gradient vanishes as z grows, the smoothed one does not; L2 keeps the "
          "weights bounded on separable data, without it they grow", "grad-logits", ("logits",), "bce", "grad",
          "hard", saturation),
    Claim(9, "focal", "The focal factor (1 − p_t)^γ shrinks easy examples' loss; γ = 0 is BCE; gradients stay "
          "finite when saturated", "focal", ("logits",), "focal", "loss", "hard", focal),
    Claim(10, "kl-identity", "BCE = H(y) + KL(y‖p), and KL >= 0", "kl-identity", ("probs", "logits"), "bce",
          "loss", "random", kl_identity),
)


BY_SLUG = {claim.slug: claim for claim in CLAIMS}


def applicable(impl: Implementation) -> list[Claim]:
    """The claims an implementation is measured on: the BCE claims for a plain elementwise BCE of
    the claim's form, the focal claim for a focal loss that can be rebuilt with other γ; for one that
    takes hard labels alone, the claims made on hard labels."""
    if impl.reduction != "none" or not impl.derivatives or impl.one_at_a_time:
        return []
    if impl.oracle.get("gamma") is not None:
        found = [c for c in CLAIMS if c.family == "focal" and impl.with_parameters is not None]
    elif impl.oracle:
        return []
    else:
        found = [c for c in CLAIMS if c.family == "bce" and impl.form in c.forms]
    return [c for c in found if c.labels == "hard" or not impl.hard_labels_only]


def identity(claim: Claim) -> dict:
    """What a record says about its claim."""
    return {"number": claim.number, "slug": claim.slug, "title": claim.title, "derive": claim.derive}


def identity_from_task_id(task_id: str) -> dict | None:
    """The claim a task id names (its last part is slug-labels), for a record made without running it."""
    last = task_id.rsplit("/", 1)[-1]
    return next((identity(c) for c in CLAIMS if last == f"{c.slug}-{c.labels}"), None)


@cache
def _platforms():
    """suite/policy/platforms.toml, which the gate applies to every check (gate.planning)."""
    return load_platforms()


def run_claim(adapter: Adapter, impl: Implementation, device: str, task: dict, policy: Policy) -> dict:
    """Measure one claim; the record carries the claim, its outcome, figures and a one-line finding."""
    claim = BY_SLUG[task["regime"]]
    record = {k: task[k] for k in task if k != "kind"}
    record["claim"] = identity(claim)
    start = time.perf_counter()
    try:
        result = claim.measure(Context(adapter, impl, device, task["dtype"], policy,
                                       everywhere(_platforms(), record)))
    except Unsupported as error:
        record.update(verdict="unsupported", message=str(error))
    except Exception as error:  # a crash is a finding, and the run goes on
        first_line = str(error).splitlines()[0] if str(error) else ""
        record.update(verdict="crashed", message=f"{type(error).__name__}: {first_line}")
    else:
        record.update(outcome=result["outcome"], figures=result["figures"], message=result["finding"],
                      verdict="fail" if result["outcome"] == "breaks" else "pass")
        if "input" in result:  # the first input where an elementwise claim breaks: what a reproducer runs
            record["input"] = result["input"]
    record["seconds"] = round(time.perf_counter() - start, 4)
    return record
