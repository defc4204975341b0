"""The report, built from a real (small) run: its files, its HTML and Markdown, its atomicity;
and `bcebench compare` on constructed pairs of runs."""

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

pytest.importorskip("matplotlib", reason="the report needs matplotlib: pip install 'bcebench[report]'")

from bcebench.reference.derive import certificate_records
from bcebench.reports import build, compare, html_page
from bcebench.reports.results import SCHEMA_VERSION
from bcebench.suite import cli
from bcebench.suite.bench import timing
from bcebench.suite.gate import controller, planning


@pytest.fixture(scope="module")
def results():
    """numpy in float32: the two NumPy implementations, one failing (the non-gating textbook one)."""
    return controller.run(planning.Selection(["numpy"], dtypes=["float32"]))


@pytest.fixture(scope="module")
def certificate():
    return certificate_records()


@pytest.fixture(scope="module")
def folder(results, certificate, tmp_path_factory):
    return build.write(results, certificate, tmp_path_factory.mktemp("out"))


class Collector(HTMLParser):
    """Every start tag with its attributes, and whether the nesting closes properly."""

    VOID: ClassVar[set] = {"meta", "br", "img", "input", "link", "hr", "path", "use", "rect", "line", "circle"}

    def __init__(self):
        super().__init__()
        self.tags, self.stack, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()


def test_report_folder_holds_every_file_and_latest_points_at_it(folder):
    assert {p.name for p in folder.iterdir()} == {"results.json", "report.md", "report.html", "plots"}
    assert (folder.parent / "latest").resolve() == folder.resolve()
    assert not list(folder.parent.glob(".building-*")) and not list(folder.parent.glob(".latest-*"))
    document = json.loads((folder / "results.json").read_text())
    assert document["schema_version"] == SCHEMA_VERSION


def test_html_parses_is_self_contained_and_holds_the_matrix_and_every_plot(folder, results):
    text = (folder / "report.html").read_text()
    parser = Collector()
    parser.feed(text)
    assert parser.errors == [] and parser.stack == []
    tags = parser.tags
    assert any(tag == "table" and attrs.get("id") == "summary-matrix" for tag, attrs in tags)
    plots = {p.stem for p in (folder / "plots").iterdir()}
    figures = {attrs["id"][len("plot-"):] for tag, attrs in tags if tag == "figure"}
    assert figures == plots and len(plots) == 8  # float32: 2 forms × 3 quantities, and each form's legend
    images = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(images) == len(plots) and all(src.startswith("data:image/png;base64,") for src in images)
    for tag, attrs in tags:  # nothing is fetched: no scripts, stylesheets, frames, or sources outside the file
        assert tag not in ("script", "link", "iframe", "object", "embed")
        assert attrs.get("src", "data:").startswith("data:")
        href = attrs.get("href") or attrs.get("xlink:href") or ""
        assert not href or href.startswith("#") or tag == "a"
    assert "@import" not in text and not re.search(r"url\((?!#)", text)
    ids = [attrs["id"] for tag, attrs in tags if "id" in attrs]
    assert len(ids) == len(set(ids))
    targets = {attrs["href"][1:] for tag, attrs in tags if attrs.get("href", "").startswith("#")}
    assert targets and targets <= set(ids)  # every link inside the page lands on something
    labels = {attrs["for"] for tag, attrs in tags if tag == "label"}
    buttons = {attrs["id"] for tag, attrs in tags if tag == "input" and attrs.get("type") == "radio"}
    assert labels == buttons and len(buttons) >= 5  # each sort order has its button and its label
    for implementation in {r["implementation"] for r in results["checks"]}:
        assert implementation in text


def test_markdown_tables_are_well_formed(folder):
    lines = (folder / "report.md").read_text().splitlines()
    tables, current = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 4  # summary, special values, worst cases, certificate
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, table[0]
        assert re.fullmatch(r"\|(---\|)+", table[1])
    assert "![logits float32 loss](plots/logits-float32-loss.png)" in lines


