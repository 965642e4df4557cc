"""`python -m harness.report results/<sweep>`: the paper's tables and figures from Parquet alone.

    python -m harness.report results/table3                          # -> results/table3/report/
    python -m harness.report results/table3 --out /tmp/report
    python -m harness.report results/table3 --columns-from cifar10   # the authors' notebook setting

Reads the cells and trajectory tables of one sweep (`harness.store` readers; no Ray, no search code)
and writes into `<results>/report/` every section that applies to the sweep's cells; every table as
markdown and as a booktabs LaTeX `table` (caption, label), every figure through `_figures.save_figure`
(which refuses a panel without plotted data):

    report.md                 title, cell counts, then every section below, stitched
    table3.md/.tex            paper Table 3 (one table per swept setting, e.g. alpha_scale on results/fig3)
    fig2_trajectory.png       paper Fig. 2: test accuracy of argmax-alpha after each pruning step
    table2.md/.tex/.csv       paper Table 2 (rows by method + proxy + N beside the paper's)
    fig3.md/.tex/.csv/.png    paper Fig. 3: accuracy vs alpha scale a
    table4.md/.tex            paper Table 4 (NB1Shot1 on NB101)
    table5.md/.tex, table6.md/.tex, darts_genotypes.md/.tex, fig4_*.png   DARTS space (NB301, sizes, cells)
    table7.md/.tex            paper Table 7 (MobileNet)
    fig5_mobilenet.png, fig6_zero_cost_pt.png, fig7_*.png, fig8_*.png     architecture drawings
    bias.md/.tex, bias_*.png/.csv   the parameter-intensive-bias analysis against the paper's claims
    search_cost.md/.tex       search time per row, beside the paper's

Modules: `_base` (section registry, row labels, formatting), `_latex`, `_figures`, `_drawings`,
`general` (search cost, failures), `nb201` (Table 3, Fig. 2), `table2`, `fig3`, `bias` (+ `_bias_text`,
`_bias_figures`), `darts`, `nb1shot1`, `mobilenet`, `arch_figures` (Figs. 5-8). A new space adds one module
of sections and one import below. `tests/test_committed_reports.py` rebuilds every committed report.

Sections: each report section is a function `(cells, trajectory, out_dir, options) -> Fragment`
registered in `SECTIONS` with a predicate on the data that says whether it applies, e.g.

    @section("table2", applies=has_space("nasbench201"), order=200)
    def _table2(cells, trajectory, out_dir, options) -> Fragment: ...

The computations behind them (`table3_stats`, `table3_markdown`, `trajectory_stats`, ...) are pure
functions of DataFrames, so tests call them without a results directory.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from harness import store
from harness.report import general, nb201  # noqa: F401  (registers their sections)
from harness.report import bias, fig3, table2  # noqa: F401  (Table 2, Fig. 3, bias analysis: issue 6)
from harness.report import darts  # noqa: F401  (Tables 5, 6 and Fig. 4 cells: DARTS space, issue 3)
from harness.report import mobilenet, nb1shot1  # noqa: F401  (Tables 4 and 7: NB1Shot1 and MobileNet, issue 4)
from harness.report import arch_figures  # noqa: F401  (Figs. 5-8: architecture drawings)
from harness.report._base import *  # noqa: F401,F403  (public helpers, for notebooks and tests)
from harness.report._base import COLUMNS_FROM, SECTIONS, Fragment, ReportOptions, write_text
from harness.report.general import *  # noqa: F401,F403
from harness.report.general import counts_line
from harness.report.nb201 import *  # noqa: F401,F403

log = logging.getLogger(__name__)


class NoResultsError(FileNotFoundError):
    """The results directory has no cells part files."""

    def __init__(self, results_dir: Path) -> None:
        super().__init__(f"no cell results in {results_dir} (no {results_dir / store.CELLS_DIR}/*.parquet); "
                         "run `python -m harness.sweep sweeps/<sweep>.yaml` first, then report on results/<sweep>")


def build_report(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions,
                 title: str) -> dict[str, Fragment]:
    """Run every applicable section, write report.md; returns the fragments by section name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fragments = {s.name: s.render(cells, trajectory, out_dir, options)
                 for s in sorted(SECTIONS.values(), key=lambda s: (s.order, s.name)) if s.applies(cells, trajectory)}
    doc = [f"# FreeDARTS report: {title}", "", counts_line(cells), ""]
    doc += [f.markdown for f in fragments.values()]
    report = write_text(out_dir / "report.md", "\n".join(doc))
    fragments["report"] = Fragment("", [report])
    return fragments


def report(results_dir: str | Path, out_dir: str | Path | None = None, columns_from: str = "own") -> dict[str, Fragment]:
    """Read a sweep's Parquet tables and write its report (default `<results_dir>/report/`)."""
    results_dir = Path(results_dir)
    if not any((results_dir / store.CELLS_DIR).glob("*.parquet")):
        raise NoResultsError(results_dir)
    cells = store.read_cells(results_dir)
    trajectory = store.read_trajectory(results_dir)
    names = sorted(cells["sweep"].dropna().unique())
    title = ", ".join(names) if names else results_dir.name
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    return build_report(cells, trajectory, out, ReportOptions(columns_from=columns_from), title)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a sweep's results directory, e.g. results/table3")
    parser.add_argument("--out", default=None, help="output directory (default: RESULTS/report)")
    parser.add_argument("--columns-from", choices=COLUMNS_FROM, default="own",
                        help="own: each column from searches on that dataset (default); "
                             "cifar10: every column from cifar10-searched cells (authors' notebooks)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        fragments = report(args.results, args.out, args.columns_from)
    except NoResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for frag in fragments.values():
        for path in frag.files:
            print(f"wrote {path}")
    for frag in fragments.values():
        if frag.console:
            print()
            print(frag.console, end="")
    return 0


