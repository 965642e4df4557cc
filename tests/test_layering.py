"""The package layering holds: harness -> spaces, benchmarks -> archcodec, nothing back.

`import benchmarks` must not load torch (benchmarks are data readers; the NB301 sidecar and the
converters run without it), and spaces/ and benchmarks/ share architecture-key code only through
`archcodec`, never by importing each other (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("archcodec", "harness", "spaces", "benchmarks")
# package -> the project packages it must never import (at module level or inside a function).
FORBIDDEN = {
    "archcodec": {"harness", "spaces", "benchmarks", "torch"},
    "spaces": {"harness", "benchmarks"},
    "benchmarks": {"harness", "spaces"},
}


def _imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every import statement in a file, including local (function-level) ones."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_no_layer_above_or_beside_it(package):
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_top_levels(p) & FORBIDDEN[package])
                 for p in sorted((ROOT / package).rglob("*.py"))}
    assert {f: names for f, names in offenders.items() if names} == {}


def test_the_scan_sees_local_imports():
    """The scan is the test's only eye: check it finds a function-level import."""
    tree = "def f():\n    from spaces.x import y\n    import torch.nn\n"
    tmp = ROOT / "tests" / "__layering_probe__.py"
    try:
        tmp.write_text(tree)
        assert _imported_top_levels(tmp) == {"spaces", "torch"}
    finally:
        tmp.unlink()


@pytest.mark.parametrize("module", ["benchmarks", "archcodec.nb101", "archcodec.darts"])
def test_importing_the_data_side_loads_no_torch(module):
    code = (f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'spaces', 'harness', 'ray')); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
