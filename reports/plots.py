"""Error-against-input plots: for each form, dtype and quantity, the error of every implementation
against the logit or the probability, log scale, with the policy's bound drawn. PNG bytes, which
the HTML report carries inline (base64) and the Markdown report links as files: a scatter of
thousands of points is a few tens of kilobytes as PNG and megabytes as SVG. Each PNG is stored with a
palette of at most 256 colours, undithered (the plots draw a few dozen flat colours and their
antialiased edges: the picture is unchanged to the eye and a quarter of the RGB file's size, which keeps
the full report's HTML small with every plot inline).

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
from matplotlib.lines import Line2D
from PIL import Image

FLOOR = 1e-3  # errors below this (exact results) are drawn on the floor of the log axis
CEILING = 1e17  # and infinite ones (a NaN or inf where the exact value is finite) on its ceiling


def _axis(form: str, x: float) -> float:
    if form == "logits":
        return math.copysign(math.log10(1 + abs(x)), x)
    return math.log10(x) - math.log1p(-x) / math.log(10)


def plot_key(record: dict) -> tuple[str, str, str]:
    return record["form"], record["dtype"], record["quantity"]


def error_plots(records: list[dict]) -> dict[tuple[str, str, str], bytes]:
    """{(form, dtype, quantity): PNG} for every combination that has accuracy profiles, and for each form
    its legend, drawn once, as {(form, "", "legend"): PNG}: an implementation has the same colour and
    marker in every plot of its form."""
    series: dict = {}
    bounds: dict = {}
    for record in records:
        if record.get("check") != "accuracy" or not record.get("profile"):
            continue
        key = plot_key(record)
        series.setdefault(key, {}).setdefault(record["implementation"], []).extend(record["profile"])
        if record["bound"]["scale"] == "result":
            bounds[key] = record["bound"]["limit"]
    names: dict = {}
    for (form, _, _), lines in series.items():
        names.setdefault(form, set()).update(lines)
    styles = {form: {name: _series_style(i) for i, name in enumerate(sorted(each))} for form, each in names.items()}
    images = {(form, "", "legend"): _legend(names) for form, names in styles.items()}
    images.update({key: _figure(key, lines, bounds.get(key), styles[key[0]]) for key, lines in sorted(series.items())})
    return images


def _figure(key: tuple[str, str, str], lines: dict, bound: float | None, styles: dict) -> bytes:
    form, dtype, quantity = key
    figure, axes = plt.subplots(figsize=(8, 4), layout="constrained")
    for name, points in sorted(lines.items()):
        xs = [_axis(form, x) for x, _ in points]
        ys = [max(min(e, CEILING), FLOOR) for _, e in points]
        axes.scatter(xs, ys, s=7, alpha=0.6, linewidths=0, **styles[name])
    if bound is not None:
        axes.axhline(bound, color="black", linestyle="--", linewidth=1)
        axes.text(0.995, bound, f"policy bound {bound:g} ULP", transform=axes.get_yaxis_transform(), fontsize=7,
                  ha="right", va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1})
    axes.set_yscale("log")
    axes.set_xlabel("sign(z)·log10(1 + |z|), z the logit" if form == "logits" else "log10(p / (1 − p))")
    axes.set_ylabel("error (ULPs; ∞ drawn at the top)")
    axes.set_title(f"{quantity}, {form} form, {dtype}")
    axes.grid(True, which="major", alpha=0.3)
    return _png(figure)


def _legend(styles: dict) -> bytes:
    """The legend of a form's plots alone, in two columns."""
    figure = plt.figure(figsize=(8, 0.3 + 0.09 * len(styles)))
    handles = [Line2D([], [], linestyle="", markersize=5, label=name, **style) for name, style in styles.items()]
    figure.legend(handles=handles, loc="upper left", ncols=2, frameon=False, fontsize=7)
    return _png(figure, tight=True)


MARKERS = "o^sDv<>ph*"
COLOURS = 10  # matplotlib's default cycle, tab10


def _series_style(i: int) -> dict:
    """The i-th series' colour and marker: the colour cycles fastest and the marker changes with each
    full turn of the colours, so no two of up to 100 series look alike."""
    return {"color": f"C{i % COLOURS}", "marker": MARKERS[i // COLOURS % len(MARKERS)]}


def _png(figure, tight: bool = False) -> bytes:
    """The figure as a palette PNG (cropped to what it draws where ``tight``)."""
    rgb = io.BytesIO()
    figure.savefig(rgb, format="png", dpi=90, **({"bbox_inches": "tight"} if tight else {}))
    plt.close(figure)
    buffer = io.BytesIO()
    with Image.open(rgb) as image:
        image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def speed_plots(cases: list[dict]) -> dict[tuple[str, str, str], bytes]:
    """{("speed", dtype, mode): PNG}: time per element against size, log-log, one line per
    implementation, with the memory copy and exp + log1p walls dashed; for each dtype and mode timed
    at two sizes or more."""
    groups: dict = {}
    for case in cases:
        modes = [case["mode"]] if case["kind"] == "implementation" else None
        for mode in modes or sorted({c["mode"] for c in cases if c["kind"] == "implementation"}):
            name = case["implementation"] if case["kind"] == "implementation" else f"wall: {case['implementation']}"
            line = groups.setdefault((case["dtype"], mode), {}).setdefault(name, [])
            line.append((case["size"], case["ns_per_element"]))
    images = {}
    for (dtype, mode), lines in sorted(groups.items()):
        if len({size for points in lines.values() for size, _ in points}) < 2:
            continue  # one size (the report's quick pass): nothing to draw against size
        figure, axes = plt.subplots(figsize=(9, max(4.6, 0.8 + 0.125 * len(lines))), layout="constrained")
        for i, (name, points) in enumerate(sorted(lines.items())):
            points.sort()
            style = "--" if name.startswith("wall:") else "-"
            axes.plot([p[0] for p in points], [p[1] for p in points], style, markersize=3, label=name,
                      **_series_style(i))
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("elements")
        axes.set_ylabel("ns per element (median)")
        axes.set_title(f"time per element, {mode}, {dtype}")
        axes.grid(True, which="major", alpha=0.3)
        figure.legend(fontsize=6, loc="outside right upper", frameon=False)  # its height holds every line
        images[("speed", dtype, mode)] = _png(figure)
    return images
