"""``bcebench oracle``: the exact and correctly rounded value of one quantity at one input."""

from __future__ import annotations

import argparse
import json

import mpmath

from bcebench.adapters.declaration import PARAMETERS
from bcebench.reference.exact import FORMS, QUANTITIES
from bcebench.reference.formats import DTYPE_NAMES
from bcebench.suite.cli.common import EXIT_OK, UsageError, hex_bits


def run(args: argparse.Namespace) -> int:
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
        "x": str(inputs[0]), "x_bits": hex_bits(bits_of(inputs[:1])[0]),
        "y": str(inputs[1]), "y_bits": hex_bits(bits_of(inputs[1:])[0]),
        "exact": mpmath.nstr(oracle.exact_value(spec, x, y), 40, min_fixed=-4, max_fixed=6),
        "rounded": str(rounded), "bits": hex_bits(bits_of(result.rounded)[0]),
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


def add_to(commands) -> None:
    """The command and its arguments."""
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
    oracle.set_defaults(run=run)
