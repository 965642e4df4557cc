"""NAS-Bench-201 Table 2: FreeDARTS beside the train-free baselines, ours next to the paper's rows.

    python -m harness.report results/table2     # -> results/table2/report/table2.md, table2.csv

Rows, in the paper's order: the literature rows the paper quotes and that the harness does not
run (SETN, GDAS, DARTS, PC-DARTS, SNAS, NASWOT, TE-NAS, NASI, GradSign, KNAS, optimal) appear
once, marked "quoted" (the paper's numbers, never ours). The four methods the harness runs
(`method` column: random, zero_cost, zero_cost_pt, freedarts = iterative FreeDARTS-D) appear twice:
the paper's row and ours, measured from the Parquet cells.

Our entry (method, dataset column d) pools the ok cells of that method searched on d (as Table 3)
and reports d's test accuracy: mean ± std (ddof=1) over seeds, with n. A column whose cells all
failed says "no data"; one without cells "—". Search cost = the median `search_s` of the
method's ok cells over all datasets (this machine's device; the paper's is one GPU) -- for the
baselines it includes building and scoring every sampled network. The run settings that differ
from the paper's (zero_cost N, Zero-Cost-PT pool size) are listed under the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import store
from harness.report._base import (
    NO_DATA, NOT_RUN, Fragment, ReportOptions, md_escape, method_column, section, write_text,
)

DATASET_METRIC = {"cifar10": "cifar10_test_acc", "cifar100": "cifar100_test_acc",
                  "imagenet16-120": "imagenet16_test_acc"}
DATASET_LABEL = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}
BASELINES = ("random", "zero_cost", "zero_cost_pt")

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


@dataclass(frozen=True)
class Ours:
    """Our statistics of one (method, dataset column): ok values, cells, failures."""

    method: str
    dataset: str
    n: int = 0
    mean: float = math.nan
    std: float = math.nan
    n_cells: int = 0
    n_failed: int = 0

    def text(self) -> str:
        if self.n_cells == 0:
            return NOT_RUN
        if self.n == 0:
            return f"{NO_DATA} ({self.n_failed} failed)"
        std = f" ± {self.std:.2f}" if not math.isnan(self.std) else ""
        return f"{self.mean:.2f}{std} (n={self.n})"


def table2_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The NB201 cells Table 2 uses, with a `_method` column: baselines, and FreeDARTS as iterative -D."""
    nb = cells[cells["space"] == "nasbench201"]
    nb = nb.assign(_method=method_column(nb))
    keep = nb["_method"].isin(BASELINES) | ((nb["_method"] == "freedarts") & (nb["variant"] == "D")
                                            & (nb["mode"] == "iterative"))
    return nb[keep]


def variants(cells: pd.DataFrame, method: str) -> list:
    """The distinct `n_samples` a baseline ran with (one "ours" row each); [None] for the others."""
    t = table2_cells(cells)
    if method not in ("zero_cost", "zero_cost_pt"):
        return [None]
    values = sorted(int(v) for v in t.loc[t["_method"] == method, "n_samples"].dropna().unique())
    return values or [None]


def _group(t: pd.DataFrame, method: str, n_samples) -> pd.DataFrame:
    g = t[t["_method"] == method]
    return g if n_samples is None else g[g["n_samples"] == n_samples]


def table2_stats(cells: pd.DataFrame) -> dict[tuple[str, int | None, str], Ours]:
    """(method, n_samples, dataset) -> our statistics, for the four methods the harness runs.

    n_samples is None for freedarts and random; zero_cost (and zero_cost_pt) get one entry per N run.
    """
    t = table2_cells(cells)
    out = {}
    for method in ("freedarts", *BASELINES):
        for n in variants(cells, method):
            for dataset, metric in DATASET_METRIC.items():
                group = _group(t, method, n)
                group = group[group["dataset"] == dataset]
                values = group.loc[group["status"] == store.STATUS_OK, metric].dropna().astype(float)
                out[(method, n, dataset)] = Ours(method, dataset, len(values),
                                                 float(values.mean()) if len(values) else math.nan,
                                                 float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                                                 len(group), int((group["status"] != store.STATUS_OK).sum()))
    return out


