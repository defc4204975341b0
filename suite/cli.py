"""The ``bcebench`` command line.

Exit status: 0 when every check passes, 1 when one fails, 2 when the request itself is wrong
(one line on stderr that says what is wrong, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import mpmath

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13
EXIT_INTERRUPTED = 128 + 2  # as a shell reports a command ended by SIGINT
# The sweep results committed with the checkout (an installed package has none): what the report and the
# reproducers quote by default. What a command writes goes, unless told, under ./bcebench-*.
COMMITTED_SWEEPS = Path(__file__).resolve().parents[1] / "reports" / "sweeps"


class UsageError(Exception):
    """A request that cannot be carried out as asked."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad request in one line and exits 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message}")


def _derive(args: argparse.Namespace) -> int:
    from bcebench.reference.derive import NUMERIC_DIGITS, certificate

    verdicts = certificate()
    failed = [v for v in verdicts if v.status != "proved"]
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "proved": len(verdicts) - len(failed), "failed": len(failed),
                          "claims": [asdict(v) for v in verdicts]}, indent=2, ensure_ascii=False))
    else:
        for v in verdicts:
            print(f"{v.status:7} {v.id:20} {v.statement}")
            print(f"{'':28}{'; '.join(v.methods)}; numeric residual at {NUMERIC_DIGITS} digits "
                  f"{v.numeric_residual:.1e}")
        print(f"{len(verdicts)} identities: {len(verdicts) - len(failed)} proved, {len(failed)} failed")
    return EXIT_FAILED if failed else EXIT_OK


PARAMETERS = ("gamma", "alpha", "smoothing", "weight", "pos_weight")


def _oracle(args: argparse.Namespace) -> int:
    from bcebench.reference import oracle
    from bcebench.reference.exact import Spec
    from bcebench.reference.formats import FORMATS, as_dtype, bits_of, parse_input

    fmt = FORMATS[args.dtype]
    try:
        spec = Spec(args.quantity, args.form, gamma=args.gamma, alpha=args.alpha, smoothing=args.smoothing,
                    weight=args.weight, pos_weight=args.pos_weight)
        x, y = parse_input(args.x, fmt), parse_input(args.y, fmt)
    except ValueError as error:
        raise UsageError(f"bcebench oracle: {error}") from None
    inputs = as_dtype([x, y], fmt)
    result = oracle.evaluate(spec, inputs[:1], inputs[1:])
    rounded = result.rounded[0]
    record = {
        "quantity": spec.quantity, "form": spec.form, "dtype": fmt.name,
        "gamma": spec.gamma, "alpha": spec.alpha, "smoothing": spec.smoothing,
        "weight": spec.weight, "pos_weight": spec.pos_weight,
        "x": str(inputs[0]), "x_bits": _hex(bits_of(inputs[:1])[0]),
        "y": str(inputs[1]), "y_bits": _hex(bits_of(inputs[1:])[0]),
        "exact": mpmath.nstr(oracle.exact_value(spec, x, y), 40, min_fixed=-4, max_fixed=6),
        "rounded": str(rounded), "bits": _hex(bits_of(result.rounded)[0]),
    }
    if args.format == "json":
        print(json.dumps(record))
    else:
        parameters = "".join(f", {k}={record[k]}" for k in PARAMETERS if record[k] is not None)
        print(f"{spec.quantity} ({spec.form}, {fmt.name}{parameters}) at x = {record['x']} [{record['x_bits']}],"
              f" y = {record['y']} [{record['y_bits']}]")
        for key in ("exact", "rounded", "bits"):
            print(f"{key:8} {record[key]}")
    return EXIT_OK


def _split(values: list[str] | None, option: str = "", command: str = "", known=None) -> list[str] | None:
    """Repeated and comma-separated values, flattened; None when the option was not given. A value
    given but empty, or (with ``known``) not one of the known values, is a usage error: a typo must
    never widen or narrow what runs without a word."""
    if values is None:
        return None
    items = [item.strip() for value in values for item in value.split(",")]
    if not items or any(not item for item in items):
        raise UsageError(f"bcebench {command}: {option} has an empty value")
    unknown = [item for item in items if known is not None and item not in known]
    if unknown:
        raise UsageError(f"bcebench {command}: {option} {unknown[0]!r}: expected one of {', '.join(known)}")
    return list(dict.fromkeys(items))


def _filters(args: argparse.Namespace, command: str) -> dict:
    """The --device, --dtype, --quantity and --check values of a command, each one checked."""
    from bcebench.adapters.base import DEVICES, QUANTITIES
    from bcebench.reference.formats import DTYPE_NAMES
    from bcebench.suite.gate import CHECK_NAMES

    known = {"device": DEVICES, "dtype": DTYPE_NAMES, "quantity": QUANTITIES, "check": CHECK_NAMES}
    return {name: _split(getattr(args, name, None), f"--{name}", command, values) for name, values in known.items()}


def _selected_frameworks(args: argparse.Namespace, command: str) -> list[str]:
    """The --framework values (default: every registered one); a name not registered is a usage error."""
    from bcebench.adapters import base

    extra = [base.ARRAY_API + module for module in _split(getattr(args, "array_api", None), "--array-api", command)
             or []]
    named = _split(args.framework, "--framework", command)
    frameworks = (named or ([] if extra else list(base.REGISTRY))) + extra
    unknown = [f for f in frameworks if not base.known(f)]
    if unknown:
        expected = ", ".join(base.REGISTRY)
        raise UsageError(f"bcebench {command}: unknown framework {unknown[0]!r}: expected one of {expected}")
    return list(dict.fromkeys(frameworks))


