"""The ``bcebench`` command line.

Exit status: 0 when every check passes, 1 when one fails, 2 when the request itself is wrong
(one line on stderr that says what is wrong, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

import mpmath

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13


class UsageError(Exception):
    """A request that cannot be carried out as asked."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad request in one line and exits 2."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message}")


def _derive(args: argparse.Namespace) -> int:
    from reference.derive import certificate

    verdicts = certificate()
    failed = [v for v in verdicts if v.status != "proved"]
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "proved": len(verdicts) - len(failed), "failed": len(failed),
                          "claims": [asdict(v) for v in verdicts]}, indent=2, ensure_ascii=False))
    else:
        for v in verdicts:
            print(f"{v.status:7} {v.id:20} {v.statement}")
            print(f"{'':28}{'; '.join(v.methods)}; numeric residual at 50 digits {v.numeric_residual:.1e}")
        print(f"{len(verdicts)} identities: {len(verdicts) - len(failed)} proved, {len(failed)} failed")
    return EXIT_FAILED if failed else EXIT_OK


def _oracle(args: argparse.Namespace) -> int:
    from reference import oracle
    from reference.exact import Spec
    from reference.formats import FORMATS, as_dtype, bits_of, parse_decimal

    fmt = FORMATS[args.dtype]
    try:
        spec = Spec(args.quantity, args.form, gamma=args.gamma, alpha=args.alpha, smoothing=args.smoothing)
        x, y = parse_decimal(args.x, fmt), parse_decimal(args.y, fmt)
    except ValueError as error:
        raise UsageError(f"bcebench oracle: {error}") from None
    inputs = as_dtype([x, y], fmt)
    result = oracle.evaluate(spec, inputs[:1], inputs[1:])
    rounded = result.rounded[0]
    record = {
        "quantity": spec.quantity, "form": spec.form, "dtype": fmt.name,
        "gamma": spec.gamma, "alpha": spec.alpha, "smoothing": spec.smoothing,
        "x": str(inputs[0]), "x_bits": _hex(bits_of(inputs[:1])[0]),
        "y": str(inputs[1]), "y_bits": _hex(bits_of(inputs[1:])[0]),
        "exact": mpmath.nstr(oracle.exact_value(spec, x, y), 40, min_fixed=-4, max_fixed=6),
        "rounded": str(rounded), "bits": _hex(bits_of(result.rounded)[0]),
    }
    if args.format == "json":
        print(json.dumps(record))
    else:
        parameters = "".join(f", {k}={record[k]}" for k in ("gamma", "alpha", "smoothing") if record[k] is not None)
        print(f"{spec.quantity} ({spec.form}, {fmt.name}{parameters}) at x = {record['x']} [{record['x_bits']}],"
              f" y = {record['y']} [{record['y_bits']}]")
        for key in ("exact", "rounded", "bits"):
            print(f"{key:8} {record[key]}")
    return EXIT_OK


def _hex(bits) -> str:
    return hex(int(bits))


def build_parser() -> argparse.ArgumentParser:
    from reference.exact import FORMS, QUANTITIES
    from reference.formats import DTYPE_NAMES

    parser = OneLineParser(prog="bcebench", description="Verification and benchmarks for binary cross-entropy.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    derive = commands.add_parser("derive", help="prove the identities of BCE (SymPy) and print the certificate")
    derive.add_argument("--format", choices=("text", "json"), default="text")
    derive.set_defaults(run=_derive)

    oracle = commands.add_parser("oracle", help="exact and correctly rounded value of one quantity")
    oracle.add_argument("quantity", choices=QUANTITIES)
    oracle.add_argument("x", help="logit or probability, decimal, rounded to the dtype")
    oracle.add_argument("y", help="label, decimal, rounded to the dtype")
    oracle.add_argument("--form", choices=FORMS, required=True)
    oracle.add_argument("--dtype", choices=DTYPE_NAMES, required=True)
    oracle.add_argument("--gamma", type=float, help="focal loss exponent γ >= 0")
    oracle.add_argument("--alpha", type=float, help="focal loss weight α in [0, 1] (with --gamma)")
    oracle.add_argument("--smoothing", type=float, help="label smoothing ε: y(1 − ε) + ε/2")
    oracle.add_argument("--format", choices=("text", "json"), default="text")
    oracle.set_defaults(run=_oracle)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as error:
        print(str(error).splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader (`| head`) has gone: end as a shell would on SIGPIPE
        sys.stderr.close()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
