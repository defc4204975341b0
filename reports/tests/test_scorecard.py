"""The scorecard: each cell traced to the records it sums and measured over every element (a known
deviation's included and marked), the exhaustive sweeps over the samples, the best measured figure
starred, the first row the one to use, bcebench's own implementations apart."""

import gzip
import json
import math
from pathlib import Path

from bcebench.reports import render, scorecard

DEVICE_RUN = Path(__file__).resolve().parents[1] / "2026-12-04-h200" / "results.json.gz"  # a real gate's records


def record(implementation, dtype="float32", quantity="loss", correct=90, count=100, worst=2.0, outside=None,
           verdict="pass", framework="torch", used=None, form="logits"):
    return {"id": f"{framework}/cpu/{implementation}/{dtype}/accuracy/{quantity}/x", "framework": framework,
            "device": "cpu", "implementation": implementation, "form": form, "dtype": dtype, "quantity": quantity,
            "check": "accuracy", "verdict": verdict, "gating": True, "correct": correct, "count": count,
            "errors": {"max": worst, "outside_deviations": worst if outside is None else outside},
            **({"deviations_used": used} if used else {})}


def special(implementation, right, total, framework="torch"):
    return {"framework": framework, "device": "cpu", "implementation": implementation, "check": "special",
            "dtype": "float32", "quantity": "loss", "verdict": "pass", "gating": True,
            "elements": [{"ok": i < right} for i in range(total)], "rejected": []}


def sweep(implementation, label, correct, total, max_error):
    return {"target": {"framework": "torch", "implementation": implementation, "dtype": "float32",
                       "quantity": "loss", "label": label},
            "stats": {"correct": correct, "total": total, "max_error": max_error}}


def test_a_known_deviation_is_measured_marked_and_never_wins():
    """Keras's float64 loss rounded through float32 showed "0.00 % · 0★": the error a known deviation
    explains counted as none. Now the cell shows it, marked ≈ with the entry, and it ranks last."""
    results = {"checks": [record("careful", correct=95), record("careful", correct=97), special("careful", 25, 25),
                          record("explained", correct=99, worst=1e6, outside=2.0, verdict="known-deviation",
                                 used={"0a3fcebb79c8": 8}),
                          special("explained", 25, 25)]}
    columns, ranked = scorecard.rows(results)
    assert columns == [("float32", "loss")]
    assert [row.implementation for row in ranked] == ["careful", "explained"]
    careful, explained = (row.cells[("float32", "loss")] for row in ranked)
    assert (careful.correct, careful.count, careful.worst) == (192, 200, 2.0)
    assert careful.link == render.detail_anchor("torch", "cpu", "careful", "float32")
    assert explained.worst == 1e6 and explained.explained == {"0a3fcebb79c8"}
    marks = scorecard.best(columns, ranked)
    assert scorecard.cell_text(careful, marks, columns[0]) == "96.00% · 2★"
    assert scorecard.cell_text(explained, marks, columns[0]) == "99.00%★ · 1e+06 ≈"
    assert scorecard.advice(ranked) == [
        "torch (cpu), bce from logits: use careful (largest error 2 in the float32 loss); avoid explained: largest "
        "error 1e+06 in the float32 loss, a known deviation (0a3fcebb79c8)."]


def test_the_advice_compares_only_what_computes_the_same_loss():
    """A weighted or smoothed loss is another function: it is never the plain one's "use" or "avoid"."""
    plain, weighted = record("plain", worst=1e6), record("weighted", worst=2.0)
    weighted["oracle"] = {"weight": 0.75}
    _, ranked = scorecard.rows({"checks": [plain, weighted, record("compiled", worst=3.0)]})
    assert scorecard.advice(ranked) == [
        "torch (cpu), bce, weight 0.75 from logits: use weighted (largest error 2 in the float32 loss).",
        "torch (cpu), bce from logits: use compiled (largest error 3 in the float32 loss); avoid plain: largest "
        "error 1e+06 in the float32 loss."]


def test_a_share_below_one_half_never_carries_a_star():
    results = {"checks": [record("low", correct=40, worst=1.0), record("lower", correct=30, worst=1.0)]}
    columns, ranked = scorecard.rows(results)
    marks = scorecard.best(columns, ranked)
    assert [scorecard.cell_text(row.cells[columns[0]], marks, columns[0]) for row in ranked] == [
        "40.00% · 1★", "30.00% · 1★"]


def test_an_error_a_hundred_times_another_in_the_same_dtype_ranks_below_it():
    """However good its special values, share and speed: the digits it gets wrong come first, in
    twentieths of the precision (at most 2.65 bits, float64), finer than 100× (6.6 bits)."""
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        for small in (0.5, 3.0, 1e3):
            results = {"checks": [record("worse", dtype=dtype, worst=100.5 * small, correct=100),
                                  special("worse", 25, 25), record("better", dtype=dtype, worst=small, correct=10),
                                  special("better", 5, 25)]}
            _, ranked = scorecard.rows(results)
            assert [row.implementation for row in ranked] == ["better", "worse"], (dtype, small)


def test_offering_fewer_dtypes_wins_nothing():
    """Both lose every float32 digit somewhere; one is also exact in float16, the other has no float16:
    the first ranks above (the worst list compared as a list made the shorter one win)."""
    results = {"checks": [record("float32-only", worst=2.0**25), special("float32-only", 25, 25),
                          record("both", worst=2.0**25, correct=10), record("both", dtype="float16", worst=0.5),
                          special("both", 20, 25)]}
    _, ranked = scorecard.rows(results)
    assert [row.implementation for row in ranked] == ["both", "float32-only"]


