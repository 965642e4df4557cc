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

from benchmarks import get_benchmark
from harness import store
from harness.report._base import (
    METHOD_NAME, METHODS, NO_DATA, NOT_RUN, Fragment, Method, ReportOptions, fmt_diff, freedarts_only, has_space,
    labelled, latex_escape, md_escape, section, setting_sort_key, short_error, sweep_name, write_text,
)
from harness.report._summary import GroupStats
from harness.report._figures import figure_legend, new_figure, save_figure
from harness.report._latex import latex_table

log = logging.getLogger(__name__)

DATASET_METRIC = get_benchmark("nasbench201").dataset_metrics()  # search dataset -> NB201 test-acc column
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
TABLE3_NOTE = ("ours = mean ± sample std (ddof=1) over the ok cells (n seeds); paper = the paper's Table 3; "
               f"Δ = ours − paper; {NO_DATA} = every cell failed or has no lookup; {NOT_RUN} = not run.")

@dataclass(frozen=True, kw_only=True)
class Entry(GroupStats):
    """One table cell: the statistics of a (method, dataset column) group of cells.

    status is "ok" (a number), "no data" (cells exist, none has the metric) or "not run" (no cells).
    reasons counts the shortened errors of the group's failed cells (and of ok cells whose lookup
    failed), so footnotes can say why numbers are missing.
    """

    method: Method
    dataset: str
    source_dataset: str
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
            entries.append(Entry.of(group, metric, method=method, dataset=dataset, source_dataset=source,
                                    reasons=_reasons(group, metric)))
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
    out.append(TABLE3_NOTE)
    if notes:
        out.append("")
        by_key = {(e.method.name, e.dataset): e for e in entries}
        out += [f"{i}. {md_escape(_footnote_text(by_key[k]))}" for k, i in notes.items()]
    return "\n".join(out) + "\n"


def table3_latex(entries: list[Entry], columns_from: str = "own", *, setting: str = "", label: str = "tab:table3") -> str:
    """A booktabs table with caption and label (requires \\usepackage{booktabs}); footnotes under it."""
    notes = _footnotes(entries)
    header = [" & " + " & ".join(rf"\multicolumn{{3}}{{c}}{{{latex_escape(_column_label(d, columns_from))}}}"
                                 for d in TABLE_DATASETS),
              " ".join(rf"\cmidrule(lr){{{2 + 3 * i}-{4 + 3 * i}}}" for i in range(len(TABLE_DATASETS))),
              "Method & " + " & ".join(["Ours & Paper & $\\Delta$"] * len(TABLE_DATASETS))]
    rows: list = []
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
        rows.append(row)
    rows += [r"\midrule", ["Optimal"] + [x for v in PAPER_OPTIMAL for x in ("", f"{v:.2f}", "")]]
    by_key = {(e.method.name, e.dataset): e for e in entries}
    footnotes = [TABLE3_NOTE] + [f"{i}. {_footnote_text(by_key[k])}" for k, i in notes.items()]
    caption = table3_title(columns_from) + (f" ({setting})" if setting else "")
    return latex_table(caption=caption, label=label, colspec="l" + "rrr" * len(TABLE_DATASETS), header=header,
                       rows=rows, notes=footnotes)


