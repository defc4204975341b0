"""The README's and the API's Python examples, run as written: an example that fails its own check
cannot ship (the API's once returned NaN at z = ±∞, from 0·∞ in the branch that np.where selects)."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from bcebench.suite import api

ROOT = Path(__file__).resolve().parents[2]


def test_the_readmes_python_example_passes_under_pytest(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "the README's Python examples are one file of tests"
    (tmp_path / "test_readme_example.py").write_text(blocks[0])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_example.py"],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr


def test_the_apis_example_passes():
    lines = api.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    "))
    end = next(i for i in range(start, len(lines)) if lines[i].strip() and not lines[i].startswith("    "))
    namespace: dict = {}
    exec(compile(textwrap.dedent("\n".join(lines[start:end])), "bcebench.suite.api example", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test()