def _single_input(text: str, dtypes: list[str] | None) -> tuple[str, str]:
    """--input X:Y: two hex bit patterns, each fitting every --dtype (which it needs)."""
    from bcebench.reference.formats import FORMATS, parse_bits

    x, sep, y = text.partition(":")
    if not sep or not dtypes:
        raise UsageError("bcebench check: --input X:Y needs --dtype")
    for dtype in dtypes:
        for pattern in (x, y):
            try:
                parse_bits(pattern, FORMATS[dtype])
            except ValueError as error:
                raise UsageError(f"bcebench check: --input {text!r}: {error}") from None
    return hex(int(x, 16)), hex(int(y, 16))


def _check_writable(path: str | None, option: str, command: str) -> None:
    """An output location that can be written, checked before any work starts: its nearest
    existing folder must be a writable folder, and the path itself no folder (for --out, a folder)."""
    if not path:
        return
    target = Path(path)
    if target.exists() and target.is_dir() != (option == "--out"):
        raise UsageError(f"bcebench {command}: {option} {path}: is {'not ' if option == '--out' else ''}a folder")
    existing = next(p for p in [target, *target.parents] if p.exists())
    if existing == target and option != "--out":
        existing = target.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"bcebench {command}: {option} {path}: {existing} is not a writable folder")


def _named_frameworks(args: argparse.Namespace) -> list[str]:
    """The frameworks asked for by name (--framework, --array-api): each must be there."""
    from bcebench.adapters import base

    named = _split(args.framework, "--framework", "") or []
    return named + [base.ARRAY_API + m for m in _split(getattr(args, "array_api", None), "--array-api", "") or []]


def _user_implementation(args: argparse.Namespace, frameworks: list[str], command: str) -> dict | None:
    """--impl with its --form and single --framework, loaded once here so that a bad one is a
    usage error before anything runs."""
    from bcebench.adapters import base
    from bcebench.reference.exact import Spec

    declared = {name: getattr(args, name) for name in base.USER_PARAMETERS if getattr(args, name, None) is not None}
    reduction = getattr(args, "reduction", None)
    if not args.impl:
        if declared or reduction:
            named = [*declared, *(["reduction"] if reduction else [])]
            given = ", ".join(f"--{name.replace('_', '-')}" for name in named)
            raise UsageError(f"bcebench {command}: {given} describe(s) your implementation: give --impl")
        return None
    if len(frameworks) != 1 or not args.form:
        raise UsageError(f"bcebench {command}: --impl needs one --framework and --form logits|probs")
    try:
        base.user_implementation(args.impl, frameworks[0], args.form, declared, reduction or "none")
        Spec("loss", args.form, **declared)
    except ValueError as error:
        raise UsageError(f"bcebench {command}: {error}") from None
    return {"spec": args.impl, "framework": frameworks[0], "form": args.form, "oracle": declared,
            "reduction": reduction or "none"}


def _check(args: argparse.Namespace) -> int:
    from bcebench.suite import gate
    from bcebench.suite.policy import PolicyError, load_deviations, load_policy

    frameworks = _selected_frameworks(args, "check")
    user = _user_implementation(args, frameworks, "check")
    chosen = _filters(args, "check")
    single = _single_input(args.input, chosen["dtype"]) if args.input else None
    if not args.timeout > 0:
        raise UsageError(f"bcebench check: --timeout {args.timeout:g}: must be a number of seconds > 0")
    if args.budget is not None and not args.budget > 0:
        raise UsageError(f"bcebench check: --budget {args.budget:g}: must be a number of seconds > 0")
    if args.jobs is not None and not args.jobs >= 1:
        raise UsageError(f"bcebench check: --jobs {args.jobs}: must be at least 1")
    for option in ("json", "junit"):
        _check_writable(getattr(args, option), f"--{option}", "check")
    try:
        load_policy(args.policy)
        if args.deviations:
            load_deviations(Path(args.deviations))
        patterns = _split(args.implementation, "--implementation", "check")
        if user and not patterns and not args.with_builtins:
            patterns = ["user:*"]  # your implementation alone: the built-ins join when asked for
        selection = gate.Selection(frameworks, chosen["device"], patterns, chosen["dtype"], chosen["quantity"],
                                   chosen["check"], user, single, args.policy, args.timeout,
                                   required=_named_frameworks(args), deviations=args.deviations, budget=args.budget,
                                   seed=args.seed, jobs=args.jobs)
        results = gate.run(selection, progress=_progress if args.verbose else lambda record: None)
    except (PolicyError, gate.RequestError) as error:
        raise UsageError(f"bcebench check: {error}") from None
    if args.json:
        gate.write_atomically(Path(args.json), json.dumps(results, indent=1))
    if args.junit:
        gate.write_atomically(Path(args.junit), gate.junit_xml(results))
    if results["interrupted"]:
        written = f"; written to {args.json}" if args.json else ""
        print(f"bcebench check: {results['interrupted']}: {len(results['checks'])} checks finished{written}",
              file=sys.stderr)
        return EXIT_INTERRUPTED if results["interrupted"].startswith("interrupted") else EXIT_FAILED
    if not results["checks"]:
        reasons = "; ".join(f"{k}: {v}" for k, v in selection.unavailable.items()) or "the filters match nothing"
        print(f"bcebench check: no check ran ({reasons})", file=sys.stderr)
        return EXIT_FAILED
    _print_summary(results)
    if args.fail_on_stale and results["stale_deviations"]:
        print(f"\n--fail-on-stale: {len(results['stale_deviations'])} known deviation(s) no longer reproduce")
        return EXIT_FAILED
    return EXIT_OK if results["passed"] else EXIT_FAILED


