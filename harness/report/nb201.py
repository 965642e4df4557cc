"""NAS-Bench-201 sections: the paper's Table 3 (scoring paradigms) and Fig. 2 (pruning trajectory).

Table 3 semantics: the cell (method, dataset column d) pools the ok cells of that variant/mode whose
SEARCH dataset is d and reports their metric for d (FREEDARTS_SPEC §1.2 item 8). A column whose
cells all failed says "no data" with the reasons in a footnote (never a number from another
dataset); a column with no cells at all says "—". `--columns-from cifar10` instead fills every
column from the cifar10-searched cells, as the authors' notebooks do, and says so in the header.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import store
from harness.report._base import (
    METHOD_NAME, METHODS, NO_DATA, NOT_RUN, Fragment, Method, ReportOptions, fmt_diff, freedarts_only, has_space,
    latex_escape,
    md_escape, section, short_error, write_text,
)
from harness.report.general import mixed_settings

log = logging.getLogger(__name__)

DATASET_METRIC = {
    "cifar10": "cifar10_test_acc",
    "cifar100": "cifar100_test_acc",
    "imagenet16-120": "imagenet16_test_acc",
}
DATASET_LABEL = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}
TABLE_DATASETS = tuple(DATASET_METRIC)
COLUMNS_FROM = ("own", "cifar10")

# Source: FreeDARTS paper (shared/paper/freedarts-paper.txt), Table 3 "Comparison on different
# scoring paradigms", NAS-Bench-201 test accuracy (%), mean ± std over the authors' seeds, in the
# order CIFAR-10 / CIFAR-100 / ImageNet16-120. Keyed by (variant, mode).
PAPER_TABLE3: dict[tuple[str, str], tuple[tuple[float, float], ...]] = {
    ("labels", "oneshot"): ((92.53, 0.84), (69.27, 1.78), (43.31, 3.39)),
    ("labels", "iterative"): ((93.04, 0.54), (70.10, 1.48), (43.55, 1.56)),
    ("random_labels", "oneshot"): ((92.46, 0.75), (68.47, 1.77), (42.57, 2.19)),
    ("random_labels", "iterative"): ((92.86, 0.60), (69.67, 0.87), (43.17, 1.34)),
    ("D", "oneshot"): ((93.63, 0.06), (70.04, 0.60), (44.77, 1.81)),
    ("D", "iterative"): ((93.64, 0.24), (71.30, 1.01), (45.62, 0.39)),
}
# Same table, "Optimal" row: the best test accuracy in NAS-Bench-201.
PAPER_OPTIMAL = (94.37, 73.51, 47.31)


# -- Table 3 ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One table cell: the statistics of a (method, dataset column) group of cells.

    status is "ok" (a number), "no data" (cells exist, none has the metric) or "not run" (no cells).
    reasons counts the shortened errors of the group's failed cells (and of ok cells whose lookup
    failed), so footnotes can say why numbers are missing.
    """

    method: Method
    dataset: str
    source_dataset: str
    n: int = 0
    mean: float = math.nan
    std: float = math.nan
    n_cells: int = 0
    n_failed: int = 0
    reasons: tuple[tuple[str, int], ...] = ()

    @property
    def status(self) -> str:
        if self.n_cells == 0:
            return "not run"
        return "ok" if self.n > 0 else NO_DATA

    @property
    def paper(self) -> tuple[float, float]:
        return PAPER_TABLE3[(self.method.variant, self.method.mode)][TABLE_DATASETS.index(self.dataset)]

    @property
    def diff(self) -> float:
        return self.mean - self.paper[0] if self.n > 0 else math.nan


def _reasons(group: pd.DataFrame, metric: str) -> tuple[tuple[str, int], ...]:
    failed = group[group["status"] != store.STATUS_OK]
    counts = Counter(short_error(e) for e in failed["error"])
    no_metric = group[(group["status"] == store.STATUS_OK) & group[metric].isna()]
    for status, err in zip(no_metric["lookup_status"], no_metric["lookup_error"]):
        counts[short_error(f"lookup {status}: {err}" if err else f"lookup {status}")] += 1
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def table3_stats(cells: pd.DataFrame, columns_from: str = "own") -> list[Entry]:
    """Entries of Table 3 in row order (METHODS) then column order (TABLE_DATASETS).

    Args:
        cells: the cells table (any spaces; only nasbench201 rows are used).
        columns_from: "own" (column d from cells searched on d) or "cifar10" (every column from
            the cifar10-searched cells, the authors' notebook setting).
    """
    if columns_from not in COLUMNS_FROM:
        raise ValueError(f"columns_from must be one of {COLUMNS_FROM}, got {columns_from!r}")
    nb = freedarts_only(cells[cells["space"] == "nasbench201"])  # baselines: harness/report/table2.py
    entries = []
    for method in METHODS:
        rows = nb[(nb["variant"] == method.variant) & (nb["mode"] == method.mode)]
        for dataset in TABLE_DATASETS:
            source = dataset if columns_from == "own" else "cifar10"
            metric = DATASET_METRIC[dataset]
            group = rows[rows["dataset"] == source]
            values = group.loc[group["status"] == store.STATUS_OK, metric].dropna().astype(float)
            entries.append(Entry(
                method=method, dataset=dataset, source_dataset=source, n=len(values),
                mean=float(values.mean()) if len(values) else math.nan,
                std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                n_cells=len(group), n_failed=int((group["status"] != store.STATUS_OK).sum()),
                reasons=_reasons(group, metric),
            ))
    return entries


