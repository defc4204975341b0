"""The Python API: a project checks its own BCE from its own pytest suite."""

import numpy as np
import pytest

from bcebench.suite import api


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
    with pytest.raises(ValueError, match="form 'odds': expected one of logits, probs"):
        api.check(careful_bce, form="odds")
    with pytest.raises(ValueError, match="dtype 'float128': expected one of float16, bfloat16, float32, float64"):
        api.check(careful_bce, dtypes=["float128"])  # named, never a run that selects nothing


# --- what a user's implementation computes: judged with those parameters --------------------------

def halved_bce(z, y):
    """careful_bce times the constant weight 1/2 (exact: halving rounds nothing but subnormals)."""
    return careful_bce(z, y) * z.dtype.type(0.5)


def mean_bce(z, y):
    """The mean of careful_bce, summed in float64 and rounded once."""
    values = careful_bce(z.astype(np.float64), y.astype(np.float64))
    return np.asarray(values.sum() / values.size if values.size else np.nan, dtype=z.dtype)


@pytest.mark.parametrize("function, declared", [
    (halved_bce, {"weight": 0.5}),
    ("focal", {"gamma": 2.0, "alpha": 0.25}),  # NumPy's built-in focal loss, passed as a user function
    (mean_bce, {"reduction": "mean"}),
])
def test_a_declared_parameter_is_judged_and_an_undeclared_one_fails(function, declared):
    """Each function is right for what it declares and wrong as plain elementwise BCE."""
    if function == "focal":
        from bcebench.adapters.numpy_adapter import focal_logits

        function = focal_logits(2.0, 0.25)
    options = {"framework": "numpy", "dtypes": ["float32"], "quantities": ["loss"],
               "checks": ["accuracy", "reduction", "shapes"]}  # careful_bce is NaN at z = ±∞
    right = api.check(function, **options, **declared)
    assert right.passed, right.explanation
    if "reduction" in declared:
        own = {r["check"] for r in right.records if not r["implementation"].endswith("[each]")}
        each = {r["check"] for r in right.records if r["implementation"].endswith("[each]")}
        assert own == {"reduction", "shapes"} and each == {"accuracy"}  # one number per call; and per element
    else:
        assert any(r["check"] == "accuracy" and r["verdict"] == "pass" for r in right.records)
    assert not api.check(function, **options).passed


def test_the_claims_follow_from_the_parameters():
    from bcebench.adapters.numpy_adapter import focal_logits

    plain = api.check(careful_bce, framework="numpy", dtypes=["float32"], checks=["claim"])
    assert {r["claim"]["slug"] for r in plain.records} >= {"nll", "xor", "kl-identity"}
    weighted = api.check(halved_bce, framework="numpy", dtypes=["float32"], checks=["claim"], weight=0.5)
    assert weighted.records == [] and not weighted.passed  # no claim is about a weighted loss: nothing judged
    focal = api.check(focal_logits(2.0, 0.25), framework="numpy", dtypes=["float32"], checks=["claim"], gamma=2.0,
                      alpha=0.25)
    assert focal.records == []  # the focal claim rebuilds the loss with other γ: a user function cannot


@pytest.mark.parametrize("declared, message", [
    ({"alpha": 0.25}, "give gamma too"),
    ({"gamma": -1.0}, "gamma must be"),
    ({"weight": float("nan")}, "weight must be"),
    ({"smoothing": 1.5}, "smoothing must"),
    ({"reduction": "median"}, "reduction 'median': expected one of none, mean, sum"),
])
def test_parameters_the_oracle_cannot_take_are_value_errors(declared, message):
    with pytest.raises(ValueError, match=message):
        api.check(careful_bce, framework="numpy", **declared)


