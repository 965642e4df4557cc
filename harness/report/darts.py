"""DARTS-space sections: paper Table 5 (NAS-Bench-301), Table 6 (search side), Fig. 4-style cell drawings.

Written for `results/table5` and `results/table6` (any sweep with `space: darts` rows):

    table5.md / .tex       Table 5: surrogate "test error" (100 - predicted CIFAR-10 validation accuracy)
                           of one-shot / iterative FreeDARTS-D and the Random baseline, mean ± sample std over
                           seeds and the best seed, one column pair per surrogate that looked the rows up
                           (official NB301, nb301_distilled, YAHPO-Gym v2), each named with its agreement with
                           the official NB301 (from the rows' lookups_json), beside the paper.
    table6.md / .tex       Table 6, search side: per configuration (FreeDARTS = 8-cell CIFAR supernet,
                           † = 20 cells, ‡ = ImageNet 224x224 supernet) the "Param (M)" (CIFAR-10 network,
                           C=36, 20 cells, no auxiliary head) and "+x (M)" (ImageNet mobile network) of the
                           found cells, the median search time on this machine, the error under each NB301
                           surrogate; the published genotypes' sizes computed the same way. Training the found
                           cells (the paper's test-error columns) is out of scope and only quoted.
    darts_genotypes.md/.tex every found genotype with its sizes and lookups, labelled by method (random rows: random)
    fig4_<config>.png      Fig. 4 style: normal and reduction cell of the best genotype per configuration
                           (lowest error under the first surrogate with values: official, else nb301_distilled,
                           else YAHPO; the paper chose by training) beside the published one.

Everything is computed from the cells table, except the published genotypes' sizes, which this
module builds with `spaces.darts` (imported lazily, only when a DARTS table is rendered).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd

from archcodec import darts as darts_key
from harness import store
from harness.report._base import (
    PAPER_SEARCH_COST_S, Fragment, ReportOptions, has_space, labelled, latex_escape, md_escape, method_column,
    section, sweep_name, write_text,
)
from harness.report._summary import summarize
from harness.report._latex import latex_table
from harness.report.arch_figures import draw_darts_rows

SPACE = "darts"
# The paper: "8.5 s" for every DARTS search (Table 6, one GPU); the published genotypes are one-shot (spec §3.3).
PAPER_SEARCH_COST_S.update({(SPACE, "D", "oneshot"): 8.5, (SPACE, "D", "iterative"): 8.5})

CONFIGS = {"cifar8": "FreeDARTS", "cifar20": "FreeDARTS†", "imagenet": "FreeDARTS‡"}
PAPER_SEED = {"cifar8": 4, "cifar20": 1, "imagenet": 3}  # the seeds of the trained genotypes (spec §3.3)
# Paper Table 6 (DARTS space): CIFAR-10 test error, CIFAR-100, ImageNet top-1 / top-5, Param (M), +x (M).
PAPER_TABLE6 = {
    "cifar8": ("2.78 ± 0.06", "18.03", "26.1 / 8.2", 3.6, 634),
    "cifar20": ("2.50 ± 0.05", "17.08", "25.4 / 7.8", 3.6, 577),
    "imagenet": ("2.67 ± 0.04", "16.35", "24.4 / 7.3", 4.1, 655),
}
# Paper Table 5 (NAS-Bench-301 GIN surrogate, test error %): Average, Best, Ground-Truth.
PAPER_TABLE5 = (
    ("GDAS", None, "6.52 ± 0.62", "5.38", "3.07 ± 0.16"),
    ("PC-DARTS", None, "6.42 ± 0.43", "5.46", "2.57 ± 0.07"),
    ("DARTS (2nd)", None, "6.74 ± 0.58", "5.87", "2.76 ± 0.09"),
    ("Random", ("random", None), "7.11 ± 0.58", "6.21", "3.29 ± 0.15"),
    ("One-shot FreeDARTS", ("freedarts", "oneshot"), "6.60 ± 0.47", "5.71", "2.69 ± 0.08"),
    ("FreeDARTS", ("freedarts", "iterative"), "6.65 ± 0.52", "5.50", "2.50 ± 0.05"),
)
# Error columns by surrogate, official first, then the closest to it: every one with values gets its own
# column in Tables 5 and 6; the first one picks Fig. 4's best cell and the REPRODUCTION verdicts.
SURROGATES = (("nb301_val_err", "NAS-Bench-301 official ensemble (nasbench301 0.3)"),
              ("nb301d_val_err", "nb301_distilled (LightGBM distilled from 10,000 official NB301 v0.9 predictions)"),
              ("yahpo_nb301_val_err", "YAHPO-Gym v2 NB301 surrogate (ONNX, epoch 98; not the official one)"))
SHORT = {"nb301_val_err": "NB301 official", "nb301d_val_err": "nb301_distilled", "yahpo_nb301_val_err": "YAHPO"}
CAVEAT_NAME = {"nb301d_val_err": "nb301_distilled (distilled from the official NB301 v0.9 surrogate)",
               "yahpo_nb301_val_err": "the YAHPO-Gym v2 NB301 surrogate"}
BENCHMARK_OF = {"nb301_val_err": "nasbench301", "nb301d_val_err": "nb301_distilled",
                "yahpo_nb301_val_err": "yahpo_nb301"}
TRAINING_NOTE = ("Training the found cells (600-epoch CIFAR / 250-epoch ImageNet evaluation) is out of scope: "
                 "the paper's test-error columns are quoted, not reproduced.")


def _preset(row_options: object) -> str:
    try:
        return str(json.loads(str(row_options)).get("preset", "cifar8"))
    except (json.JSONDecodeError, AttributeError):
        return "cifar8"


def darts_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The ok DARTS rows with `preset` and `search_method` columns."""
    d = cells[(cells["space"] == SPACE) & (cells["status"] == store.STATUS_OK)]
    return d.assign(preset=d["space_options"].map(_preset), search_method=method_column(d))