def test_an_interrupted_report_leaves_nothing_half_written(results, certificate, tmp_path, monkeypatch):
    first = build.write(results, certificate, tmp_path)
    later = copy.deepcopy(results)
    later["metadata"]["date"] = "2030-01-01T00:00:00+00:00"

    def broken(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(html_page, "page", broken)
    with pytest.raises(KeyboardInterrupt):
        build.write(later, certificate, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, "latest"])
    assert (tmp_path / "latest").resolve() == first.resolve()


def _write(path: Path, document) -> str:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def test_compare_identical_runs_exits_0(results, tmp_path, capsys):
    old = _write(tmp_path / "old.json", results)
    assert cli.main(["compare", old, old]) == 0
    assert "Regressions: 0" in capsys.readouterr().out


def test_compare_finds_a_regression_and_an_improvement(results, tmp_path, capsys):
    new = copy.deepcopy(results)
    accuracy = [r for r in new["checks"] if r["check"] == "accuracy" and r["verdict"] == "pass" and r["gating"]]
    accuracy[0]["verdict"] = "fail"  # a pass that now fails
    accuracy[1]["errors"]["max"] = 50 * max(accuracy[1]["errors"]["max"], 0.5)  # an error that grew
    improved = next(r for r in new["checks"] if r["verdict"] == "fail" and not r["gating"])
    improved["verdict"] = "pass"
    new["checks"].append({**accuracy[2], "id": "numpy/cpu/new-check"})
    old_path, new_path = _write(tmp_path / "old.json", results), _write(tmp_path / "new.json", new)
    assert cli.main(["compare", old_path, new_path]) == 1
    out = capsys.readouterr().out
    assert "Regressions: 2" in out and accuracy[0]["id"] in out and accuracy[1]["id"] in out
    assert "Improvements: 1" in out and improved["id"] in out
    assert "New checks: 1" in out
    changes = compare.compare(results, new)
    assert len(changes["regressions"]) == 2 and changes["new"] == ["numpy/cpu/new-check"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"checks": [', "not JSON"),
        ('{"hello": 1}', "not a bcebench results file"),
        ('{"schema_version": 99, "checks": []}', "schema version 99"),
    ],
)
def test_compare_rejects_bad_input_with_exit_2(results, tmp_path, capsys, content, message):
    good = _write(tmp_path / "good.json", results)
    bad = _write(tmp_path / "bad.json", content)
    assert cli.main(["compare", good, bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert cli.main(["compare", good, str(tmp_path / "missing.json")]) == 2


def test_compare_counts_vanished_unsupported_and_empty_runs_as_regressions(results, tmp_path, capsys):
    judged = [r for r in results["checks"] if r["verdict"] == "pass" and r["gating"]]
    unsupported = copy.deepcopy(results)
    for r in unsupported["checks"]:
        if r["id"] == judged[0]["id"]:
            r["verdict"] = "unsupported"
    vanished = copy.deepcopy(results)
    vanished["checks"] = [r for r in vanished["checks"] if r["id"] != judged[1]["id"]]
    empty = {**copy.deepcopy(results), "checks": []}
    old = _write(tmp_path / "old.json", results)
    for name, document, expected in (("unsupported", unsupported, (judged[0]["id"], "pass", "unsupported")),
                                     ("vanished", vanished, (judged[1]["id"], "pass", "gone")),
                                     ("empty", empty, ("gating checks", str(sum(r["gating"] for r in
                                                                               results["checks"])), "0"))):
        changes = compare.compare(results, document)
        assert expected in changes["regressions"], name
        assert cli.main(["compare", old, _write(tmp_path / f"{name}.json", document)]) == 1, name
    capsys.readouterr()


def test_a_drawn_check_judged_now_on_every_input_is_superseded_not_gone(results):
    """A sampled accuracy check that the new run replaced by a judged check of every input of the same
    implementation, dtype, quantity and labels is no regression; replaced by one that fails, it is."""
    drawn = next(r for r in results["checks"] if r["check"] == "accuracy" and r["verdict"] == "pass" and r["gating"])
    every = {**copy.deepcopy(drawn), "id": drawn["id"].rsplit("/", 1)[0] + f"/every-{drawn['labels']}",
             "regime": "every", "exhaustive": True}
    new = copy.deepcopy(results)
    new["checks"] = [r for r in new["checks"] if r["id"] != drawn["id"]] + [every]
    changes = compare.compare(results, new)
    assert changes["regressions"] == [] and changes["superseded"] == [(drawn["id"], "pass", every["id"])]
    assert "Superseded by a check of every input: 1" in compare.summary(changes)
    new["checks"][-1] = {**every, "verdict": "fail"}
    assert (drawn["id"], "pass", "gone") in compare.compare(results, new)["regressions"]


@pytest.mark.parametrize("argv, message", [
    (["--threshold", "-1"], "--threshold -1: must be a factor > 1"),
    (["--threshold", "1"], "--threshold 1: must be a factor > 1"),
])
def test_compare_refuses_a_threshold_that_is_not_a_growth_factor(results, tmp_path, capsys, argv, message):
    old = _write(tmp_path / "old.json", results)
    assert cli.main(["compare", old, old, *argv]) == 2
    assert capsys.readouterr().err.strip() == f"bcebench compare: {message}"


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("verdict"), "verdict None is not one of"),
    (lambda r: r.update(errors={"max": "big"}), "errors must hold numbers"),
])
def test_compare_refuses_a_record_it_cannot_judge(results, tmp_path, capsys, mutate, message):
    broken = copy.deepcopy(results)
    mutate(broken["checks"][0])
    old, new = _write(tmp_path / "old.json", results), _write(tmp_path / "new.json", broken)
    assert cli.main(["compare", old, new]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "check 1" in err[0]


def test_compare_reads_report_folders(folder, capsys):
    assert cli.main(["compare", str(folder), str(folder.parent / "latest")]) == 0


def test_speed_section_slots_in_and_compare_reads_it(results, certificate, tmp_path, capsys):
    """With a speed section (a real numpy timing), the report gains its table and plots, and
    compare flags a case five times slower than its baseline."""
    pytest.importorskip("pytest_benchmark")

    timed = copy.deepcopy(results)
    timed["speed"] = timing.run(["numpy"], ["numpy.stable_logits"], ["float32"], ["forward"], [1000, 10000])
    folder = build.write(timed, certificate, tmp_path)
    text = (folder / "report.html").read_text()
    assert 'id="speed"' in text and 'id="plot-speed-float32-forward"' in text
    assert "## Speed" in (folder / "report.md").read_text()
    assert (folder / "plots" / "speed-float32-forward.png").exists()
    baseline = copy.deepcopy(timed)
    for case in baseline["speed"]["cases"]:
        if case["kind"] == "implementation":
            for key in ("median", "q1", "q3"):
                case[key] /= 5
    old, new = _write(tmp_path / "old.json", baseline), str(folder)
    assert cli.main(["compare", old, new]) == 1
    assert "µs" in capsys.readouterr().out


def test_report_from_an_existing_results_file(results, tmp_path):
    """What a device run hands back (results.json from bcebench check) becomes a report here."""
    source = _write(tmp_path / "results.json", results)
    assert cli.main(["report", "--from", source, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "latest" / "report.html").exists()
    assert cli.main(["report", "--from", str(tmp_path / "absent.json"), "--out", str(tmp_path / "out")]) == 2


def test_claims_section_has_a_row_per_claim_and_a_finding_per_measurement(folder, results):
    """float32 NumPy measures all ten claims (the focal one on numpy.focal_logits); the textbook
    probability form breaks claim 1 (1 − p rounds to 1 for tiny p), so that cell shows it."""
    claim_records = [r for r in results["checks"] if r["check"] == "claim"]
    parser = Collector()
    parser.feed((folder / "report.html").read_text())
    assert any(tag == "table" and attrs.get("id") == "claims-matrix" for tag, attrs in parser.tags)
    markdown = (folder / "report.md").read_text()
    section = markdown.split("## The article's claims")[1].split("\n## ")[0]
    matrix = [line for line in section.splitlines() if re.match(r"\| \d+\. ", line)]
    assert [int(line[2:].split(".")[0]) for line in matrix] == list(range(1, 11))
    assert "✗ f32 (1 of 2)" in matrix[0]
    for record in claim_records:
        assert record["message"] and record["message"].replace("|", "\\|") in section  # Markdown escapes |


def _sweep_document(implementation: str, quantity: str) -> dict:
    """A sweep result over every float16 input, built from a real shard."""
    from dataclasses import asdict

    from bcebench.suite.sweep import exhaustive as sweep

    target = sweep.Target("numpy", implementation, "float16", quantity, 1.0)
    stats = sweep.run_shard(target, 0, 2**16)
    return {"target": asdict(target), "version": "test", "spans": [["0x0", "0x10000"]], "stats": stats.as_json()}


def test_exhaustive_section_names_implementations_with_identical_statistics():
    """The same statistics under a second name (an alias of the same kernel) are grouped; a
    different implementation in the same row and the same implementation in another row are not."""
    from bcebench.reports import exhaustive

    stable = _sweep_document("numpy.stable_logits", "loss")
    alias = {**stable, "target": {**stable["target"], "implementation": "alias of numpy.stable_logits"}}
    sweeps = [stable, alias, _sweep_document("numpy.textbook_probs", "loss"),
              _sweep_document("numpy.stable_logits", "grad")]
    same = ["numpy.stable_logits (numpy test)", "alias of numpy.stable_logits (numpy test)"]
    assert exhaustive.identical(sweeps) == [("float16, loss, y = 1 (0x0:0x10000)", same)]
    group = f"float16, loss, y = 1 (0x0:0x10000): {' = '.join(same)}"
    lines = exhaustive.markdown(sweeps)
    assert lines[lines.index(exhaustive.IDENTICAL_INTRO) + 2] == f"- {group}"
    assert f"<li>{group}</li>" in html_page._exhaustive(sweeps)
    assert exhaustive.IDENTICAL_INTRO not in exhaustive.markdown(sweeps[2:])


def test_exhaustive_glance_has_an_implementation_per_row_and_a_column_per_quantity_and_label():
    from bcebench.reports import exhaustive

    stable_loss = _sweep_document("numpy.stable_logits", "loss")
    stable_grad = _sweep_document("numpy.stable_logits", "grad")
    sweeps = [stable_loss, _sweep_document("numpy.textbook_probs", "loss"), stable_grad]
    header, rows = exhaustive.glance(sweeps)
    assert header == ["implementation", "float16 grad y = 1", "float16 loss y = 1"]
    assert [row[0] for row in rows] == ["numpy.stable_logits (numpy test)", "numpy.textbook_probs (numpy test)"]

    def cell(document):
        stats = document["stats"]
        return f"{stats['max_error']:.3g} ({stats['correct'] / stats['total']:.2%})"

    assert rows[0][1:] == [cell(stable_grad), cell(stable_loss)] and rows[1][1] == ""
    assert 'id="exhaustive-glance"' in html_page._exhaustive(sweeps)
    lines = exhaustive.markdown(sweeps)
    assert lines[lines.index(exhaustive.GLANCE_INTRO) + 2].startswith("| implementation |")


def test_exhaustive_section_from_a_folder_of_sweep_results(results, certificate, tmp_path):
    from bcebench.reports import exhaustive

    folder = tmp_path / "sweeps"
    folder.mkdir()
    for name, quantity in (("numpy.stable_logits", "loss"), ("numpy.stable_logits", "grad"),
                           ("numpy.textbook_probs", "loss")):
        _write(folder / f"{name}-{quantity}.json", _sweep_document(name, quantity))
    sweeps = exhaustive.load(folder)
    header, rows = exhaustive.table(sweeps)
    assert header[4:] == ["numpy.stable_logits (numpy test)", "numpy.textbook_probs (numpy test)"]
    assert [row[:3] for row in rows] == [["float16", "grad", "y = 1"], ["float16", "loss", "y = 1"]]
    assert rows[0][5] == "" and "ULP" in rows[1][5] and "correctly rounded" in rows[1][4]
    report = build.write({**results, "exhaustive": sweeps}, certificate, tmp_path / "out")
    assert 'id="exhaustive-table"' in (report / "report.html").read_text()
    assert "## Exhaustive sweeps" in (report / "report.md").read_text()
    (folder / "broken.json").write_text("{")
    with pytest.raises(exhaustive.SweepResultsError, match="not a sweep result"):
        exhaustive.load(folder)
    with pytest.raises(exhaustive.SweepResultsError, match="no such folder"):
        exhaustive.load(tmp_path / "absent")


def test_failures_are_grouped_by_signature_most_severe_first_failures_before_known_deviations():
    from bcebench.reports import render

    def record(verdict, implementation, signatures):
        return {"verdict": verdict, "implementation": implementation, "signatures": signatures}

    group = {"count": 3, "x": [-20.0, -5.0], "y": [0.0, 0.0], "max_error": 1e7}
    records = [record("fail", "a", {"inaccurate": {**group, "max_error": 12.0}, "lost-tail": group}),
               record("known-deviation", "b", {"nan": {**group, "x": ["inf", "inf"], "max_error": "inf"}}),
               record("pass", "c", {}), record("fail", "d", {"lost-tail": {**group, "x": [-30.0, -25.0]}})]
    rows = render.signature_rows(records)
    assert [(r[0], r[1]) for r in rows] == [("lost-tail", "fail"), ("inaccurate", "fail"), ("nan", "known-deviation")]
    assert rows[0][2:7] == [2, 6, "-30", "-5", "1e+07"] and rows[0][7] == "a, d"
    assert rows[2][4:7] == ["", "", "∞"]


def test_identical_passes_two_runs_that_judged_alike_whatever_their_timing(results, tmp_path, capsys):
    again = copy.deepcopy(results)
    for record in again["checks"]:
        record["seconds"] = record.get("seconds", 0) + 1.0  # timing is not a judgement
    assert compare.differences(results, again) == []
    old, new = _write(tmp_path / "old.json", results), _write(tmp_path / "new.json", again)
    assert cli.main(["compare", old, new, "--identical"]) == 0
    assert f"identical: {len(results['checks'])} checks" in capsys.readouterr().out


def test_identical_names_every_check_judged_otherwise(results, tmp_path, capsys):
    """Planted: a verdict, one error figure deep in a record, a check gone, a run field."""
    new = copy.deepcopy(results)
    judged = [r for r in new["checks"] if r["check"] == "accuracy" and r["verdict"] == "pass"]
    judged[0]["verdict"] = "known-deviation"
    judged[1]["errors"]["p99"] = judged[1]["errors"]["p99"] + 2**-40
    gone = new["checks"].pop()
    new["summary"] = {**new["summary"], "pass": new["summary"]["pass"] + 1}
    found = compare.differences(results, new)
    assert len(found) == 4, found
    assert any(line.startswith(judged[0]["id"]) and "verdict" in line for line in found)
    assert any(line.startswith(judged[1]["id"]) and "errors.p99" in line for line in found)
    assert f"{gone['id']}: only in the first run" in found and any(line.startswith("run summary") for line in found)
    old, planted = _write(tmp_path / "old.json", results), _write(tmp_path / "new.json", new)
    assert cli.main(["compare", old, planted, "--identical"]) == 1


def test_before_after_puts_a_built_in_beside_its_rewrite_and_marks_what_an_older_sweep_lacks():
    from bcebench.reports.exhaustive import before_after

    def result(implementation, **stats):
        base = {"total": 10, "correct": 8, "histogram": {}, "mismatches": {"nan": 1}, "max_error": 3.0,
                "worst": [], "specials": []}
        return {"target": {"implementation": implementation, "framework": "torch"}, "version": "2", "stats":
                {**base, **stats}}

    lines = before_after([result("torch.bce"), result("rewrite(logits)", error_sum=4.5,
                                                      signatures={"lost-tail": 2})],
                         {"torch.bce": 2e-9, "rewrite(logits)": 3e-9})
    old, new = (line.split(" | ") for line in lines[2:])
    assert old[4:7] == ["—", "—", "—"]  # mean, lost-tail, flushed: not recorded by that sweep
    assert new[4:7] == ["0.5", "2", "0"] and new[-1].startswith("1.50")  # 4.5 / 9 numbers; 1.5 times the time


def _sweep(implementation: str, date: str, label: float = 0.0, **extra) -> dict:
    stats = {"total": 10, "correct": 8, "histogram": {}, "mismatches": {}, "max_error": 3.0, "worst": [],
             "specials": [], "error_sum": 5.0, "signatures": {}}
    return {"target": {"framework": "torch", "implementation": implementation, "dtype": "float32",
                       "quantity": "loss", "label": label, "device": "cpu"},
            "version": "2", "date": date, "spans": [[0, 10]], "stats": stats, **extra}


def test_the_report_shows_each_rewrite_beside_its_built_in_with_the_speed_stored_by_the_sweep(tmp_path):
    """Sweeps in subfolders are read; of a sweep done again only the newest counts; a built-in and a
    rewrite over the same inputs make one before/after table with the speed each sweep carries."""
    from bcebench.reports import exhaustive, html_page

    (tmp_path / "rewrites").mkdir()
    speed = {"seconds_per_element": 2e-9, "mode": "forward", "size": 1_000_000, "date": "d", "timed_with": []}
    documents = {"old.json": _sweep("torch.bce", "2026-01-01", compared_with="rewrite(logits)"),
                 "rewrites/new.json": _sweep("torch.bce", "2026-02-01", speed=speed, compared_with="rewrite(logits)"),
                 "rewrites/rewrite.json": _sweep("rewrite(logits)", "2026-02-01", speed={**speed,
                                                 "seconds_per_element": 6e-9}, compared_with="torch.bce"),
                 "rewrites/other-label.json": _sweep("rewrite(logits)", "2026-02-01", label=1.0,
                                                     compared_with="torch.bce"),
                 "focal.json": _sweep("torch focal", "2026-02-01")}  # swept alone: beside no rewrite
    for name, document in documents.items():
        (tmp_path / name).write_text(json.dumps(document))
    sweeps = exhaustive.load(tmp_path)
    assert len(sweeps) == 4  # the older torch.bce sweep is replaced by the newer one
    pairs = exhaustive.rewrite_pairs(sweeps)
    assert [(a["date"], b["target"]["label"]) for a, b in pairs] == [("2026-02-01", 0.0)]
    lines = exhaustive.rewrites_markdown(sweeps)
    assert "## Stable rewrites" in lines
    rows = [line for line in lines if line.startswith("| torch.bce") or line.startswith("| rewrite(logits)")]
    assert rows[0].split(" | ")[-2:] == ["2.00", "1.00 |"] and rows[1].split(" | ")[-2:] == ["6.00", "3.00 |"]
    assert 'id="rewrites"' in html_page._rewrites(sweeps) and "6.00" in html_page._rewrites(sweeps)


def test_every_entry_that_explained_elements_is_listed_and_linked():
    """The known deviations listed each check's first entry only: an entry that explained the rest of a
    check's elements (Keras's float64 mean, explained by two entries), or some elements of a check that
    fails all the same, was linked from the details and listed nowhere."""
    from bcebench.reports import render

    def entry(key):
        return {"key": key, "implementation": "x", "what": f"what {key}", "why": "why", "link": "https://example.org"}

    records = [{"verdict": "known-deviation", "deviation": entry("a"), "deviations": [entry("a"), entry("b")]},
               {"verdict": "fail", "deviations_used": {"c": 3}, "deviations": [entry("c")]},
               {"verdict": "known-deviation", "deviation": entry("a"), "deviations": [entry("a")]}]
    assert [(d["key"], d["count"]) for d in render.deviations_used(records)] == [("a", 2), ("b", 1), ("c", 1)]


def test_the_html_keeps_to_its_size_budget_on_a_real_gate_s_records():
    """The full report's HTML was 8.3 MB (the plots 3.5 MB as RGB PNGs with a legend each, the details a row
    per check); it is 1.76 MB now for 6,443 checks and 26 plots: about 200 bytes a check and 14 KB a plot.
    On the device run's 1,804 records (reports/2026-12-04-h200): at most 220 bytes a check without the
    plots, and no plot over 28 KB."""
    import gzip

    from bcebench.reports import plots

    records = json.loads(gzip.decompress((Path(__file__).parents[1] / "2026-12-04-h200" / "results.json.gz")
                                         .read_bytes()))
    assert len(html_page.page(records, [], {}).encode()) <= 220 * len(records["checks"])
    images = plots.error_plots(records["checks"])
    assert len(images) == 18 and max(len(png) for png in images.values()) <= 28_000  # 16 plots, 2 legends
