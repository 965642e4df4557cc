"""Sections for every sweep: search cost per method, failed-cell reasons, and the counts line."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd

from harness import store
from harness.report._base import (
    _SETTING_COLUMNS, METHODS, PAPER_SEARCH_COST_S, Fragment, ReportOptions, display_error, labelled, md_escape,
    section, setting_sort_key, short_error, sweep_name, write_text,
)
from harness.report._latex import latex_escape, latex_table

def mixed_settings(cells: pd.DataFrame) -> dict[str, list[str]]:
    """Settings (alpha_scale, flags, ...) that differ between cells of one (space, variant, mode) group.

    Table 3 pools seeds; a sweep that also varies e.g. alpha_scale would pool those too, so the
    report names such columns instead of hiding it.
    """
    out: dict[str, set[str]] = {}
    for _, group in cells.groupby(["space", "variant", "mode"], dropna=False):
        for col in _SETTING_COLUMNS:
            values = group[col].dropna().astype(str).unique()
            if len(values) > 1:
                out.setdefault(col, set()).update(values)
    return {k: sorted(v) for k, v in out.items()}


# -- search cost ------------------------------------------------------------------------------------
COST_COLUMNS = ["space", "method", "datasets", "n", "median_search_s", "mean_search_s", "paper_search_s", "device"]


def search_cost(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (space, row label) over ok cells: n, median and mean search_s, devices, the paper's cost.

    Rows are labelled by method + proxy + n_samples, plus any setting that differs between cells of
    the same label (`labelled`); seeds and search datasets are pooled, and each row names its datasets.
    """
    ok = labelled(cells[cells["status"] == store.STATUS_OK])
    rows = []
    for (space, row_label), g in ok.groupby(["space", "row_label"], sort=False):
        first = g.iloc[0]
        devices = Counter(str(d) for d in g["device"].fillna("unknown"))
        paper = (PAPER_SEARCH_COST_S.get((space, first["variant"], first["mode"]), math.nan)
                 if first["_method"] == "freedarts" and not first["setting"] else math.nan)
        rows.append({
            "space": space, "method": row_label, "datasets": ", ".join(sorted(g["dataset"].astype(str).unique())),
            "n": len(g), "median_search_s": float(g["search_s"].median()), "mean_search_s": float(g["search_s"].mean()),
            "paper_search_s": paper, "device": ", ".join(f"{d} (×{c})" for d, c in devices.most_common()),
            "_order": (space, first["_method"] != "freedarts", _METHOD_ORDER.get((first["variant"], first["mode"]), 99)
                       if first["_method"] == "freedarts" else 0, first["label"], setting_sort_key(first["setting"])),
        })
    rows.sort(key=lambda r: r.pop("_order"))
    return pd.DataFrame(rows, columns=COST_COLUMNS)


_METHOD_ORDER = {(m.variant, m.mode): i for i, m in enumerate(METHODS)}
COST_NOTE = ("search_s = data_s + score_s, the region the authors timed (no model build, no lookup), pooled over "
             "seeds and the search datasets listed; a row's [setting] is the swept setting that tells it apart "
             "(settings it implies, e.g. a DARTS preset's channels and layers, are in the sweep's config.yaml); "
             "paper = the paper's one-GPU search cost (FreeDARTS rows at the paper's settings only).")


def _paper_cost(value: float) -> str:
    return f"{value:.1f}" if not math.isnan(value) else ""


def search_cost_markdown(cost: pd.DataFrame) -> str:
    lines = ["| Space | Method | search datasets | n ok | median search_s | mean search_s | paper (s) | device |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in cost.itertuples(index=False):
        lines.append(f"| {r.space} | {md_escape(r.method)} | {r.datasets} | {r.n} | {r.median_search_s:.3f} | "
                     f"{r.mean_search_s:.3f} | {_paper_cost(r.paper_search_s)} | {md_escape(r.device)} |")
    lines += ["", COST_NOTE]
    return "\n".join(lines) + "\n"


def search_cost_latex(cost: pd.DataFrame, sweep: str) -> str:
    rows = [[latex_escape(str(v)) for v in (r.space, r.method, r.datasets, r.n, f"{r.median_search_s:.3f}",
                                            f"{r.mean_search_s:.3f}", _paper_cost(r.paper_search_s), r.device)]
            for r in cost.itertuples(index=False)]
    return latex_table(caption=f"Search cost per method ({sweep})", label=f"tab:{sweep}-search-cost",
                       colspec="lllrrrrl", header=["Space & Method & Datasets & $n$ & median s & mean s & paper s & "
                                                   "device"], rows=rows, notes=[COST_NOTE])


def counts_line(cells: pd.DataFrame) -> str:
    """'N cells: a ok, b failed, c no data; median search_s: FreeDARTS-D 0.41 s, ...'."""
    n_ok = int((cells["status"] == store.STATUS_OK).sum())
    n_failed = int((cells["status"] == store.STATUS_FAILED).sum())
    n_no_data = int((cells["status"] == store.STATUS_NO_DATA).sum())
    line = f"{len(cells)} cells: {n_ok} ok, {n_failed} failed" + (f", {n_no_data} no data" if n_no_data else "")
    cost = search_cost(cells)
    if len(cost):
        spaces = cost["space"].nunique() > 1
        parts = [f"{(r.space + ' ') if spaces else ''}{r.method} {r.median_search_s:.2f} s"
                 for r in cost.itertuples(index=False)]
        line += "; median search_s: " + ", ".join(parts)
    return line


def failure_reasons(cells: pd.DataFrame, status: str = store.STATUS_FAILED) -> pd.DataFrame:
    """Distinct shortened errors of the cells with `status` (failed, or no_data), with counts and
    the search datasets they hit."""
    failed = cells[cells["status"] == status]
    rows = []
    for reason, g in failed.assign(reason=failed["error"].map(short_error)).groupby("reason", sort=False):
        rows.append({"reason": reason, "n": len(g), "datasets": ", ".join(sorted(g["dataset"].astype(str).unique())),
                     "example": display_error(g["error"].iloc[0])})
    out = pd.DataFrame(rows, columns=["reason", "n", "datasets", "example"])
    return out.sort_values(["n", "reason"], ascending=[False, True], ignore_index=True)


@section("search_cost", applies=lambda cells, trajectory: bool((cells["status"] == store.STATUS_OK).any()), order=900)
def _search_cost_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path,
                         options: ReportOptions) -> Fragment:
    cost = search_cost(cells)
    md = search_cost_markdown(cost)
    files = [write_text(out_dir / "search_cost.md", md),
             write_text(out_dir / "search_cost.tex", search_cost_latex(cost, sweep_name(cells)))]
    return Fragment(f"## Search cost\n\n{md}", files)


def _reasons_table(cells: pd.DataFrame, status: str, title: str) -> Fragment:
    lines = [title, "", "| Reason | Cells | Search datasets | Example |", "|---|---:|---|---|"]
    for r in failure_reasons(cells, status).itertuples(index=False):
        lines.append(f"| {md_escape(r.reason)} | {r.n} | {r.datasets} | {md_escape(r.example)} |")
    return Fragment("\n".join(lines) + "\n")


@section("failures", applies=lambda cells, trajectory: bool((cells["status"] == store.STATUS_FAILED).any()), order=950)
def _failures_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    return _reasons_table(cells, store.STATUS_FAILED, "## Failed cells")


@section("no_data", applies=lambda cells, trajectory: bool((cells["status"] == store.STATUS_NO_DATA).any()), order=960)
def _no_data_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    return _reasons_table(cells, store.STATUS_NO_DATA, "## Cells with no data (input data missing, not an error)")


