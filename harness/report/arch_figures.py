"""The paper's architecture drawings: Fig. 5 (MobileNet), Fig. 6 (Zero-Cost-PT, DARTS), Fig. 7 (zero-cost NAS,
NB201 and DARTS), Fig. 8 (every DARTS cell FreeDARTS found). Drawn with harness/report/_drawings.py.

    fig5_mobilenet.png        the MobileNet networks of seed 0 (lowest seed) of every FreeDARTS row, and the
                              authors' released seed-0 genotype (paper Fig. 5 shows seed 0)
    fig6_zero_cost_pt.png     normal and reduction cell of Zero-Cost-PT on DARTS, one row per search dataset
                              (sweeps/fig6.yaml)
    fig7_nb201.png            zero-cost NAS picks on NB201: lowest seed of each row and search dataset
    fig7_darts.png            zero-cost NAS picks on DARTS (sweeps/fig7.yaml)
    fig8_<config>_<mode>.png  every DARTS cell found by FreeDARTS, one row per seed

Each caption states, from the same picks, how many positions hold the position's most-parameter op
(harness/space_stats.py), the quantity §4.5 discusses ("selects 18 MBE6-K7 out of 21 blocks").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from archcodec import darts as darts_key
from harness import store
from harness.report._base import Fragment, ReportOptions, labelled, section
from harness.report._drawings import draw_darts_cell, draw_mobilenet, draw_nb201_cell
from harness.report._figures import DPI, new_figure, save_figure

LARGE_DPI = 80  # figures of many stacked cell drawings (Fig. 8)

MAX_PANELS = 12


def _ok(cells: pd.DataFrame, space: str, method: str) -> pd.DataFrame:
    ok = cells[(cells["space"] == space) & (cells["status"] == store.STATUS_OK) & cells["arch"].notna()]
    ok = labelled(ok)
    return ok[ok["_method"] == method]


def _first_seeds(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.sort_values([*by, "seed"]).groupby(by, sort=False).head(1)


def _max_op_text(frame: pd.DataFrame) -> str:
    """'one-shot FreeDARTS-D: 9 of 21 blocks ...' per row label, from the size model of each pick's space."""
    from harness.report.bias import load_sizes, size_key

    sizes = load_sizes(frame.drop(columns=["_method", "label", "setting", "row_label"], errors="ignore"))
    parts = []
    for label, g in frame.groupby("row_label", sort=True):
        counts = []
        for _, r in g.iterrows():
            s = sizes.get(size_key(r))
            if s is not None:
                mask = s.max_op_mask(r["arch"])
                counts.append(f"{int(mask.sum())}/{len(mask)}")
        if counts:
            parts.append(f"{label}: {', '.join(counts)}")
    return "; ".join(parts)


def _applies(space: str, method: str):
    return lambda cells, trajectory: not _ok(cells, space, method).empty


