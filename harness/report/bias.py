"""The parameter-intensive-bias analysis, measured against what the paper claims.

    python -m harness.report results/bias      # -> bias.md/.tex, bias_*.png, bias_*.csv
    python -m harness.report results/table2    # the same section over Table 2's cells (three datasets)

The paper claims (abstract, Remark 2, §4.5) that ZEROS "avoid[s] always selecting the operation
with the highest trace norm (or the most parameters)" and that FreeDARTS finds diverse cells "of
comparable size", unlike summing-up proxies (zero-cost NAS, Zero-Cost-PT) that pick the
most-parameter operation on (nearly) every edge. It reports no NB201 parameter counts. This
section measures exactly those claims, per space, search dataset and row (method + proxy + N, and
any swept setting: `labelled`), from the ok cells and their trajectories:

1. the share of picks that ARE the largest-parameter cell of the space -- NB201 over all 15,625
   cells, DARTS and MobileNet by their own rules (`harness.space_stats`, closed form, not a sample);
   the picks' percentile among the space's cells; for sampling methods, whether the largest cell
   was among the samples at all;
2. picks against cells of the same accuracy (NB201, where every cell's accuracy is known): the
   parameters of all cells whose test accuracy lies in the paper's band for that row (mean ± std of
   its Table 3 / Table 2 entry, at least ± 0.1, within [0, 100]), and where the picks fall among them. On NB201
   accuracy itself rises with size (Spearman over all cells, reported), so the space's median is
   not the reference: a method that finds accurate cells finds larger ones;
3. operation diversity per edge: the share of positions (edges, node inputs, blocks) holding the
   position's most-parameter op, the distinct ops each position received over the seeds, the
   distinct op types per architecture, and the op histogram;
4. the rank correlation of each method's architecture score with parameter count (zero_cost: the
   proxy of every sampled cell; FreeDARTS and Zero-Cost-PT: their operation scores summed over an
   architecture's choices, S(arch) = sum of S[position, op], over the space's distribution);
5. a conclusion generated from these numbers (harness/report/_bias_text.py), claiming nothing
   they do not show.

The `most_params` method (harness/methods/most_params.py) is the reference for "always the
largest". Figures: harness/report/_bias_figures.py.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import get_benchmark
from harness import store
from harness.report._base import (
    METHOD_NAME, Fragment, ReportOptions, labelled, method_column, section, sweep_name, write_text,
)

log = logging.getLogger(__name__)

DATASET_METRIC = get_benchmark("nasbench201").dataset_metrics()  # search dataset -> NB201 test-acc column
BAND_FLOOR = 0.1  # minimum half-width (points) of an accuracy band: the paper gives ± 0.00 for Zero-Cost-PT
# The paper's rows for the baselines (Table 2: mean, std per dataset) -- Table 3 covers FreeDARTS.
PAPER_TABLE2_BANDS = {
    "random": ((86.61, 13.46), (60.83, 12.58), (33.13, 9.66)),
    "zero_cost (synflow, N=1000)": ((93.45, 0.28), (70.73, 1.36), (43.64, 2.42)),
    "zero_cost_pt (synflow)": ((93.75, 0.00), (71.11, 0.00), (41.43, 0.00)),
}


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


def mid_percentile(values: np.ndarray, x: float) -> float:
    """Percent of `values` below x, ties counted half (50 = the median of `values`)."""
    values = np.asarray(values)
    return float(100 * ((values < x).mean() + 0.5 * (values == x).mean())) if len(values) else math.nan


def _num_classes(dataset: str) -> int:
    from harness.data import DATASETS

    return DATASETS[dataset].num_classes


def size_key(row) -> tuple[str, str, str]:
    return row["space"], row["dataset"], row["space_options"] if isinstance(row["space_options"], str) else "{}"


def load_sizes(cells: pd.DataFrame) -> dict[tuple[str, str, str], object]:
    """(space, dataset, space_options) -> `harness.space_stats.SpaceSizes`, for every such key of ok cells."""
    from harness.space_stats import NoSizeModelError, space_sizes

    out = {}
    ok = cells[cells["status"] == store.STATUS_OK]
    for key in sorted({size_key(r) for _, r in ok.iterrows()}):
        try:
            out[key] = space_sizes(key[0], _num_classes(key[1]), json.loads(key[2]))
        except NoSizeModelError as exc:
            log.info("bias: %s", exc)
    return out


def nb201_accuracies() -> pd.DataFrame | None:
    """arch + the three test accuracies of every NB201 cell (the converted table), None without one."""
    from benchmarks import nasbench201
    from benchmarks.paths import cache_root, data_root

    table_dir = nasbench201.resolve_table(data_root(), cache_root())
    if table_dir is None:
        return None
    table = nasbench201.open_table(table_dir)
    rows = [{"arch": a, **table.lookup(a)} for a in table.arch_keys()]
    return pd.DataFrame(rows, columns=["arch", *DATASET_METRIC.values()])


# -- 1. picks and the largest cell ------------------------------------------------------------------
def picks(cells: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """One row per ok cell of a space with a size model: its row label, params, largest?, percentile in
    the space, share of positions holding their most-parameter op, distinct op types."""
    ok = cells[(cells["status"] == store.STATUS_OK) & cells["arch"].notna()]
    ok = labelled(ok)
    rows = []
    for _, r in ok.iterrows():
        s = sizes.get(size_key(r))
        if s is None:
            continue
        params = int(s.params([r["arch"]])[0])
        metric = DATASET_METRIC.get(r["dataset"]) if r["space"] == "nasbench201" else None
        rows.append({"space": r["space"], "dataset": r["dataset"], "method": r["row_label"], "_method": r["_method"],
                     "cell_id": r["cell_id"], "seed": int(r["seed"]), "arch": r["arch"], "params_m": params / 1e6,
                     "largest": params == s.max_params,
                     "percentile": mid_percentile(s.distribution()["params_m"].to_numpy() * 1e6, params),
                     "max_op_share": float(s.max_op_mask(r["arch"]).mean()),
                     "distinct_ops": len(set(s.ops(r["arch"]))),
                     "accuracy": float(r[metric]) if metric and pd.notna(r.get(metric)) else math.nan})
    cols = ["space", "dataset", "method", "_method", "cell_id", "seed", "arch", "params_m", "largest", "percentile",
            "max_op_share", "distinct_ops", "accuracy"]
    return pd.DataFrame(rows, columns=cols)


def largest_sampled(cells: pd.DataFrame, trajectory: pd.DataFrame, sizes: dict) -> dict[str, tuple[int, int]]:
    """Sampling methods (zero_cost, most_params): row label -> (cells whose samples held a largest-count
    cell, cells). Without one among its samples, a method cannot pick the largest cell."""
    sampling = labelled(cells[method_column(cells).isin(["zero_cost", "most_params"])
                              & (cells["status"] == store.STATUS_OK)])
    out: dict[str, list[int]] = {}
    for _, r in sampling.iterrows():
        s = sizes.get(size_key(r))
        archs = trajectory.loc[trajectory["cell_id"] == r["cell_id"], "alpha_arch"].dropna()
        if s is None or archs.empty:
            continue
        hit = bool(s.is_largest(archs).any())
        counts = out.setdefault(r["row_label"], [0, 0])
        counts[0] += hit
        counts[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def param_bias(pick_frame: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """Per (space, dataset, row): picks' params against the space and its largest cell."""
    rows = []
    for (space, dataset, method), g in pick_frame.groupby(["space", "dataset", "method"], sort=False):
        s = _sizes_of(sizes, space, dataset)
        dist = s.distribution()["params_m"]
        rows.append({"space": space, "dataset": dataset, "method": method, "n": len(g),
                     "mean_params_m": float(g["params_m"].mean()), "median_params_m": float(g["params_m"].median()),
                     "space_median_m": float(dist.median()), "space_cells": len(dist), "space_exact": s.exact,
                     "max_params_m": s.max_params / 1e6, "n_largest": int(g["largest"].sum()),
                     "share_largest": float(g["largest"].mean()), "mean_percentile": float(g["percentile"].mean())})
    cols = ["space", "dataset", "method", "n", "mean_params_m", "median_params_m", "space_median_m", "space_cells",
            "space_exact", "max_params_m", "n_largest", "share_largest", "mean_percentile"]
    return _ordered(pd.DataFrame(rows, columns=cols))


