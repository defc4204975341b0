"""A reproducer's two files: the standalone script and the issue text.

The script imports only its framework and the standard library; its inputs, expected values and
accepted intervals are exact hexadecimal float literals (``float.fromhex``), each value of the
dtype held exactly by a Python float. It evaluates the inputs the way the check did (one array,
repeated to ``TILE`` elements so that the framework's vectorized kernels run, as on the check's
1,024-element cases; one input at a time if the array raises), prints got, expected and the error
for each, and exits 1 while a result lies outside what the policy accepts, raises, or comes back in
another dtype or shape; 0 once the fault is gone. The issue text (Markdown) says what, the minimal
input, the exhaustive figures where a committed sweep covers the input, why, the stable formula,
the environment and the upstream link.
"""

from __future__ import annotations

import math
import re

from bcebench.adapters import standalone
from bcebench.adapters.rewrites import for_failure
from bcebench.reports.exhaustive import before_after
from bcebench.reports.markdown_table import table
from bcebench.suite.repro.findings import Finding

TILE = 1024
VERSIONS = {"torch": "torch.__version__", "jax": 'jax.__version__ + " (optax " + optax.__version__ + ")"',
            "tensorflow": "tf.__version__", "numpy": "numpy.__version__", "sklearn": "sklearn.__version__",
            "kornia": 'kornia.__version__ + " (torch " + torch.__version__ + ")"',
            "monai": 'monai.__version__ + " (torch " + torch.__version__ + ")"', "mlx": "mx.__version__",
            "tinygrad": 'importlib.metadata.version("tinygrad")', "paddle": "paddle.__version__"}

