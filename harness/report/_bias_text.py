"""The bias analysis as text: markdown and LaTeX tables, and the conclusion generated from the numbers.

The conclusion (`conclusion`) is assembled from sentences that each restate one measured number
(a count, a share, a percentile, a correlation) next to its reference; no sentence is written
unless its numbers exist, and none says more than they do. Numbers come from `BiasResult`
(harness/report/bias.py computes it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pandas as pd

from harness.report._base import METHOD_NAME, md_escape
from harness.report._latex import latex_escape, latex_table

SPACE_LABEL = {"nasbench201": "NAS-Bench-201", "darts": "DARTS", "mobilenet": "MobileNet"}
POSITION_WORD = {"nasbench201": "edges", "darts": "node inputs", "mobilenet": "blocks"}
_FREEDARTS = set(METHOD_NAME.values())


@dataclass(frozen=True)
class BiasResult:
    sweep: str
    params: pd.DataFrame          # bias.param_bias
    picks: pd.DataFrame           # bias.picks
    sampled: dict                 # row label -> (cells whose samples held the largest cell, cells)
    same_acc: pd.DataFrame | None  # bias.same_accuracy (NB201; None without the NB201 table)
    acc_size: dict                # dataset -> Spearman(test acc, params) over every NB201 cell
    hist: pd.DataFrame            # bias.op_histogram
    edges: pd.DataFrame           # bias.edge_diversity
    corr: pd.DataFrame            # bias.score_param_correlation (per cell)
    sizes: dict                   # (space, dataset, options) -> SpaceSizes
    diversity: pd.DataFrame = None  # bias.diversity_summary

    def with_diversity(self, diversity: pd.DataFrame) -> BiasResult:
        return dataclasses.replace(self, diversity=diversity)


def is_freedarts(method: str) -> bool:
    return method.split(" [")[0] in _FREEDARTS


def _f(v, spec: str = ".3f") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _pct(v: float) -> str:
    return "" if math.isnan(v) else f"{100 * v:.0f} %"


# -- tables: (header, rows of plain-text cells, alignment) shared by markdown and LaTeX -----------------
def _largest_table(r: BiasResult):
    head = ["Space", "Search dataset", "Method", "n", "mean params (M)", "median (M)", "largest cell (M)",
            "picks = largest", "mean percentile in space", "space median (M)"]
    rows = [[SPACE_LABEL.get(x.space, x.space), x.dataset, x.method, str(x.n), _f(x.mean_params_m),
             _f(x.median_params_m), _f(x.max_params_m), f"{x.n_largest} of {x.n} ({_pct(x.share_largest)})",
             _f(x.mean_percentile, ".1f"), _f(x.space_median_m)] for x in r.params.itertuples(index=False)]
    return head, rows, "lllrrrrlrr"


def _band_table(r: BiasResult):
    head = ["Search dataset", "Method", "n", "accuracy band (%)", "band from", "cells in band", "band median (M)",
            "picks mean (M)", "picks mean acc. (%)", "picks' percentile in band", "largest cell in band"]
    rows = [[x.dataset, x.method, str(x.n), f"{x.band_low:.2f}–{x.band_high:.2f}" if not math.isnan(x.band_low) else "",
             x.band_source, f"{x.band_cells:,}", _f(x.band_median_m), _f(x.picks_mean_m), _f(x.picks_mean_acc, ".2f"),
             _f(x.percentile_in_band, ".1f"), "yes" if x.band_largest_in else "no"]
            for x in r.same_acc.itertuples(index=False)]
    return head, rows, "llrllrrrrrl"


def _diversity_table(r: BiasResult):
    head = ["Space", "Method", "n", "positions holding their most-parameter op", "same for a uniform random cell",
            "distinct ops per position over the picks", "distinct op types per cell"]
    rows = [[SPACE_LABEL.get(x.space, x.space), x.method, str(x.n), _pct(x.max_op_share), _pct(x.uniform_max_op_share),
             _f(x.distinct_ops_per_position, ".2f"), _f(x.distinct_ops_per_arch, ".2f")]
            for x in r.diversity.itertuples(index=False)]
    return head, rows, "llrrrrr"


def _hist_table(r: BiasResult, space: str):
    h = r.hist[r.hist["space"] == space]
    ops = list(dict.fromkeys(h["op"]))
    rows = []
    for method, g in h.groupby("method", sort=False):
        share = g.set_index("op")["share"]
        rows.append([method, str(int(g["n_archs"].max()))] + [_f(share.get(o), ".2f") for o in ops])
    return ["Method", "n archs", *ops], rows, "lr" + "r" * len(ops)


def _corr_table(r: BiasResult):
    head = ["Space", "Method", "architecture score", "Spearman mean", "std", "cells"]
    from harness.report.bias import correlation_summary

    rows = [[SPACE_LABEL.get(x.space, x.space), x.method, x.score, _f(x.mean), _f(x.std), str(x.n_cells)]
            for x in correlation_summary(r.corr).itertuples(index=False)]
    return head, rows, "lllrrr"


def _md(table) -> list[str]:
    head, rows, align = table
    sep = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return ["| " + " | ".join(head) + " |", sep] + ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]


def _tex(table, caption: str, label: str, notes: list[str] = ()) -> str:
    head, rows, align = table
    return latex_table(caption=caption, label=label, colspec=align,
                       header=[" & ".join(latex_escape(h) for h in head)],
                       rows=[[latex_escape(c) for c in row] for row in rows], notes=list(notes))


# -- notes ------------------------------------------------------------------------------------------
def _largest_notes(r: BiasResult, code=lambda arch: arch) -> list[str]:
    """Notes under the largest-cell table; `code` formats an architecture string (markdown: backticks)."""
    notes = []
    seen = set()
    for key, s in r.sizes.items():
        if (key[0], s.largest_arch) in seen or key[0] not in set(r.params["space"]):
            continue
        seen.add((key[0], s.largest_arch))
        how = ("over all 15,625 cells" if s.exact else "by the space's rules (closed form over every choice; "
               f"percentiles among a uniform sample of {len(s.distribution()):,} cells)")
        notes.append(f"Largest {SPACE_LABEL.get(key[0], key[0])} cell, {how}: {code(s.largest_arch)}"
                     + (" (any inputs: a DARTS node's count does not depend on them)" if key[0] == "darts" else ""))
    for label, (hit, n) in sorted(r.sampled.items()):
        notes.append(f"{label}: a largest cell was among the sampled cells in {hit} of {n} cells.")
    return notes


def _band_notes(r: BiasResult) -> list[str]:
    rho = "; ".join(f"{d} {v:.2f}" for d, v in r.acc_size.items())
    return [f"Band = the row's mean ± max(std, 0.1) test accuracy (paper Table 3 for FreeDARTS, Table 2 for random, "
            "zero-cost SynFlow N=1000 and Zero-Cost-PT; ours where the paper has no such row); every NB201 cell in "
            "the band is counted. Percentile: share of band cells smaller than a pick (ties half), averaged over picks.",
            f"Spearman(test accuracy, params) over all 15,625 NB201 cells: {rho}."]


# -- conclusion -------------------------------------------------------------------------------------
def _largest_sentence(rows: pd.DataFrame) -> list[str]:
    fd, base = rows[rows["method"].map(is_freedarts)], rows[~rows["method"].map(is_freedarts)]
    out = []
    if len(fd):
        parts = [f"{x.method} in {x.n_largest} of {x.n} searches" for x in fd.itertuples(index=False)]
        text = "FreeDARTS picked the largest-parameter cell: " + "; ".join(parts)
        if len(base):
            text += " (" + "; ".join(f"{x.method}: {x.n_largest} of {x.n}" for x in base.itertuples(index=False)) + ")"
        out.append(text + ".")
        always = [x.method for x in fd.itertuples(index=False) if x.n_largest == x.n]
        out.append(f"{', '.join(always)} picked the largest cell in every search." if always
                   else "No FreeDARTS row picked the largest cell in every search.")
        rnd = base[base["method"] == "random"]
        ref = (f" (random picks: {rnd['mean_percentile'].iloc[0]:.1f})" if len(rnd) else "")
        out.append("On average its picks lie at percentile " + ", ".join(
            f"{x.mean_percentile:.1f} ({x.method})" for x in fd.itertuples(index=False))
            + f" of the space's parameter counts{ref}.")
    elif len(base):
        out.append("Picks equal to the largest-parameter cell: " + "; ".join(
            f"{x.method} {x.n_largest} of {x.n}" for x in base.itertuples(index=False)) + ".")
    return out


def _band_sentences(r: BiasResult, dataset: str) -> list[str]:
    if r.same_acc is None:
        return []
    rows = r.same_acc[(r.same_acc["dataset"] == dataset) & r.same_acc["method"].map(is_freedarts)]
    out = []
    for x in rows.itertuples(index=False):
        if x.band_cells == 0:
            out.append(f"No NB201 cell has a test accuracy in {x.method}'s band ({x.band_low:.2f}–{x.band_high:.2f} %).")
            continue
        side = "larger" if x.percentile_in_band > 50 else "not larger"
        out.append(f"Among the {x.band_cells:,} cells whose {dataset} test accuracy lies in {x.method}'s band "
                   f"({x.band_low:.2f}–{x.band_high:.2f} %, {x.band_source}), the median has {x.band_median_m:.3f} M "
                   f"parameters; {x.method}'s picks (mean {x.picks_mean_m:.3f} M) are larger than "
                   f"{x.percentile_in_band:.0f} % of them, i.e. {side} than the typical cell of the same accuracy.")
    if dataset in r.acc_size and out:
        out.append(f"Over all cells Spearman(test accuracy, params) = {r.acc_size[dataset]:.2f}: accurate NB201 cells "
                   "tend to be large, so size alone does not separate a bias from finding accurate cells; the "
                   "comparison at equal accuracy does.")
    return out


def _diversity_sentences(r: BiasResult, space: str) -> list[str]:
    d = r.diversity[r.diversity["space"] == space]
    fd, base = d[d["method"].map(is_freedarts)], d[~d["method"].map(is_freedarts)]
    if fd.empty:
        return []
    word = POSITION_WORD.get(space, "positions")
    text = ("Per position, the most-parameter op was chosen on " + "; ".join(
        f"{_pct(x.max_op_share)} of the {word} ({x.method})" for x in fd.itertuples(index=False))
        + f", against {_pct(fd['uniform_max_op_share'].iloc[0])} for a uniformly random cell")
    if len(base):
        text += " and " + "; ".join(f"{_pct(x.max_op_share)} for {x.method}" for x in base.itertuples(index=False))
    out = [text + "."]
    out.append("Distinct op types per cell: " + "; ".join(f"{x.distinct_ops_per_arch:.1f} ({x.method})"
                                                           for x in d.itertuples(index=False)) + ".")
    never_all = all(x.max_op_share < 1 for x in fd.itertuples(index=False))
    every_pick = r.picks[(r.picks["space"] == space) & r.picks["method"].map(is_freedarts)]
    if never_all and (every_pick["max_op_share"] < 1).all():
        out.append("So no FreeDARTS pick here holds the most-parameter op on every position, as Remark 2 states "
                   "(it claims no more than that).")
    else:
        n_all = int((every_pick["max_op_share"] == 1).sum())
        out.append(f"{n_all} of {len(every_pick)} FreeDARTS picks hold the most-parameter op on every position.")
    above = [x.method for x in fd.itertuples(index=False) if x.max_op_share > x.uniform_max_op_share]
    below = [x.method for x in fd.itertuples(index=False) if x.max_op_share <= x.uniform_max_op_share]
    if above:
        out.append(f"FreeDARTS rows choosing that op more often than a uniformly random cell does: {', '.join(above)}"
                   + (f"; not more often: {', '.join(below)}." if below else "."))
    else:
        out.append("No FreeDARTS row chose that op more often than a uniformly random cell does.")
    return out


def conclusion(r: BiasResult) -> str:
    """Paragraphs of sentences generated from the measured numbers (see module docstring)."""
    paragraphs = []
    for space in [s for s in SPACE_LABEL if s in set(r.params["space"])]:
        p = r.params[r.params["space"] == space]
        for dataset in p["dataset"].unique():
            sentences = _largest_sentence(p[p["dataset"] == dataset])
            if space == "nasbench201":
                sentences += _band_sentences(r, dataset)
            if sentences:
                paragraphs.append(f"**{SPACE_LABEL[space]}, searched on {dataset}.** " + " ".join(sentences))
        div = _diversity_sentences(r, space)
        if div:
            paragraphs.append(f"**{SPACE_LABEL[space]}, operations (all datasets).** " + " ".join(div))
    ns = sorted(set(r.params["n"]))
    if ns and min(ns) < 10:
        paragraphs.append(f"Rows hold {', '.join(map(str, ns))} picks: a share moves by 1/n per search, so with few "
                          "searches these shares are coarse.")
    return "\n\n".join(paragraphs)


# -- documents --------------------------------------------------------------------------------------
def bias_markdown(r: BiasResult, figures: list[str]) -> str:
    lines = ["### Is the pick the largest cell?", "", *_md(_largest_table(r)), ""]
    lines += [f"- {n}" for n in _largest_notes(r, code=lambda arch: f"`{arch}`")]
    lines += ["", "![parameters of the picks](bias_params.png)", ""]
    if r.same_acc is not None and len(r.same_acc):
        lines += ["### Against cells of the same accuracy (NAS-Bench-201)", "", *_md(_band_table(r)), ""]
        lines += [f"- {n}" for n in _band_notes(r)]
        if "bias_band.png" in figures:
            lines += ["", "![picks among cells of the same accuracy](bias_band.png)"]
        lines.append("")
    elif (r.params["space"] == "nasbench201").any():
        lines += ["### Against cells of the same accuracy (NAS-Bench-201)", "",
                  "Not computed: no NAS-Bench-201 table under the data root (it holds every cell's accuracy).", ""]
    lines += ["### Operation diversity", "", *_md(_diversity_table(r)), "",
              "Positions: NB201 its 6 edges; DARTS the 16 node inputs (N = normal, R = reduction cell, node 0-3, "
              "input 1-2); MobileNet its 21 blocks. Per-position shares: bias_edges.csv.", ""]
    for space in r.hist["space"].unique():
        lines += [f"Op histogram, {SPACE_LABEL.get(space, space)} (share of positions):", "", *_md(_hist_table(r, space)), ""]
    lines += [f"![{name}]({name})" for name in ("bias_ops.png", "bias_edges.png") if name in figures]
    lines += ["", "### Architecture score against parameter count", ""]
    if len(r.corr):
        lines += [*_md(_corr_table(r)), "", "Spearman rank correlation per cell, then mean ± std over cells. The "
                  "additive scores (FreeDARTS, Zero-Cost-PT) rank whole cells by the methods' operation scores; they "
                  "are not the methods' decision rules (iterative re-scoring)."]
        if "bias_scatter.png" in figures:
            lines += ["", "![score against parameters](bias_scatter.png)"]
    else:
        lines.append("No method in this sweep scores architectures (random picks, or no trajectory).")
    lines += ["", "### Conclusion", "", conclusion(r)]
    return "\n".join(lines) + "\n"


def bias_latex(r: BiasResult) -> str:
    parts = [_tex(_largest_table(r), f"Picks against the largest-parameter cell ({r.sweep})", f"tab:{r.sweep}-bias-largest",
                  _largest_notes(r))]  # notes are escaped as plain text
    if r.same_acc is not None and len(r.same_acc):
        parts.append(_tex(_band_table(r), f"Picks among NAS-Bench-201 cells of the same accuracy ({r.sweep})",
                          f"tab:{r.sweep}-bias-band", _band_notes(r)))
    parts.append(_tex(_diversity_table(r), f"Operation diversity of the picks ({r.sweep})", f"tab:{r.sweep}-bias-ops"))
    for space in r.hist["space"].unique():
        parts.append(_tex(_hist_table(r, space), f"Op histogram of the picks, {SPACE_LABEL.get(space, space)} ({r.sweep})",
                          f"tab:{r.sweep}-bias-hist-{space}"))
    if len(r.corr):
        parts.append(_tex(_corr_table(r), f"Architecture score against parameter count ({r.sweep})",
                          f"tab:{r.sweep}-bias-spearman"))
    return "\n".join(parts)
