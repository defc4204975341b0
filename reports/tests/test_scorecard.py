"""The scorecard: each cell traced to the records it sums, the exhaustive sweeps over the samples,
the best of each column starred, and the first row the one to use."""

from bcebench.reports import scorecard


def record(implementation, dtype="float32", quantity="loss", correct=90, count=100, worst=2.0, verdict="pass",
           check="accuracy", framework="torch"):
    return {"id": f"{framework}/cpu/{implementation}/{dtype}/{check}/{quantity}/x", "framework": framework,
            "device": "cpu", "implementation": implementation, "dtype": dtype, "quantity": quantity, "check": check,
            "verdict": verdict, "gating": True, "correct": correct, "count": count,
            "errors": {"max": worst * 10, "outside_deviations": worst}}


def special(implementation, right, total):
    return {"framework": "torch", "device": "cpu", "implementation": implementation, "check": "special",
            "dtype": "float32", "quantity": "loss", "verdict": "pass", "gating": True,
            "elements": [{"ok": i < right} for i in range(total)], "rejected": []}


def sweep(implementation, label, correct, total, max_error):
    return {"target": {"framework": "torch", "implementation": implementation, "dtype": "float32",
                       "quantity": "loss", "label": label},
            "stats": {"correct": correct, "total": total, "max_error": max_error}}


def test_cells_sum_their_records_and_the_first_row_is_the_one_to_use():
    results = {"checks": [record("careful", correct=95), record("careful", correct=97), special("careful", 25, 25),
                          record("sloppy", correct=99, worst=1e6, verdict="known-deviation"),
                          special("sloppy", 20, 25), record("broken", correct=100, verdict="fail"),
                          special("broken", 25, 25)]}
    columns, ranked = scorecard.rows(results)
    assert columns == [("float32", "loss")]
    assert [row.implementation for row in ranked] == ["careful", "sloppy", "broken"]  # failed last, specials next
    careful = ranked[0].cells[("float32", "loss")]
    assert (careful.correct, careful.count, careful.worst) == (192, 200, 2.0)  # the largest outside deviations
    assert careful.link == "torch-cpu-careful-float32"
    marks = scorecard.best(columns, ranked)
    assert scorecard.cell_text(careful, marks, columns[0]) == "96.00% · 2★"
    assert scorecard.cell_text(ranked[2].cells[columns[0]], marks, columns[0]) == "100.00%★ · 2★"
    assert scorecard.specials_text(ranked[1], marks) == "20/25"


def test_an_exhaustive_sweep_of_both_labels_replaces_the_samples_and_one_label_does_not():
    results = {"checks": [record("careful"), record("other")],
               "exhaustive": [sweep("careful", 0.0, 30, 40, 1.5), sweep("careful", 1.0, 39, 40, 0.7),
                              sweep("other", 0.0, 40, 40, 0.0)]}
    _, ranked = scorecard.rows(results)
    cells = {row.implementation: row.cells[("float32", "loss")] for row in ranked}
    assert (cells["careful"].correct, cells["careful"].count, cells["careful"].worst) == (69, 80, 1.5)
    assert cells["careful"].exhaustive and not cells["other"].exhaustive


def test_speed_is_the_time_over_the_fastest_at_the_largest_forward_float32_size():
    timed = [{"kind": "implementation", "framework": "torch", "device": "cpu", "implementation": name,
              "dtype": "float32", "mode": "forward", "size": size, "vs_fastest": ratio}
             for name, size, ratio in (("careful", 1000, 3.0), ("careful", 10**6, 1.0), ("other", 10**6, 2.5))]
    _, ranked = scorecard.rows({"checks": [record("careful"), record("other")], "speed": {"cases": timed}})
    marks = scorecard.best([("float32", "loss")], ranked)
    assert {row.implementation: scorecard.speed_text(row, marks) for row in ranked} == {"careful": "1.00×★",
                                                                                       "other": "2.50×"}
