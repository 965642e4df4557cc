"""The parameter-intensive-bias analysis (paper §3.1 Remarks 1-2, §4.5, Fig. 6-7), per method.

    python -m harness.report results/bias      # -> bias_params.png, bias_ops.png, bias_scatter.png, bias.md
    python -m harness.report results/table2    # the same section, over Table 2's cells

The paper's claim: summing-up zero-cost proxies (SynFlow over all weights) prefer architectures
with many parameters, ZEROS does not. For every method and space in the sweep (methods: the
`method` column; FreeDARTS rows are split by variant / mode):

1. Parameters of the selected architectures (`params_m` of ok cells, with the search dataset's
   head) against the space's distribution (`harness.space_stats.param_distribution`: NB201 = all
   15,625 cells, cached as Parquet): mean / median of the selections, the space's median, the
   percentile of the selections' mean in the space, and the share of selections that are the
   space's largest cell (NB201: all nor_conv_3x3).
2. The operation histogram of the selected architectures (share of edges per op; Fig. 6-7 style).
3. Spearman rank correlation of each method's *architecture score* with parameter count, per cell
   (then mean ± std over cells):
   * zero_cost: the proxy score of every sampled architecture (its trajectory rows) vs its params;
   * freedarts: the ZEROS scores of the unpruned supernet (trajectory step 0) summed over an
     architecture's ops, S(arch) = sum_e S[e, op_e], over every architecture of the distribution;
   * zero_cost_pt: the same sum over the perturbation importances I[e][k] of its last step;
   * random: no score.
   The additive scores are how these operation-level methods rank whole architectures in
   one-shot use; they are not the methods' decision rules themselves (iterative re-scoring).

Reads Parquet only (plus the cached distribution: its first computation builds every network,
minutes on a CPU). Spaces without `all_genotypes` use a seeded uniform sample; spaces that can do
neither are listed as such.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from harness import store
from harness.report._base import METHOD_NAME, Fragment, ReportOptions, method_column, section, write_text

log = logging.getLogger(__name__)

_NB201_TOKEN = re.compile(r"([a-z0-9_]+)~\d")
OP_PARSERS = {"nasbench201": lambda arch: tuple(_NB201_TOKEN.findall(arch))}
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
SPACE_OPS = {"nasbench201": NB201_OPS}


# -- helpers ----------------------------------------------------------------------------------------
def spearman(a, b) -> float:
    """Spearman's rho (average ranks for ties); NaN with fewer than 3 finite pairs or a constant side."""
    frame = pd.DataFrame({"a": np.asarray(a, dtype=float), "b": np.asarray(b, dtype=float)})
    frame = frame[np.isfinite(frame["a"]) & np.isfinite(frame["b"])]
    if len(frame) < 3:
        return math.nan
    ra, rb = frame["a"].rank().to_numpy(), frame["b"].rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def method_label(row) -> str:
    """Display name of a cell's method: FreeDARTS variants by the paper's names, baselines with settings."""
    method = row["_method"]
    if method == "freedarts":
        return METHOD_NAME.get((row["variant"], row["mode"]), f"FreeDARTS {row['variant']}/{row['mode']}")
    if method == "zero_cost":
        return f"zero_cost ({row['proxy']}, N={int(row['n_samples'])})"
    if method == "zero_cost_pt":
        return f"zero_cost_pt ({row['proxy']})"
    return str(method)


