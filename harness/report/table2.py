"""NAS-Bench-201 Table 2: FreeDARTS beside the train-free baselines, ours next to the paper's rows.

    python -m harness.report results/table2     # -> results/table2/report/table2.md, table2.tex, table2.csv

Rows, in the paper's order: the literature rows the paper quotes and that the harness does not
run (SETN, GDAS, DARTS, PC-DARTS, SNAS, NASWOT, TE-NAS, NASI, GradSign, KNAS, optimal) appear
once, marked "quoted" (the paper's numbers, never ours). Each method the harness runs (`method`
column: random, zero_cost, zero_cost_pt, freedarts = iterative FreeDARTS-D) has the paper's row
followed by one "ours" row per (proxy, n_samples) it ran with -- e.g. "Zero-Cost NAS (snip, N=30)"
and "Zero-Cost NAS (grad_norm, N=30)" are two rows, never pooled -- and methods the paper does not
have (most_params) come after the paper's rows.

Our entry (row, dataset column d) pools the ok cells of that row searched on d (as Table 3) and
reports d's test accuracy: mean ± std (ddof=1) over seeds, with n. A column whose cells all
failed says "no data"; one without cells "—". Search cost = the median `search_s` of the row's
ok cells over all datasets (this machine's device; the paper's is one GPU) -- for the baselines
it includes building and scoring every sampled network. What ran is listed under the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks import get_benchmark
from harness import store
from harness.report._base import (
    NO_DATA, NOT_RUN, Fragment, ReportOptions, labelled, latex_escape, md_escape, method_column, section, sweep_name,
    write_text,
)
from harness.report._summary import GroupStats
from harness.report._latex import latex_table

DATASET_METRIC = get_benchmark("nasbench201").dataset_metrics()  # search dataset -> NB201 test-acc column
DATASET_LABEL = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}

# Source: FreeDARTS paper (shared/paper/freedarts-paper.txt), Table 2 "Comparisons with NAS
# baselines on NAS-Bench-201": (name, harness method or None, ((mean, std) x 3 datasets), cost).
# std None = the paper gives a single number; cost None = "-".
PAPER_TABLE2: tuple[tuple[str, str | None, tuple, str | None], ...] = (
    ("SETN", None, ((87.64, 0.00), (59.05, 0.24), (32.52, 0.21)), "31010s"),
    ("GDAS", None, ((93.40, 0.49), (70.33, 0.87), (41.47, 0.21)), "28925.91s"),
    ("DARTS (1st)", None, ((54.30, 0.00), (15.61, 0.00), (16.32, 0.00)), "10889.87s"),
    ("DARTS (2nd)", None, ((54.30, 0.00), (15.61, 0.00), (16.32, 0.00)), "29901.67s"),
    ("PC-DARTS", None, ((93.41, 0.30), (67.48, 0.89), (41.31, 0.22)), "10023s"),
    ("SNAS", None, ((92.77, 0.83), (69.34, 1.98), (43.16, 2.64)), "32345s"),
    ("Random baseline", "random", ((86.61, 13.46), (60.83, 12.58), (33.13, 9.66)), None),
    ("NASWOT", None, ((92.45, 1.12), (68.66, 2.02), (41.35, 4.08)), "30.01s"),
    ("Zero-Cost NAS", "zero_cost", ((93.45, 0.28), (70.73, 1.36), (43.64, 2.42)), "115.2s"),
    ("Zero-Cost-PT‡", "zero_cost_pt", ((93.75, 0.00), (71.11, 0.00), (41.43, 0.00)), "647.5s"),
    ("TE-NAS", None, ((93.90, 0.47), (71.24, 0.56), (42.38, 0.46)), "1558s"),
    ("NASI", None, ((93.55, 0.10), (71.20, 0.14), (44.84, 1.41)), "120s"),
    ("GradSign", None, ((93.31, 0.47), (70.33, 1.28), (42.42, 2.81)), None),
    ("KNAS", None, ((93.43, None), (71.05, None), (45.05, None)), "20000s"),
    ("FreeDARTS", "freedarts", ((93.64, 0.24), (71.30, 1.01), (45.62, 0.39)), "3.6s"),
    ("optimal", None, ((94.37, None), (73.51, None), (47.31, None)), None),
)


HARNESS_ONLY = {"most_params": "Most parameters (not in the paper)"}


@dataclass(frozen=True, kw_only=True)
class Ours(GroupStats):
    """Our statistics of one (row, dataset column): ok values, cells, failures."""

    row: str
    dataset: str

    def text(self) -> str:
        if self.n_cells == 0:
            return NOT_RUN
        if self.n == 0:
            return f"{NO_DATA} ({self.n_failed} failed)"
        std = f" ± {self.std:.2f}" if not math.isnan(self.std) else ""
        return f"{self.mean:.2f}{std} (n={self.n})"


def table2_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The NB201 cells Table 2 uses, `labelled`: every baseline, and FreeDARTS as iterative -D (the paper's row).

    Rows are the cells' `row_label`: method + proxy + n_samples (+ any setting that differs within one).
    """
    nb = cells[cells["space"] == "nasbench201"]
    method = method_column(nb)
    keep = (method != "freedarts") | ((nb["variant"] == "D") & (nb["mode"] == "iterative"))
    return labelled(nb[keep])


def rows_of(t: pd.DataFrame, method: str) -> list[str]:
    """The row labels of one method, sorted (zero_cost (synflow, N=100) before N=1000)."""
    labels = t.loc[t["_method"] == method, ["row_label", "n_samples"]].drop_duplicates("row_label")
    labels = labels.assign(_n=labels["n_samples"].fillna(0)).sort_values(["_n", "row_label"])
    return list(labels["row_label"])


