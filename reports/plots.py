"""Error-against-input plots: for each form, dtype and quantity, the error of every implementation
against the logit or the probability, log scale, with the policy's bound drawn. PNG bytes, which
the HTML report carries inline (base64) and the Markdown report links as files: a scatter of
thousands of points is a few tens of kilobytes as PNG and megabytes as SVG.

The input axis is transformed here, in float64, rather than by matplotlib's symlog and logit
scales (which overflow on logits near 1.8e308): sign(z)·log10(1 + |z|) for logits, so that 0,
±1, ±10 … ±1e308 are evenly spread, and log10(p/(1 − p)) for probabilities, which spreads the
subnormals near 0 and the values just below 1.

The points are each accuracy check's error profile (the largest error in each run of sorted
inputs), all regimes and labels of an implementation joined.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

FLOOR = 1e-3  # errors below this (exact results) are drawn on the floor of the log axis
CEILING = 1e17  # and infinite ones (a NaN or inf where the exact value is finite) on its ceiling


def _axis(form: str, x: float) -> float:
    if form == "logits":
        return math.copysign(math.log10(1 + abs(x)), x)
    return math.log10(x) - math.log1p(-x) / math.log(10)


def plot_key(record: dict) -> tuple[str, str, str]:
    return record["form"], record["dtype"], record["quantity"]


def error_plots(records: list[dict]) -> dict[tuple[str, str, str], bytes]:
    """{(form, dtype, quantity): PNG} for every combination that has accuracy profiles."""
    series: dict = {}
    bounds: dict = {}
    for record in records:
        if record.get("check") != "accuracy" or not record.get("profile"):
            continue
        key = plot_key(record)
        series.setdefault(key, {}).setdefault(record["implementation"], []).extend(record["profile"])
        if record["bound"]["scale"] == "result":
            bounds[key] = record["bound"]["limit"]
    return {key: _figure(key, lines, bounds.get(key)) for key, lines in sorted(series.items())}


def _figure(key: tuple[str, str, str], lines: dict, bound: float | None) -> bytes:
    form, dtype, quantity = key
    figure, axes = plt.subplots(figsize=(9, 4.6))
    markers = "o^sDv<>ph*"
    for i, (name, points) in enumerate(sorted(lines.items())):
        xs = [_axis(form, x) for x, _ in points]
        ys = [max(min(e, CEILING), FLOOR) for _, e in points]
        axes.scatter(xs, ys, s=7, marker=markers[i % len(markers)], alpha=0.6, linewidths=0, label=name)
    if bound is not None:
        axes.axhline(bound, color="black", linestyle="--", linewidth=1, label=f"policy bound ({bound:g} ULP)")
    axes.set_yscale("log")
    axes.set_xlabel("sign(z)·log10(1 + |z|), z the logit" if form == "logits" else "log10(p / (1 − p))")
    axes.set_ylabel("error (ULPs; ∞ drawn at the top)")
    axes.set_title(f"{quantity}, {form} form, {dtype}")
    axes.grid(True, which="major", alpha=0.3)
    return _png(figure, axes)


def _png(figure, axes) -> bytes:
    """The figure as PNG, its legend to the right of the axes (the plots carry up to 20 series)."""
    axes.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, markerscale=1.5)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def speed_plots(cases: list[dict]) -> dict[tuple[str, str, str], bytes]:
    """{("speed", dtype, mode): PNG}: time per element against size, log-log, one line per
    implementation, with the memory copy and exp + log1p walls dashed."""
    groups: dict = {}
    for case in cases:
        modes = [case["mode"]] if case["kind"] == "implementation" else None
        for mode in modes or sorted({c["mode"] for c in cases if c["kind"] == "implementation"}):
            name = case["implementation"] if case["kind"] == "implementation" else f"wall: {case['implementation']}"
            line = groups.setdefault((case["dtype"], mode), {}).setdefault(name, [])
            line.append((case["size"], case["ns_per_element"]))
    images = {}
    for (dtype, mode), lines in sorted(groups.items()):
        figure, axes = plt.subplots(figsize=(9, 4.6))
        for name, points in sorted(lines.items()):
            points.sort()
            style = "--" if name.startswith("wall:") else "-"
            axes.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", markersize=3, label=name)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("elements")
        axes.set_ylabel("ns per element (median)")
        axes.set_title(f"time per element, {mode}, {dtype}")
        axes.grid(True, which="major", alpha=0.3)
        images[("speed", dtype, mode)] = _png(figure, axes)
    return images