def test_a_callers_torch_settings_are_theirs_again_after_check():
    """The checks need TF32 off and a higher dynamo recompile limit; a caller's own values come back."""
    torch = pytest.importorskip("torch")
    backends, dynamo = torch.backends, torch._dynamo.config
    saved = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, dynamo.recompile_limit)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch._dynamo.config.recompile_limit = 3
    try:
        def bce(z, y):
            return torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")

        result = api.check(bce, framework="torch", form="logits", dtypes=["float32"], checks=["accuracy"],
                           quantities=["loss"])
        assert result.records and all(r["verdict"] != "crashed" for r in result.records)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert torch._dynamo.config.recompile_limit == 3
    finally:  # this process's own, as other tests here left them
        backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, dynamo.recompile_limit = saved


def test_a_callers_jax_settings_are_theirs_again_after_check_and_float64_is_still_judged():
    """The checks switch JAX's x64 on for float64; a caller without it keeps float32 defaults."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    cache, saved = jax.config.jax_compilation_cache_dir, jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        result = api.check(optax.sigmoid_binary_cross_entropy, framework="jax", form="logits", dtypes=["float64"],
                           checks=["accuracy"], quantities=["loss"])
        assert result.passed and {r["dtype"] for r in result.records} == {"float64"}, result.explanation
        assert not jax.config.jax_enable_x64 and jax.config.jax_compilation_cache_dir == cache
        assert jax.numpy.zeros(1).dtype == jax.numpy.float32
    finally:  # this process's own, as other tests here left it
        jax.config.update("jax_enable_x64", saved)


@pytest.mark.parametrize(("name", "hint"), [
    ("returns_the_mean", "every call returned one number: your function reduces; declare it with --reduction"),
    ("needs_two_dimensions", "every call raised ValueError: expected 2 dimensions, got 1; bcebench calls fn(x, y)"),
    ("computes_in_float64", "every call returned float64 for float32 inputs: your function computes in another"),
    ("correct", None),
    ("naive_sigmoid_then_log", None),
])
def test_a_function_called_the_wrong_way_gets_one_hint(name, hint):
    """A wrong calling convention was 30 lines of FAIL and no word of what they meant."""
    from bcebench.suite.tests import planted

    result = api.check(getattr(planted, name), framework="numpy", dtypes=["float32"])
    hints = [line for line in result.failures if line.startswith("hint: ")]
    if hint is None:
        assert hints == []
    else:
        assert len(hints) == 1 and hints[0].startswith(f"hint: user:{name}: {hint}"), hints


@pytest.mark.parametrize(("name", "declared"), [("needs_two_dimensions", {"input_rank": 2}),
                                                ("takes_input_and_target", {"arguments": ("input", "target")})])
def test_a_calling_convention_is_declared_once_and_the_function_judged(name, declared):
    """A function that takes a column, or its arguments by keyword, raised on every call; declared, it
    is judged like any other: right here, and refused as before without the declaration."""
    from bcebench.suite.tests import planted

    function = getattr(planted, name)
    options = {"framework": "numpy", "dtypes": ["float32"], "checks": ["accuracy", "special", "shapes"],
               "quantities": ["loss"]}
    assert api.check(function, **options, **declared).passed
    assert not api.check(function, **options).passed
    with pytest.raises(ValueError, match="expected two keyword names"):
        api.check(function, **options, arguments=("input",))


def test_a_result_in_another_dtype_is_a_finding_of_its_own_and_its_values_are_still_judged():
    """A float64 result for float32 inputs was "raised"-like: a message and no accuracy figure. It now
    fails with its own signature, wrong-dtype, and its values, rounded to float32, are judged: a right
    one within 0.5 ULP, a wrong one (the naive form, computed in float64) with its own errors."""
    from bcebench.suite.tests import planted

    def naive_in_float64(z, y):
        return planted.naive_sigmoid_then_log(z.astype(np.float64), y.astype(np.float64))

    for function, right in ((planted.computes_in_float64, True), (naive_in_float64, False)):
        result = api.check(function, framework="numpy", dtypes=["float32"], checks=["accuracy"], quantities=["loss"])
        assert result.records and all(r["verdict"] == "fail" and "wrong-dtype" in r["signatures"]
                                      for r in result.records), result.explanation
        largest = max(r["errors"]["max"] for r in result.records)
        assert largest <= 0.5 if right else largest > 4, largest