def _pm(values: pd.Series, digits: int = 2) -> str:
    return summarize(values).pm(digits)  # sample std, as every other report table


def error_columns(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Every surrogate error column with values, official first: (column, surrogate name)."""
    return [(column, name) for column, name in SURROGATES if column in frame and frame[column].notna().any()]


def error_column(frame: pd.DataFrame) -> tuple[str | None, str]:
    """The first surrogate error column with values (official, then nb301_distilled, then YAHPO) and its name."""
    found = error_columns(frame)
    if found:
        return found[0]
    return None, "no NB301 lookup (lookup_status: " + ", ".join(sorted(frame["lookup_status"].dropna().astype(str).unique())) + ")"


def agreement(frame: pd.DataFrame, column: str) -> str:
    """How far a surrogate column can be trusted, quoted from the rows' `lookups_json` (the table's own
    validation, stored at conversion): e.g. "Spearman 0.956 (hold-out, n=2000), 0.951 (NASLib, n=725)"."""
    bench = BENCHMARK_OF.get(column)
    for text in frame.get("lookups_json", pd.Series(dtype=object)).dropna():
        v = json.loads(text).get(bench, {}).get("validation")
        if v:
            parts = [f"{v[k][bench]['spearman']:.3f} ({label}, n={v[k][bench]['n']})"
                     for k, label in (("holdout", "hold-out of the 10,000"), ("naslib", "NASLib's 725 NB301 values"))
                     if bench in v.get(k, {})]
            yahpo = [f"{v[k]['yahpo_nb301']['spearman']:.3f}" for k in ("holdout", "naslib") if "yahpo_nb301" in v.get(k, {})]
            return ("Spearman with the official NB301 " + ", ".join(parts)
                    + (f"; YAHPO on the same references: {' and '.join(yahpo)}" if yahpo else ""))
    return ""


def surrogate_notes(frame: pd.DataFrame) -> list[str]:
    """One line per surrogate column with values: its name and, where the rows carry it, its agreement;
    then the BN mode of the FreeDARTS searches where it is not the code's (`bn_note`)."""
    notes = []
    for column, name in error_columns(frame):
        a = agreement(frame, column)
        notes.append(f"{SHORT[column]}: {name}" + (f"; {a}" if a else ""))
    return notes + bn_note(frame)


def bn_note(frame: pd.DataFrame) -> list[str]:
    """A line naming the FreeDARTS searches' `bn_mode` when any is not the authors' code's (train): on DARTS
    the two modes give different searches (train-mode -D scores are rounding noise), so a reader must know."""
    if "bn_mode" not in frame:
        return []
    modes = sorted(set(frame.loc[frame["search_method"] == "freedarts", "bn_mode"].dropna().astype(str)))
    if modes in ([], ["train"]):
        return []
    pooled = " (the rows of one method pool both modes)" if len(modes) > 1 else ""
    return [f"FreeDARTS searches with bn_mode {' and '.join(modes)}{pooled}; the authors' code uses train, under "
            "which the DARTS supernet's -D scores are float rounding (README \"FreeDARTS-D on DARTS and NB1Shot1\")"]


