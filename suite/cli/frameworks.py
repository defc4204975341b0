"""``bcebench frameworks``: which frameworks are available here, with what."""

from __future__ import annotations

import argparse
import subprocess
import sys

from bcebench.suite.cli.common import EXIT_OK, add_framework, selected_frameworks

DESCRIBE_TIMEOUT_SECONDS = 300


def run(args: argparse.Namespace) -> int:
    """Each framework's version, devices, dtypes and implementations; where several are listed, each
    is described by a process of its own, as the gate's workers load them (Keras fixes its backend per
    process, and PaddlePaddle imported after TensorFlow ends the process with SIGSEGV)."""
    from bcebench.adapters import base
    from bcebench.suite.supervisor import supervising

    for name in selected_frameworks(args, "frameworks"):
        if len(args.framework or []) != 1:
            try:
                with supervising() as supervisor:
                    done = supervisor.run([sys.executable, "-m", "bcebench.suite.cli", "frameworks", "--framework",
                                           name],
                                          timeout=DESCRIBE_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"{name}: failed: no answer in {DESCRIBE_TIMEOUT_SECONDS} s")
                continue
            print(done.stdout, end="" if done.returncode == 0 else f"{name}: failed: {done.stderr.strip()[-200:]}\n")
            continue
        adapter, reason = base.load(name)
        if adapter is None:
            print(f"{name:6} unavailable: {reason}")
            continue
        devices = adapter.devices()
        missing = "".join(f" (no {dtype} on {device}: {why})" for device in devices
                          for dtype, why in adapter.missing_dtypes(device).items())
        print(f"{name:6} {adapter.version()}  devices: {', '.join(devices)}  dtypes: "
              f"{', '.join(adapter.dtypes(devices[0]))}{missing}  implementations: {len(adapter.implementations())}")
        for impl in adapter.implementations():
            print(f"         {impl.id} ({impl.form}{'' if impl.gating else ', not gating'})")
    return EXIT_OK


def add_to(commands) -> None:
    """The command and its arguments."""
    frameworks = commands.add_parser("frameworks", help="which frameworks are available, with what")
    add_framework(frameworks)
    frameworks.set_defaults(run=run)