def _footnotes(entries: list[Entry]) -> dict[tuple[str, str], int]:
    """Footnote number of each (method name, dataset) entry that has failures to explain."""
    keyed = [(e.method.name, e.dataset) for e in entries if e.reasons]
    return {k: i + 1 for i, k in enumerate(keyed)}


def _footnote_text(e: Entry) -> str:
    reasons = "; ".join(f"{r} (×{c})" for r, c in e.reasons)
    cells = "cell" if e.n_cells == 1 else "cells"
    return (f"{e.method.name} / {DATASET_LABEL[e.dataset]}: {e.n_cells - e.n} of {e.n_cells} {cells} "
            f"without a value: {reasons}")


def _ours(e: Entry, pm: str) -> str:
    if e.status == "not run":
        return NOT_RUN
    if e.n == 0:
        return NO_DATA
    std = f"{pm}{e.std:.2f}" if e.n > 1 else ""
    return f"{e.mean:.2f}{std} (n={e.n})"


def _column_label(dataset: str, columns_from: str) -> str:
    label = DATASET_LABEL[dataset]
    return label if columns_from == "own" or dataset == "cifar10" else f"{label} (C10-searched)"


def table3_title(columns_from: str) -> str:
    base = "Table 3: NAS-Bench-201 test accuracy (%) of the scoring paradigms"
    if columns_from == "cifar10":
        return base + " — every column from CIFAR-10-searched architectures (authors' notebook setting)"
    return base + " — each column from searches on that dataset"


