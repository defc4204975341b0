"""``bcebench report``: run the gate (or read its results) and write the comparison report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bcebench.suite.bench import timing
from bcebench.suite.cli.check import print_summary
from bcebench.suite.cli.common import (
    COMMITTED_SWEEPS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    add_framework,
    check_writable,
    filters,
    named_frameworks,
    selected_frameworks,
)
from bcebench.suite.cli.progress import Progress
from bcebench.suite.gate import controller, planning

QUICK_SIZE = 100_000  # elements of the default speed pass: past the call overheads, a second or so a framework


def run(args: argparse.Namespace) -> int:
    from bcebench.reference.derive import certificate_records

    try:
        import tqdm  # noqa: F401 - the report's extra, asked for here with the others

        from bcebench.reports import build
    except ImportError as error:
        raise UsageError(f"bcebench report: {error.name} is missing: pip install 'bcebench[report]'") from None
    from bcebench.reports import exhaustive

    folder = args.sweeps or (COMMITTED_SWEEPS if COMMITTED_SWEEPS.is_dir() else None)
    try:
        sweeps = exhaustive.load(Path(folder)) if folder else []
    except exhaustive.SweepResultsError as error:
        raise UsageError(f"bcebench report: {error}") from None
    check_writable(args.out, "--out", "report")
    if args.from_results:
        from bcebench.reports import results as results_file

        try:
            results = results_file.load(args.from_results)
            if args.speed:
                results["speed"] = json.loads(Path(args.speed).read_text())
        except (results_file.ResultsError, OSError, ValueError) as error:
            raise UsageError(f"bcebench report: {error}") from None
        if sweeps:
            results["exhaustive"] = sweeps
        folder = build.write(results, certificate_records(), Path(args.out))
        print(f"report: {folder / 'report.html'}\n        {folder / 'report.md'}")
        return EXIT_OK if results["passed"] else EXIT_FAILED
    frameworks = selected_frameworks(args, "report")
    selection = planning.Selection(frameworks, dtypes=filters(args, "report")["dtype"], policy=args.policy,
                               required=named_frameworks(args))
    with Progress("bcebench report", "check", quiet=args.quiet) as shown:
        def progress(record: dict) -> None:
            if "planned" in record:
                shown.planned(record["planned"])
            else:
                shown.finished(f"{record['framework']}: {record.get('implementation', '')}")

        try:
            results = controller.run(selection, progress=progress)
        except planning.RequestError as error:
            raise UsageError(f"bcebench report: {error}") from None
    if results["interrupted"]:
        print(f"bcebench report: {results['interrupted']}: no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not results["checks"]:
        print("bcebench report: no check ran", file=sys.stderr)
        return EXIT_FAILED
    dtypes = filters(args, "report")["dtype"] or ["float32"]
    if args.bench:
        results["speed"] = timing.run(frameworks, None, dtypes, ["forward", "forward+backward"],
                                     [1_000, 10_000, 100_000, 1_000_000],
                                     progress=lambda name: print(f"timing {name} ...", file=sys.stderr))
    elif not args.no_speed:  # the scorecard's speed column: one quick look, one process per framework
        results["speed"] = timing.run(frameworks, None, ["float32" if "float32" in dtypes else dtypes[0]], ["forward"],
                                     [QUICK_SIZE], processes=1,
                                     progress=lambda name: print(f"timing {name} ...", file=sys.stderr))
    if sweeps:
        results["exhaustive"] = sweeps
    folder = build.write(results, certificate_records(), Path(args.out))
    print_summary(results)
    print(f"\nreport: {folder / 'report.html'}\n        {folder / 'report.md'}")
    return EXIT_OK if results["passed"] else EXIT_FAILED


def add_to(commands) -> None:
    """The command and its arguments."""
    report = commands.add_parser("report", help="run the gate and write the comparison report")
    add_framework(report)
    report.add_argument("--dtype", action="append", help="float16, bfloat16, float32, float64 (default: all)")
    report.add_argument("--policy", default="strict", help="strict, relaxed, or a policy file")
    report.add_argument("--out", default="bcebench-report",
                        help="folder for the report folders (default bcebench-report)")
    speed = report.add_mutually_exclusive_group()
    speed.add_argument("--bench", action="store_true",
                        help="time every implementation at 10^3 to 10^6, forward and forward+backward, two "
                             "processes a framework (by default: one quick pass, forward at 10^5, for the "
                             "scorecard's speed column)")
    speed.add_argument("--no-speed", action="store_true",
                        help="no speed pass at all (the scorecard's time column empty)")
    report.add_argument("--from", dest="from_results", metavar="RESULTS",
                        help="build the report from an existing results.json (from bcebench check --json) instead")
    report.add_argument("--quiet", action="store_true",
                        help="no progress (without a terminal it is a line every 10 s; on one, a bar)")
    report.add_argument("--speed", help="with --from: a bcebench bench --json file for the speed section")
    report.add_argument("--sweeps", help="a folder of bcebench sweep results for the exhaustive section "
                                         "(default: those committed with a checkout of bcebench)")
    report.set_defaults(run=run)
