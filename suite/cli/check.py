"""``bcebench check``: the CI gate, every selected implementation against the oracle."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bcebench.adapters.declaration import LABELS, REDUCTIONS, Declaration
from bcebench.reports.results import write_atomically
from bcebench.suite.checks.cases import SEED
from bcebench.suite.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    add_selection,
    check_writable,
    filters,
    loadable,
    named_frameworks,
    selected_frameworks,
    single_input_bits,
    split_values,
    user_implementation,
)
from bcebench.suite.gate import controller, planning, verdicts
from bcebench.suite.gate.planning import CHECK_TIMEOUT_SECONDS


def declared_in_file(path: str | None) -> list:
    """The declarations of --declarations FILE, each loadable (a bad one is a usage error)."""
    from bcebench.suite.policy.data_files import PolicyError
    from bcebench.suite.policy.declarations import load_declarations

    if not path:
        return []
    try:
        declared = load_declarations(Path(path))
    except PolicyError as error:
        raise UsageError(f"bcebench check: {error}") from None
    for i, declaration in enumerate(declared):
        loadable(declaration, "check", f"{path}: implementation {i + 1}: ")
    return declared


def run(args: argparse.Namespace) -> int:
    from bcebench.suite.policy.bounds import load_policy
    from bcebench.suite.policy.data_files import PolicyError
    from bcebench.suite.policy.deviations import load_deviations

    declared = declared_in_file(args.declarations)
    if declared and not (args.framework or args.array_api):  # the frameworks the file declares functions for
        args.framework = list(dict.fromkeys(d.framework for d in declared))
    frameworks = selected_frameworks(args, "check")
    left_out = [d for d in declared if d.framework not in frameworks]
    if left_out:
        raise UsageError(f"bcebench check: {args.declarations} declares {left_out[0].id} for {left_out[0].framework}, "
                         f"which --framework leaves out")
    given = user_implementation(args, frameworks, "check")
    users = [d.as_dict() for d in declared] + ([given] if given else [])
    if given and Declaration.from_dict(given).id in {d.id for d in declared}:
        raise UsageError(f"bcebench check: --impl {args.impl} is declared in {args.declarations} too: give it --name")
    chosen = filters(args, "check")
    single = single_input_bits(args.input, chosen["dtype"]) if args.input else None
    if not args.timeout > 0:
        raise UsageError(f"bcebench check: --timeout {args.timeout:g}: must be a number of seconds > 0")
    if args.budget is not None and not args.budget > 0:
        raise UsageError(f"bcebench check: --budget {args.budget:g}: must be a number of seconds > 0")
    if args.jobs is not None and not args.jobs >= 1:
        raise UsageError(f"bcebench check: --jobs {args.jobs}: must be at least 1")
    for option in ("json", "junit"):
        check_writable(getattr(args, option), f"--{option}", "check")
    try:
        load_policy(args.policy)
        if args.deviations:
            load_deviations(Path(args.deviations))
        patterns = split_values(args.implementation, "--implementation", "check", ids=True)
        if users and (patterns or not args.with_builtins):
            # your implementation is always judged: --implementation and --with-builtins add built-ins to it
            patterns = list(dict.fromkeys([*(patterns or []), "user:*"]))
        required = list(dict.fromkeys(named_frameworks(args) + [u["framework"] for u in users]))  # each must load
        selection = planning.Selection(frameworks, chosen["device"], patterns, chosen["dtype"], chosen["quantity"],
                                   chosen["check"], users, single, args.policy, args.timeout,
                                   required=required, deviations=args.deviations, budget=args.budget,
                                   seed=args.seed, jobs=args.jobs)
        results = controller.run(selection, progress=_progress if args.verbose else lambda record: None)
    except (PolicyError, planning.RequestError) as error:
        raise UsageError(f"bcebench check: {error}") from None
    if args.json:
        write_atomically(Path(args.json), json.dumps(results, indent=1))
    if args.junit:
        write_atomically(Path(args.junit), verdicts.junit_xml(results))
    if results["interrupted"]:
        written = f"; written to {args.json}" if args.json else ""
        print(f"bcebench check: {results['interrupted']}: {len(results['checks'])} checks finished{written}",
              file=sys.stderr)
        return EXIT_INTERRUPTED if results["interrupted"].startswith("interrupted") else EXIT_FAILED
    if not results["checks"]:
        reasons = "; ".join(f"{k}: {v}" for k, v in selection.unavailable.items()) or "the filters match nothing"
        print(f"bcebench check: no check ran ({reasons})", file=sys.stderr)
        return EXIT_FAILED
    print_summary(results)
    if args.fail_on_stale and results["stale_deviations"]:
        print(f"\n--fail-on-stale: {len(results['stale_deviations'])} known deviation(s) no longer reproduce")
        return EXIT_FAILED
    return EXIT_OK if results["passed"] else EXIT_FAILED


def _progress(record: dict) -> None:
    if "verdict" in record:
        print(f"{record['verdict']:16} {record['id']}", file=sys.stderr)


def print_summary(results: dict) -> None:
    from bcebench.suite.gate.verdicts import describe_worst, hints

    counts: dict = {}
    for r in results["checks"]:
        key = (r["framework"], r["device"], r["implementation"], r["dtype"])
        counts.setdefault(key, {}).setdefault(r["verdict"], 0)
        counts[key][r["verdict"]] += 1
    for (framework, device, impl, dtype), by_verdict in counts.items():
        text = ", ".join(f"{n} {v}" for v, n in sorted(by_verdict.items()))
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
    for line in hints(results["checks"]):
        print(f"\nHINT {line}")
    summary = ", ".join(f"{n} {v}" for v, n in sorted(results["summary"].items()))
    print(f"\n{len(results['checks'])} checks: {summary}. Gate {'passed' if results['passed'] else 'FAILED'}.")


def add_to(commands) -> None:
    """The command and its arguments."""
    check = commands.add_parser("check", help="the CI gate: every implementation against the oracle")
    add_selection(check, "float16, bfloat16, float32, float64 (default: all)")
    check.add_argument("--quantity", action="append", help="loss, grad, hess")
    check.add_argument("--check", action="append",
                       help="accuracy, special, domain, reduction, unchanged-inputs, shapes, claim")
    check.add_argument("--policy", default="strict", help="strict, relaxed, or a policy file")
    check.add_argument("--deviations",
                       help="a known-deviations file (default: the built-in suite/policy/deviations.toml)")
    check.add_argument("--fail-on-stale", action="store_true",
                       help="fail when a known deviation no longer reproduces (a framework fixed it)")
    check.add_argument("--input", help="X:Y bit patterns (hex): run the accuracy checks on that input alone")
    check.add_argument("--timeout", type=float, default=CHECK_TIMEOUT_SECONDS,
                       help="seconds one check may run before it is ended and recorded as crashed")
    check.add_argument("--seed", type=int, default=SEED,
                       help=f"seed of the sampled cases (default {SEED}, fixed so that CI is reproducible; the "
                            f"claims' problems are fixed)")
    check.add_argument("--budget", type=float, help="seconds for the whole run: past it the run stops as interrupted")
    check.add_argument("--declarations", metavar="FILE",
                       help="a TOML file declaring your implementations, several at once ([[implementation]] tables "
                            "with impl, framework, form and the options below as keys)")
    check.add_argument("--with-builtins", action="store_true",
                       help="with --impl: check the framework's built-in implementations too, side by side")
    parameters = check.add_argument_group("what --impl computes (default: plain BCE, elementwise)")
    parameters.add_argument("--gamma", type=float, help="the focal loss's γ")
    parameters.add_argument("--alpha", type=float, help="the focal loss's α (with --gamma)")
    parameters.add_argument("--weight", type=float, help="a constant weight your function multiplies the loss by")
    parameters.add_argument("--pos-weight", type=float, help="a constant weight of the positive term (PyTorch's)")
    parameters.add_argument("--smoothing", type=float,
                            help="label smoothing ε: your function uses y(1 − ε) + ε/2, formed in the input's dtype")
    parameters.add_argument("--reduction", choices=REDUCTIONS,
                            help="none: elementwise (default); mean or sum: one number per call")
    parameters.add_argument("--labels", choices=LABELS,
                            help="all: y anywhere in [0, 1] (default); hard: your function takes y in {0, 1} only")
    parameters.add_argument("--like", metavar="ID",
                            help="the built-in your function is built on (e.g. torch.binary_cross_entropy_with_logits):"
                                 " its known deviations explain your function's elements as they explain its own")
    parameters.add_argument("--name", help="what the checks' ids call your function (default: --impl as written)")
    parameters.add_argument("--input-rank", type=int, choices=(1, 2),
                            help="2: your function takes a column of inputs (n, 1) and returns one (default 1)")
    parameters.add_argument("--arguments", metavar="INPUT,TARGET",
                            help="the keyword names your function takes the input and the target by, e.g. input,target")
    check.add_argument("--jobs", type=int,
                       help="checks run at once, each in a single-threaded worker process (default: one per core)")
    check.add_argument("--json", help="write the results here")
    check.add_argument("--junit", help="write JUnit XML here")
    check.add_argument("--verbose", action="store_true", help="print each check as it ends")
    check.set_defaults(run=run)