def _sizes_of(sizes: dict, space: str, dataset: str):
    """The size model of (space, dataset) with the first options seen (the distribution a panel shows)."""
    return next(v for k, v in sizes.items() if k[:2] == (space, dataset))


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by space (and dataset), FreeDARTS first in the paper's order, then the baselines by name; the
    order within a row (e.g. ops) is kept."""
    order = {name: i for i, name in enumerate(METHOD_NAME.values())}
    key = frame["method"].map(lambda m: f"{order.get(m.split(' [')[0], len(order)):02d} {m}")
    by = [c for c in ("space", "dataset") if c in frame] + ["_k"]
    return frame.assign(_k=key).sort_values(by, kind="stable").drop(columns="_k").reset_index(drop=True)


# -- 2. cells of the same accuracy (NB201) ----------------------------------------------------------
def paper_band(method: str, dataset: str, ours: pd.Series) -> tuple[float, float, str]:
    """(low, high, source) of a row's accuracy band: the paper's mean ± max(std, BAND_FLOOR) where the paper
    has the row (Table 3 for FreeDARTS, Table 2 for random / zero-cost SynFlow / Zero-Cost-PT), else ours."""
    from harness.report.nb201 import PAPER_TABLE3, TABLE_DATASETS

    i = TABLE_DATASETS.index(dataset)
    base = method.split(" [")[0]
    by_name = {name: key for key, name in METHOD_NAME.items()}
    if base in by_name:
        (mean, std), source = PAPER_TABLE3[by_name[base]][i], "paper Table 3"
    elif base in PAPER_TABLE2_BANDS:
        (mean, std), source = PAPER_TABLE2_BANDS[base][i], "paper Table 2"
    else:
        values = ours.dropna()
        if values.empty:
            return math.nan, math.nan, "no accuracy"
        mean, std, source = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, "ours"
    half = max(std, BAND_FLOOR)
    return max(mean - half, 0.0), min(mean + half, 100.0), source


def same_accuracy(pick_frame: pd.DataFrame, acc: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """Per NB201 (dataset, row): the cells whose test accuracy is in the row's band, their params, and the
    percentile of the picks among them."""
    rows = []
    nb = pick_frame[pick_frame["space"] == "nasbench201"]
    for (dataset, method), g in nb.groupby(["dataset", "method"], sort=False):
        metric = DATASET_METRIC[dataset]
        low, high, source = paper_band(method, dataset, g["accuracy"])
        s = _sizes_of(sizes, "nasbench201", dataset)
        band = acc[(acc[metric] >= low) & (acc[metric] <= high)] if not math.isnan(low) else acc.iloc[:0]
        band_params = s.params(band["arch"]) / 1e6 if len(band) else np.empty(0)
        rows.append({"dataset": dataset, "method": method, "n": len(g), "band_low": low, "band_high": high,
                     "band_source": source, "band_cells": len(band),
                     "band_median_m": float(np.median(band_params)) if len(band_params) else math.nan,
                     "band_largest_in": bool(len(band)) and s.largest_arch in set(band["arch"]),
                     "picks_mean_m": float(g["params_m"].mean()), "picks_mean_acc": float(g["accuracy"].mean()),
                     "percentile_in_band": float(np.mean([mid_percentile(band_params, p) for p in g["params_m"]]))
                     if len(band_params) else math.nan})
    cols = ["dataset", "method", "n", "band_low", "band_high", "band_source", "band_cells", "band_median_m",
            "band_largest_in", "picks_mean_m", "picks_mean_acc", "percentile_in_band"]
    return _ordered(pd.DataFrame(rows, columns=cols))


def band_params(acc: pd.DataFrame, sizes: dict, dataset: str, low: float, high: float) -> np.ndarray:
    metric = DATASET_METRIC[dataset]
    band = acc[(acc[metric] >= low) & (acc[metric] <= high)]
    return _sizes_of(sizes, "nasbench201", dataset).params(band["arch"]) / 1e6 if len(band) else np.empty(0)


def accuracy_size_correlation(acc: pd.DataFrame, sizes: dict, datasets) -> dict[str, float]:
    """dataset -> Spearman(test accuracy, params) over every NB201 cell."""
    out = {}
    for dataset in datasets:
        s = _sizes_of(sizes, "nasbench201", dataset)
        dist = s.distribution().set_index("arch")["params_m"]
        out[dataset] = spearman(acc[DATASET_METRIC[dataset]], dist.reindex(acc["arch"]).to_numpy())
    return out


# -- 3. operation diversity -------------------------------------------------------------------------
def op_histogram(pick_frame: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """Per (space, row, op): count and share of the picks' positions holding that op (all datasets)."""
    rows = []
    for (space, method), g in pick_frame.groupby(["space", "method"], sort=False):
        s = _sizes_of(sizes, space, g["dataset"].iloc[0])
        ops = [op for arch in g["arch"] for op in s.ops(arch)]
        names = _space_ops(space)
        for op in names:
            n = ops.count(op)
            rows.append({"space": space, "method": method, "op": op, "count": n,
                         "share": n / len(ops) if ops else math.nan, "n_archs": len(g)})
    return _ordered(pd.DataFrame(rows, columns=["space", "method", "op", "count", "share", "n_archs"]))


