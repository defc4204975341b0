"""``bcebench report``: run the gate, then write a report folder atomically.

OUT/<run-id>/ holds results.json, report.md, report.html and plots/*.png; OUT/latest
points at the newest. The folder is written under a temporary name and renamed into place, and
``latest`` is replaced by renaming a new link over it, so an interrupted run leaves no half-written
report and ``latest`` always names a whole one.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path

from bcebench.reports import html_page, markdown, plots
from bcebench.reports.render import anchor


def run_id(results: dict) -> str:
    stamp = datetime.datetime.fromisoformat(results["metadata"]["date"]).strftime("%Y%m%d-%H%M%S")
    names = "-".join(results["metadata"]["frameworks"]).replace(":", "_")  # array-api:MODULE
    return f"{stamp}-{names or 'none'}"


def write(results: dict, certificate: list[dict], out: Path) -> Path:
    """Write the report folder for ``results`` under ``out``, with the derivation ``certificate``
    (``reference.derive.certificate``'s verdicts as dicts, proved by the caller); the folder's path."""
    out.mkdir(parents=True, exist_ok=True)
    final = out / run_id(results)
    building = out / f".building-{final.name}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        (building / "plots").mkdir(parents=True)
        images = plots.error_plots(results["checks"])
        if results.get("speed"):
            images.update(plots.speed_plots(results["speed"]["cases"]))
        files = {}
        for key, png in images.items():
            files[key] = f"plots/{anchor(*key)}.png"
            (building / files[key]).write_bytes(png)
        (building / "results.json").write_text(json.dumps(results, indent=1))
        (building / "report.md").write_text(markdown.report(results, certificate, files))
        (building / "report.html").write_text(html_page.page(results, certificate, images))
        if final.exists():
            shutil.rmtree(final)
        os.rename(building, final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    link = out / f".latest-{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(final.name)
    os.replace(link, out / "latest")
    return final
