"""``bcebench repro``: a standalone script and an issue text per failing check or known deviation."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

from bcebench.reports.results import write_atomically
from bcebench.suite.cli import check
from bcebench.suite.cli.common import EXIT_FAILED, EXIT_OK, OneLineParser, UsageError, check_writable, sweep_folders


def run(args: argparse.Namespace) -> int:
    """Scripts and issue texts for one failing check or for known deviations, from a results file (or
    from the accuracy check of one input, ``--input``)."""
    check_writable(args.out, "--out", "repro")
    if (args.results is None) == (args.input is None):
        raise UsageError("bcebench repro: give a results file (with --check or --deviation) or --input X:Y "
                         "(with --framework, --implementation, --dtype, --quantity), not both")
    if args.input is not None:  # the check's results file lives only while the command runs
        with tempfile.TemporaryDirectory(prefix="bcebench-repro-") as folder:
            args.results, args.check = _single_input_results(args, Path(folder) / "results.json"), "all failing"
            return _from_results(args)
    if (args.check is None) == (args.deviation is None):
        raise UsageError("bcebench repro: with a results file, give --check ID or --deviation KEY|all")
    return _from_results(args)


def _from_results(args: argparse.Namespace) -> int:
    """The scripts and issue texts of ``run`` from the results file ``args.results``."""
    from bcebench.reports import exhaustive
    from bcebench.reports import results as results_file
    from bcebench.suite.policy.bounds import load_policy
    from bcebench.suite.policy.data_files import PolicyError
    from bcebench.suite.policy.deviations import load_deviations, load_platforms
    from bcebench.suite.repro import files as repro_files
    from bcebench.suite.repro import findings as repro

    try:
        results = results_file.load(args.results)
        policy = load_policy(args.policy)
        entries = load_deviations(Path(args.deviations)) if args.deviations else load_deviations()
        sweeps = [s for folder in sweep_folders(args.sweeps) for s in exhaustive.load(folder)]
    except (results_file.ResultsError, PolicyError, exhaustive.SweepResultsError) as error:
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
        write_atomically(script, repro_files.script(found, _measured_with(results, found), policy.name))
        write_atomically(out / f"{name}.md", repro_files.issue(found, script.name, results["metadata"],
                                                                          sweeps))
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
            write_atomically(out / "README.md", repro_files.index(findings, missing))
    return EXIT_FAILED if failed else EXIT_OK


def _single_input_results(args: argparse.Namespace, path: Path) -> str:
    """Run the accuracy check on one input (``bcebench check --input``) into the results file ``path``."""
    for option in ("framework", "implementation", "dtype", "quantity"):
        values = getattr(args, option)
        if not values or len(values) != 1 or "," in values[0] or "*" in values[0]:
            raise UsageError(f"bcebench repro: --input needs one --{option}")
    argv = ["check", "--framework", args.framework[0], "--implementation", args.implementation[0], "--dtype",
            args.dtype[0], "--quantity", args.quantity[0], "--input", args.input, "--policy", args.policy,
            "--json", str(path), *(["--device", args.device] if args.device else [])]
    parser = OneLineParser(prog="bcebench")
    check.add_to(parser.add_subparsers(parser_class=OneLineParser))
    check_args = parser.parse_args(argv)
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


def add_to(commands) -> None:
    """The command and its arguments."""
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
    reproduce.set_defaults(run=run)