def _space_ops(space: str) -> tuple[str, ...]:
    from spaces import get_space

    spec = get_space(space)
    ops = next(iter(spec.op_names.values()))
    return tuple(o for o in ops if not (space == "darts" and o == "none"))  # a DARTS genotype never holds none


def edge_diversity(pick_frame: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """Per (space, row, position): share of picks holding the position's most-parameter op, distinct ops."""
    rows = []
    for (space, method), g in pick_frame.groupby(["space", "method"], sort=False):
        s = _sizes_of(sizes, space, g["dataset"].iloc[0])
        masks = np.array([s.max_op_mask(a) for a in g["arch"]])
        ops = np.array([s.ops(a) for a in g["arch"]], dtype=object)
        for j, position in enumerate(s.positions):
            rows.append({"space": space, "method": method, "position": position, "n_archs": len(g),
                         "max_op_share": float(masks[:, j].mean()), "distinct_ops": len(set(ops[:, j]))})
    return _ordered(pd.DataFrame(rows, columns=["space", "method", "position", "n_archs", "max_op_share",
                                                "distinct_ops"]))


def diversity_summary(pick_frame: pd.DataFrame, edges: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """Per (space, row): mean max-op share over positions, mean distinct ops per position (over the picks),
    mean distinct op types per architecture; plus the same max-op share for a uniform random cell."""
    rows = []
    for (space, method), g in pick_frame.groupby(["space", "method"], sort=False):
        e = edges[(edges["space"] == space) & (edges["method"] == method)]
        rows.append({"space": space, "method": method, "n": len(g), "max_op_share": float(g["max_op_share"].mean()),
                     "distinct_ops_per_position": float(e["distinct_ops"].mean()),
                     "distinct_ops_per_arch": float(g["distinct_ops"].mean()),
                     "uniform_max_op_share": uniform_max_op_share(_sizes_of(sizes, space, g["dataset"].iloc[0]))})
    return _ordered(pd.DataFrame(rows, columns=["space", "method", "n", "max_op_share", "distinct_ops_per_position",
                                                "distinct_ops_per_arch", "uniform_max_op_share"]))


def uniform_max_op_share(s) -> float:
    """Expected share of positions holding their most-parameter op for a uniformly random cell."""
    return s.uniform_max_op_share


# -- 4. score vs params -----------------------------------------------------------------------------
def score_positions(space: str, arch: str) -> list[tuple[str, int, int]]:
    """(alpha group, row, column) of each choice of `arch` in the space's score matrices."""
    from spaces import darts, get_space
    from spaces import mobilenet as mb
    from spaces import nasbench201 as nb

    if space == "nasbench201":
        return [(nb.GROUP, e, nb.OPS.index(o)) for e, o in enumerate(nb.parse_arch_key(arch).ops)]
    if space == "mobilenet":
        return [(mb.GROUP, b, mb.OPS.index(o)) for b, o in enumerate(mb.parse_arch_key(arch).ops)]
    if space == "darts":
        g = darts.parse_arch_key(arch)
        edge = {e: i for i, e in enumerate(darts.EDGES)}
        return [(cell, edge[(i // 2 + 2, src)], darts.OPS.index(op))
                for cell, pairs in zip(darts.GROUPS, (g.normal, g.reduce)) for i, (op, src) in enumerate(pairs)]
    raise ValueError(f"no score positions for space {space!r}; known: {', '.join(get_space(space).op_names)}")


@functools.lru_cache(maxsize=16)
def _score_index(space: str, archs: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """group -> (rows, cols) arrays of shape [n archs, choices in that group], parsed once per distribution."""
    per_arch = [score_positions(space, a) for a in archs]
    out = {}
    for group in dict.fromkeys(g for g, _, _ in per_arch[0]) if per_arch else ():
        rows = np.array([[r for g, r, _ in pos if g == group] for pos in per_arch], dtype=np.int64)
        cols = np.array([[c for g, _, c in pos if g == group] for pos in per_arch], dtype=np.int64)
        out[group] = (rows, cols)
    return out


def additive_scores(groups: dict[str, list], space: str, archs) -> np.ndarray:
    """S(arch) = sum over the architecture's choices of the op scores `groups` ({group: [[...]]})."""
    archs = tuple(archs)
    total = np.zeros(len(archs))
    for group, (rows, cols) in _score_index(space, archs).items():
        total += np.asarray(groups[group], dtype=float)[rows, cols].sum(axis=1)
    return total


def score_param_correlation(cells: pd.DataFrame, trajectory: pd.DataFrame, sizes: dict) -> pd.DataFrame:
    """Per cell: Spearman of the method's architecture score with params (module docstring, item 4)."""
    ok = labelled(cells[cells["status"] == store.STATUS_OK])
    by_cell = dict(tuple(trajectory.groupby("cell_id", sort=False)))  # one pass, not a filter per cell
    archs: dict[tuple, tuple[str, ...]] = {}  # size key -> its distribution's archs, made once
    rows = []
    for _, cell in ok.iterrows():
        key = size_key(cell)
        s = sizes.get(key)
        if s is None or cell["_method"] in ("random", "most_params"):
            continue
        traj = by_cell.get(cell["cell_id"])
        if traj is None:  # groupby yields no empty groups
            continue
        if cell["_method"] == "zero_cost":
            scores, params = traj["score"].astype(float).to_numpy(), s.params(traj["alpha_arch"])
            kind = "proxy score of each sampled cell"
        elif cell["_method"] in ("freedarts", "zero_cost_pt"):
            step = traj.sort_values("step").iloc[0 if cell["_method"] == "freedarts" else -1]
            if not isinstance(step["scores_json"], str):
                continue
            dist = s.distribution()
            if key not in archs:
                archs[key] = tuple(dist["arch"])
            scores = additive_scores(json.loads(step["scores_json"]), cell["space"], archs[key])
            params = dist["params_m"].to_numpy()
            kind = ("sum of op scores over every cell of the space" if s.exact
                    else f"sum of op scores over {len(dist):,} uniformly sampled cells")
        else:
            continue
        rows.append({"space": cell["space"], "dataset": cell["dataset"], "method": cell["row_label"],
                     "cell_id": cell["cell_id"], "seed": int(cell["seed"]), "n_archs": len(scores), "score": kind,
                     "spearman": spearman(scores, params)})
    return pd.DataFrame(rows, columns=["space", "dataset", "method", "cell_id", "seed", "n_archs", "score", "spearman"])


def correlation_summary(per_cell: pd.DataFrame) -> pd.DataFrame:
    out = per_cell.groupby(["space", "method", "score"], sort=False)["spearman"].agg(["mean", "std", "count"])
    return _ordered(out.reset_index().rename(columns={"count": "n_cells"}))


# -- section ----------------------------------------------------------------------------------------
def _applies(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    ok = cells[cells["status"] == store.STATUS_OK]
    return bool((method_column(ok) != "freedarts").any() or ok["space"].isin(["darts", "mobilenet"]).any())


@section("bias", applies=_applies, order=150)
def _bias_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    from harness.report import _bias_figures, _bias_text

    sizes = load_sizes(cells)
    pick_frame = picks(cells, sizes)
    if pick_frame.empty:
        md = "No ok cell of a space with a parameter-size model (harness/space_stats.py): nothing to analyse.\n"
        return Fragment("## Parameter-intensive bias\n\n" + md, [write_text(out_dir / "bias.md", md)])
    nb_datasets = sorted(pick_frame.loc[pick_frame["space"] == "nasbench201", "dataset"].unique())
    acc = nb201_accuracies() if nb_datasets else None
    result = _bias_text.BiasResult(
        sweep=sweep_name(cells), params=param_bias(pick_frame, sizes), picks=pick_frame,
        sampled=largest_sampled(cells, trajectory, sizes),
        same_acc=same_accuracy(pick_frame, acc, sizes) if acc is not None else None,
        acc_size={} if acc is None else accuracy_size_correlation(acc, sizes, nb_datasets),
        hist=op_histogram(pick_frame, sizes), edges=edge_diversity(pick_frame, sizes),
        corr=score_param_correlation(cells, trajectory, sizes), sizes=sizes)
    result = result.with_diversity(diversity_summary(pick_frame, result.edges, sizes))
    files = _bias_figures.write_figures(result, cells, trajectory, acc, out_dir)
    for name, frame in (("bias_params.csv", result.params), ("bias_ops.csv", result.hist),
                        ("bias_edges.csv", result.edges), ("bias_spearman.csv", result.corr)):
        frame.to_csv(out_dir / name, index=False)
        files.append(out_dir / name)
    md = _bias_text.bias_markdown(result, [f.name for f in files if f.suffix == ".png"])
    files += [write_text(out_dir / "bias.md", md), write_text(out_dir / "bias.tex", _bias_text.bias_latex(result))]
    return Fragment("## Parameter-intensive bias\n\n" + md, files, console=_bias_text.conclusion(result) + "\n")
