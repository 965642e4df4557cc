"""Sections for every sweep: search cost per method, failed-cell reasons, and the counts line."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd

from harness import store
from harness.report._base import (
    _SETTING_COLUMNS, METHOD_NAME, METHODS, PAPER_SEARCH_COST_S, Fragment, ReportOptions, md_escape, method_column,
    section, short_error, write_text,
)

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
def search_cost(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (space, variant, mode) over ok cells: n, median and mean search_s, devices, paper cost."""
    ok = cells[cells["status"] == store.STATUS_OK]
    ok = ok.assign(_method=method_column(ok))
    rows = []
    for (space, method, variant, mode), g in ok.groupby(["space", "_method", "variant", "mode"], sort=False):
        devices = Counter(str(d) for d in g["device"].fillna("unknown"))
        rows.append({
            "space": space,
            "method": METHOD_NAME.get((variant, mode), f"{variant}/{mode}") if method == "freedarts" else method,
            "variant": variant, "mode": mode, "n": len(g),
            "median_search_s": float(g["search_s"].median()), "mean_search_s": float(g["search_s"].mean()),
            "paper_search_s": (PAPER_SEARCH_COST_S.get((space, variant, mode), math.nan) if method == "freedarts"
                               else math.nan),
            "device": ", ".join(f"{d} (×{c})" for d, c in devices.most_common()),
        })
    order = {(m.variant, m.mode): i for i, m in enumerate(METHODS)}
    rows.sort(key=lambda r: (r["space"], order.get((r["variant"], r["mode"]), len(order))))
    return pd.DataFrame(rows, columns=["space", "method", "variant", "mode", "n", "median_search_s",
                                       "mean_search_s", "paper_search_s", "device"])


def search_cost_markdown(cost: pd.DataFrame) -> str:
    lines = ["| Space | Method | n ok | median search_s | mean search_s | paper (s) | device |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in cost.itertuples(index=False):
        paper = f"{r.paper_search_s:.1f}" if not math.isnan(r.paper_search_s) else ""
        lines.append(f"| {r.space} | {r.method} | {r.n} | {r.median_search_s:.3f} | {r.mean_search_s:.3f} | "
                     f"{paper} | {md_escape(r.device)} |")
    lines += ["", "search_s = data_s + score_s, the region the authors timed (no model build, no lookup); "
              "paper = the paper's one-GPU search cost."]
    return "\n".join(lines) + "\n"


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
                     "example": " ".join(str(g["error"].iloc[0]).split())})
    out = pd.DataFrame(rows, columns=["reason", "n", "datasets", "example"])
    return out.sort_values(["n", "reason"], ascending=[False, True], ignore_index=True)


@section("search_cost", applies=lambda cells, trajectory: bool((cells["status"] == store.STATUS_OK).any()), order=900)
def _search_cost_section(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path,
                         options: ReportOptions) -> Fragment:
    md = search_cost_markdown(search_cost(cells))
    return Fragment(f"## Search cost\n\n{md}", [write_text(out_dir / "search_cost.md", md)])


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


