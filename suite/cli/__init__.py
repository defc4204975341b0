"""The ``bcebench`` command line: one module per command, each with ``add_to(commands)`` (its
arguments) and ``run(args)``.

Exit status: 0 when every check passes, 1 when one fails, 2 when the request itself is wrong
(one line on stderr that says what is wrong, no traceback).
"""

from __future__ import annotations

import argparse
import sys

from bcebench.suite.cli import bench, check, compare, derive, frameworks, oracle, report, repro, sweep
from bcebench.suite.cli.common import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, OneLineParser, UsageError
from bcebench.suite.supervisor import Interrupted, Supervisor

COMMANDS = (derive, oracle, check, bench, report, compare, sweep, repro, frameworks)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="bcebench", description="Verification and benchmarks for binary cross-entropy.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for command in COMMANDS:
        command.add_to(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
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
