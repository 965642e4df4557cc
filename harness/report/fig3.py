"""NAS-Bench-201 Fig. 3: the alpha-scale study (test accuracy of iterative FreeDARTS-D vs a).

    python -m harness.report results/fig3     # -> fig3_alpha_scale.png, fig3.md, fig3.tex, fig3.csv

Uses the NB201 FreeDARTS cells (variant D, iterative) of a sweep that varies `alpha_scale`
(alpha = a * randn). Per search dataset and a: n ok cells, mean ± std (ddof=1) of that dataset's
test accuracy, and the cells that failed -- a NaN/overflow (NonFiniteScoreError) is a failure,
recorded and drawn as such (a red cross at the bottom of the panel, with the count), never a
number. The plot has one panel per dataset, a on a log axis, mean ± std error bars.

`flat_range` gives, per dataset, the a values whose mean is within `tolerance` (1 point) of the
best mean -- the paper's claim is that a in 1e-5 .. 1e-2 all do well.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmarks import get_benchmark
from harness import store
from harness.report._base import (
    Fragment, ReportOptions, freedarts_only, latex_escape, section, short_error, sweep_name, write_text,
)
from harness.report._summary import ok_values, summarize
from harness.report._figures import figure_legend, new_figure, save_figure
from harness.report._latex import latex_table

DATASET_METRIC = get_benchmark("nasbench201").dataset_metrics()  # search dataset -> NB201 test-acc column
DATASET_LABEL = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16-120": "ImageNet16-120"}
FIG3_TITLE = "Hyperparameter analysis of FreeDARTS (alpha = a * randn)"


def fig3_cells(cells: pd.DataFrame) -> pd.DataFrame:
    nb = freedarts_only(cells[cells["space"] == "nasbench201"])
    return nb[(nb["variant"] == "D") & (nb["mode"] == "iterative")]


def fig3_stats(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, alpha_scale): n_cells, n_ok, n_failed, mean, std, failure reasons."""
    rows = []
    for (dataset, scale), g in fig3_cells(cells).groupby(["dataset", "alpha_scale"]):
        if dataset not in DATASET_METRIC:
            continue
        s = summarize(ok_values(g, DATASET_METRIC[dataset]))
        failed = g[g["status"] != store.STATUS_OK]
        reasons = sorted({short_error(e, 60) for e in failed["error"]})
        rows.append({"dataset": dataset, "alpha_scale": float(scale), "n_cells": len(g), "n_ok": s.n,
                     "n_failed": len(failed), "mean": s.mean, "std": s.std,
                     "failures": "; ".join(reasons)})
    cols = ["dataset", "alpha_scale", "n_cells", "n_ok", "n_failed", "mean", "std", "failures"]
    return pd.DataFrame(rows, columns=cols).sort_values(["dataset", "alpha_scale"], ignore_index=True)


def flat_range(stats: pd.DataFrame, tolerance: float = 1.0) -> dict[str, list[float]]:
    """Per dataset, the a values whose mean accuracy is within `tolerance` points of the best mean."""
    out = {}
    for dataset, g in stats.dropna(subset=["mean"]).groupby("dataset"):
        best = g["mean"].max()
        out[dataset] = sorted(float(a) for a in g.loc[g["mean"] >= best - tolerance, "alpha_scale"])
    return out


FIG3_NOTE = ("Iterative FreeDARTS-D, test accuracy (%) on the search dataset, mean ± sample std (ddof=1) over seeds; "
             "failed cells (e.g. NaN/overflow of the ZEROS pass) are counted, not averaged.")


def _entry(r) -> str:
    std = "" if math.isnan(r["std"]) else f" ± {r['std']:.2f}"
    text = "no data" if r.n_ok == 0 else f"{r['mean']:.2f}{std}"
    text += f" (n={int(r.n_ok)}"
    text += f", {int(r.n_failed)} failed: {r.failures}" if r.n_failed else ""
    return text + ")"


def _flat_lines(stats: pd.DataFrame) -> list[str]:
    return [f"{DATASET_LABEL[d]}: a within 1 point of the best mean: {', '.join(f'{a:g}' for a in ok)} "
            f"(range {min(ok):g} .. {max(ok):g})" for d, ok in flat_range(stats).items()]


