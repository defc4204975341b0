"""The mathematics of BCE, proved symbolically with SymPy and cross-checked numerically.

Each identity of the design's table is a ``Claim``: an id, a statement (text and LaTeX), and
a list of symbolic facts, each an expression with what it must be (zero, a set of solutions, a
limit, positive). A fact is proved when SymPy establishes it: the difference simplifies to 0
(trying simplify, then log expansion and power simplification, then "its derivative is 0 and it
vanishes at one point", which settles a difference of analytic functions on an interval), the
equation's solution set is the one claimed, the limit is the one claimed, the expression is
positive by SymPy's assumptions. Because ``simplify`` can be wrong or give up, every fact is also
evaluated with mpmath at 50 significant digits at seeded random points of its domain.

``certificate()`` returns one record per claim; ``bcebench derive`` prints them.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

import mpmath
import sympy as sp

NUMERIC_DIGITS = 60  # terms reach e^30 ≈ 1e13: 60 digits leave them 1e-47, far below the tolerance
NUMERIC_POINTS = 8
NUMERIC_TOLERANCE = mpmath.mpf(10) ** -40
SEED = 20261128

z = sp.Symbol("z", real=True)
p = sp.Symbol("p", positive=True)
y = sp.Symbol("y", positive=True)
eps = sp.Symbol("epsilon", positive=True)
gamma = sp.Symbol("gamma", positive=True)
alpha = sp.Symbol("alpha", positive=True)
u = sp.Symbol("u", positive=True)
r, s_ = sp.Symbol("r", positive=True), sp.Symbol("s", positive=True)
k = sp.Symbol("k", positive=True)
m = sp.Symbol("m", real=True)
t = sp.Symbol("t", positive=True)
w = sp.symbols("w1:4", real=True)
x = sp.symbols("x1:4", real=True)
a, b, c = sp.symbols("a b c", real=True)

# Where the random points of the numeric cross-check are drawn, per symbol.
DOMAINS = {z: (-30, 30), p: (0.001, 0.999), y: (0.001, 0.999), eps: (0.001, 0.5),
           gamma: (0.1, 5), alpha: (0.05, 0.95), u: (0.001, 30), r: (0.001, 1000), s_: (0.001, 1000),
           k: (0.001, 20), m: (-20, 20), t: (1, 40),
           **{s: (-3, 3) for s in (*w, *x)}, **{s: (-5, 5) for s in (a, b, c)}}


def sigmoid(v):
    return 1 / (1 + sp.exp(-v))


def softplus(v):
    return sp.log(1 + sp.exp(v))


def loss_probs(prob, label):
    return -(label * sp.log(prob) + (1 - label) * sp.log(1 - prob))


def loss_logits(logit, label):
    return softplus(logit) - label * logit


def entropy(label):
    return -(label * sp.log(label) + (1 - label) * sp.log(1 - label))


def focal_probs(prob, label, g, weight_pos, weight_neg):
    return -(weight_pos * label * (1 - prob) ** g * sp.log(prob)
             + weight_neg * (1 - label) * prob ** g * sp.log(1 - prob))


@dataclass
class Fact:
    """One thing SymPy must establish about ``expr``: kind is 'zero', 'solutions', 'limit' or
    'positive'; ``expected`` is the solution set or the limit; ``variable`` and ``point`` say
    what is solved for or where the limit is taken."""

    kind: str
    expr: sp.Expr
    expected: object = None
    variable: sp.Symbol | None = None
    point: object = None


@dataclass
class Claim:
    id: str
    statement: str
    latex: str
    facts: list[Fact] = field(default_factory=list)


def zero(expr) -> Fact:
    return Fact("zero", expr)


def _evaluate(expr: sp.Expr, point: dict) -> mpmath.mpf:
    symbols = sorted(expr.free_symbols, key=str)
    return sp.lambdify(symbols, expr, "mpmath")(*[point[s] for s in symbols])


def _simplifies_to_zero(expr: sp.Expr) -> str | None:
    """The method that reduces expr to 0, or None."""
    if sp.simplify(expr) == 0:
        return "simplify"
    expanded = sp.powsimp(sp.expand(sp.expand_log(expr, force=True)), force=True)
    if sp.simplify(expanded) == 0:
        return "expand_log + powsimp + simplify"
    variables = sorted(expr.free_symbols, key=str)
    for v in variables:
        if v in (z, t) and sp.simplify(sp.diff(expr, v)) == 0:
            rest = expr.subs(v, 0 if v == z else 1)
            if _simplifies_to_zero(rest):
                return f"derivative in {v} is 0 and it vanishes at {v} = {0 if v == z else 1}"
    return None


def prove(fact: Fact) -> tuple[bool, str]:
    """(proved, method) for one fact."""
    if fact.kind == "zero":
        method = _simplifies_to_zero(fact.expr)
        return method is not None, method or "simplification gave up"
    if fact.kind == "solutions":
        found = sp.solveset(fact.expr, fact.variable, sp.S.Reals)
        return found == fact.expected, f"solveset over the reals: {found}"
    if fact.kind == "limit":
        found = sp.limit(fact.expr, fact.variable, fact.point)
        return sp.simplify(found - fact.expected) == 0, f"limit {fact.variable} -> {fact.point}: {found}"
    if fact.kind == "positive":
        return bool(sp.simplify(fact.expr).is_positive), "positive by the symbols' assumptions"
    raise ValueError(f"unknown fact kind {fact.kind!r}")


def numeric_deviation(fact: Fact, point: dict) -> mpmath.mpf:
    """How far the fact is from holding at one point (all symbols given), at NUMERIC_DIGITS digits.

    zero: |expr|. positive: 0 if expr > 0, else inf. solutions: |expr| at each claimed solution,
    or, for the empty set, inf if expr vanishes. limit: |expr − limit| at distance 200 (the tails
    here are e^-200 ~ 1e-87, far below the tolerance).
    """
    if fact.kind == "zero":
        return abs(_evaluate(fact.expr, point))
    if fact.kind == "positive":
        return mpmath.mpf(0) if _evaluate(fact.expr, point) > 0 else mpmath.inf
    if fact.kind == "solutions":
        if fact.expected == sp.S.EmptySet:
            return mpmath.inf if _evaluate(fact.expr, point) == 0 else mpmath.mpf(0)
        return max(abs(_evaluate(fact.expr.subs(fact.variable, s), point)) for s in fact.expected)
    far = {**point, fact.variable: mpmath.mpf(200 if fact.point == sp.oo else -200)}
    return abs(_evaluate(fact.expr, far) - _evaluate(sp.sympify(fact.expected), far))


def numeric_residual(fact: Fact, rng: random.Random) -> mpmath.mpf:
    """The largest deviation from the fact at seeded random points of its domain."""
    symbols = sorted(fact.expr.free_symbols | sp.sympify(fact.expected or 0).free_symbols, key=str)
    worst = mpmath.mpf(0)
    with mpmath.workdps(NUMERIC_DIGITS):
        for _ in range(NUMERIC_POINTS):
            point = {s: mpmath.mpf(rng.uniform(*DOMAINS[s])) for s in symbols}
            worst = max(worst, numeric_deviation(fact, point))
    return worst


def claims() -> list[Claim]:
    sig = sigmoid(z)
    hess = sig * (1 - sig)
    grad_p = (p - y) / (p * (1 - p))
    smoothed = y * (1 - eps) + eps / 2
    c_pos, c_neg = alpha * y, (1 - alpha) * (1 - y)
    focal_z = c_pos * sigmoid(-z) ** gamma * softplus(-z) + c_neg * sig ** gamma * softplus(z)
    focal_grad_z = (c_neg * sig ** gamma * (gamma * sigmoid(-z) * softplus(z) + sig)
                    - c_pos * sigmoid(-z) ** gamma * (gamma * sig * softplus(-z) + sigmoid(-z)))
    q = 1 - p
    focal_grad_p = (c_pos * (-gamma * q ** (gamma - 1) * -sp.log(p) - q ** gamma / p)
                    + c_neg * (gamma * p ** (gamma - 1) * -sp.log(q) + p ** gamma / q))
    dot = sum(wi * xi for wi, xi in zip(w, x, strict=True))
    xor = [((0, 0), 0), ((0, 1), 1), ((1, 0), 1), ((1, 1), 0)]
    xor_linear = sum(loss_logits(a * x1 + b * x2 + c, label) for (x1, x2), label in xor) / 4
    xor_feature = sum(loss_logits(t * (2 * (x1 + x2 - 2 * x1 * x2) - 1), label) for (x1, x2), label in xor) / 4

    return [
        Claim("loss-forms", "L(σ(z), y) = softplus(z) − y·z: the probability and logit forms agree",
              r"-[y\ln\sigma(z)+(1-y)\ln(1-\sigma(z))] = \ln(1+e^{z}) - yz",
              [zero(loss_probs(sig, y) - loss_logits(z, y))]),
        Claim("softplus-stable", "softplus(z) = max(z, 0) + log1p(e^−|z|) for z > 0 and z < 0",
              r"\ln(1+e^{z}) = \max(z,0) + \ln(1+e^{-|z|})",
              [zero(softplus(u) - u - sp.log(1 + sp.exp(-u))), zero(softplus(-u) - sp.log(1 + sp.exp(-u)))]),
        Claim("grad-probs", "∂L/∂p = (p − y)/(p(1 − p))", r"\partial L/\partial p = \frac{p-y}{p(1-p)}",
              [zero(sp.diff(loss_probs(p, y), p) - grad_p)]),
        Claim("sigmoid-derivative", "σ′(z) = σ(z)(1 − σ(z))", r"\sigma'(z) = \sigma(z)(1-\sigma(z))",
              [zero(sp.diff(sig, z) - hess)]),
        Claim("grad-logits", "∂L/∂z = σ(z) − y = p − y (also by the chain rule through p)",
              r"\partial L/\partial z = \sigma(z) - y",
              [zero(sp.diff(loss_logits(z, y), z) - (sig - y)),
               zero(grad_p.subs(p, sig) * hess - (sig - y))]),
        Claim("hessian", "∂²L/∂z² = σ(z)(1 − σ(z))", r"\partial^2 L/\partial z^2 = \sigma(1-\sigma)",
              [zero(sp.diff(loss_logits(z, y), z, 2) - hess)]),
        Claim("hessian-maximum",
              "σ(1 − σ) ≤ 1/4 with equality only at z = 0, tending to 0 at ±∞: "
              "the gradient is 1/4-Lipschitz",
              r"\tfrac14 - \sigma(1-\sigma) = (\sigma-\tfrac12)^2,\ \arg\max = 0,\ \lim_{z\to\pm\infty} = 0",
              [zero(sp.Rational(1, 4) - hess - (sig - sp.Rational(1, 2)) ** 2),
               Fact("solutions", sp.diff(hess, z), sp.FiniteSet(0), z),
               zero(hess.subs(z, 0) - sp.Rational(1, 4)),
               Fact("limit", hess, 0, z, sp.oo), Fact("limit", hess, 0, z, -sp.oo)]),
        Claim("convexity", "∂²L/∂z² > 0 for every real z: L is strictly convex in z",
              r"\sigma(z)(1-\sigma(z)) = \frac{e^{-z}}{(1+e^{-z})^2} > 0",
              [zero(hess - sp.exp(-z) / (1 + sp.exp(-z)) ** 2),
               Fact("positive", sp.exp(-z) / (1 + sp.exp(-z)) ** 2)]),
        Claim("entropy-floor", "min over p of L(p, y) is H(y), attained at p = y",
              r"\partial_p L = 0 \iff p = y,\ \partial_p^2 L > 0,\ L(y,y) = H(y)",
              # The zeros of ∂L/∂p on (0, 1) are those of its numerator: the denominator p(1 − p) > 0.
              [Fact("solutions", sp.together(sp.diff(loss_probs(p, y), p)).as_numer_denom()[0], sp.FiniteSet(y), p),
               # p = r/(1 + r) and y = s/(1 + s) with r, s > 0 cover (0, 1) exactly.
               Fact("positive", sp.diff(loss_probs(p, y), p, 2).subs({p: r / (1 + r), y: s_ / (1 + s_)})),
               zero(loss_probs(y, y) - entropy(y))]),
        Claim("kl-identity", "L(p, y) = H(y) + KL(Bern(y) ‖ Bern(p)), and KL ≥ 0 (by entropy-floor)",
              r"L(p,y) = H(y) + y\ln\frac{y}{p} + (1-y)\ln\frac{1-y}{1-p}",
              [zero(loss_probs(p, y) - entropy(y) - (y * sp.log(y / p) + (1 - y) * sp.log((1 - y) / (1 - p))))]),
        Claim("label-smoothing",
              "with y_ε = y(1 − ε) + ε/2, ∂L/∂z = p − y_ε tends to +ε/2 (not 0) as p → 1 for y = 1, "
              "and to −ε/2 as p → 0 for y = 0",
              r"\lim_{z\to\infty}(\sigma(z) - y_\varepsilon)|_{y=1} = \tfrac{\varepsilon}{2},\ "
              r"\lim_{z\to-\infty}(\sigma(z) - y_\varepsilon)|_{y=0} = -\tfrac{\varepsilon}{2}",
              [zero(sp.diff(loss_logits(z, smoothed), z) - (sig - smoothed)),
               Fact("limit", sp.diff(loss_logits(z, smoothed), z).subs(y, 1), eps / 2, z, sp.oo),
               Fact("limit", sp.diff(loss_logits(z, smoothed), z).subs(y, 0), -eps / 2, z, -sp.oo)]),
        Claim("focal",
              "focal loss FL = −[α y (1−p)^γ ln p + (1−α)(1−y) p^γ ln(1−p)]: γ = 0 gives BCE "
              "(α = 1/2 gives BCE/2); its logit form and both gradients are the oracle's formulas",
              r"FL_{\gamma=0,\alpha=1/2} = \tfrac12 L;\ \partial_z FL,\ \partial_p FL\ \text{in closed form}",
              [zero(focal_probs(p, y, 0, 1, 1) - loss_probs(p, y)),
               zero(2 * focal_probs(p, y, 0, sp.Rational(1, 2), sp.Rational(1, 2)) - loss_probs(p, y)),
               zero(focal_probs(sig, y, gamma, alpha, 1 - alpha) - focal_z),
               zero(sp.diff(focal_z, z) - focal_grad_z),
               zero(sp.diff(focal_probs(p, y, gamma, alpha, 1 - alpha), p) - focal_grad_p)]),
        Claim("hinge-contrast",
              "hinge max(0, 1 − m) has zero gradient for m > 1; BCE's gradient σ(z) − y is never 0 "
              "for finite z when y = 1 or y = 0",
              r"\partial_m \max(0,1-m) = 0\ (m>1);\ \sigma(z) - 1 \ne 0,\ \sigma(z) \ne 0",
              [zero(sp.diff(sp.Max(0, 1 - m), m).subs(m, 1 + k)),
               Fact("solutions", sig - 1, sp.S.EmptySet, z),
               Fact("solutions", sig, sp.S.EmptySet, z)]),
        Claim("sgd-step", "for logistic regression ∇_w L(σ(w·x), y) = (σ(w·x) − y) x, so "
              "w ← w − η(σ(w·x) − y)x is exactly the gradient step",
              r"\nabla_w L = (\sigma(w^\top x) - y)\,x",
              [zero(sp.diff(loss_probs(sigmoid(dot), y), wi) - (sigmoid(dot) - y) * xi)
               for wi, xi in zip(w, x, strict=True)]),
        Claim("xor", "a linear model on XOR has zero gradient at w = 0 (convex: the global minimum) "
              "with mean loss ln 2; with the feature x₁x₂ the loss tends to 0",
              r"\nabla \bar L(0) = 0,\ \bar L(0) = \ln 2;\ \lim_{t\to\infty} \bar L_{x_1x_2}(t) = 0",
              [*(zero(sp.diff(xor_linear, v).subs({a: 0, b: 0, c: 0})) for v in (a, b, c)),
               zero(xor_linear.subs({a: 0, b: 0, c: 0}) - sp.log(2)),
               Fact("limit", xor_feature, 0, t, sp.oo)]),
    ]


@dataclass
class Verdict:
    id: str
    statement: str
    latex: str
    methods: list[str]
    numeric_residual: float
    status: str  # "proved" or "failed"


def certificate(selected: list[Claim] | None = None) -> list[Verdict]:
    """Prove every claim and cross-check it numerically; one Verdict per claim."""
    rng = random.Random(SEED)
    verdicts = []
    for claim in selected if selected is not None else claims():
        proved, methods, residual = True, [], mpmath.mpf(0)
        for fact in claim.facts:
            ok, method = prove(fact)
            proved &= ok
            methods.append(method)
            residual = max(residual, numeric_residual(fact, rng))
        numeric_ok = residual <= NUMERIC_TOLERANCE
        verdicts.append(Verdict(claim.id, claim.statement, claim.latex, methods, float(residual),
                                "proved" if proved and numeric_ok else "failed"))
    return verdicts


def certificate_records() -> list[dict]:
    """The certificate as plain records, as the report and its files hold it."""
    return [asdict(verdict) for verdict in certificate()]
