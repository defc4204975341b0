"""``bcebench sweep``: every input of a dtype through one implementation, sharded on Dask."""

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
    """Every input of a range through one implementation, sharded on Dask; the result as JSON."""
    try:
        from tqdm import tqdm

        from bcebench.suite.sweep import exhaustive as sweep
    except ImportError as error:
        raise UsageError(f"bcebench sweep: {error.name} is missing: pip install 'bcebench[sweep]'") from None
    from bcebench.reference.formats import FORMATS
    from bcebench.reports.results import write_atomically

    frameworks = selected_frameworks(args, "sweep")
    user = user_implementation(args, frameworks, "sweep")
    if len(frameworks) != 1 or not (args.implementation or user):
        raise UsageError("bcebench sweep: give one --framework and one --implementation (or --impl with --form)")
    fmt = FORMATS[args.dtype]
    if args.label == "pairs" and fmt.dtype.itemsize != 2:
        raise UsageError("bcebench sweep: --label pairs sweeps every (x, y) of a 16-bit dtype only")
    target = sweep.Target(frameworks[0], user["location"] if user else args.implementation, args.dtype,
                          args.quantity, None if args.label == "pairs" else float(args.label),
                          user["location"] if user else None, user["form"] if user else None, args.device)
    rival_target = dataclasses.replace(target, implementation=args.compare_with, user_spec=None, user_form=None)
    try:
        sweep.require_support(target)
        form = sweep.load_implementation(target)[1].form
        if args.compare_with:
            sweep.require_support(rival_target)
            other = sweep.load_implementation(rival_target)[1]
            if other.form != form:
                raise sweep.SweepError(f"--compare-with {args.compare_with!r} takes {other.form}, the swept "
                                       f"implementation {form}: the same inputs mean nothing to both")
        spans = sweep.intervals(args.range, fmt, form)
        per_input = 1 if target.label is not None else sweep.label_values(fmt).size
        spans = [(a * per_input, b * per_input) for a, b in spans]
    except sweep.SweepError as error:
        raise UsageError(f"bcebench sweep: {error}") from None
    total = sum(b - a for a, b in spans)
    try:
        with sweep.dask_client(args.scheduler, args.workers) as client:
            for swept in (target, rival_target) if args.compare_with else (target,):  # before the progress bar
                declined = client.submit(sweep.probe, swept, pure=False).result()
                if declined:
                    raise sweep.SweepError(declined)
            with tqdm(total=total, unit="input", unit_scale=True, desc="bcebench sweep", dynamic_ncols=True,
                      smoothing=0.05) as bar:
                def progress(done: int, planned: int, inputs: int) -> None:
                    bar.set_postfix_str(f"shards {done}/{planned}")
                    bar.update(inputs)

                result = sweep.sweep(target, spans, shard_size=args.shard_size, checkpoint_dir=Path(args.checkpoint),
                                     client=client, progress=progress, resume=args.resume,
                                     notice=lambda line: print(line, file=sys.stderr))
                rival = None
                if args.compare_with:  # the same inputs through the other implementation
                    bar.reset(total=total)
                    rival = sweep.sweep(rival_target, spans, shard_size=args.shard_size,
                                        checkpoint_dir=Path(args.checkpoint), client=client, progress=progress,
                                        resume=args.resume, notice=lambda line: print(line, file=sys.stderr))
    except sweep.SweepError as error:
        raise UsageError(f"bcebench sweep: {error}") from None
    out = Path(args.out or Path(args.checkpoint).parent / sweep.result_name(target, args.range))
    rival_out = out.parent / sweep.result_name(dataclasses.replace(target, implementation=args.compare_with),
                                               args.range) if rival is not None else None
    speeds = _speeds(target, [target.implementation, args.compare_with]) if rival is not None else {}
    for document, path, other in ((result, out, args.compare_with), (rival, rival_out, target.implementation)):
        if document is not None:
            if rival is not None:  # swept over the same inputs and timed beside each other: stored with each
                document["compared_with"] = other
            if document["target"]["implementation"] in speeds:
                document["speed"] = speeds[document["target"]["implementation"]]
            write_atomically(path, json.dumps(document, indent=1) + "\n")
    from bcebench.reports.exhaustive import before_after, cell_text, speeds_of

    print(f"{result['stats']['total']} inputs: {cell_text(result)}")
    print(f"{result['wall_seconds']:.1f} s ({result['resumed_shards']} of {result['shards']} shards from the "
          f"checkpoint); result: {out}")
    if rival is not None:
        print(f"\n{rival['stats']['total']} inputs: {cell_text(rival)}\nresult: {rival_out}\n")
        print("\n".join(before_after([result, rival], speeds_of((result, rival)))))
    return EXIT_OK


def _speeds(target, implementations: list[str]) -> dict:
    """{implementation: {seconds_per_element, mode, size, date, timed_with}}: the median of each at
    10^6 elements, forward (the loss) or forward + backward (the gradient, the Hessian), timed by
    the bench harness in one run."""
    import datetime


    mode = "forward" if target.quantity == "loss" else "forward+backward"
    timed = timing.run([target.framework], implementations, [target.dtype], [mode], [1_000_000],
                      devices=[target.device])
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {c["implementation"]: {"seconds_per_element": c["median"] / c["size"], "mode": mode, "size": c["size"],
                                  "date": date, "timed_with": implementations}
            for c in timed["cases"] if c["kind"] == "implementation"}


def add_to(commands) -> None:
    """The command and its arguments."""
    sweep = commands.add_parser("sweep", help="every input of a dtype through one implementation (Dask)")
    add_framework(sweep)
    sweep.add_argument("--implementation", help="the implementation id, e.g. torch.binary_cross_entropy_with_logits")
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
