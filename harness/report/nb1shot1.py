"""NAS-Bench-1Shot1 section: the paper's Table 4 (search space 3, NB101 CIFAR-10 errors at 108 epochs).

Semantics (FREEDARTS_SPEC §5.2): "Average" = mean ± std over seeds of each found architecture's
error averaged over the NB101 training repeats (100 − `nb101_valid_acc` / `nb101_test_acc`);
"Best" = the lowest single-repeat error over all seeds (100 − max `nb101_best_repeat_*`). Each
number says over how many seeds it was taken: a cell whose architecture is not in the NB101 table
the sweep used (`lookup_status = not_in_table`, e.g. with the staged partial data) has no value,
and the table's coverage, as the lookup reported it, is printed under the table.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from harness import store
from harness.report._base import (
    METHOD_NAME, NO_DATA, Fragment, ReportOptions, freedarts_only, has_space, md_escape, section, sweep_name,
    write_text,
)
from harness.report._summary import summarize
from harness.report._latex import latex_escape, latex_table

SPACE = "nasbench1shot1"
# Source: FreeDARTS paper, Table 4 "Search results of CIFAR-10 on NAS-Bench-1shot1": error (%)
# Average valid, Average test, Best valid, Best test, search cost. None = blank in the paper.
PAPER_TABLE4: tuple[tuple[str, str | None, str | None, float | None, float | None, str], ...] = (
    ("GDAS", "6.8±0.1", "6.1±0.2", 6.7, 5.9, "11425s"),
    ("PC-DARTS", "6.7±0.1", "6.2±0.2", 6.6, 5.9, "14760s"),
    ("DARTS (1st)", "6.8±0.05", "6.1±0.2", 6.6, 5.9, "8280s"),
    ("DARTS (2nd)", "6.8±0.05", "6.2±0.05", 6.6, 6.2, "19800s"),
    ("Random", None, "24.1±33.2", 7.8, 7.5, "N/A"),
    ("Zero-Cost-PT", None, "7.45±0.94", 6.8, 6.5, "718s"),
    ("FreeDARTS", None, "7.3±2.4", 6.0, 5.3, "6.3s"),
)
PAPER_FREEDARTS = {"avg_test": (7.3, 2.4), "best_valid": 6.0, "best_test": 5.3, "cost_s": 6.3}
_COVERAGE_RE = re.compile(r"(PARTIAL|complete) NB101 table: [\d,]+ of [\d,]+ cells at \d+ epochs \([\d.]+ %\), [\d,]+ with test accuracy")


def _edge_selection(space_options: object) -> str:
    try:
        return str(json.loads(space_options or "{}").get("edge_selection", "topk"))
    except (TypeError, ValueError):
        return "topk"


def _err(values: pd.Series) -> pd.Series:
    return 100.0 - values.dropna().astype(float)


def table4_stats(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, mode): seeds run/ok/looked up, Average (mean, std, n) and Best errors."""
    nb = freedarts_only(cells[cells["space"] == SPACE]).copy()
    nb["edge_selection"] = [_edge_selection(o) for o in nb["space_options"]]
    rows = []
    for (variant, mode, edges), g in nb.groupby(["variant", "mode", "edge_selection"], sort=False):
        ok = g[g["status"] == store.STATUS_OK]
        valid, test = summarize(_err(ok["nb101_valid_acc"])), summarize(_err(ok["nb101_test_acc"]))
        pred = summarize(_err(ok["nb101_pred_val_acc"]))  # nb101_predicted: its own column, never merged with `valid`
        looked_up = ok["nb101_valid_acc"].notna()
        best_valid, best_test = _err(ok["nb101_best_repeat_valid_acc"]), _err(ok["nb101_best_repeat_test_acc"])
        rows.append({
            "method": METHOD_NAME.get((variant, mode), f"{variant}/{mode}")
            + (" + iterative edge pruning" if edges == "iterative" else ""),
            "variant": variant, "mode": mode, "edge_selection": edges,
            "n_cells": len(g), "n_ok": len(ok),
            "n_looked_up": int((ok["lookup_status"] == "ok").sum()),
            "n_not_in_table": int((ok["lookup_status"] == "not_in_table").sum()),
            "n_valid": valid.n, "n_test": test.n, "avg_valid": valid.mean, "std_valid": valid.std,
            "avg_test": test.mean, "std_test": test.std,
            "n_pred": pred.n, "avg_pred": pred.mean, "std_pred": pred.std,
            "n_pred_only": int((~looked_up & ok["nb101_pred_val_acc"].notna()).sum()),
            "best_valid": best_valid.min() if len(best_valid) else math.nan,
            "best_test": best_test.min() if len(best_test) else math.nan,
            "median_search_s": float(ok["search_s"].median()) if len(ok) else math.nan,
            "distinct_archs": int(ok["nb101_hash"].nunique()) if "nb101_hash" in ok else 0,
            "distinct_cells": int(ok["arch"].str.rsplit("#", n=1).str[-1].nunique()),
        })
    return pd.DataFrame(rows)