def table2_stats(cells: pd.DataFrame) -> dict[tuple[str, str], Ours]:
    """(row label, dataset) -> our statistics, for every row the harness ran (see `table2_cells`)."""
    t = table2_cells(cells)
    out = {}
    for row in t["row_label"].unique():
        group_all = t[t["row_label"] == row]
        for dataset, metric in DATASET_METRIC.items():
            group = group_all[group_all["dataset"] == dataset]
            out[(row, dataset)] = Ours.of(group, metric, row=row, dataset=dataset)
    return out


def search_cost_s(t: pd.DataFrame, row: str) -> float:
    ok = t[(t["row_label"] == row) & (t["status"] == store.STATUS_OK)]
    return float(ok["search_s"].median()) if len(ok) else math.nan


def _paper_text(value: tuple) -> str:
    mean, std = value
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def run_settings(cells: pd.DataFrame) -> list[str]:
    """One line per row label: what was run (cells, seeds, device)."""
    t = table2_cells(cells)
    lines = []
    for row, g in t.groupby("row_label", sort=True):
        lines.append(f"- `{row}`: {len(g)} cells ({int((g['status'] == store.STATUS_OK).sum())} ok); seeds "
                     f"{int(g['seed'].min())}-{int(g['seed'].max())}; datasets "
                     f"{', '.join(sorted(g['dataset'].astype(str).unique()))}; device "
                     f"{', '.join(sorted(g['device'].dropna().astype(str).unique()))}")
    return lines


def _ours_name(paper_name: str, t: pd.DataFrame, row: str) -> str:
    """'Zero-Cost NAS (synflow, N=1000)' from the paper's name and the row label's settings."""
    g = t[t["row_label"] == row].iloc[0]
    method = g["_method"]
    detail = g["label"][len(method):] if g["label"].startswith(method) else ""
    return paper_name + detail + (f" [{g['setting']}]" if g["setting"] else "")


def table2_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The table as rows: name, source (quoted / paper / ours), three dataset texts, search cost."""
    t = table2_cells(cells)
    stats = table2_stats(cells)
    rows = []

    def ours(name: str, row: str) -> dict:
        s = search_cost_s(t, row)
        return {"method": name, "source": "ours", **{DATASET_LABEL[d]: stats[(row, d)].text() for d in DATASET_METRIC},
                "search_cost": f"{s:.3g}s" if not math.isnan(s) else "-"}

    for name, method, values, cost in PAPER_TABLE2:
        source = "quoted" if method is None else "paper"
        rows.append({"method": name, "source": source, **{DATASET_LABEL[d]: _paper_text(v)
                                                           for d, v in zip(DATASET_METRIC, values)},
                     "search_cost": cost or "-"})
        if method is not None:
            rows += [ours(_ours_name(name, t, row), row) for row in rows_of(t, method)]
    in_paper = {m for _, m, _, _ in PAPER_TABLE2 if m}
    for method in sorted(set(t["_method"]) - in_paper):
        rows += [ours(_ours_name(HARNESS_ONLY.get(method, method), t, row), row) for row in rows_of(t, method)]
    return pd.DataFrame(rows, columns=["method", "source", *DATASET_LABEL.values(), "search_cost"])


TABLE2_NOTE = ("quoted = the paper's number for a method the harness does not run; paper = the paper's number for a "
               "method run here; ours = measured here (test accuracy %, mean ± sample std over seeds, each column "
               "searched on that dataset's setting; rows by method, proxy and N). Our search cost = median search_s "
               "per cell on this machine (paper: one GPU).")


def table2_markdown(cells: pd.DataFrame, frame: pd.DataFrame | None = None) -> str:
    frame = table2_frame(cells) if frame is None else frame
    cols = list(frame.columns)
    lines = ["| Method | Source | CIFAR-10 | CIFAR-100 | ImageNet16-120 | Search cost |",
             "|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        cells_ = [md_escape(str(r[c])) for c in cols]
        if r["source"] == "ours":
            cells_ = [f"**{c}**" if i in (0, 1) else c for i, c in enumerate(cells_)]
        lines.append("| " + " | ".join(cells_) + " |")
    lines += ["", TABLE2_NOTE.replace("ours = ", "**ours** = "), "", "What ran:", *run_settings(cells)]
    return "\n".join(lines) + "\n"


def table2_latex(cells: pd.DataFrame, frame: pd.DataFrame | None = None) -> str:
    frame = table2_frame(cells) if frame is None else frame
    rows: list = []
    for _, r in frame.iterrows():
        cells_ = [latex_escape(str(v)) for v in r]
        if r["source"] == "ours":
            cells_[:2] = [rf"\textbf{{{c}}}" for c in cells_[:2]]
        rows.append(cells_)
    return latex_table(caption="Table 2: comparison with NAS baselines on NAS-Bench-201 (test accuracy %)",
                       label=f"tab:{sweep_name(cells)}-table2", colspec="llllll",
                       header=["Method & Source & CIFAR-10 & CIFAR-100 & ImageNet16-120 & Search cost"], rows=rows,
                       notes=[TABLE2_NOTE])


def _applies(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    nb = cells[cells["space"] == "nasbench201"]
    return bool((method_column(nb) != "freedarts").any())


@section("table2", applies=_applies, order=90)
def _table2_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    frame = table2_frame(cells)
    md = table2_markdown(cells, frame)
    csv = out_dir / "table2.csv"
    frame.to_csv(csv, index=False)
    files = [write_text(out_dir / "table2.md", md), write_text(out_dir / "table2.tex", table2_latex(cells, frame)), csv]
    return Fragment(f"## Table 2: comparison with NAS baselines on NAS-Bench-201\n\n{md}", files, console=md)
