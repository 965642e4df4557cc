"""Every committed report rebuilds from the committed Parquet: the same markdown and LaTeX, byte for byte, the
same files, and every figure with plotted data (`save_figure` refuses a blank one, failing the rebuild).

    python -m pytest tests/test_committed_reports.py -q          # about a minute on 2 CPU cores

A report under results/<sweep>/report/ is what a reader opens; this test keeps it equal to what the code
makes of the Parquet next to it. After changing report code, regenerate and commit:

    for d in results/*/; do python -m harness.report "$d"; done

Figures (PNG) are not compared byte for byte (matplotlib versions draw differently); their presence and
their data are checked. CSV files are data for notebooks: their presence is checked.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from harness import report

REPO = Path(__file__).resolve().parents[1]
SWEEPS = sorted(p.parent.name for p in (REPO / "results").glob("*/report") if any((p.parent / "cells").glob("*.parquet")))
COMPARED = (".md", ".tex")


def test_every_result_folder_has_a_report():
    folders = sorted(p.parent.name for p in (REPO / "results").glob("*/cells"))
    assert folders and folders == SWEEPS, "a results folder without a committed report: run python -m harness.report"


@pytest.mark.parametrize("sweep", SWEEPS)
def test_committed_report_rebuilds_identically(sweep, tmp_path):
    committed = REPO / "results" / sweep / "report"
    out = tmp_path / "report"
    report.report(REPO / "results" / sweep, out)  # BlankFigureError here = a figure without data
    made, kept = sorted(p.name for p in out.iterdir()), sorted(p.name for p in committed.iterdir())
    assert made == kept, f"files differ: new {sorted(set(made) - set(kept))}, gone {sorted(set(kept) - set(made))}"
    for name in (n for n in made if n.endswith(COMPARED)):
        new, old = (out / name).read_text(), (committed / name).read_text()
        if new != old:
            diff = "".join(list(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"committed/{name}",
                                                     f"rebuilt/{name}"))[:40])
            pytest.fail(f"results/{sweep}/report/{name} differs from a rebuild (regenerate and commit it):\n{diff}")


@pytest.mark.parametrize("sweep", SWEEPS)
def test_committed_reports_hold_no_machine_paths(sweep):
    for path in (REPO / "results" / sweep / "report").iterdir():
        if path.suffix in COMPARED:
            text = path.read_text()
            for marker in (str(REPO), "/home/", "/root/", "/work/", "/tmp/"):
                assert marker not in text, f"{path.relative_to(REPO)} holds a machine path ({marker})"