def search_cost_s(cells: pd.DataFrame, method: str, n_samples=None) -> float:
    t = table2_cells(cells)
    ok = _group(t, method, n_samples)
    ok = ok[ok["status"] == store.STATUS_OK]
    return float(ok["search_s"].median()) if len(ok) else math.nan


def _paper_text(value: tuple) -> str:
    mean, std = value
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def run_settings(cells: pd.DataFrame) -> list[str]:
    """One line per method: what was run (n_samples, proxy, seeds, device)."""
    t = table2_cells(cells)
    lines = []
    for method in ("freedarts", *BASELINES):
        g = t[t["_method"] == method]
        if g.empty:
            continue
        parts = [f"{len(g)} cells ({int((g['status'] == store.STATUS_OK).sum())} ok)",
                 f"seeds {int(g['seed'].min())}-{int(g['seed'].max())}"]
        if g["proxy"].notna().any():
            parts.append("proxy " + ", ".join(sorted(g["proxy"].dropna().astype(str).unique())))
        if method in ("zero_cost", "zero_cost_pt") and g["n_samples"].notna().any():
            label = "N (sampled cells)" if method == "zero_cost" else "pool size"
            parts.append(f"{label} " + ", ".join(str(int(v)) for v in sorted(g["n_samples"].dropna().unique())))
        parts.append("device " + ", ".join(sorted(g["device"].dropna().astype(str).unique())))
        lines.append(f"- `{method}`: " + "; ".join(parts))
    return lines


def table2_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """The table as rows: name, source (quoted / paper / ours), three dataset texts, search cost."""
    stats = table2_stats(cells)
    rows = []
    for name, method, values, cost in PAPER_TABLE2:
        source = "quoted" if method is None else "paper"
        rows.append({"method": name, "source": source, **{DATASET_LABEL[d]: _paper_text(v)
                                                           for d, v in zip(DATASET_METRIC, values)},
                     "search_cost": cost or "-"})
        if method is None:
            continue
        for n in variants(cells, method):
            s = search_cost_s(cells, method, n)
            label = name if n is None or method != "zero_cost" else f"{name} (N={n})"
            rows.append({"method": label, "source": "ours", **{DATASET_LABEL[d]: stats[(method, n, d)].text()
                                                               for d in DATASET_METRIC},
                         "search_cost": f"{s:.3g}s" if not math.isnan(s) else "-"})
    return pd.DataFrame(rows)


def table2_markdown(cells: pd.DataFrame) -> str:
    frame = table2_frame(cells)
    cols = list(frame.columns)
    lines = ["| Method | Source | CIFAR-10 | CIFAR-100 | ImageNet16-120 | Search cost |",
             "|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        cells_ = [md_escape(str(r[c])) for c in cols]
        if r["source"] == "ours":
            cells_ = [f"**{c}**" if i in (0, 1) else c for i, c in enumerate(cells_)]
        lines.append("| " + " | ".join(cells_) + " |")
    lines += ["", "quoted = the paper's number for a method the harness does not run; paper = the paper's "
              "number for a method run here; **ours** = measured here (test accuracy %, mean ± std over seeds, "
              "each column searched on that dataset's setting). Our search cost = median search_s per cell on "
              "this machine (paper: one GPU).", "", "What ran:", *run_settings(cells)]
    return "\n".join(lines) + "\n"


def _applies(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    nb = cells[cells["space"] == "nasbench201"]
    return bool(method_column(nb).isin(BASELINES).any())


@section("table2", applies=_applies, order=90)
def _table2_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    md = table2_markdown(cells)
    csv = out_dir / "table2.csv"
    table2_frame(cells).to_csv(csv, index=False)
    files = [write_text(out_dir / "table2.md", md), csv]
    return Fragment(f"## Table 2: comparison with NAS baselines on NAS-Bench-201\n\n{md}", files, console=md)