def table3_markdown(entries: list[Entry], columns_from: str = "own") -> str:
    """GitHub-readable markdown: per dataset the columns ours (mean ± std, n), paper and Δ."""
    notes = _footnotes(entries)
    head = ["Method"]
    for d in TABLE_DATASETS:
        head += [f"{_column_label(d, columns_from)} ours", "paper", "Δ"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for method in METHODS:
        row = [method.name]
        for e in (x for x in entries if x.method == method):
            mark = f" [{notes[(method.name, e.dataset)]}]" if (method.name, e.dataset) in notes else ""
            p_mean, p_std = e.paper
            row += [_ours(e, " ± ") + mark, f"{p_mean:.2f} ± {p_std:.2f}",
                    fmt_diff(e.diff) if e.n else NOT_RUN]
        lines.append("| " + " | ".join(md_escape(c) for c in row) + " |")
    optimal = ["Optimal"]
    for value in PAPER_OPTIMAL:
        optimal += ["", f"{value:.2f}", ""]
    lines.append("| " + " | ".join(optimal) + " |")
    out = [f"**{table3_title(columns_from)}**", "", *lines, ""]
    out.append("ours = mean ± sample std (ddof=1) over the ok cells (n seeds); paper = the paper's Table 3; "
               f"Δ = ours − paper; {NO_DATA} = every cell failed or has no lookup; {NOT_RUN} = not run.")
    if notes:
        out.append("")
        by_key = {(e.method.name, e.dataset): e for e in entries}
        out += [f"{i}. {md_escape(_footnote_text(by_key[k]))}" for k, i in notes.items()]
    return "\n".join(out) + "\n"


def table3_latex(entries: list[Entry], columns_from: str = "own") -> str:
    """A booktabs `tabular` (requires \\usepackage{booktabs}); footnotes as rows under the table."""
    notes = _footnotes(entries)
    ncol = 1 + 3 * len(TABLE_DATASETS)
    lines = [f"% {latex_escape(table3_title(columns_from))}",
             r"\begin{tabular}{l" + "rrr" * len(TABLE_DATASETS) + "}", r"\toprule"]
    lines.append(" & " + " & ".join(rf"\multicolumn{{3}}{{c}}{{{latex_escape(_column_label(d, columns_from))}}}"
                                    for d in TABLE_DATASETS) + r" \\")
    lines.append(" ".join(rf"\cmidrule(lr){{{2 + 3 * i}-{4 + 3 * i}}}" for i in range(len(TABLE_DATASETS))))
    lines.append("Method & " + " & ".join(["Ours & Paper & $\\Delta$"] * len(TABLE_DATASETS)) + r" \\")
    lines.append(r"\midrule")
    for method in METHODS:
        row = [latex_escape(method.name)]
        for e in (x for x in entries if x.method == method):
            key = (method.name, e.dataset)
            mark = rf"\textsuperscript{{{notes[key]}}}" if key in notes else ""
            if e.n:
                std = rf" \pm {e.std:.2f}" if e.n > 1 else ""
                ours = rf"${e.mean:.2f}{std}$ ($n={e.n}$)"
            else:
                ours = latex_escape(_ours(e, " ± "))
            p_mean, p_std = e.paper
            row += [ours + mark, rf"${p_mean:.2f} \pm {p_std:.2f}$",
                    f"${fmt_diff(e.diff)}$" if e.n else "--"]
        lines.append(" & ".join(row) + r" \\")
    lines.append(r"\midrule")
    lines.append("Optimal & " + " & ".join(f" & {v:.2f} & " for v in PAPER_OPTIMAL) + r" \\")
    lines.append(r"\bottomrule")
    by_key = {(e.method.name, e.dataset): e for e in entries}
    for k, i in notes.items():
        text = latex_escape(_footnote_text(by_key[k]))
        lines.append(rf"\multicolumn{{{ncol}}}{{l}}{{\footnotesize\textsuperscript{{{i}}} {text}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


# -- Fig. 2 -----------------------------------------------------------------------------------------
VARIANT_ORDER = ("D", "labels", "random_labels")
FIG2_TITLE = "Track of test accuracy during the pruning"


def trajectory_stats(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Mean / std (ddof=1) / n over cells of each subplot's metric, per (dataset, variant, step).

    Uses iterative rows only; a search dataset appears only if its own metric has values.
    """
    it = trajectory[trajectory["mode"] == "iterative"]
    parts = []
    for dataset, metric in DATASET_METRIC.items():
        rows = it[(it["dataset"] == dataset) & it[metric].notna()]
        if rows.empty:
            continue
        g = rows.groupby(["variant", "step"])[metric].agg(["mean", "std", "count"]).reset_index()
        parts.append(g.assign(dataset=dataset))
    if not parts:
        return pd.DataFrame(columns=["dataset", "variant", "step", "mean", "std", "count"])
    return pd.concat(parts, ignore_index=True)[["dataset", "variant", "step", "mean", "std", "count"]]


def fig2_figure(stats: pd.DataFrame):
    """One subplot per search dataset, a line per variant (D first), mean ± std band over seeds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    datasets = [d for d in TABLE_DATASETS if d in set(stats["dataset"])]
    fig = Figure(figsize=(max(6.0, 4.2 * len(datasets)), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    variants = [v for v in VARIANT_ORDER if v in set(stats["variant"])]
    variants += sorted(set(stats["variant"]) - set(variants))
    for ax, dataset in zip(axes, datasets):
        for variant in variants:
            s = stats[(stats["dataset"] == dataset) & (stats["variant"] == variant)].sort_values("step")
            if s.empty:
                continue
            n = int(s["count"].max())
            label = f"{METHOD_NAME.get((variant, 'iterative'), variant)} (n={n})"
            line, = ax.plot(s["step"], s["mean"], marker="o", markersize=3, label=label)
            std = s["std"].fillna(0.0)
            ax.fill_between(s["step"], s["mean"] - std, s["mean"] + std, color=line.get_color(), alpha=0.2)
        ax.set_title(f"searched and evaluated on {DATASET_LABEL[dataset]}", fontsize=10)
        ax.set_xlabel("Pruning step")
        ax.set_ylabel("Test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(FIG2_TITLE + " (FreeDARTS, NAS-Bench-201)", fontsize=11)
    return fig


@section("table3", applies=has_space("nasbench201"), order=100)
def _table3_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    entries = table3_stats(cells, options.columns_from)
    md = table3_markdown(entries, options.columns_from)
    mixed = mixed_settings(freedarts_only(cells[cells["space"] == "nasbench201"]))
    if mixed:
        what = "; ".join(f"{k} ∈ {{{', '.join(v)}}}" for k, v in mixed.items())
        md += f"\nNote: cells of one method differ in {what}; the table pools them.\n"
        log.warning("Table 3 pools cells with different settings: %s", what)
    files = [write_text(out_dir / "table3.md", md),
             write_text(out_dir / "table3.tex", table3_latex(entries, options.columns_from))]
    return Fragment(f"## Table 3\n\n{md}\nLaTeX: [table3.tex](table3.tex)\n", files, console=md)


@section("fig2", applies=has_space("nasbench201"), order=110)
def _fig2_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    _, trajectory = freedarts_only(cells, trajectory)  # baselines' trajectories are samples, not pruning
    stats = trajectory_stats(trajectory[trajectory["space"] == "nasbench201"])
    if stats.empty:
        log.warning("Fig. 2 skipped: no iterative trajectory rows with looked-up metrics in this sweep")
        return Fragment("## Fig. 2\n\nSkipped: no iterative trajectory with looked-up metrics in this sweep.\n")
    path = out_dir / "fig2_trajectory.png"
    fig2_figure(stats).savefig(path, dpi=150)
    md = (f"## Fig. 2: {FIG2_TITLE}\n\n![{FIG2_TITLE}](fig2_trajectory.png)\n\n"
          "Test accuracy of the argmax-alpha architecture after each pruning step of iterative FreeDARTS "
          "(step 0 = unpruned supernet), mean ± std over seeds; each subplot uses its search dataset's metric.\n")
    return Fragment(md, [path])