def _bench(args: argparse.Namespace) -> int:
    import importlib.util

    from bcebench.adapters import base
    from bcebench.suite import bench

    if importlib.util.find_spec("pytest_benchmark") is None:
        raise UsageError("bcebench bench: pytest-benchmark is missing: pip install 'bcebench[bench]'")
    frameworks = _selected_frameworks(args, "bench")
    try:
        sizes = [int(float(s)) for s in _split(args.size, "--size", "bench")] if args.size else list(bench.SIZES)
    except ValueError:
        raise UsageError(f"bcebench bench: --size {args.size}: expected numbers such as 1e6") from None
    modes = _split(args.mode, "--mode", "bench", base.BENCH_MODES) or list(base.BENCH_MODES)
    if not args.timeout > 0:
        raise UsageError(f"bcebench bench: --timeout {args.timeout:g}: must be a number of seconds > 0")
    chosen = _filters(args, "bench")
    patterns = _split(args.implementation, "--implementation", "bench")
    user = _user_implementation(args, frameworks, "bench")
    _check_writable(args.json, "--json", "bench")
    if args.save:
        _check_writable(str(bench.saved_path(args.save)), "--save", "bench")
    baseline = None
    if args.compare:
        try:
            baseline = bench.load_saved(args.compare)
        except (OSError, ValueError) as error:
            raise UsageError(f"bcebench bench: --compare {args.compare}: {error}") from None
    document = bench.run(frameworks, patterns, chosen["dtype"] or ["float32"], modes, sizes,
                         user, progress=lambda name: print(f"timing {name} ...", file=sys.stderr),
                         devices=chosen["device"], case_timeout=args.timeout)
    if not document["cases"] and not document["failed"]:
        print("bcebench bench: nothing was timed", file=sys.stderr)
        return EXIT_FAILED
    _print_speed(document)
    for case in document["failed"]:
        print(f"CRASHED {case['id']}: {case['message']}")
    if args.json:
        from bcebench.suite.gate import write_atomically

        write_atomically(Path(args.json), json.dumps(document, indent=1))
    if args.save:
        print(f"saved as {bench.save(document, args.save)}")
    if baseline is None:
        return EXIT_FAILED if document["failed"] else EXIT_OK
    changes = bench.regressions(baseline, document, args.fail_over)
    for _ in range(bench.CONFIRMATIONS):  # time flagged cases again: a slower implementation repeats, a burst not
        flagged = {row[0] for row in changes["slower"]}
        if not flagged:
            break
        again = bench.run(frameworks, patterns, chosen["dtype"] or ["float32"], modes, sizes,
                          user, only=flagged, progress=lambda name: print(f"re-timing {name} ...", file=sys.stderr),
                          devices=chosen["device"], case_timeout=args.timeout)
        confirmed = {row[0] for row in bench.regressions(baseline, again, args.fail_over)["slower"]}
        changes["unchanged"] += [row for row in changes["slower"] if row[0] not in confirmed]
        changes["slower"] = [row for row in changes["slower"] if row[0] in confirmed]
    _print_speed_changes(changes, args.fail_over)
    return EXIT_FAILED if changes["slower"] or changes["lost"] or document["failed"] else EXIT_OK


def _print_speed(document: dict) -> None:
    print(f"{'case':90} {'median':>10} {'IQR':>6} {'ns/elem':>8} {'GB/s':>6} {'÷fastest':>8} {'wall':>7} {'eff.':>5}")
    for c in document["cases"]:
        efficiency = "—" if c.get("efficiency") is None else f"{c['efficiency']:.2f}"
        extra = f" {c['vs_fastest']:8.2f} {c['wall']:>7} {efficiency:>5}" if c["kind"] == "implementation" else ""
        print(f"{c['id']:90} {c['median'] * 1e6:8.1f}us {c['iqr'] / c['median']:6.1%} {c['ns_per_element']:8.2f}"
              f" {c['gb_per_s']:6.2f}{extra}")
    for name, reason in document["unavailable"].items():
        print(f"{name}: unavailable ({reason})")


def _print_speed_changes(changes: dict, fail_over: float) -> None:
    print(f"\nagainst the baseline (threshold {fail_over:g}% and outside the interquartile ranges):")
    for title in ("slower", "faster"):
        for case_id, old, new, change in changes[title]:
            print(f"  {title.upper():7} {case_id}: {old * 1e6:.1f}us -> {new * 1e6:.1f}us ({change:+.1%})")
    for case_id, why in changes["lost"]:
        print(f"  LOST    {case_id}: timed in the baseline, not now ({why})")
    print(f"  {len(changes['slower'])} slower, {len(changes['faster'])} faster, {len(changes['unchanged'])} unchanged, "
          f"{len(changes['lost'])} lost")