def test_bcebench_s_own_implementations_are_the_yardstick_ranked_apart():
    results = {"checks": [record("numpy.stable_logits", framework="numpy", worst=0.5, correct=100),
                          record("torch.bce", worst=3.0)]}
    _, ranked = scorecard.rows(results)
    assert [(scorecard.number(i, row), row.implementation) for i, row in enumerate(ranked, 1)] == [
        ("1", "torch.bce"), ("yardstick", "numpy.stable_logits")]


def test_an_exhaustive_sweep_of_both_labels_replaces_the_samples_and_one_label_does_not():
    results = {"checks": [record("careful"), record("other")],
               "exhaustive": [sweep("careful", 0.0, 30, 40, 1.5), sweep("careful", 1.0, 39, 40, 0.7),
                              sweep("other", 0.0, 40, 40, 0.0)]}
    _, ranked = scorecard.rows(results)
    cells = {row.implementation: row.cells[("float32", "loss")] for row in ranked}
    assert (cells["careful"].correct, cells["careful"].count, cells["careful"].worst) == (69, 80, 1.5)
    assert cells["careful"].exhaustive and not cells["other"].exhaustive


def test_the_gate_s_own_cases_of_every_input_with_labels_0_and_1_mark_the_cell():
    """The 16-bit accuracy cases of every input: with labels 0 and 1 the cell is marked ∀ and sums them
    with the drawn random-label cases; every input with the soft labels alone is not labels 0 and 1."""
    every = {**record("careful", "float16", correct=126000, count=126976), "labels": "hard", "exhaustive": True}
    soft = {**record("soft-only", "float16", correct=250000, count=253952), "labels": "soft", "exhaustive": True}
    drawn = {**record("careful", "float16", correct=1000, count=1024), "labels": "random"}
    columns, ranked = scorecard.rows({"checks": [every, soft, drawn]})
    cells = {row.implementation: row.cells[("float16", "loss")] for row in ranked}
    assert cells["careful"].exhaustive and (cells["careful"].correct, cells["careful"].count) == (127000, 128000)
    assert not cells["soft-only"].exhaustive
    marks = scorecard.best(columns, ranked)
    assert scorecard.cell_text(cells["careful"], marks, columns[0]).endswith(scorecard.EXHAUSTIVE)


def test_speed_is_the_time_over_the_fastest_at_the_largest_forward_float32_size():
    timed = [{"kind": "implementation", "framework": "torch", "device": "cpu", "implementation": name,
              "dtype": "float32", "mode": "forward", "size": size, "vs_fastest": ratio}
             for name, size, ratio in (("careful", 1000, 3.0), ("careful", 10**6, 1.0), ("other", 10**6, 2.5))]
    _, ranked = scorecard.rows({"checks": [record("careful"), record("other")], "speed": {"cases": timed}})
    marks = scorecard.best([("float32", "loss")], ranked)
    assert {row.implementation: scorecard.speed_text(row, marks) for row in ranked} == {"careful": "1.00×★",
                                                                                       "other": "2.50×"}


def test_on_a_real_gate_s_records_the_order_and_the_stars_keep_their_promise():
    """The device run's 1,804 records (torch and JAX, CPU and GPU): within a framework, device and form
    no row ranks above one whose worst result gets a twentieth of the digits fewer wrong, and no share
    below 50 % is starred."""
    results = json.loads(gzip.decompress(DEVICE_RUN.read_bytes()))
    columns, ranked = scorecard.rows(results)
    marks = scorecard.best(columns, ranked)
    for row in ranked:
        for column, cell in row.cells.items():
            assert not (cell.share < 0.5 and scorecard.BEST in scorecard.cell_text(cell, marks, column).split(" · ")[0])
    contenders = [row for row in ranked if not row.yardstick]
    assert len(contenders) > 10
    for i, above in enumerate(contenders):
        for below in contenders[i + 1:]:
            if (above.framework, above.device, above.form) == (below.framework, below.device, below.form):
                assert (max(above.digits_wrong().values()) <= max(below.digits_wrong().values())
                        + 1 / scorecard.STEPS), (above.label, below.label)
    cells = {(row.framework, row.device, row.implementation, dtype, quantity): cell
             for row in ranked for (dtype, quantity), cell in row.cells.items()}
    hidden = [r for r in results["checks"] if r.get("check") == "accuracy" and r["verdict"] == "known-deviation"
              and r["errors"]["max"] > r["errors"]["outside_deviations"]]
    assert hidden  # errors the known deviations explain: the old scorecard showed none of them
    for r in hidden:
        cell = cells[(r["framework"], r["device"], r["implementation"], r["dtype"], r["quantity"])]
        assert cell.worst >= r["errors"]["max"] or math.isnan(r["errors"]["max"]), r["id"]
        assert cell.explained and scorecard.KNOWN in scorecard.cell_text(cell, marks, (r["dtype"], r["quantity"]))


def test_a_missing_time_says_why():
    speed = {"cases": [], "unavailable": {"mlx": "mlx: not installed"},
             "failed": [{"id": "x", "framework": "torch", "implementation": "torch.bce", "verdict": "crashed",
                         "message": "ran past 120 s"}]}
    assert scorecard.not_timed({"checks": [], "speed": speed}) == ["mlx: mlx: not installed",
                                                                   "torch.bce (torch): ran past 120 s"]
    assert scorecard.not_timed({"checks": []}) == []


def test_a_cell_s_shade_is_its_share_of_digits_wrong():
    """float32 has 24 digits: 1 ULP is 1/24 of them (the lightest), 2^13 ULPs over half, 2^30 more than
    all, NaN the last."""
    shades = [scorecard.shade(scorecard.Cell(worst=error), "float32") for error in (1.0, 2.0**13, 2.0**30, math.nan)]
    assert shades == [0, 3, 4, len(scorecard.SHADES) - 1]
