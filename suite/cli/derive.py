"""``bcebench derive``: prove the identities of BCE (SymPy) and print the certificate."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from bcebench.suite.cli.common import EXIT_FAILED, EXIT_OK


def run(args: argparse.Namespace) -> int:
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


def add_to(commands) -> None:
    """The command and its arguments."""
    derive = commands.add_parser("derive", help="prove the identities of BCE (SymPy) and print the certificate")
    derive.add_argument("--format", choices=("text", "json"), default="text")
    derive.set_defaults(run=run)