# -- Table 5 ----------------------------------------------------------------------------------------
def table5_rows(cells: pd.DataFrame) -> tuple[list[dict], list[tuple[str, str]]]:
    """Table 5 rows with Average / Best under every surrogate that has values, and those surrogates."""
    d = darts_cells(cells)
    d = d[(d["dataset"] == "cifar10") & (d["preset"] == "cifar8")]
    columns = error_columns(d)
    rows = []
    for name, key, avg, best, truth in PAPER_TABLE5:
        row = {"method": name, "paper_avg": avg, "paper_best": best, "paper_truth": truth, "n": 0,
               "ours": {c: ("not run here (quoted)" if key is None else "—", "—") for c, _ in columns},
               "median_search_s": math.nan}
        if key is not None:
            method, mode = key
            g = d[d["search_method"] == method]
            if method == "freedarts":
                g = g[(g["mode"] == mode) & (g["variant"] == "D")]
            row["n"] = len(g)
            for column, _ in columns:
                if g[column].notna().any():
                    row["ours"][column] = (_pm(g[column]), f"{g[column].min():.2f}")
            if len(g) and method == "freedarts":
                row["median_search_s"] = float(g["search_s"].median())
        rows.append(row)
    return rows, columns


def _surrogate_head(columns: list[tuple[str, str]]) -> list[str]:
    return [h for c, _ in columns for h in (f"Average ({SHORT[c]})", f"Best ({SHORT[c]})")]


def table5_markdown(rows: list[dict], columns: list[tuple[str, str]], notes: list[str] | None = None) -> str:
    head = ["Method", "n", *_surrogate_head(columns), "Average (paper)", "Best (paper)", "Ground-truth (paper)",
            "median search_s (ours)"]
    lines = ["Test error (%) = 100 − predicted CIFAR-10 validation accuracy (spec §5.3), under each surrogate that "
             "looked the cells up here (one column pair each); the paper used the NAS-Bench-301 GIN surrogate. "
             "Average = mean ± sample std over seeds (Random: over the sampled genotypes, method `random`, one per "
             "seed), Best = lowest. Search: FreeDARTS-D on the 8-cell supernet; iterative = 196 single-op prunes over "
             "one global pool + a final re-score.", ""]
    lines += [f"- {n}" for n in (notes or [])] + ([""] if notes else [])
    lines += ["| " + " | ".join(head) + " |", "|---|---:|" + "---|---:|" * len(columns) + "---|---:|---|---:|"]
    for r in rows:
        t = "" if math.isnan(r["median_search_s"]) else f"{r['median_search_s']:.2f}"
        ours = [x for c, _ in columns for x in r["ours"][c]]
        lines.append("| " + " | ".join([r["method"], str(r["n"]), *ours, r["paper_avg"], r["paper_best"],
                                        r["paper_truth"], t]) + " |")
    if not columns:
        lines += ["", "No NB301 lookup in these rows (see lookup_status)."]
    lines += ["", "Ground-truth = the paper's trained result; not reproduced (training is out of scope)."]
    return "\n".join(lines) + "\n"


def table5_latex(rows: list[dict], columns: list[tuple[str, str]], notes: list[str] | None = None,
                 sweep: str = "table5") -> str:
    body = []
    for r in rows:
        t = "" if math.isnan(r["median_search_s"]) else f"{r['median_search_s']:.2f}"
        ours = [x for c, _ in columns for x in r["ours"][c]]
        body.append([latex_escape(c) for c in (r["method"], str(r["n"]), *ours, r["paper_avg"], r["paper_best"],
                                                r["paper_truth"], t)])
    head = ["Method", "$n$", *(latex_escape(h) for h in _surrogate_head(columns)), "Avg. (paper)", "Best (paper)",
            "Ground-truth (paper)", "search s (ours)"]
    return latex_table(
        caption="Table 5: NAS-Bench-301 test error (%) of the DARTS-space searches, one column pair per surrogate",
        label=f"tab:{sweep}-table5", colspec="lr" + "ll" * len(columns) + "llll", header=[" & ".join(head)], rows=body,
        notes=["Test error = 100 - predicted CIFAR-10 validation accuracy; Average = mean ± sample std over seeds; "
               "Best = lowest; the paper used the NAS-Bench-301 GIN surrogate.", *(notes or []),
               "Ground-truth = the paper's trained result, quoted (training is out of scope)."])