def _report(args: argparse.Namespace) -> int:
    try:
        from bcebench.reports import build
        from tqdm import tqdm
    except ImportError as error:
        raise UsageError(f"bcebench report: {error.name} is missing: pip install 'bcebench[report]'") from None
    from bcebench.reports import exhaustive
    from bcebench.suite import gate

    folder = args.sweeps or (COMMITTED_SWEEPS if COMMITTED_SWEEPS.is_dir() else None)
    try:
        sweeps = exhaustive.load(Path(folder)) if folder else []
    except exhaustive.SweepResultsError as error:
        raise UsageError(f"bcebench report: {error}") from None
    _check_writable(args.out, "--out", "report")
    if args.from_results:
        from bcebench.reports import compare

        try:
            results = compare.load(args.from_results)
            if args.speed:
                results["speed"] = json.loads(Path(args.speed).read_text())
        except (compare.ResultsError, OSError, ValueError) as error:
            raise UsageError(f"bcebench report: {error}") from None
        if sweeps:
            results["exhaustive"] = sweeps
        folder = build.write(results, build.certificate_records(), Path(args.out))
        print(f"report: {folder / 'report.html'}\n        {folder / 'report.md'}")
        return EXIT_OK if results["passed"] else EXIT_FAILED
    frameworks = _selected_frameworks(args, "report")
    selection = gate.Selection(frameworks, dtypes=_filters(args, "report")["dtype"], policy=args.policy,
                               required=_named_frameworks(args))
    with tqdm(total=0, unit="check", desc="bcebench report", dynamic_ncols=True) as bar:
        def progress(record: dict) -> None:
            if "planned" in record:
                bar.total += record["planned"]
            else:
                bar.set_postfix_str(f"{record['framework']}: {record.get('implementation', '')}"[:60])
                bar.update(1)
            bar.refresh()

        try:
            results = gate.run(selection, progress=progress)
        except gate.RequestError as error:
            raise UsageError(f"bcebench report: {error}") from None
    if results["interrupted"]:
        print(f"bcebench report: {results['interrupted']}: no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not results["checks"]:
        print("bcebench report: no check ran", file=sys.stderr)
        return EXIT_FAILED
    if args.bench:
        from bcebench.suite import bench

        results["speed"] = bench.run(frameworks, None, _filters(args, "report")["dtype"] or ["float32"],
                                     ["forward", "forward+backward"], [1_000, 10_000, 100_000, 1_000_000],
                                     progress=lambda name: print(f"timing {name} ...", file=sys.stderr))
    if sweeps:
        results["exhaustive"] = sweeps
    folder = build.write(results, build.certificate_records(), Path(args.out))
    _print_summary(results)
    print(f"\nreport: {folder / 'report.html'}\n        {folder / 'report.md'}")
    return EXIT_OK if results["passed"] else EXIT_FAILED


def _sweep(args: argparse.Namespace) -> int:
    """Every input of a range through one implementation, sharded on Dask; the result as JSON."""
    try:
        from bcebench.suite import sweep
        from tqdm import tqdm
    except ImportError as error:
        raise UsageError(f"bcebench sweep: {error.name} is missing: pip install 'bcebench[sweep]'") from None
    from bcebench.reference.formats import FORMATS
    from bcebench.suite.gate import write_atomically

    frameworks = _selected_frameworks(args, "sweep")
    user = _user_implementation(args, frameworks, "sweep")
    if len(frameworks) != 1 or not (args.implementation or user):
        raise UsageError("bcebench sweep: give one --framework and one --implementation (or --impl with --form)")
    fmt = FORMATS[args.dtype]
    if args.label == "pairs" and fmt.dtype.itemsize != 2:
        raise UsageError("bcebench sweep: --label pairs sweeps every (x, y) of a 16-bit dtype only")
    target = sweep.Target(frameworks[0], user["spec"] if user else args.implementation, args.dtype, args.quantity,
                          None if args.label == "pairs" else float(args.label),
                          user["spec"] if user else None, user["form"] if user else None, args.device)
    rival_target = dataclasses.replace(target, implementation=args.compare_with, user_spec=None, user_form=None)
    try:
        sweep.require_support(target)
        form = sweep.load_implementation(target)[1].form
        if args.compare_with:
            sweep.require_support(rival_target)
            other = sweep.load_implementation(rival_target)[1]
            if other.form != form:
                raise sweep.SweepError(f"--compare-with {args.compare_with!r} takes {other.form}, the swept "
                                       f"implementation {form}: the same inputs mean nothing to both")
        spans = sweep.intervals(args.range, fmt, form)
        per_input = 1 if target.label is not None else sweep.label_values(fmt).size
        spans = [(a * per_input, b * per_input) for a, b in spans]
    except sweep.SweepError as error:
        raise UsageError(f"bcebench sweep: {error}") from None
    total = sum(b - a for a, b in spans)
    try:
        with sweep.dask_client(args.scheduler, args.workers) as client:
            for swept in (target, rival_target) if args.compare_with else (target,):  # before the progress bar
                declined = client.submit(sweep.probe, swept, pure=False).result()
                if declined:
                    raise sweep.SweepError(declined)
            with tqdm(total=total, unit="input", unit_scale=True, desc="bcebench sweep", dynamic_ncols=True,
                      smoothing=0.05) as bar:
                def progress(done: int, planned: int, inputs: int) -> None:
                    bar.set_postfix_str(f"shards {done}/{planned}")
                    bar.update(inputs)

                result = sweep.sweep(target, spans, shard_size=args.shard_size, checkpoint_dir=Path(args.checkpoint),
                                     client=client, progress=progress, resume=args.resume,
                                     notice=lambda line: print(line, file=sys.stderr))
                rival = None
                if args.compare_with:  # the same inputs through the other implementation
                    bar.reset(total=total)
                    rival = sweep.sweep(rival_target, spans, shard_size=args.shard_size,
                                        checkpoint_dir=Path(args.checkpoint), client=client, progress=progress,
                                        resume=args.resume, notice=lambda line: print(line, file=sys.stderr))
    except sweep.SweepError as error:
        raise UsageError(f"bcebench sweep: {error}") from None
    out = Path(args.out or Path(args.checkpoint).parent / sweep.result_name(target, args.range))
    rival_out = out.parent / sweep.result_name(dataclasses.replace(target, implementation=args.compare_with),
                                               args.range) if rival is not None else None
    speeds = _speeds(target, [target.implementation, args.compare_with]) if rival is not None else {}
    for document, path, other in ((result, out, args.compare_with), (rival, rival_out, target.implementation)):
        if document is not None:
            if rival is not None:  # swept over the same inputs and timed beside each other: stored with each
                document["compared_with"] = other
            if document["target"]["implementation"] in speeds:
                document["speed"] = speeds[document["target"]["implementation"]]
            write_atomically(path, json.dumps(document, indent=1) + "\n")
    from bcebench.reports.exhaustive import before_after, cell_text, speeds_of

    print(f"{result['stats']['total']} inputs: {cell_text(result)}")
    print(f"{result['wall_seconds']:.1f} s ({result['resumed_shards']} of {result['shards']} shards from the "
          f"checkpoint); result: {out}")
    if rival is not None:
        print(f"\n{rival['stats']['total']} inputs: {cell_text(rival)}\nresult: {rival_out}\n")
        print("\n".join(before_after([result, rival], speeds_of((result, rival)))))
    return EXIT_OK


def _speeds(target, implementations: list[str]) -> dict:
    """{implementation: {seconds_per_element, mode, size, date, timed_with}}: the median of each at
    10^6 elements, forward (the loss) or forward + backward (the gradient, the Hessian), timed by
    the bench harness in one run."""
    import datetime

    from bcebench.suite import bench

    mode = "forward" if target.quantity == "loss" else "forward+backward"
    timed = bench.run([target.framework], implementations, [target.dtype], [mode], [1_000_000],
                      devices=[target.device])
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {c["implementation"]: {"seconds_per_element": c["median"] / c["size"], "mode": mode, "size": c["size"],
                                  "date": date, "timed_with": implementations}
            for c in timed["cases"] if c["kind"] == "implementation"}


def _compare(args: argparse.Namespace) -> int:
    from bcebench.reports import compare

    if not args.threshold > 1:
        raise UsageError(f"bcebench compare: --threshold {args.threshold:g}: must be a factor > 1")
    if not args.fail_over >= 0:
        raise UsageError(f"bcebench compare: --fail-over {args.fail_over:g}: must be a percentage >= 0")
    try:
        old, new = compare.load(args.old), compare.load(args.new)
    except compare.ResultsError as error:
        raise UsageError(f"bcebench compare: {error}") from None
    if args.identical:
        found = compare.differences(old, new)
        print("\n".join(found) if found else f"identical: {len(new['checks'])} checks judged alike (timing aside)")
        return EXIT_FAILED if found else EXIT_OK
    changes = compare.compare(old, new, args.threshold, args.fail_over)
    print(compare.summary(changes))
    return EXIT_FAILED if changes["regressions"] else EXIT_OK


def _repro(args: argparse.Namespace) -> int:
    """Scripts and issue texts for one failing check or for known deviations, from a results file."""
    from bcebench.reports import compare, exhaustive, repro_files
    from bcebench.suite import gate, repro
    from bcebench.suite.policy import PolicyError, load_deviations, load_platforms, load_policy

    _check_writable(args.out, "--out", "repro")
    if (args.results is None) == (args.input is None):
        raise UsageError("bcebench repro: give a results file (with --check or --deviation) or --input X:Y "
                         "(with --framework, --implementation, --dtype, --quantity), not both")
    if args.input is not None:
        args.results, args.check = _single_input_results(args), "all failing"
    elif (args.check is None) == (args.deviation is None):
        raise UsageError("bcebench repro: with a results file, give --check ID or --deviation KEY|all")
    try:
        results = compare.load(args.results)
        policy = load_policy(args.policy)
        entries = load_deviations(Path(args.deviations)) if args.deviations else load_deviations()
        sweeps = [s for folder in _sweep_folders(args.sweeps) for s in exhaustive.load(folder)]
    except (compare.ResultsError, PolicyError, exhaustive.SweepResultsError) as error:
        raise UsageError(f"bcebench repro: {error}") from None
    records = results["checks"]
    try:
        if args.check:
            chosen = [r for r in records if r["id"] == args.check or (
                args.check == "all failing" and r["verdict"] in ("fail", "known-deviation"))]
            if not chosen and args.input is not None:
                print(f"nothing to reproduce: at --input {args.input} the result is within the {policy.name} policy")
                return EXIT_FAILED
            if not chosen:
                raise UsageError(f"bcebench repro: no check {args.check!r} in {args.results}")
            for record in chosen:
                if not repro_files.runnable(record):
                    raise UsageError(f"bcebench repro: {record['implementation']} has no standalone form "
                                     f"(adapters/standalone.py)")
            findings = [repro.from_record(_with_oracle(record, args.results), policy) for record in chosen]
        else:
            wanted = [d for d in entries if args.deviation in ("all", d.key)]
            if not wanted:
                raise UsageError(f"bcebench repro: no known deviation {args.deviation!r} (their keys: "
                                 f"{', '.join(d.key for d in entries)})")
            applicable = [r for r in records if "oracle" in r]
            findings, missing = [], []
            order = load_platforms() + entries  # the gate's order: an element belongs to the first that explains it
            for entry in wanted:
                try:
                    findings.append(repro.for_deviation(entry, applicable, policy, repro_files.runnable,
                                                        order[: order.index(entry)]))
                except repro.ReproError as error:
                    missing.append(f"{entry.key}: {error}")
    except repro.ReproError as error:
        raise UsageError(f"bcebench repro: {error}") from None
    out = Path(args.out)
    failed = 0
    for found in findings:
        name = repro_files.slug(found)
        script = out / f"{name}.py"
        gate.write_atomically(script, repro_files.script(found, _measured_with(results, found), policy.name))
        gate.write_atomically(out / f"{name}.md", repro_files.issue(found, script.name, results["metadata"], sweeps))
        line = f"wrote {script} and {name}.md ({len(found.elements)} input(s))"
        if args.verify:
            reproduced, outcome = verify_reproducer(script)
            failed += not reproduced
            line += f": {outcome}"
        print(line)
    if args.check is None:
        for line in missing:
            print(f"no reproducer: {line}")
        failed += len(missing)
        if args.deviation == "all":
            gate.write_atomically(out / "README.md", repro_files.index(findings, missing))
    return EXIT_FAILED if failed else EXIT_OK


def _single_input_results(args: argparse.Namespace) -> str:
    """Run the accuracy check on one input (``bcebench check --input``) and return its results file."""
    import tempfile

    for option in ("framework", "implementation", "dtype", "quantity"):
        values = getattr(args, option)
        if not values or len(values) != 1 or "," in values[0] or "*" in values[0]:
            raise UsageError(f"bcebench repro: --input needs one --{option}")
    path = Path(tempfile.mkdtemp(prefix="bcebench-repro-")) / "results.json"
    argv = ["check", "--framework", args.framework[0], "--implementation", args.implementation[0], "--dtype",
            args.dtype[0], "--quantity", args.quantity[0], "--input", args.input, "--policy", args.policy,
            "--json", str(path), *(["--device", args.device] if args.device else [])]
    check_args = build_parser().parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # the check's summary is a progress line here
        check_args.run(check_args)
    return str(path)


def verify_reproducer(script: Path) -> tuple[bool, str]:
    """Run a reproducer in a fresh isolated Python: (whether it reports its fault, what it did). An
    exit 1 without the script's own verdict line is a crash, not a reproduction."""
    done = subprocess.run([sys.executable, "-I", script.name], cwd=script.parent, capture_output=True, text=True)
    if done.returncode == 1 and "fault(s): present" in done.stdout:
        return True, "reproduces (exit 1)"
    last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or [""])[-1]
    return False, f"does NOT reproduce (exit {done.returncode}: {last[:200]})"


