"""``bcebench compare``: regressions and improvements between two results."""

from __future__ import annotations

import argparse

from bcebench.suite.cli.common import EXIT_FAILED, EXIT_OK, UsageError


def run(args: argparse.Namespace) -> int:
    from bcebench.reports import compare
    from bcebench.reports import results as results_file

    if not args.threshold > 1:
        raise UsageError(f"bcebench compare: --threshold {args.threshold:g}: must be a factor > 1")
    if not args.fail_over >= 0:
        raise UsageError(f"bcebench compare: --fail-over {args.fail_over:g}: must be a percentage >= 0")
    try:
        old, new = results_file.load(args.old), results_file.load(args.new)
    except results_file.ResultsError as error:
        raise UsageError(f"bcebench compare: {error}") from None
    if args.identical:
        found = compare.differences(old, new)
        print("\n".join(found) if found else f"identical: {len(new['checks'])} checks judged alike (timing aside)")
        return EXIT_FAILED if found else EXIT_OK
    changes = compare.compare(old, new, args.threshold, args.fail_over)
    print(compare.summary(changes))
    return EXIT_FAILED if changes["regressions"] else EXIT_OK


def add_to(commands) -> None:
    """The command and its arguments."""
    compare = commands.add_parser("compare", help="regressions and improvements between two results")
    compare.add_argument("old", help="results.json or a report folder")
    compare.add_argument("new", help="results.json or a report folder")
    compare.add_argument("--threshold", type=float, default=2.0,
                         help="an error that grew by more than this factor is a regression (default 2)")
    compare.add_argument("--fail-over", type=float, default=10.0,
                         help="percent slowdown beyond the noise that is a regression, with speed sections (10)")
    compare.add_argument("--identical", action="store_true",
                         help="fail unless every check was judged alike, every field but its timing equal")
    compare.set_defaults(run=run)
