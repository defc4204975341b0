"""``bcebench bench``: time every implementation (pytest-benchmark) and compare runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bcebench.reports import speed
from bcebench.suite.bench import timing
from bcebench.suite.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_selection,
    check_writable,
    filters,
    selected_frameworks,
    split_values,
    user_implementation,
)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from bcebench.adapters import base

    if importlib.util.find_spec("pytest_benchmark") is None:
        raise UsageError("bcebench bench: pytest-benchmark is missing: pip install 'bcebench[bench]'")
    frameworks = selected_frameworks(args, "bench")
    try:
        sizes = [int(float(s)) for s in split_values(args.size, "--size", "bench")] if args.size else list(timing.SIZES)
    except ValueError:
        raise UsageError(f"bcebench bench: --size {args.size}: expected numbers such as 1e6") from None
    modes = split_values(args.mode, "--mode", "bench", base.BENCH_MODES) or list(base.BENCH_MODES)
    if not args.timeout > 0:
        raise UsageError(f"bcebench bench: --timeout {args.timeout:g}: must be a number of seconds > 0")
    chosen = filters(args, "bench")
    patterns = split_values(args.implementation, "--implementation", "bench", ids=True)
    user = user_implementation(args, frameworks, "bench")
    check_writable(args.json, "--json", "bench")
    if args.save:
        check_writable(str(timing.saved_path(args.save)), "--save", "bench")
    baseline = None
    if args.compare:
        try:
            baseline = timing.load_saved(args.compare)
        except (OSError, ValueError) as error:
            raise UsageError(f"bcebench bench: --compare {args.compare}: {error}") from None
    document = timing.run(frameworks, patterns, chosen["dtype"] or ["float32"], modes, sizes,
                         user, progress=lambda name: print(f"timing {name} ...", file=sys.stderr),
                         devices=chosen["device"], case_timeout=args.timeout)
    if not document["cases"] and not document["failed"]:
        print("bcebench bench: nothing was timed", file=sys.stderr)
        return EXIT_FAILED
    _print_speed(document)
    for case in document["failed"]:
        print(f"CRASHED {case['id']}: {case['message']}")
    if args.json:
        from bcebench.reports.results import write_atomically

        write_atomically(Path(args.json), json.dumps(document, indent=1))
    if args.save:
        print(f"saved as {timing.save(document, args.save)}")
    if baseline is None:
        return EXIT_FAILED if document["failed"] else EXIT_OK
    changes = speed.regressions(baseline, document, args.fail_over)
    for _ in range(timing.CONFIRMATIONS):  # time flagged cases again: a slower implementation repeats, a burst not
        flagged = {row[0] for row in changes["slower"]}
        if not flagged:
            break
        again = timing.run(frameworks, patterns, chosen["dtype"] or ["float32"], modes, sizes,
                          user, only=flagged, progress=lambda name: print(f"re-timing {name} ...", file=sys.stderr),
                          devices=chosen["device"], case_timeout=args.timeout)
        confirmed = {row[0] for row in speed.regressions(baseline, again, args.fail_over)["slower"]}
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


def add_to(commands) -> None:
    """The command and its arguments."""
    bench = commands.add_parser("bench", help="time every implementation (pytest-benchmark), compare runs")
    add_selection(bench, "float16, bfloat16, float32, float64 (default: float32)")
    bench.add_argument("--mode", action="append", help="forward, forward-mean, backward, forward+backward")
    bench.add_argument("--size", action="append", help="elements, e.g. 1e6 (default 1e3 to 1e7)")
    bench.add_argument("--save", help="save this run under .benchmarks/bcebench/NAME.json")
    bench.add_argument("--compare", help="a saved run (NAME or a .json path) to compare against")
    bench.add_argument("--fail-over", type=float, default=10.0,
                       help="percent slowdown that fails --compare when beyond the noise (default 10)")
    bench.add_argument("--timeout", type=float, default=120.0,
                       help="seconds one case may take (compilation, warm-up and rounds) before it counts as hanging")
    bench.add_argument("--json", help="write the timings here")
    bench.set_defaults(run=run)