RUNNER = '''PRECISION = {"float16": (11, -14), "bfloat16": (8, -126), "float32": (24, -126), "float64": (53, -1022)}


def ulps(got, exact):
    """|got − exact| in units in the last place of DTYPE at the exact value (exact to double here)."""
    if math.isnan(got) or math.isnan(exact):
        return 0.0 if math.isnan(got) and math.isnan(exact) else math.inf
    if math.isinf(got) or math.isinf(exact):
        return 0.0 if got == exact else math.inf
    precision, emin = PRECISION[DTYPE]
    exponent = max(math.frexp(exact)[1] - 1, emin) if exact else emin
    return abs(got - exact) / math.ldexp(1.0, exponent - precision + 1)


def run(xs, ys):
    """(values, dtype, shape) of one call on the inputs, or the exception it raised."""
    try:
        with scope():
            return floats(evaluate(bce, QUANTITY, array(xs, DTYPE), array(ys, DTYPE)))
    except Exception as error:  # an exception is a result here: the fault may be that it raises
        return error


def main():
    print(f"{IMPLEMENTATION} {DEVICE} {DTYPE} {QUANTITY}, {FRAMEWORK} {VERSION}, Python {sys.version.split()[0]}")
    xs = [float.fromhex(case[0]) for case in CASES]
    ys = [float.fromhex(case[1]) for case in CASES]
    copies = max(1, TILE // len(CASES)) if CASES and REDUCTION == "none" else 1
    faults = 0
    result = run(xs * copies, ys * copies)
    if isinstance(result, Exception):
        print(f"the call raised {type(result).__name__}: {result}".splitlines()[0])
        results = [run([x], [y]) for x, y in zip(xs, ys)] if len(CASES) > 1 else [result] * len(CASES)
        faults += not CASES
    else:
        values, dtype, shape = result
        expected_shape = (len(CASES) * copies,) if REDUCTION == "none" else ()
        if dtype != DTYPE or shape != expected_shape:
            print(f"FAULT: returned {dtype} of shape {shape}, expected {DTYPE} of shape {expected_shape}")
            faults += 1
        results = [([v], dtype, shape) for v in values[: len(CASES)]]
    for case, outcome in zip(CASES, results):
        x, y, expected, low, high = (float.fromhex(v) for v in case[:5])
        where = f"x = {x!r} ({case[0]}), y = {y!r} ({case[1]})"
        if isinstance(outcome, Exception):
            faults += 1
            print(f"FAULT ({case[5]} measured) {where}: raised {type(outcome).__name__}: {outcome}".splitlines()[0])
            continue
        got = outcome[0][0]
        right = math.isnan(got) if math.isnan(expected) else low <= got <= high
        faults += not right
        print(f"{'ok' if right else 'FAULT'} ({case[5]} measured) {where}: got {got!r} ({got.hex()}), "
              f"expected {expected!r} ({case[2]}), exact {case[6]}: {ulps(got, float(case[6])):.4g} ULPs off; "
              f"accepted [{low!r}, {high!r}]")
    print(f"{faults} fault(s): {'present' if faults else 'gone'}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def slug(finding: Finding) -> str:
    """A file name for the finding: implementation, device, dtype, quantity, and the entry's key."""
    r = finding.record
    name = re.sub(r"[^A-Za-z0-9.]+", "_", r["implementation"]).strip("_")
    key = f"-{finding.deviation['key']}" if finding.deviation else ""
    return f"{r['framework']}-{name}-{r['device']}-{r['dtype']}-{r['quantity']}{key}"


def runnable(record: dict) -> bool:
    """Whether a standalone script can call the record's implementation."""
    return standalone.source(record["framework"], record["implementation"]) is not None


def _version_expression(framework: str) -> str:
    """A Python expression, in the script, of the framework's version (Keras's with its backend's)."""
    backend = framework.removeprefix("keras-")
    if backend != framework:
        return f'keras.__version__ + " ({backend} " + {VERSIONS[backend]} + ")"'
    return VERSIONS[framework]


def _hex(value: float) -> str:
    """float.hex without the trailing zeros of the significand (what float.fromhex reads back)."""
    if math.isnan(value) or math.isinf(value):
        return repr(value)
    significand, exponent = value.hex().split("p")
    return f"{significand.rstrip('0').rstrip('.')}p{exponent}"


def script(finding: Finding, measured_with: str, policy: str) -> str:
    """The standalone Python file."""
    r = finding.record
    framework = standalone.FRAMEWORKS[r["framework"]]
    source = standalone.source(r["framework"], r["implementation"])
    if source is None:
        raise ValueError(f"no standalone source for {r['framework']} {r['implementation']}")
    device = standalone.DEVICES.get(r["framework"].removeprefix("keras-"), {}).get(r["device"], r["device"])
    reduction = "mean" if r["implementation"].endswith("[mean]") else "sum" if r["implementation"].endswith(
        "[sum]") else "none"
    what = f"the known deviation {finding.deviation['key']}" if finding.deviation else f"the check {r['id']}"
    cases = "".join(f'    ("{_hex(e.x)}", "{_hex(e.y)}", "{_hex(e.expected)}", "{_hex(e.low)}", "{_hex(e.high)}", '
                    f'"{e.signature}", "{e.exact}"),\n' for e in finding.elements)
    header = f'''"""Reproduces {what} of bcebench with nothing but {r["framework"]} and the standard library:
{r["implementation"]} on {r["device"]}, {r["dtype"]}, its {r["quantity"]}.

Each input, expected value and accepted bound is exact (hexadecimal). The expected value is the
exact {r["quantity"]} correctly rounded to {r["dtype"]}; the {policy} policy accepts a result in
[low, high]. Exits 1 while some result is outside it, raises, or comes back in another dtype or
shape; 0 once the fault is gone. Measured with {measured_with}.
"""

import contextlib  # noqa: F401
import functools  # noqa: F401
import math
import sys