# -- Fig. 5 -----------------------------------------------------------------------------------------
@section("fig5", applies=_applies("mobilenet", "freedarts"), order=330)
def _fig5(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    from harness.report.mobilenet import AUTHORS_SEED0
    from spaces import mobilenet as mb

    picks = _first_seeds(_ok(cells, "mobilenet", "freedarts"), ["row_label"]).head(MAX_PANELS - 1)
    panels = [(f"ours: {r['row_label']}, seed {int(r['seed'])} ({r['params_m']:.2f} M params)", r["arch"],
               float(json.loads(r["space_options"] or "{}").get("width_mult", 1.0))) for _, r in picks.iterrows()]
    authors = tuple(mb.OPS[int(i)] for i in AUTHORS_SEED0.split())
    panels.append(("the authors' released seed-0 genotype (spec §4.4)", ",".join(authors), 1.0))
    fig, axes = new_figure(len(panels), 12.0, 2.2, ncols=1, drawing=True)
    for ax, (title, arch, width) in zip(axes, panels):
        draw_mobilenet(ax, mb.parse_arch_key(arch).ops, width, title)
    png = save_figure(fig, out_dir / "fig5_mobilenet.png")
    md = ("## Fig. 5: the MobileNet architectures found\n\n![Fig. 5](fig5_mobilenet.png)\n\n"
          "The lowest seed of each FreeDARTS row (the paper draws seed 0) and the authors' released seed-0 genotype: "
          "stem, the 21 searched blocks (box width ~ kernel size 3/5/7, height and colour ~ expansion 3/6, grey dot = "
          "skip; stage labels: output channels and stride), head. Blocks holding MBE6-K7, the option with the most "
          f"parameters: {_max_op_text(picks)}.\n")
    return Fragment(md, [png])


# -- Fig. 6 -----------------------------------------------------------------------------------------
def draw_darts_rows(rows: list[tuple[str, str]], path: Path) -> Path:
    """One row per (title, DARTS genotype string): normal cell left, reduction cell right."""
    fig, axes = new_figure(2 * len(rows), 7.0, 3.1, ncols=2, drawing=True)
    for i, (title, arch) in enumerate(rows):
        g = darts_key.parse(arch)
        draw_darts_cell(axes[2 * i], g["normal"], f"{title}: normal cell")
        draw_darts_cell(axes[2 * i + 1], g["reduce"], f"{title}: reduction cell")
    # Fig. 8 stacks one row per seed: a lower resolution keeps a 10-row figure near 0.5 MB instead of 1.3 MB.
    return save_figure(fig, path, dpi=DPI if len(rows) <= 2 else LARGE_DPI)


@section("fig6", applies=_applies("darts", "zero_cost_pt"), order=280)
def _fig6(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    picks = _first_seeds(_ok(cells, "darts", "zero_cost_pt"), ["row_label", "dataset"]).head(MAX_PANELS)
    rows = [(f"{r['row_label']}, {r['dataset']}, seed {int(r['seed'])}", r["arch"]) for _, r in picks.iterrows()]
    png = draw_darts_rows(rows, out_dir / "fig6_zero_cost_pt.png")
    md = ("## Fig. 6: cells found by Zero-Cost-PT on the DARTS space\n\n![Fig. 6](fig6_zero_cost_pt.png)\n\n"
          "One row per search dataset (lowest seed). Node inputs holding their most-parameter op (sep_conv_5x5; "
          f"the paper: 'almost ... every edge'): {_max_op_text(picks)}.\n")
    return Fragment(md, [png])


# -- Fig. 7 -----------------------------------------------------------------------------------------
def _has_zero_cost(cells: pd.DataFrame, trajectory: pd.DataFrame) -> bool:
    return not (_ok(cells, "nasbench201", "zero_cost").empty and _ok(cells, "darts", "zero_cost").empty)


@section("fig7", applies=_has_zero_cost, order=160)
def _fig7(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    from spaces import nasbench201 as nb

    files, parts = [], ["## Fig. 7: architectures found by zero-cost NAS", ""]
    nb_picks = _ok(cells, "nasbench201", "zero_cost")
    if len(nb_picks):
        first = _first_seeds(nb_picks, ["row_label", "dataset"]).head(MAX_PANELS)
        fig, axes = new_figure(len(first), 4.6, 2.5, ncols=3, drawing=True)
        for ax, (_, r) in zip(axes, first.iterrows()):
            draw_nb201_cell(ax, nb.parse_arch_key(r["arch"]).ops, f"{r['row_label']}\n{r['dataset']}, seed {int(r['seed'])}")
        files.append(save_figure(fig, out_dir / "fig7_nb201.png"))
        parts += ["![Fig. 7, NAS-Bench-201](fig7_nb201.png)", "",
                  "NAS-Bench-201: the lowest seed of each row and search dataset. Edges holding nor_conv_3x3 (the "
                  f"op with the most parameters), every pick: {_max_op_text(nb_picks)}.", ""]
    darts_picks = _ok(cells, "darts", "zero_cost")
    if len(darts_picks):
        first = _first_seeds(darts_picks, ["row_label", "dataset"]).head(MAX_PANELS)
        rows = [(f"{r['row_label']}, {r['dataset']}, seed {int(r['seed'])}", r["arch"]) for _, r in first.iterrows()]
        files.append(draw_darts_rows(rows, out_dir / "fig7_darts.png"))
        parts += ["![Fig. 7, DARTS](fig7_darts.png)", "",
                  "DARTS: the lowest seed of each row and search dataset. Node inputs holding their most-parameter op "
                  f"(sep_conv_5x5), every pick: {_max_op_text(darts_picks)}.", ""]
    return Fragment("\n".join(parts), files)


# -- Fig. 8 -----------------------------------------------------------------------------------------
@section("fig8", applies=_applies("darts", "freedarts"), order=275)
def _fig8(cells: pd.DataFrame, trajectory: pd.DataFrame, out_dir: Path, options: ReportOptions) -> Fragment:
    from harness.report.darts import CONFIGS, _preset

    found = _ok(cells, "darts", "freedarts")
    found = found.assign(preset=found["space_options"].map(_preset))
    files, parts = [], ["## Fig. 8: every DARTS cell found by FreeDARTS", ""]
    used: set[str] = set()
    for (preset, label), g in found.groupby(["preset", "row_label"], sort=True):
        g = g.sort_values("seed").head(MAX_PANELS)
        name = f"fig8_{preset}_{'oneshot' if g['mode'].iloc[0] == 'oneshot' else 'iterative'}"
        if name in used:  # two rows of one preset and mode (another setting): keep both, stably named
            name += "_" + hashlib.sha1(label.encode()).hexdigest()[:6]
        used.add(name)
        rows = [(f"{CONFIGS.get(preset, preset)} ({r['row_label']}) seed {int(r['seed'])}", r["arch"])
                for _, r in g.iterrows()]
        files.append(draw_darts_rows(rows, out_dir / f"{name}.png"))
        parts += [f"![{CONFIGS.get(preset, preset)}, {label}]({name}.png)", "",
                  f"{CONFIGS.get(preset, preset)} ({label}): {len(g)} seeds. Node inputs holding their most-parameter "
                  f"op: {_max_op_text(g)}.", ""]
    return Fragment("\n".join(parts), files)
