"""``bcebench sweep``: every input of a dtype through one implementation or several, sharded on Dask."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from bcebench.reference.exact import FORMS, QUANTITIES
from bcebench.reference.formats import DTYPE_NAMES
from bcebench.suite.bench import timing
from bcebench.suite.cli.common import EXIT_OK, UsageError, add_framework, selected_frameworks, user_implementation


def run(args: argparse.Namespace) -> int:
    """Every input of a range through one implementation or several, sharded on Dask, one oracle pass for
    all of them; a result as JSON for each."""
    try:
        from tqdm import tqdm

        from bcebench.suite.sweep import exhaustive as sweep
        from bcebench.suite.sweep import scan
    except ImportError as error:
        raise UsageError(f"bcebench sweep: {error.name} is missing: pip install 'bcebench[sweep]'") from None
    from bcebench.reference.formats import FORMATS
    from bcebench.reports.results import write_atomically

    frameworks = selected_frameworks(args, "sweep")
    user = user_implementation(args, frameworks, "sweep")
    names = [user["location"]] if user else list(dict.fromkeys(args.implementation or []))
    if len(frameworks) != 1 or not names or (user and args.implementation):
        raise UsageError("bcebench sweep: give one --framework and --implementation (one or more), or --impl with "
                         "--form")
    if args.compare_with and len(names) > 1:
        raise UsageError("bcebench sweep: --compare-with compares one implementation with its rival: give one")
    if args.out and len(names) + bool(args.compare_with) > 1:
        raise UsageError("bcebench sweep: --out names one result: with several implementations each goes beside "
                         "the checkpoints under its own name")
    fmt = FORMATS[args.dtype]
    if args.label == "pairs" and fmt.dtype.itemsize != 2:
        raise UsageError("bcebench sweep: --label pairs sweeps every (x, y) of a 16-bit dtype only")
    label = None if args.label == "pairs" else float(args.label)
    targets = [sweep.Target(frameworks[0], name, args.dtype, args.quantity, label, user["location"] if user else None,
                            user["form"] if user else None, args.device) for name in names]
    if args.compare_with:
        targets.append(dataclasses.replace(targets[0], implementation=args.compare_with, user_spec=None,
                                           user_form=None))
    try:
        forms = {}
        for target in targets:
            sweep.require_support(target)
            forms[target.implementation] = sweep.load_implementation(target)[1].form
        if len(set(forms.values())) > 1:
            raise sweep.SweepError("the implementations take different forms (" + ", ".join(
                f"{name}: {form}" for name, form in forms.items()) + "): the same inputs mean nothing to all")
        spans = sweep.intervals(args.range, fmt, forms[targets[0].implementation])
        per_input = 1 if label is not None else sweep.label_values(fmt).size
        spans = [(a * per_input, b * per_input) for a, b in spans]
    except sweep.SweepError as error:
        raise UsageError(f"bcebench sweep: {error}") from None
    total = sum(b - a for a, b in spans)
    if not scan.COMPILED:
        print("bcebench sweep: Numba is not installed: each block is judged in plain Python, about a hundred times "
              "slower (pip install 'bcebench[sweep]')", file=sys.stderr)
    try:
        with sweep.dask_client(args.scheduler, args.workers) as client:
            for swept in targets:  # before the progress bar
                declined = client.submit(sweep.probe, swept, pure=False).result()
                if declined:
                    raise sweep.SweepError(declined)
            with tqdm(total=total, unit="input", unit_scale=True, desc="bcebench sweep", dynamic_ncols=True,
                      smoothing=0.05) as bar:
                def progress(done: int, planned: int, inputs: int) -> None:
                    bar.set_postfix_str(f"shards {done}/{planned}")
                    bar.update(inputs)

                documents = sweep.sweep(tuple(targets), spans, shard_size=args.shard_size,
                                        checkpoint_dir=Path(args.checkpoint), client=client, progress=progress,
                                        resume=args.resume, notice=lambda line: print(line, file=sys.stderr))
    except sweep.SweepError as error:
        raise UsageError(f"bcebench sweep: {error}") from None
    paths = [Path(args.out) if args.out else Path(args.checkpoint).parent / sweep.result_name(t, args.range)
             for t in targets]
    compared = args.compare_with is not None
    speeds = _speeds(targets, user) if compared else {}
    for document, path in zip(documents, paths, strict=True):
        if compared:  # swept over the same inputs and timed beside each other: stored with each
            document["compared_with"] = next(t.implementation for t in targets
                                             if t.implementation != document["target"]["implementation"])
        if document["target"]["implementation"] in speeds:
            document["speed"] = speeds[document["target"]["implementation"]]
        write_atomically(path, json.dumps(document, indent=1) + "\n")
    from bcebench.reports.exhaustive import before_after, cell_text, speeds_of

    for document, path in zip(documents, paths, strict=True):
        print(f"{document['target']['implementation']}: {document['stats']['total']} inputs: {cell_text(document)}; "
              f"result: {path}")
    first = documents[0]
    print(f"{first['wall_seconds']:.1f} s for {len(documents)} implementation(s), one oracle pass "
          f"({first['resumed_shards']} of {first['shards']} shards from the checkpoints)")
    print(_profile(documents))
    if compared:
        print("\n" + "\n".join(before_after(documents, speeds_of(tuple(documents)))))
    return EXIT_OK


def _profile(documents: list[dict]) -> str:
    """Where the workers' time went, summed over the shards run now: the inputs and the oracle (shared),
    then each implementation's own call and the judging of its results."""
    phases = [d["stats"].get("phases", {}) for d in documents]
    if not phases[0]:
        return "time in the workers: not recorded (every shard came from a checkpoint written before it was)"
    own = "; ".join(f"{d['target']['implementation']}: implementation {p.get('implementation', 0):.1f} s, "
                    f"judging {p.get('judging', 0):.1f} s" for d, p in zip(documents, phases, strict=True))
    return (f"time in the workers: inputs {phases[0].get('inputs', 0):.1f} s, oracle {phases[0].get('oracle', 0):.1f} s"
            f"; {own}")