'''
    constants = (f'\nIMPLEMENTATION = {r["implementation"]!r}\nFRAMEWORK = {r["framework"]!r}\n'
                 f'DEVICE = {device!r}\nDTYPE = {r["dtype"]!r}\nQUANTITY = {r["quantity"]!r}\n'
                 f'REDUCTION = {reduction!r}\nTILE = {TILE}  # inputs repeated to this length, as the check ran them\n'
                 f'# x, y, expected (correctly rounded), lowest and highest accepted, signature measured, exact value\n'
                 f'CASES = [\n{cases}]\n')
    parts = [framework.imports, constants, f"VERSION = {_version_expression(r['framework'])}\n",
             framework.array, framework.evaluate, framework.floats, framework.scope, source, RUNNER]
    return header + "\n\n".join(part.strip("\n") + "\n" for part in parts)


def _number(value: float) -> str:
    return f"{value!r} (`{_hex(value)}`)"


def _got(element) -> str:
    if element.got is not None:
        return _number(element.got)
    return "raised" if element.signature == "raised" else "(run the script)"


def matching_sweeps(finding: Finding, sweeps: list[dict]) -> list[dict]:
    """The committed sweeps of this implementation, dtype, quantity and device at the labels of the
    minimal input."""
    r = finding.record
    labels = {e.y for e in finding.elements}
    newest = {}
    for s in sorted(sweeps, key=lambda s: s.get("date", "")):  # a sweep done again replaces the older one
        t = s["target"]
        if (t["implementation"], t["dtype"], t["quantity"], t.get("device", "cpu")) == (
                r["implementation"], r["dtype"], r["quantity"], r["device"]) and t["label"] in labels:
            newest[(t["label"], tuple(map(tuple, s["spans"])))] = s
    return list(newest.values())


def issue(finding: Finding, script_name: str, environment: dict, sweeps: list[dict]) -> str:
    """The issue text in Markdown."""
    r, entry = finding.record, finding.deviation or {}
    signatures = ", ".join(dict.fromkeys(e.signature for e in finding.elements)) or "wrong result"
    lines = [f"# {r['implementation']}: {signatures} in the {r['dtype']} {r['quantity']} "
             f"({r['framework']}, {r['device']})", "",
             entry.get("what") or r.get("message", ""), "", "## Minimal input", ""]
    if finding.elements:
        lines += table(["x", "y", "got (measured)", "exact", "correctly rounded", "accepted", "signature"],
                       [[_number(e.x), _number(e.y), _got(e), e.exact, _number(e.expected),
                         f"[{e.low!r}, {e.high!r}]", e.signature] for e in finding.elements])
    else:
        lines.append(f"An empty input: {r.get('message', '')}.")
    lines += ["", f"`python {script_name}` (it imports only {r['framework']} and the standard library) prints "
              "these and exits 1 while the fault is present, 0 once it is gone.", ""]
    found = matching_sweeps(finding, sweeps)
    if found:
        lines += ["## Over every input", "",
                  f"Every {r['dtype']} input, swept against the exact value (`bcebench sweep`):", "",
                  *before_after(found), ""]
    if entry.get("why"):
        lines += ["## Why", "", entry["why"], ""]
    rewrites = [w for w in (for_failure(e.signature, r["quantity"], r["form"], r.get("family", "bce"))
                            for e in finding.elements) if w]
    if rewrites:
        lines += ["## A stable formula", ""]
        lines += [f"- {w.signature}: {w.replaces} → {w.formula}" for w in dict.fromkeys(rewrites)]
        lines += ["", "(written for every framework in bcebench's adapters/rewrites.py and swept there)", ""]
    lines += ["## Environment", ""]
    lines += [f"- {name} {version.get('version', '') if isinstance(version, dict) else version}"
              for name, version in environment.get("frameworks", {}).items() if name == r["framework"]]
    machine = environment.get("machine", {})
    if machine:
        lines.append(f"- Python {machine.get('python', '')} on {machine.get('platform', '')}")
    if entry.get("link"):
        lines += ["", f"Upstream: {entry['link']}"]
    return "\n".join(lines) + "\n"



def index(findings: list[Finding], missing: list[str]) -> str:
    """The folder's README: one row per known deviation, with its script and issue text."""
    rows = [[f"`{f.deviation['key']}`", f.record["implementation"], f.record["device"], f.record["dtype"],
             f.record["quantity"], ", ".join(dict.fromkeys(e.signature for e in f.elements)) or "wrong result",
             f"[{slug(f)}.py]({slug(f)}.py), [issue text]({slug(f)}.md)"] for f in findings]
    lines = ["# Reproducers of the known deviations", "",
             "One standalone script per entry of suite/policy/deviations.toml (keyed by the entry's fingerprint), "
             "written",
             "by `bcebench check --json results.json` and `bcebench repro results.json --deviation all --verify`:",
             "each imports only its framework and the standard library, embeds its inputs and the correctly",
             "rounded expected values as exact hex literals, and exits 1 while the fault is present. Beside each,",
             "the issue text to file.",
             "`suite/tests/test_repro.py` runs every script in a process that can import nothing but its framework.",
             "",
             *table(["entry", "implementation", "device", "dtype", "quantity", "faults", "files"], rows)]
    if missing:
        lines += ["", "Not reproduced from these results:", "",
                  *[f"- {line}" for line in missing]]
    return "\n".join(lines) + "\n"