def fig3_markdown(stats: pd.DataFrame) -> str:
    datasets = [d for d in DATASET_METRIC if d in set(stats["dataset"])]
    scales = sorted(stats["alpha_scale"].unique())
    lines = ["| a | " + " | ".join(DATASET_LABEL[d] for d in datasets) + " |",
             "|---|" + "---|" * len(datasets)]
    for a in scales:
        row = [f"{a:g}"]
        for d in datasets:
            s = stats[(stats["dataset"] == d) & (stats["alpha_scale"] == a)]
            row.append(_entry(s.iloc[0]) if len(s) else "—")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"- {line}" for line in _flat_lines(stats)]
    lines += ["", FIG3_NOTE]
    return "\n".join(lines) + "\n"


def fig3_figure(stats: pd.DataFrame):
    datasets = [d for d in DATASET_METRIC if d in set(stats["dataset"])]
    fig, axes = new_figure(len(datasets), 4.4, 4.0)
    for ax, dataset in zip(axes, datasets):
        s = stats[stats["dataset"] == dataset].sort_values("alpha_scale")
        ok = s.dropna(subset=["mean"])
        std = ok["std"].fillna(0.0)
        low = ok["mean"] - (ok["mean"] - std).clip(lower=0.0)        # error bars clipped to [0, 100] %
        high = (ok["mean"] + std).clip(upper=100.0) - ok["mean"]
        ax.errorbar(ok["alpha_scale"], ok["mean"], yerr=[low, high], marker="o", capsize=3,
                    label="mean ± std over seeds (clipped to [0, 100])")
        failed = s[s["n_failed"] > 0]
        if len(failed):
            bottom = ax.get_ylim()[0]
            ax.scatter(failed["alpha_scale"], [bottom] * len(failed), marker="x", color="red", zorder=3,
                       label="failed cells (NaN/overflow)")
            for r in failed.itertuples(index=False):
                ax.annotate(f"{r.n_failed}/{r.n_cells} failed", (r.alpha_scale, bottom), textcoords="offset points",
                            xytext=(0, 6), ha="center", fontsize=7, color="red")
        ax.set_xscale("log")
        ax.set_xlabel("a (alpha = a · randn)")
        ax.set_ylabel("Test accuracy (%)")
        ax.set_title(DATASET_LABEL[dataset], fontsize=10)
        ax.grid(alpha=0.3)
    figure_legend(fig, axes)
    fig.suptitle(FIG3_TITLE + ", NAS-Bench-201", fontsize=11)
    return fig


def fig3_latex(stats: pd.DataFrame, sweep: str) -> str:
    datasets = [d for d in DATASET_METRIC if d in set(stats["dataset"])]
    rows = []
    for a in sorted(stats["alpha_scale"].unique()):
        row = [f"${a:g}$"]
        for d in datasets:
            s = stats[(stats["dataset"] == d) & (stats["alpha_scale"] == a)]
            row.append(latex_escape(_entry(s.iloc[0])) if len(s) else "--")
        rows.append(row)
    return latex_table(caption=f"Fig. 3 data: {FIG3_TITLE}, NAS-Bench-201 ({sweep})", label=f"tab:{sweep}-fig3",
                       colspec="l" + "l" * len(datasets),
                       header=["$a$ & " + " & ".join(DATASET_LABEL[d] for d in datasets)], rows=rows,
                       notes=[FIG3_NOTE, *_flat_lines(stats)])


def _applies(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    return fig3_cells(cells)["alpha_scale"].nunique() > 1


@section("fig3", applies=_applies, order=120)
def _fig3_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    stats = fig3_stats(cells)
    md = fig3_markdown(stats)
    csv = out_dir / "fig3.csv"
    stats.to_csv(csv, index=False)
    png = save_figure(fig3_figure(stats), out_dir / "fig3_alpha_scale.png", dpi=150)
    files = [write_text(out_dir / "fig3.md", md), write_text(out_dir / "fig3.tex", fig3_latex(stats, sweep_name(cells))),
             csv, png]
    return Fragment(f"## Fig. 3: {FIG3_TITLE}\n\n![Fig. 3](fig3_alpha_scale.png)\n\n{md}", files, console=md)