def coverage_statement(cells: pd.DataFrame) -> str:
    """The NB101 table's coverage as the lookups reported it (from not_in_table hints), or a fallback."""
    nb = cells[cells["space"] == SPACE]
    for err in nb["lookup_error"].dropna():
        m = _COVERAGE_RE.search(str(err))
        if m:
            return m.group(0)
    statuses = set(nb["lookup_status"].dropna())
    if statuses == {"ok"}:
        return "every found architecture was in the NB101 table"
    return "coverage not reported by the lookups (statuses: " + ", ".join(sorted(statuses)) + ")"


def _avg(mean: float, std: float, n: int) -> str:
    if n == 0:
        return NO_DATA
    return f"{mean:.2f}" + (f"±{std:.2f}" if n > 1 else "") + f" (n={n})"


def _val(v: float) -> str:
    return NO_DATA if math.isnan(v) else f"{v:.2f}"


TABLE4_HEAD = ["Method", "Avg valid", "Avg test", "Best valid", "Best test", "Avg valid PREDICTED", "Search cost (median)",
               "seeds ok", "looked up", "not in table", "predicted only"]


def table4_rows(cells: pd.DataFrame) -> list[list[str]]:
    """The table as plain-text cells: our rows, then the paper's."""
    rows = [[f"ours: {r.method}", _avg(r.avg_valid, r.std_valid, r.n_valid), _avg(r.avg_test, r.std_test, r.n_test),
             _val(r.best_valid), _val(r.best_test), _avg(r.avg_pred, r.std_pred, r.n_pred), f"{r.median_search_s:.2f}s",
             f"{r.n_ok}/{r.n_cells}", str(r.n_looked_up), str(r.n_not_in_table), str(r.n_pred_only)]
            for r in table4_stats(cells).itertuples(index=False)]
    rows += [[f"paper: {name}", av or "", at or "", "" if bv is None else str(bv), "" if bt is None else str(bt), "",
              cost, "", "", "", ""] for name, av, at, bv, bt, cost in PAPER_TABLE4]
    return rows


def predictor_statement(cells: pd.DataFrame) -> str:
    """What the PREDICTED column is and how well it ranks held-out cells (from the rows' lookups_json)."""
    nb = cells[(cells["space"] == SPACE) & (cells["status"] == store.STATUS_OK)]
    in_training = int(nb["nb101_pred_in_training"].fillna(False).astype(bool).sum())
    for text in nb["lookups_json"].dropna():
        v = json.loads(text).get("nb101_predicted", {}).get("validation", {}).get("holdout", {})
        if v:
            parts = [f"{v[k]['spearman']:.3f} (n={v[k]['n']}, {label})" for k, label in
                     (("space3", "space-3 cells"), ("all", "all held-out cells")) if k in v]
            return ("Avg valid PREDICTED = 100 − nb101_predicted (a LightGBM fitted on the staged NB101 validation "
                    "accuracies; not a training run), over every found cell, shown beside the looked-up columns and "
                    "never mixed with them; hold-out Spearman " + ", ".join(parts) + ". \"predicted only\" = found "
                    "cells with a predicted value and no looked-up one. "
                    f"{in_training} of the {len(nb)} found cells were in the predictor's training split (in-sample "
                    "fits).")
    return "Avg valid PREDICTED: no nb101_predicted lookup in these rows (add `extra_benchmarks: [nb101_predicted]`)."