def _has_table5(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    d = darts_cells(cells)
    searched = (d["search_method"] == "freedarts") & (d["mode"] == "iterative")  # a baseline's mode is not a row
    return bool(((d["preset"] == "cifar8") & (searched | (d["search_method"] == "random"))).any())


@section("darts_table5", applies=_has_table5, order=250)
def _table5(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    rows, columns = table5_rows(cells)
    notes = surrogate_notes(darts_cells(cells))
    md = table5_markdown(rows, columns, notes)
    files = [write_text(out_dir / "table5.md", md),
             write_text(out_dir / "table5.tex", table5_latex(rows, columns, notes, sweep_name(cells)))]
    return Fragment("## Table 5: NAS-Bench-301 (DARTS space)\n\n" + md, files, "Table 5 (NB301)\n" + md)


# -- Table 6 ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def published_sizes(preset: str) -> dict[str, float]:
    """Param (M, C=36 and C=38) and +x (M) of the paper's published genotype, by building the networks."""
    from spaces import darts  # lazy: torch is needed only to size the published genotypes

    g = darts.Genotype.parse(darts.PAPER_GENOTYPES[CONFIGS[preset]])
    return {"params_m": darts.cifar_params(g) / 1e6, "params_c38_m": darts.cifar_params(g, 38) / 1e6,
            "flops_m": darts.imagenet_flops(g) / 1e6, "arch": g.arch_str()}


def pair_overlap(a: str, b: str) -> int:
    """(op, input) pairs two genotype strings share, node by node (0..16)."""
    pa, pb = darts_key.parse(a), darts_key.parse(b)
    n = 0
    for cell in ("normal", "reduce"):
        for node in range(4):
            x = [tuple(p) for p in pa[cell][2 * node: 2 * node + 2]]
            y = [tuple(p) for p in pb[cell][2 * node: 2 * node + 2]]
            n += sum(min(x.count(p), y.count(p)) for p in set(x))
    return n


def table6_rows(cells: pd.DataFrame, with_published: bool = True) -> list[dict]:
    d = darts_cells(cells)
    d = d[(d["search_method"] == "freedarts") & (d["mode"] == "oneshot") & (d["variant"] == "D")]
    columns = error_columns(d) if len(d) else []
    rows = []
    for preset, name in CONFIGS.items():
        g = d[d["preset"] == preset]
        if g.empty:
            continue
        paper = PAPER_TABLE6[preset]
        pub = published_sizes(preset) if with_published else {}
        seed_rows = g[g["seed"] == PAPER_SEED[preset]]
        overlap = (pair_overlap(seed_rows["arch"].iloc[0], pub["arch"]) if with_published and len(seed_rows) else None)
        rows.append({
            "config": name, "preset": preset, "n": len(g), "datasets": ", ".join(sorted(g["dataset"].unique())),
            "params": _pm(g["params_m"]), "params_range": f"{g['params_m'].min():.2f}–{g['params_m'].max():.2f}",
            "flops": _pm(g["flops_m"], 0), "paper_params": paper[3], "paper_flops": paper[4],
            "published_params": pub.get("params_m"), "published_params_c38": pub.get("params_c38_m"),
            "published_flops": pub.get("flops_m"), "paper_seed": PAPER_SEED[preset], "seed_overlap": overlap,
            "median_search_s": float(g["search_s"].median()), "paper_search_s": 8.5,
            "errs": {c: _pm(g[c]) for c, _ in columns}, "paper_errors": paper[:3],
            "device": ", ".join(sorted(g["device"].dropna().astype(str).unique())),
        })
    return rows


def table6_markdown(rows: list[dict], columns: list[tuple[str, str]], notes: list[str] | None = None) -> str:
    lines = ["One-shot FreeDARTS-D, mean ± sample std over seeds [min–max]. Param = CIFAR-10 network (C=36, 20 cells, auxiliary head "
             "excluded); +× = multiply-adds of the ImageNet mobile network (C=48, 14 cells, 224×224); both by building "
             "the network of each found genotype. \"published cell\" = the same for the genotype the paper trained; the "
             "last column compares our cell of the paper's seed with it. NB301 err = 100 − predicted CIFAR-10 "
             "validation accuracy under each surrogate (mean ± sample std over seeds):", "",
             *[f"- {n}" for n in (notes or [])], "",
             "| Config | n | Param (M) ours | Param (M) paper | Param (M) published cell | +× (M) ours | +× (M) paper | "
             "+× (M) published cell | median search_s ours | paper | "
             + "".join(f"NB301 err ({SHORT[c]}) | " for c, _ in columns)
             + "our seed = paper seed: pairs shared with the published cell |",
             "|---|---:|---|---:|---:|---|---:|---:|---:|---:|" + "---|" * len(columns) + "---|"]
    for r in rows:
        pub = "" if r["published_params"] is None else f"{r['published_params']:.2f} (C=38: {r['published_params_c38']:.2f})"
        pubf = "" if r["published_flops"] is None else f"{r['published_flops']:.0f}"
        ov = "" if r["seed_overlap"] is None else f"seed {r['paper_seed']}: {r['seed_overlap']}/16"
        lines.append(f"| {r['config']} | {r['n']} | {r['params']} [{r['params_range']}] | {r['paper_params']} | {pub} | "
                     f"{r['flops']} | {r['paper_flops']} | {pubf} | {r['median_search_s']:.2f} | {r['paper_search_s']} "
                     f"(GPU) | " + "".join(f"{r['errs'].get(c, '—')} | " for c, _ in columns) + f"{ov} |")
    lines += ["", "The paper's test errors of its trained cells, quoted (training the found cells is out of scope here):",
              "",
              "| Config | CIFAR-10 test err (%) | CIFAR-100 (%) | ImageNet top-1 / top-5 (%) |", "|---|---|---|---|"]
    for r in rows:
        c10, c100, inet = r["paper_errors"]
        lines.append(f"| {r['config']} | {c10} | {c100} | {inet} |")
    devices = sorted({r["device"] for r in rows})
    lines += ["", f"search_s = data_s + score_s (the authors' timed region) on {', '.join(devices)}; the paper's "
              "8.5 s is on one GPU."]
    return "\n".join(lines) + "\n"


def table6_latex(rows: list[dict], columns: list[tuple[str, str]] = (), notes: list[str] | None = None,
                 sweep: str = "table6") -> str:
    body = [[latex_escape(c) for c in (r["config"], str(r["n"]), r["params"], str(r["paper_params"]), r["flops"],
                                       str(r["paper_flops"]), f"{r['median_search_s']:.2f}", "8.5 (GPU)",
                                       *(r["errs"].get(c, "—") for c, _ in columns))]
            for r in rows]
    errs = "".join(f" & NB301 err ({latex_escape(SHORT[c])})" for c, _ in columns)
    return latex_table(
        caption="Table 6 (search side): DARTS-space cells found by one-shot FreeDARTS-D", label=f"tab:{sweep}-table6",
        colspec="lrllllll" + "l" * len(columns), header=[r"Config & $n$ & Param (M) & Param paper & $+\times$ (M) & "
                                                         r"$+\times$ paper & search s & search s paper" + errs],
        rows=body,
        notes=["Param = CIFAR-10 network (C=36, 20 cells, no auxiliary head); +x = multiply-adds of the ImageNet "
               "mobile network (C=48, 14 cells, 224x224); mean ± sample std over seeds, by building the networks. "
               "NB301 err = 100 - predicted CIFAR-10 validation accuracy.", *(notes or []), TRAINING_NOTE])


def _has_table6(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    d = darts_cells(cells)
    return bool(((d["search_method"] == "freedarts") & (d["mode"] == "oneshot")).any())


@section("darts_table6", applies=_has_table6, order=260)
def _table6(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    rows = table6_rows(cells)
    d = darts_cells(cells)
    columns = error_columns(d[(d["search_method"] == "freedarts") & (d["mode"] == "oneshot")])
    md = table6_markdown(rows, columns, surrogate_notes(d))
    files = [write_text(out_dir / "table6.md", md),
             write_text(out_dir / "table6.tex", table6_latex(rows, columns, surrogate_notes(d), sweep_name(cells)))]
    return Fragment("## Table 6: DARTS space (search side)\n\n" + md, files, "Table 6 (DARTS, search side)\n" + md)


# -- genotypes and drawings -------------------------------------------------------------------------
def genotype_rows(d: pd.DataFrame, columns: list[tuple[str, str]]) -> list[list[str]]:
    """Every found genotype: config, row label (method + mode; random rows say random), seed, sizes, lookups."""
    d = labelled(d) if len(d) else d.assign(row_label=[])
    rows = []
    for r in d.sort_values(["preset", "search_method", "mode", "seed"]).itertuples(index=False):
        errs = [f"{getattr(r, c):.2f}" if not pd.isna(getattr(r, c)) else "" for c, _ in columns]
        rows.append([CONFIGS.get(r.preset, r.preset), r.row_label.split(" [")[0], str(r.seed), f"{r.params_m:.2f}",
                     f"{r.flops_m:.0f}", *errs, f"{r.search_s:.2f}", r.arch])
    return rows


def genotype_head(columns: list[tuple[str, str]]) -> list[str]:
    return ["config", "method", "seed", "Param (M)", "+× (M)", *(f"NB301 err ({SHORT[c]})" for c, _ in columns),
            "search_s", "genotype"]


def genotypes_markdown(d: pd.DataFrame, columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(genotype_head(columns)) + " |", "|---|---|---:|---:|---:|" + "---:|" * len(columns) + "---:|---|"]
    for row in genotype_rows(d, columns):
        lines.append("| " + " | ".join(md_escape(c) for c in row[:-1]) + f" | `{md_escape(row[-1])}` |")
    return "\n".join(lines) + "\n"


def genotypes_latex(d: pd.DataFrame, columns: list[tuple[str, str]], notes: list[str], sweep: str) -> str:
    rows = [[latex_escape(c) for c in row[:-1]] + [r"{\tiny\texttt{" + latex_escape(row[-1]) + "}}"]
            for row in genotype_rows(d, columns)]
    return latex_table(caption=f"Every DARTS-space genotype found ({sweep})", label=f"tab:{sweep}-darts-genotypes",
                       colspec="llrrr" + "r" * len(columns) + "rp{9cm}",
                       header=[" & ".join(latex_escape(h) for h in genotype_head(columns))], rows=rows,
                       notes=["NB301 err = 100 - predicted CIFAR-10 validation accuracy.", *notes, TRAINING_NOTE])


@section("darts_genotypes", applies=has_space(SPACE), order=270)
def _genotypes(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    d = darts_cells(cells)
    columns, notes = error_columns(d), surrogate_notes(d)
    column, surrogate = error_column(d)
    files = [write_text(out_dir / "darts_genotypes.md", genotypes_markdown(d, columns)),
             write_text(out_dir / "darts_genotypes.tex", genotypes_latex(d, columns, notes, sweep_name(cells)))]
    parts = ["## DARTS genotypes (Fig. 4)", "", "NB301 err = 100 − predicted CIFAR-10 validation accuracy under:", "",
             *[f"- {n}" for n in notes], "", TRAINING_NOTE, "",
             f"All found genotypes: [darts_genotypes.md](darts_genotypes.md) ({len(d)} cells).", ""]
    searched = d[d["search_method"] == "freedarts"]
    for (preset, mode), g in searched.groupby(["preset", "mode"]):
        best = g.sort_values([column, "seed"]).iloc[0] if column else g.sort_values("seed").iloc[0]
        label = f"{CONFIGS.get(preset, preset)} {mode} seed {best['seed']}"
        arches = [(f"ours: {label}" + (f" ({SHORT[column]} err {best[column]:.2f})" if column else ""), best["arch"])]
        if preset in CONFIGS:
            from spaces import darts  # lazy, as published_sizes

            paper = darts.Genotype.parse(darts.PAPER_GENOTYPES[CONFIGS[preset]]).arch_str()
            arches.append((f"paper: {CONFIGS[preset]} seed {PAPER_SEED[preset]}", paper))
        png = draw_darts_rows(arches, out_dir / f"fig4_{preset}_{mode}.png")
        files.append(png)
        by = f"lowest {SHORT[column]} error" if column else "lowest seed (no surrogate values)"
        parts += [f"![{label}]({png.name})", "", f"Fig. 4 style: our best cell ({by}) beside the paper's "
                  f"published one: `{best['arch']}`", ""]
    return Fragment("\n".join(parts), files)