def _measured_with(results: dict, found) -> str:
    """The framework's version and the date of the results the finding comes from."""
    framework = found.record["framework"]
    version = results["metadata"].get("frameworks", {}).get(framework, {})
    version = version.get("version", "") if isinstance(version, dict) else str(version)
    return f"{framework} {version} on {results['metadata'].get('date', 'an unknown date')}".replace("  ", " ")


def _with_oracle(record: dict, path: str) -> dict:
    if "oracle" not in record:
        raise UsageError(f"bcebench repro: {path} does not give the oracle's parameters of its checks (written by "
                         "an older bcebench): run bcebench check --json again")
    return record


def _sweep_folders(option: str | None) -> list[Path]:
    """The sweep folders whose figures an issue text quotes: the one given, or every folder of
    results under the default one."""
    if option:
        return [Path(option)]
    root = COMMITTED_SWEEPS
    return sorted({p.parent for p in root.rglob("*.json") if "checkpoints" not in p.parts}) if root.is_dir() else []


def _progress(record: dict) -> None:
    if "verdict" in record:
        print(f"{record['verdict']:16} {record['id']}", file=sys.stderr)


def _print_summary(results: dict) -> None:
    from bcebench.suite.gate import describe_worst

    counts: dict = {}
    for r in results["checks"]:
        key = (r["framework"], r["device"], r["implementation"], r["dtype"])
        counts.setdefault(key, {}).setdefault(r["verdict"], 0)
        counts[key][r["verdict"]] += 1
    for (framework, device, impl, dtype), verdicts in counts.items():
        text = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
        print(f"{framework:6} {device:5} {dtype:9} {impl:55} {text}")
    for r in results["checks"]:
        if r["verdict"] in ("fail", "crashed"):
            gating = "" if r.get("gating", True) else " (not gating)"
            print(f"\n{r['verdict'].upper()}{gating} {r['id']}: {r.get('message') or describe_worst(r)}")
            if r.get("repro"):
                print(f"  repro: {r['repro']}")
    for stale in results["stale_deviations"]:
        print(f"\nknown deviation no longer reproduces: {stale['implementation']}: {stale['what']}")
    for name, reason in results["metadata"]["unavailable"].items():
        print(f"{name}: unavailable ({reason})")
    for line in results.get("unjudged", []):
        print(f"\nNOT JUDGED: {line}")
    summary = ", ".join(f"{n} {v}" for v, n in sorted(results["summary"].items()))
    print(f"\n{len(results['checks'])} checks: {summary}. Gate {'passed' if results['passed'] else 'FAILED'}.")