def _speeds(targets: list, user: dict | None) -> dict:
    """{implementation: {seconds_per_element, mode, size, date, timed_with}}: the median of each target
    (the user's function by its declaration) at 10^6 elements, forward (the loss) or forward + backward
    (the gradient, the Hessian), timed by the bench harness in one run."""
    import datetime

    from bcebench.adapters import base
    from bcebench.adapters.declaration import Declaration

    first = targets[0]
    timed_as = {(base.user_implementation(Declaration.from_dict(user)).id if t.user_spec else t.implementation):
                t.implementation for t in targets}
    mode = "forward" if first.quantity == "loss" else "forward+backward"
    timed = timing.run([first.framework], list(timed_as), [first.dtype], [mode], [1_000_000], user_impl=user,
                       devices=[first.device])
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {timed_as[c["implementation"]]: {"seconds_per_element": c["median"] / c["size"], "mode": mode,
                                            "size": c["size"], "date": date, "timed_with": list(timed_as.values())}
            for c in timed["cases"] if c["kind"] == "implementation" and c["implementation"] in timed_as}


def add_to(commands) -> None:
    """The command and its arguments."""
    sweep = commands.add_parser("sweep", help="every input of a dtype through one implementation or several (Dask)")
    add_framework(sweep)
    sweep.add_argument("--implementation", action="append",
                       help="the implementation id, e.g. torch.binary_cross_entropy_with_logits; repeat it to sweep "
                            "several over the same inputs, with one evaluation of the oracle for all")
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
                            "rewrite(probs), 'rewrite(focal, alpha=0.25, gamma=2)') over the same inputs, time both, "
                            "and print the two side by side")
    sweep.add_argument("--resume", action="store_true",
                       help="reuse a finished sweep's checkpoint (an interrupted one is always resumed)")
    sweep.set_defaults(run=run)