def table3_groups(cells: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The NB201 FreeDARTS cells split by the settings that vary within a method (e.g. alpha_scale on
    results/fig3): [(setting text, cells)], one Table 3 each; [("", cells)] when nothing varies."""
    nb = freedarts_only(cells[cells["space"] == "nasbench201"])
    if nb.empty:
        return [("", nb)]
    nb = labelled(nb)
    groups = [(setting, g) for setting, g in nb.groupby("setting", sort=False)]
    return sorted(groups, key=lambda sg: setting_sort_key(sg[0]))


# -- Fig. 2 -----------------------------------------------------------------------------------------
VARIANT_ORDER = ("D", "labels", "random_labels")
FIG2_TITLE = "Track of test accuracy during the pruning"
ACC_RANGE = (0.0, 100.0)


def trajectory_stats(trajectory: pd.DataFrame, settings: dict[str, str] | None = None) -> pd.DataFrame:
    """Mean / std (ddof=1) / n over cells of each subplot's metric, per (dataset, variant, setting, step).

    Uses iterative rows only; a search dataset appears only if its own metric has values. `settings`
    maps cell_id -> setting text (`labelled`), so cells with different settings get their own line.
    """
    it = trajectory[trajectory["mode"] == "iterative"]
    settings = settings or {}
    it = it.assign(setting=pd.Series([settings.get(c, "") for c in it["cell_id"]], index=it.index, dtype=object))
    parts = []
    for dataset, metric in DATASET_METRIC.items():
        rows = it[(it["dataset"] == dataset) & it[metric].notna()]
        if rows.empty:
            continue
        g = rows.groupby(["variant", "setting", "step"])[metric].agg(["mean", "std", "count"]).reset_index()
        parts.append(g.assign(dataset=dataset))
    cols = ["dataset", "variant", "setting", "step", "mean", "std", "count"]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def fig2_figure(stats: pd.DataFrame):
    """One subplot per search dataset, a line per (variant, setting), mean and a ±std band clipped to [0, 100]."""
    datasets = [d for d in TABLE_DATASETS if d in set(stats["dataset"])]
    fig, axes = new_figure(len(datasets), 4.6, 4.2)
    variants = [v for v in VARIANT_ORDER if v in set(stats["variant"])]
    variants += sorted(set(stats["variant"]) - set(variants))
    lines = [(v, s) for v in variants for s in sorted(set(stats.loc[stats["variant"] == v, "setting"]),
                                                     key=setting_sort_key)]
    for ax, dataset in zip(axes, datasets):
        for i, (variant, setting) in enumerate(lines):
            s = stats[(stats["dataset"] == dataset) & (stats["variant"] == variant)
                      & (stats["setting"] == setting)].sort_values("step")
            if s.empty:
                continue
            name = METHOD_NAME.get((variant, "iterative"), variant) + (f" [{setting}]" if setting else "")
            line, = ax.plot(s["step"], s["mean"], marker="o", markersize=2.5, color=f"C{i % 10}",
                            label=f"{name} (n={int(s['count'].max())})")
            std = s["std"].fillna(0.0)
            low, high = (s["mean"] - std).clip(*ACC_RANGE), (s["mean"] + std).clip(*ACC_RANGE)
            ax.fill_between(s["step"], low, high, color=line.get_color(), alpha=0.15 if len(lines) > 2 else 0.25)
        ax.set_title(f"searched and evaluated on {DATASET_LABEL[dataset]}", fontsize=10)
        ax.set_xlabel("Pruning step")
        ax.set_ylabel("Test accuracy (%)")
        ax.grid(alpha=0.3)
    figure_legend(fig, axes, max_cols=3)
    fig.suptitle(FIG2_TITLE + " (FreeDARTS, NAS-Bench-201)", fontsize=11)
    return fig


@section("table3", applies=has_space("nasbench201"), order=100)
def _table3_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    groups = table3_groups(cells)
    mds, texs = [], []
    for i, (setting, group) in enumerate(groups):
        entries = table3_stats(group, options.columns_from)
        md = table3_markdown(entries, options.columns_from)
        if setting:
            md = f"### {setting}\n\n" + md
            log.info("Table 3 for the cells with %s", setting)
        mds.append(md)
        label = f"tab:{sweep_name(cells)}-table3" + ("" if len(groups) == 1 else f"-{i + 1}")
        texs.append(table3_latex(entries, options.columns_from, setting=setting, label=label))
    md = "\n".join(mds)
    if len(groups) > 1:
        axes = sorted({part.split("=")[0] for s, _ in groups for part in s.split(", ") if s})
        md = (f"One Table 3 per value of {', '.join(axes)} (the cells of one method differ in it; nothing is "
              "pooled across it).\n\n" + md)
    files = [write_text(out_dir / "table3.md", md), write_text(out_dir / "table3.tex", "\n".join(texs))]
    return Fragment(f"## Table 3\n\n{md}\nLaTeX: [table3.tex](table3.tex)\n", files, console=md)


@section("fig2", applies=has_space("nasbench201"), order=110)
def _fig2_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    nb = cells[cells["space"] == "nasbench201"]
    nb, trajectory = freedarts_only(nb, trajectory)  # baselines' trajectories are samples, not pruning
    settings = dict(zip(nb["cell_id"], labelled(nb)["setting"])) if len(nb) else {}
    stats = trajectory_stats(trajectory, settings)
    if stats.empty:
        log.warning("Fig. 2 skipped: no iterative trajectory rows with looked-up metrics in this sweep")
        return Fragment("## Fig. 2\n\nSkipped: no iterative trajectory with looked-up metrics in this sweep.\n")
    path = save_figure(fig2_figure(stats), out_dir / "fig2_trajectory.png", dpi=150)
    split = sorted({s for s in stats["setting"] if s}, key=setting_sort_key)
    md = (f"## Fig. 2: {FIG2_TITLE}\n\n![{FIG2_TITLE}](fig2_trajectory.png)\n\n"
          "Test accuracy of the argmax-alpha architecture after each pruning step of iterative FreeDARTS "
          "(step 0 = unpruned supernet): mean over seeds, band = mean ± std clipped to [0, 100] %; each subplot "
          "uses its search dataset's metric."
          + (f" One line per setting ({'; '.join(split)})." if split else "") + "\n")
    return Fragment(md, [path])