DESCRIBE_TIMEOUT_SECONDS = 300


def _frameworks(args: argparse.Namespace) -> int:
    """Each framework's version, devices, dtypes and implementations; a process-bound one (Keras on
    a backend) is described by a process of its own."""
    from bcebench.adapters import base
    from bcebench.suite.supervisor import supervising

    for name in _selected_frameworks(args, "frameworks"):
        if name in base.PROCESS_BOUND and len(args.framework or []) != 1:
            try:
                with supervising() as supervisor:
                    done = supervisor.run([sys.executable, "-m", "bcebench.suite.cli", "frameworks", "--framework",
                                           name],
                                          timeout=DESCRIBE_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"{name}: failed: no answer in {DESCRIBE_TIMEOUT_SECONDS} s")
                continue
            print(done.stdout, end="" if done.returncode == 0 else f"{name}: failed: {done.stderr.strip()[-200:]}\n")
            continue
        adapter, reason = base.load(name)
        if adapter is None:
            print(f"{name:6} unavailable: {reason}")
            continue
        devices = adapter.devices()
        print(f"{name:6} {adapter.version()}  devices: {', '.join(devices)}  dtypes: "
              f"{', '.join(adapter.dtypes(devices[0]))}  implementations: {len(adapter.implementations())}")
        for impl in adapter.implementations():
            print(f"         {impl.id} ({impl.form}{'' if impl.gating else ', not gating'})")
    return EXIT_OK


def _hex(bits) -> str:
    return hex(int(bits))


def _add_framework(parser: argparse.ArgumentParser) -> None:
    from bcebench.adapters.base import REGISTRY

    parser.add_argument("--framework", action="append", help=f"{', '.join(REGISTRY)} (default: all available)")
    parser.add_argument("--array-api", action="append", metavar="MODULE",
                        help="any Array API namespace, e.g. array_api_strict: checked as framework array-api:MODULE")