def table4_notes(cells: pd.DataFrame) -> list[str]:
    return [f"NB101 table used by the lookups: {coverage_statement(cells)}.", predictor_statement(cells),
            "Average = mean ± sample std over seeds of each architecture's error averaged over the NB101 repeats "
            "the table holds; Best = lowest single-repeat error over the seeds (spec §5.2); n = seeds with a value. "
            f"{NO_DATA} = no found architecture had that value in the table (a partial table has test accuracy "
            "for few cells and one validation run for the rest). Paper search costs are on one GPU; ours on the "
            "device in the search-cost section."]


def table4_markdown(cells: pd.DataFrame) -> str:
    lines = ["**Table 4: NAS-Bench-1Shot1 search space 3, CIFAR-10 error (%) from NAS-Bench-101 at 108 epochs**", "",
             "| " + " | ".join(TABLE4_HEAD) + " |", "|---|" + "---:|" * (len(TABLE4_HEAD) - 1)]
    for row in table4_rows(cells):
        lines.append("| " + " | ".join(row[:1] + [c for c in row[1:]]) + " |")
    lines += ["", *table4_notes(cells)]
    return "\n".join(lines) + "\n"


def table4_latex(cells: pd.DataFrame, sweep: str) -> str:
    return latex_table(caption="Table 4: NAS-Bench-1Shot1 search space 3, CIFAR-10 error (%) from NAS-Bench-101 "
                               "at 108 epochs", label=f"tab:{sweep}-table4", colspec="l" + "r" * (len(TABLE4_HEAD) - 1),
                       header=[" & ".join(latex_escape(h) for h in TABLE4_HEAD)],
                       rows=[[latex_escape(c) for c in row] for row in table4_rows(cells)], notes=table4_notes(cells))


def architectures_markdown(cells: pd.DataFrame) -> str:
    nb = freedarts_only(cells[(cells["space"] == SPACE) & (cells["status"] == store.STATUS_OK)])
    lines = ["| Method | seed | genotype | NB101 hash | params (M) | lookup | valid err | test err | valid err PREDICTED |",
             "|---|---:|---|---|---:|---|---:|---:|---:|"]
    for r in nb.sort_values(["mode", "space_options", "seed"]).itertuples(index=False):
        genotype, _, h = str(r.arch).partition("#")
        valid = "" if pd.isna(r.nb101_valid_acc) else f"{100 - r.nb101_valid_acc:.2f}"
        test = "" if pd.isna(r.nb101_test_acc) else f"{100 - r.nb101_test_acc:.2f}"
        pred = "" if pd.isna(r.nb101_pred_val_acc) else f"{100 - r.nb101_pred_val_acc:.2f}"
        edges = " + edge pruning" if _edge_selection(r.space_options) == "iterative" else ""
        lines.append(f"| {METHOD_NAME.get((r.variant, r.mode), r.mode)}{edges} | {r.seed} | `{md_escape(genotype)}` | "
                     f"`{h}` | {r.params_m:.3f} | {r.lookup_status} | {valid} | {test} | {pred} |")
    return "\n".join(lines) + "\n"


@section("table4", applies=has_space(SPACE), order=300)
def _table4_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    md = table4_markdown(cells)
    archs = architectures_markdown(cells)
    files = [write_text(out_dir / "table4.md", md + "\n" + archs),
             write_text(out_dir / "table4.tex", table4_latex(cells, sweep_name(cells)))]
    body = (f"## Table 4 (NAS-Bench-1Shot1)\n\n{md}\n### Found architectures\n\n{archs}\n"
            "params = trainable parameters of the NB101 network of the cell (built here; equals NB101's "
            "`trainable_parameters`).\n")
    return Fragment(body, files, console=md)
