"""Figures of the bias analysis (harness/report/bias.py), each saved through `save_figure` (never blank).

    bias_params.png   per space and search dataset: the space's parameter counts (histogram), the
                      picks of every row as a strip above it, the space's median and largest cell
    bias_band.png     NB201: per dataset, the parameters of the cells whose accuracy is in each row's
                      band (box: quartiles, whiskers: 5-95 %), the row's picks as dots
    bias_ops.png      per space: the op histogram of the picks, one bar group per op
    bias_edges.png    per space: share of picks holding the most-parameter op, per row and position
    bias_scatter.png  per row (its first cell): architecture score against parameters -- zero_cost's
                      proxy of every sampled cell; FreeDARTS / Zero-Cost-PT's summed op scores over the
                      space's cells -- with the cell's own pick marked
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness import store
from harness.report._base import labelled
from harness.report._bias_text import SPACE_LABEL, BiasResult
from harness.report._figures import legend_outside, new_figure, save_figure

MAX_SCATTER_PANELS = 6


def _color_map(methods) -> dict[str, str]:
    return {m: f"C{i % 10}" for i, m in enumerate(methods)}


def params_figure(r: BiasResult):
    from harness.report.bias import _sizes_of

    keys = list(dict.fromkeys(zip(r.params["space"], r.params["dataset"])))
    fig, axes = new_figure(len(keys), 5.0, 4.2, ncols=3)
    colors = _color_map(dict.fromkeys(r.params["method"]))
    for ax, (space, dataset) in zip(axes, keys):
        s = _sizes_of(r.sizes, space, dataset)
        dist = s.distribution()["params_m"]
        label = f"{'all' if s.exact else 'uniform sample of'} {len(dist):,} cells"
        ax.hist(dist, bins=60, color="0.75", density=True, label=label)
        top = ax.get_ylim()[1]
        ax.axvline(float(dist.median()), color="0.3", linestyle="--", linewidth=1, label="space median")
        ax.axvline(s.max_params / 1e6, color="black", linestyle=":", linewidth=1.2, label="largest cell")
        picks = r.picks[(r.picks["space"] == space) & (r.picks["dataset"] == dataset)]
        rows = r.params.loc[(r.params["space"] == space) & (r.params["dataset"] == dataset), "method"]
        for i, (method, g) in enumerate((m, picks[picks["method"] == m]) for m in reversed(list(rows))):
            ax.scatter(g["params_m"], [top * (1.06 + 0.09 * i)] * len(g), s=16, alpha=0.7, color=colors[method],
                       label=f"{method} (n={len(g)})")
        ax.set_xlabel("Parameters (M)")
        ax.set_ylabel("Density of the space (bars); picks (dots)")
        ax.set_yticks([])
        ax.set_title(f"{SPACE_LABEL.get(space, space)}, searched on {dataset}", fontsize=10)
        legend_outside(ax)
    fig.suptitle("Parameters of the picks against the space", fontsize=11)
    return fig


def band_figure(r: BiasResult, acc: pd.DataFrame):
    from harness.report.bias import band_params

    same = r.same_acc[r.same_acc["band_cells"] > 0]
    datasets = list(dict.fromkeys(same["dataset"]))
    fig, axes = new_figure(len(datasets), 6.5, 1.2 + 0.45 * max(3, same.groupby("dataset").size().max()), ncols=2)
    for ax, dataset in zip(axes, datasets):
        rows = same[same["dataset"] == dataset].iloc[::-1].reset_index(drop=True)  # first row on top
        boxes = [band_params(acc, r.sizes, dataset, x.band_low, x.band_high) for x in rows.itertuples(index=False)]
        ax.boxplot(boxes, orientation="horizontal", whis=(5, 95), showfliers=False, widths=0.5,
                   tick_labels=[f"{m} ({n:,} cells)" for m, n in zip(rows["method"], rows["band_cells"])])
        for i, x in enumerate(rows.itertuples(index=False)):
            p = r.picks[(r.picks["dataset"] == dataset) & (r.picks["method"] == x.method)]["params_m"]
            ax.scatter(p, np.full(len(p), i + 1.0), color="C3", s=18, zorder=3,
                       label="picks" if i == 0 else None)
        ax.set_xlabel("Parameters (M); box: quartiles, whiskers: 5-95 %")
        ax.set_ylabel("Row (box: cells of its accuracy band)")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"NAS-Bench-201, {dataset}", fontsize=10)
        legend_outside(ax)
    fig.suptitle("Picks among cells of the same test accuracy", fontsize=11)
    return fig


def ops_figure(r: BiasResult):
    spaces = list(dict.fromkeys(r.hist["space"]))
    fig, axes = new_figure(len(spaces), 7.0, 4.0, ncols=2)
    for ax, space in zip(axes, spaces):
        h = r.hist[r.hist["space"] == space]
        ops = list(dict.fromkeys(h["op"]))
        methods = list(dict.fromkeys(h["method"]))
        width = 0.8 / max(1, len(methods))
        for i, m in enumerate(methods):
            s = h[h["method"] == m].set_index("op").reindex(ops)
            ax.bar(np.arange(len(ops)) + i * width, s["share"].fillna(0.0), width,
                   label=f"{m} (n={int(s['n_archs'].max())})")
        ax.axhline(1 / len(ops), color="0.3", linestyle="--", linewidth=1, label="uniform over ops")
        ax.set_xticks(np.arange(len(ops)) + 0.4 - width / 2, ops, rotation=25, ha="right", fontsize=8)
        ax.set_xlabel("Operation")
        ax.set_ylabel("Share of positions")
        ax.set_title(SPACE_LABEL.get(space, space), fontsize=10)
        legend_outside(ax)
    fig.suptitle("Operations of the picks", fontsize=11)
    return fig


def edges_figure(r: BiasResult):
    spaces = list(dict.fromkeys(r.edges["space"]))
    n_methods = max(r.edges.groupby("space")["method"].nunique())
    fig, axes = new_figure(len(spaces), 9.0, 1.4 + 0.45 * n_methods, ncols=1)
    for ax, space in zip(axes, spaces):
        e = r.edges[r.edges["space"] == space]
        wide = e.pivot_table(index="method", columns="position", values="max_op_share", sort=False)
        image = ax.imshow(wide.to_numpy(), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_xticks(range(wide.shape[1]), list(wide.columns), rotation=90 if wide.shape[1] > 8 else 0, fontsize=7)
        ax.set_yticks(range(wide.shape[0]), list(wide.index), fontsize=7)
        if wide.size <= 160:
            for (i, j), v in np.ndenumerate(wide.to_numpy()):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6, color="white" if v < 0.6 else "black")
        ax.set_xlabel("Position (edge / node input / block)")
        ax.set_ylabel("Row")
        ax.set_title(f"{SPACE_LABEL.get(space, space)}: share of picks holding the position's most-parameter op",
                     fontsize=10)
        fig.colorbar(image, ax=ax, label="share of picks", fraction=0.03)
    return fig


def _scatter_cells(cells: pd.DataFrame, trajectory: pd.DataFrame) -> pd.DataFrame:
    ok = labelled(cells[cells["status"] == store.STATUS_OK])
    ok = ok[ok["_method"].isin(["zero_cost", "freedarts", "zero_cost_pt"])
            & ok["cell_id"].isin(set(trajectory["cell_id"]))]
    firsts = ok.sort_values(["dataset", "seed"]).groupby("row_label", sort=False).head(1)
    order = {"freedarts": 0, "zero_cost": 1, "zero_cost_pt": 2}
    firsts = firsts.assign(_o=firsts["_method"].map(order)).sort_values(["_o", "row_label"])
    return firsts.head(MAX_SCATTER_PANELS)


def scatter_figure(r: BiasResult, cells: pd.DataFrame, trajectory: pd.DataFrame):
    from harness.report.bias import additive_scores, size_key, spearman

    panels = []
    for _, cell in _scatter_cells(cells, trajectory).iterrows():
        s = r.sizes.get(size_key(cell))
        traj = trajectory[trajectory["cell_id"] == cell["cell_id"]].sort_values("step")
        if s is None:
            continue
        if cell["_method"] == "zero_cost":
            x, y = s.params(traj["alpha_arch"]) / 1e6, traj["score"].astype(float).to_numpy()
            what = f"{cell['proxy']} score of each sampled cell"
        else:
            step = traj.iloc[0 if cell["_method"] == "freedarts" else -1]
            if not isinstance(step["scores_json"], str):
                continue
            dist = s.distribution()
            x = dist["params_m"].to_numpy()
            y = additive_scores(json.loads(step["scores_json"]), cell["space"], dist["arch"])
            what = "sum of the op scores" + ("" if s.exact else " (sampled cells)")
        pick_x = s.params([cell["arch"]])[0] / 1e6
        pick_y = (float(cell["method_score"]) if cell["_method"] == "zero_cost"
                  else additive_scores(json.loads(step["scores_json"]), cell["space"], [cell["arch"]])[0])
        panels.append((cell, x, y, what, pick_x, pick_y, spearman(x, y)))
    fig, axes = new_figure(len(panels), 4.4, 3.8, ncols=3)
    for ax, (cell, x, y, what, px, py, rho) in zip(axes, panels):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        positive = y > 0
        log = positive.all() or (positive.mean() > 0.5 and y[positive].max() / y[positive].min() > 1e3)
        if log and not positive.all():  # log axis: the few zero scores cannot be drawn, say how many
            what += f" (log; {int((~positive).sum())} zero scores not shown)"
            x, y = x[positive], y[positive]
        ax.scatter(x, y, s=4, alpha=0.35, color="C0", label="scored cells", rasterized=True)
        ax.scatter([px], [py], s=90, marker="*", color="C3", zorder=3, label="the pick")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("Parameters (M)")
        ax.set_ylabel(what, fontsize=8)
        ax.set_title(f"{cell['row_label']}\n{SPACE_LABEL.get(cell['space'], cell['space'])}, {cell['dataset']}, "
                     f"seed {int(cell['seed'])}: Spearman {rho:.2f}", fontsize=8)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    fig.suptitle("Architecture score against parameter count", fontsize=11)
    return fig, len(panels)


def write_figures(r: BiasResult, cells: pd.DataFrame, trajectory: pd.DataFrame, acc: pd.DataFrame | None,
                  out_dir: Path) -> list[Path]:
    """Every figure that has data, saved; a figure without data is not written (and not linked)."""
    files = [save_figure(params_figure(r), out_dir / "bias_params.png")]
    if acc is not None and r.same_acc is not None and (r.same_acc["band_cells"] > 0).any():
        files.append(save_figure(band_figure(r, acc), out_dir / "bias_band.png"))
    files.append(save_figure(ops_figure(r), out_dir / "bias_ops.png"))
    files.append(save_figure(edges_figure(r), out_dir / "bias_edges.png"))
    fig, n = scatter_figure(r, cells, trajectory)
    if n:
        files.append(save_figure(fig, out_dir / "bias_scatter.png"))
    return files