def _add_selection(parser: argparse.ArgumentParser, dtypes: str) -> None:
    """The options that pick what runs, shared by check and bench (repeatable, or comma-separated)."""
    from bcebench.reference.exact import FORMS

    _add_framework(parser)
    parser.add_argument("--device", action="append", help="cpu, cuda, gpu (default: every device present)")
    parser.add_argument("--implementation", action="append", help="implementation id glob, e.g. 'torch.binary*'")
    parser.add_argument("--dtype", action="append", help=dtypes)
    parser.add_argument("--impl", help="your implementation: path/to/file.py:fn or package.module:fn")
    parser.add_argument("--form", choices=FORMS, help="the form of --impl")


def build_parser() -> argparse.ArgumentParser:
    from bcebench.reference.exact import FORMS, QUANTITIES
    from bcebench.reference.formats import DTYPE_NAMES
    from bcebench.suite.cases import SEED
    from bcebench.suite.gate import CHECK_TIMEOUT_SECONDS

    parser = OneLineParser(prog="bcebench", description="Verification and benchmarks for binary cross-entropy.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    derive = commands.add_parser("derive", help="prove the identities of BCE (SymPy) and print the certificate")
    derive.add_argument("--format", choices=("text", "json"), default="text")
    derive.set_defaults(run=_derive)

    oracle = commands.add_parser("oracle", help="exact and correctly rounded value of one quantity")
    oracle.add_argument("quantity", choices=QUANTITIES)
    oracle.add_argument("x", help="logit or probability: a decimal, rounded to the dtype, or a hex bit pattern")
    oracle.add_argument("y", help="label: a decimal, rounded to the dtype, or a hex bit pattern")
    oracle.add_argument("--form", choices=FORMS, required=True)
    oracle.add_argument("--dtype", choices=DTYPE_NAMES, required=True)
    oracle.add_argument("--gamma", type=float, help="focal loss exponent γ >= 0")
    oracle.add_argument("--alpha", type=float, help="focal loss weight α in [0, 1] (with --gamma)")
    oracle.add_argument("--smoothing", type=float, help="label smoothing ε: y(1 − ε) + ε/2")
    oracle.add_argument("--weight", type=float, help="weight w of the whole loss (PyTorch's weight)")
    oracle.add_argument("--pos-weight", type=float, help="weight of the positive term (PyTorch's pos_weight)")
    oracle.add_argument("--format", choices=("text", "json"), default="text")
    oracle.set_defaults(run=_oracle)

    check = commands.add_parser("check", help="the CI gate: every implementation against the oracle")
    _add_selection(check, "float16, bfloat16, float32, float64 (default: all)")
    check.add_argument("--quantity", action="append", help="loss, grad, hess")
    check.add_argument("--check", action="append",
                       help="accuracy, special, domain, reduction, unchanged-inputs, shapes, claim")
    check.add_argument("--policy", default="strict", help="strict, relaxed, or a policy file")
    check.add_argument("--deviations", help="a known-deviations file (default: the built-in suite/deviations.toml)")
    check.add_argument("--fail-on-stale", action="store_true",
                       help="fail when a known deviation no longer reproduces (a framework fixed it)")
    check.add_argument("--input", help="X:Y bit patterns (hex): run the accuracy checks on that input alone")
    check.add_argument("--timeout", type=float, default=CHECK_TIMEOUT_SECONDS,
                       help="seconds one check may run before it is ended and recorded as crashed")
    check.add_argument("--seed", type=int, default=SEED,
                       help=f"seed of the sampled cases (default {SEED}, fixed so that CI is reproducible; the "
                            f"claims' problems are fixed)")
    check.add_argument("--budget", type=float, help="seconds for the whole run: past it the run stops as interrupted")
    check.add_argument("--with-builtins", action="store_true",
                       help="with --impl: check the framework's built-in implementations too, side by side")
    parameters = check.add_argument_group("what --impl computes (default: plain BCE, elementwise)")
    parameters.add_argument("--gamma", type=float, help="the focal loss's γ")
    parameters.add_argument("--alpha", type=float, help="the focal loss's α (with --gamma)")
    parameters.add_argument("--weight", type=float, help="a constant weight your function multiplies the loss by")
    parameters.add_argument("--pos-weight", type=float, help="a constant weight of the positive term (PyTorch's)")
    parameters.add_argument("--smoothing", type=float, help="label smoothing ε: your function uses y(1 − ε) + ε/2")
    parameters.add_argument("--reduction", choices=("none", "mean", "sum"),
                            help="none: elementwise (default); mean or sum: one number per call")
    check.add_argument("--jobs", type=int,
                       help="checks run at once, each in a single-threaded worker process (default: one per core)")
    check.add_argument("--json", help="write the results here")
    check.add_argument("--junit", help="write JUnit XML here")
    check.add_argument("--verbose", action="store_true", help="print each check as it ends")
    check.set_defaults(run=_check)

    bench = commands.add_parser("bench", help="time every implementation (pytest-benchmark), compare runs")
    _add_selection(bench, "float16, bfloat16, float32, float64 (default: float32)")
    bench.add_argument("--mode", action="append", help="forward, forward-mean, backward, forward+backward")
    bench.add_argument("--size", action="append", help="elements, e.g. 1e6 (default 1e3 to 1e7)")
    bench.add_argument("--save", help="save this run under .benchmarks/bcebench/NAME.json")
    bench.add_argument("--compare", help="a saved run (NAME or a .json path) to compare against")
    bench.add_argument("--fail-over", type=float, default=10.0,
                       help="percent slowdown that fails --compare when beyond the noise (default 10)")
    bench.add_argument("--timeout", type=float, default=120.0,
                       help="seconds one case may take (compilation, warm-up and rounds) before it counts as hanging")
    bench.add_argument("--json", help="write the timings here")
    bench.set_defaults(run=_bench)

    report = commands.add_parser("report", help="run the gate and write the comparison report")
    _add_framework(report)
    report.add_argument("--dtype", action="append", help="float16, bfloat16, float32, float64 (default: all)")
    report.add_argument("--policy", default="strict", help="strict, relaxed, or a policy file")
    report.add_argument("--out", default="bcebench-report",
                        help="folder for the report folders (default bcebench-report)")
    report.add_argument("--bench", action="store_true", help="also time every implementation (a speed section)")
    report.add_argument("--from", dest="from_results", metavar="RESULTS",
                        help="build the report from an existing results.json (from bcebench check --json) instead")
    report.add_argument("--speed", help="with --from: a bcebench bench --json file for the speed section")
    report.add_argument("--sweeps", help="a folder of bcebench sweep results for the exhaustive section "
                                         "(default: those committed with a checkout of bcebench)")
    report.set_defaults(run=_report)

    compare = commands.add_parser("compare", help="regressions and improvements between two results")
    compare.add_argument("old", help="results.json or a report folder")
    compare.add_argument("new", help="results.json or a report folder")
    compare.add_argument("--threshold", type=float, default=2.0,
                         help="an error that grew by more than this factor is a regression (default 2)")
    compare.add_argument("--fail-over", type=float, default=10.0,
                         help="percent slowdown beyond the noise that is a regression, with speed sections (10)")
    compare.add_argument("--identical", action="store_true",
                         help="fail unless every check was judged alike, every field but its timing equal")
    compare.set_defaults(run=_compare)

    sweep = commands.add_parser("sweep", help="every input of a dtype through one implementation (Dask)")
    _add_framework(sweep)
    sweep.add_argument("--implementation", help="the implementation id, e.g. torch.binary_cross_entropy_with_logits")
    sweep.add_argument("--impl", help="your implementation: path/to/file.py:fn or package.module:fn")
    sweep.add_argument("--form", choices=FORMS, help="the form of --impl")
    sweep.add_argument("--device", default="cpu", help="the framework's device to sweep on: cpu, cuda, gpu (cpu)")
    sweep.add_argument("--dtype", choices=DTYPE_NAMES, default="float16")
    sweep.add_argument("--quantity", choices=QUANTITIES, default="loss")
    sweep.add_argument("--label", choices=("0", "1", "pairs"), default="1",
                       help="the hard label, or pairs: every (x, y) with y in [0, 1] (16-bit dtypes)")
    sweep.add_argument("--range", default="all",
                       help="all, positive, negative, normal, subnormal, or START:STOP bit patterns (stop exclusive)")
    sweep.add_argument("--shard-size", type=int, default=1 << 22, help="inputs per shard (default 2^22)")
    sweep.add_argument("--workers", type=int, help="local Dask worker processes (default: one per CPU)")
    sweep.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    sweep.add_argument("--checkpoint", default="bcebench-sweeps/checkpoints",
                       help="folder for the checkpoint of finished shards (default bcebench-sweeps/checkpoints)")
    sweep.add_argument("--out", help="result file (default bcebench-sweeps/<dtype>-<implementation>-...json)")
    sweep.add_argument("--compare-with", metavar="IMPLEMENTATION",
                       help="also sweep this implementation of the framework (a stable rewrite: rewrite(logits), "
                            "rewrite(probs)) over the same inputs, time both, and print the two side by side")
    sweep.add_argument("--resume", action="store_true",
                       help="reuse a finished sweep's checkpoint (an interrupted one is always resumed)")
    sweep.set_defaults(run=_sweep)

    reproduce = commands.add_parser("repro", help="a standalone script and an issue text per failing check or "
                                                  "known deviation")
    reproduce.add_argument("results", nargs="?", help="a results file (bcebench check --json; .json.gz too) or a "
                                                      "report folder")
    which = reproduce.add_mutually_exclusive_group()
    which.add_argument("--check", metavar="ID", help="the id of a failing or known-deviation check in the results")
    which.add_argument("--deviation", metavar="KEY", help="a known deviation's key, or all: the first check of the "
                                                         "results that shows inputs the entry explains")
    one = reproduce.add_argument_group("one input instead of a results file (the accuracy check on it is run first)")
    one.add_argument("--input", metavar="X:Y", help="bit patterns (hex) of the input and the label")
    one.add_argument("--framework", action="append")
    one.add_argument("--implementation", action="append", help="the implementation id")
    one.add_argument("--dtype", action="append")
    one.add_argument("--quantity", action="append", help="loss, grad, hess")
    one.add_argument("--device", help="cpu, cuda, gpu (default cpu)")
    reproduce.add_argument("--out", default="bcebench-repro", help="folder for the files (default bcebench-repro)")
    reproduce.add_argument("--policy", default="strict", help="strict, relaxed, or a policy file")
    reproduce.add_argument("--deviations", help="a known-deviations file (default: the built-in one)")
    reproduce.add_argument("--sweeps", help="a folder of sweep results quoted in the issue texts (default: those "
                                            "committed with a checkout of bcebench)")
    reproduce.add_argument("--verify", action="store_true",
                           help="run each script in a fresh Python process; exit 1 unless each reproduces")
    reproduce.set_defaults(run=_repro)

    frameworks = commands.add_parser("frameworks", help="which frameworks are available, with what")
    _add_framework(frameworks)
    frameworks.set_defaults(run=_frameworks)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bcebench.suite.supervisor import Interrupted, Supervisor

    try:
        args = build_parser().parse_args(argv)
        # every child process of the command, ended on Ctrl-C, SIGTERM and exit; the gate stops
        # gracefully and writes what finished, the other commands unwind
        with Supervisor(unwind=args.command not in ("check", "report")):
            return args.run(args)
    except UsageError as error:
        print(str(error).splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, Interrupted) as error:
        print(f"bcebench: {error or 'interrupted'}: stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader (`| head`) has gone: end as a shell would on SIGPIPE
        sys.stderr.close()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