def labelled(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.assign(_method=method_column(cells))
    return cells.assign(label=[method_label(r) for _, r in cells.iterrows()] if len(cells) else [])


def _num_classes(dataset: str) -> int:
    from harness.data import DATASETS

    return DATASETS[dataset].num_classes


def load_distributions(cells: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """(space, dataset) -> arch, params_m of the space, for every pair in the cells (skips spaces without one)."""
    from harness.space_stats import param_distribution

    out = {}
    for (space, dataset, options), _ in cells.groupby(["space", "dataset", "space_options"]):
        try:
            out[(space, dataset)] = param_distribution(space, _num_classes(dataset), json.loads(options or "{}"))
        except ValueError as exc:
            log.warning("bias: no parameter distribution for %s: %s", space, exc)
    return out


# -- 1. parameters ----------------------------------------------------------------------------------
def param_bias(cells: pd.DataFrame, dists: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Per (space, dataset, method label): selections' params vs the space distribution."""
    ok = labelled(cells[cells["status"] == store.STATUS_OK].dropna(subset=["params_m"]))
    rows = []
    for (space, dataset, label), g in ok.groupby(["space", "dataset", "label"]):
        dist = dists.get((space, dataset))
        sel = g["params_m"].astype(float)
        row = {"space": space, "dataset": dataset, "method": label, "n": len(g),
               "mean_params_m": float(sel.mean()), "median_params_m": float(sel.median()),
               "space_median_m": math.nan, "space_mean_m": math.nan, "percentile_of_mean": math.nan,
               "largest_arch": None, "share_largest": math.nan}
        if dist is not None:
            p = dist["params_m"].to_numpy()
            largest = dist["arch"].iloc[int(np.argmax(p))]
            row.update(space_median_m=float(np.median(p)), space_mean_m=float(p.mean()),
                       percentile_of_mean=float((p <= sel.mean()).mean() * 100), largest_arch=largest,
                       share_largest=float((g["arch"] == largest).mean()))
        rows.append(row)
    cols = ["space", "dataset", "method", "n", "mean_params_m", "median_params_m", "space_median_m", "space_mean_m",
            "percentile_of_mean", "largest_arch", "share_largest"]
    return pd.DataFrame(rows, columns=cols)


# -- 2. operation histogram -------------------------------------------------------------------------
def op_histogram(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (space, method label, op): count and share of the selected architectures' edges (all datasets)."""
    ok = labelled(cells[(cells["status"] == store.STATUS_OK) & cells["arch"].notna()])
    rows = []
    for (space, label), g in ok.groupby(["space", "label"]):
        parse = OP_PARSERS.get(space)
        if parse is None:
            continue
        ops = [op for arch in g["arch"] for op in parse(arch)]
        names = SPACE_OPS.get(space, tuple(sorted(set(ops))))
        for op in names:
            n = ops.count(op)
            rows.append({"space": space, "method": label, "op": op, "count": n,
                         "share": n / len(ops) if ops else math.nan, "n_archs": len(g)})
    return pd.DataFrame(rows, columns=["space", "method", "op", "count", "share", "n_archs"])


# -- 3. score vs params -----------------------------------------------------------------------------
def _additive_scores(matrix: np.ndarray, archs: pd.Series, space: str) -> np.ndarray:
    ops = SPACE_OPS[space]
    index = np.array([[ops.index(o) for o in OP_PARSERS[space](a)] for a in archs])
    return matrix[np.arange(index.shape[1])[None, :], index].sum(axis=1)


def score_param_correlation(cells: pd.DataFrame, trajectory: pd.DataFrame,
                            dists: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """Per cell: Spearman of the method's architecture score with params (see module docstring)."""
    ok = labelled(cells[cells["status"] == store.STATUS_OK])
    rows = []
    for _, cell in ok.iterrows():
        dist = dists.get((cell["space"], cell["dataset"]))
        if dist is None or cell["_method"] == "random":
            continue
        traj = trajectory[trajectory["cell_id"] == cell["cell_id"]]
        if traj.empty:
            continue
        params = dist.set_index("arch")["params_m"]
        if cell["_method"] == "zero_cost":
            scores = traj["score"].astype(float).to_numpy()
            p = params.reindex(traj["alpha_arch"]).to_numpy()
            kind, n = "proxy score of each sampled cell", len(traj)
        elif cell["_method"] in ("freedarts", "zero_cost_pt") and cell["space"] in SPACE_OPS:
            step = traj.sort_values("step").iloc[0 if cell["_method"] == "freedarts" else -1]
            groups = json.loads(step["scores_json"])
            if len(groups) != 1:
                continue
            matrix = np.asarray(next(iter(groups.values())), dtype=float)
            scores = _additive_scores(matrix, dist["arch"], cell["space"])
            p = dist["params_m"].to_numpy()
            kind, n = "sum of op scores over every cell of the space", len(dist)
        else:
            continue
        rows.append({"space": cell["space"], "dataset": cell["dataset"], "method": cell["label"],
                     "cell_id": cell["cell_id"], "seed": int(cell["seed"]), "n_archs": n, "score": kind,
                     "spearman": spearman(scores, p)})
    return pd.DataFrame(rows, columns=["space", "dataset", "method", "cell_id", "seed", "n_archs", "score",
                                       "spearman"])


def correlation_summary(per_cell: pd.DataFrame) -> pd.DataFrame:
    g = per_cell.groupby(["space", "method", "score"])["spearman"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "n_cells"})


def sampled_contains(trajectory: pd.DataFrame, cells: pd.DataFrame, arch: str) -> pd.DataFrame:
    """zero_cost cells: whether `arch` was among the sampled candidates, and its rank by score if so."""
    zc = labelled(cells[(method_column(cells) == "zero_cost") & (cells["status"] == store.STATUS_OK)])
    rows = []
    for _, cell in zc.iterrows():
        traj = trajectory[trajectory["cell_id"] == cell["cell_id"]]
        hit = traj[traj["alpha_arch"] == arch]
        rank = int((traj["score"] > hit["score"].iloc[0]).sum()) + 1 if len(hit) else None
        rows.append({"method": cell["label"], "dataset": cell["dataset"], "seed": int(cell["seed"]),
                     "n_sampled": len(traj), "sampled": bool(len(hit)), "rank": rank,
                     "picked": cell["arch"] == arch})
    return pd.DataFrame(rows, columns=["method", "dataset", "seed", "n_sampled", "sampled", "rank", "picked"])


# -- plots ------------------------------------------------------------------------------------------
def _figure(width: float, height: float, n: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, width * n), height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, n, squeeze=False)[0]


def params_figure(cells: pd.DataFrame, dists: dict[tuple[str, str], pd.DataFrame]):
    """Per (space, dataset): the space's params histogram, each method's selections as a strip above it."""
    ok = labelled(cells[cells["status"] == store.STATUS_OK].dropna(subset=["params_m"]))
    keys = [k for k in dists if ((ok["space"] == k[0]) & (ok["dataset"] == k[1])).any()]
    fig, axes = _figure(4.5, 4.2, max(1, len(keys)))
    labels = sorted(ok["label"].unique())
    for ax, (space, dataset) in zip(axes, keys):
        p = dists[(space, dataset)]["params_m"]
        ax.hist(p, bins=60, color="0.75", density=True, label=f"{space} ({len(p)} cells)")
        top = ax.get_ylim()[1]
        ax.axvline(float(p.median()), color="0.3", linestyle="--", linewidth=1, label="space median")
        g = ok[(ok["space"] == space) & (ok["dataset"] == dataset)]
        for i, label in enumerate(labels):
            sel = g.loc[g["label"] == label, "params_m"]
            if len(sel):
                y = top * (1.05 + 0.08 * i)
                ax.scatter(sel, [y] * len(sel), s=14, alpha=0.6, label=f"{label} (n={len(sel)})")
        ax.set_xlabel("Parameters (M)")
        ax.set_yticks([])
        ax.set_title(f"{space}, searched on {dataset}", fontsize=10)
        ax.legend(fontsize="x-small", loc="center right")
    fig.suptitle("Parameters of the selected architectures vs the space", fontsize=11)
    return fig


def ops_figure(hist: pd.DataFrame):
    spaces = sorted(hist["space"].unique())
    fig, axes = _figure(6.0, 3.8, max(1, len(spaces)))
    for ax, space in zip(axes, spaces):
        h = hist[hist["space"] == space]
        ops = list(dict.fromkeys(h["op"]))
        methods = sorted(h["method"].unique())
        width = 0.8 / max(1, len(methods))
        for i, m in enumerate(methods):
            s = h[h["method"] == m].set_index("op").reindex(ops)
            ax.bar(np.arange(len(ops)) + i * width, s["share"], width,
                   label=f"{m} (n={int(s['n_archs'].max())})")
        ax.axhline(1 / len(ops), color="0.3", linestyle="--", linewidth=1, label="uniform")
        ax.set_xticks(np.arange(len(ops)) + 0.4 - width / 2, ops, rotation=20, fontsize=8)
        ax.set_ylabel("Share of edges")
        ax.set_title(space, fontsize=10)
        ax.legend(fontsize="x-small")
    fig.suptitle("Operations of the selected architectures (Fig. 6-7 style)", fontsize=11)
    return fig


def scatter_figure(cells: pd.DataFrame, trajectory: pd.DataFrame, dists):
    """First zero_cost cell of each proxy: score (log) vs params of every sampled architecture."""
    zc = labelled(cells[(method_column(cells) == "zero_cost") & (cells["status"] == store.STATUS_OK)])
    firsts = zc.sort_values("seed").groupby("label").head(1)
    fig, axes = _figure(4.2, 3.6, max(1, len(firsts)))
    for ax, (_, cell) in zip(axes, firsts.iterrows()):
        traj = trajectory[trajectory["cell_id"] == cell["cell_id"]]
        dist = dists.get((cell["space"], cell["dataset"]))
        if dist is None or traj.empty:
            continue
        p = dist.set_index("arch")["params_m"].reindex(traj["alpha_arch"]).to_numpy()
        ax.scatter(p, traj["score"], s=6, alpha=0.5)
        ax.set_yscale("log")
        ax.set_xlabel("Parameters (M)")
        ax.set_ylabel(f"{cell['proxy']} score")
        rho = spearman(traj["score"], p)
        ax.set_title(f"{cell['label']}, {cell['dataset']} seed {int(cell['seed'])}\nSpearman {rho:.3f}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle("Summing-up proxy vs parameter count", fontsize=11)
    return fig


# -- section ----------------------------------------------------------------------------------------
def _fmt(v: float, spec: str = ".3f") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def bias_markdown(params: pd.DataFrame, hist: pd.DataFrame, corr: pd.DataFrame, contains: pd.DataFrame) -> str:
    lines = ["### Parameters of the selected architectures", "",
             "| Space | Search dataset | Method | n | mean params (M) | median (M) | space median (M) | "
             "percentile of mean | share = largest cell |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in params.itertuples(index=False):
        lines.append(f"| {r.space} | {r.dataset} | {r.method} | {r.n} | {_fmt(r.mean_params_m)} | "
                     f"{_fmt(r.median_params_m)} | {_fmt(r.space_median_m)} | {_fmt(r.percentile_of_mean, '.1f')} | "
                     f"{_fmt(r.share_largest, '.2f')} |")
    largest = params["largest_arch"].dropna().unique()
    if len(largest):
        lines += ["", "Largest cell of the space: " + ", ".join(f"`{a}`" for a in largest)]
    lines += ["", "![params](bias_params.png)", "", "### Operation histogram of the selected architectures", ""]
    if len(hist):
        wide = hist.pivot_table(index="method", columns="op", values="share", sort=False)
        ops = list(dict.fromkeys(hist["op"]))
        lines += ["| Method | n archs | " + " | ".join(ops) + " |", "|---|---:|" + "---:|" * len(ops)]
        n_archs = hist.groupby("method")["n_archs"].max()
        for method, r in wide.iterrows():
            lines.append(f"| {method} | {int(n_archs[method])} | " + " | ".join(_fmt(r[o], ".2f") for o in ops) + " |")
        lines += ["", "![ops](bias_ops.png)"]
    lines += ["", "### Rank correlation of each method's architecture score with parameter count", "",
              "| Space | Method | architecture score | Spearman mean | std | cells |", "|---|---|---|---:|---:|---:|"]
    for r in correlation_summary(corr).itertuples(index=False):
        lines.append(f"| {r.space} | {r.method} | {r.score} | {_fmt(r.mean)} | {_fmt(r.std)} | {r.n_cells} |")
    if len(contains):
        lines += ["", "zero_cost and the largest cell: "
                  f"picked in {int(contains['picked'].sum())} of {len(contains)} cells; sampled in "
                  f"{int(contains['sampled'].sum())} (ranks when sampled: "
                  f"{', '.join(str(int(x)) for x in contains['rank'].dropna()) or 'none'})."]
        lines += ["", "![scatter](bias_scatter.png)"]
    return "\n".join(lines) + "\n"


def _applies(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    return bool((method_column(cells) != "freedarts").any() and (cells["status"] == store.STATUS_OK).any())


@section("bias", applies=_applies, order=150)
def _bias_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    dists = load_distributions(cells)
    params = param_bias(cells, dists)
    hist = op_histogram(cells)
    corr = score_param_correlation(cells, trajectory, dists)
    largest = params["largest_arch"].dropna()
    contains = sampled_contains(trajectory, cells, largest.iloc[0]) if len(largest) else pd.DataFrame()
    files = []
    for name, fig in (("bias_params.png", params_figure(cells, dists)), ("bias_ops.png", ops_figure(hist)),
                      ("bias_scatter.png", scatter_figure(cells, trajectory, dists))):
        fig.savefig(out_dir / name, dpi=130)
        files.append(out_dir / name)
    for name, frame in (("bias_params.csv", params), ("bias_ops.csv", hist), ("bias_spearman.csv", corr)):
        frame.to_csv(out_dir / name, index=False)
        files.append(out_dir / name)
    md = bias_markdown(params, hist, corr, contains)
    files.append(write_text(out_dir / "bias.md", md))
    return Fragment("## Parameter-intensive bias\n\n" + md, files, console=md)
