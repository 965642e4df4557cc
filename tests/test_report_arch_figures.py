"""Figs. 5-8 (harness/report/arch_figures.py) on tiny synthetic results frames, and their sweep files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from harness import config, store
from harness.report import arch_figures, report as _unused  # noqa: F401  (registers every section)
from harness.report._base import SECTIONS, ReportOptions
from spaces import darts
from spaces import mobilenet as mb
from spaces import nasbench201 as nb

REPO = Path(__file__).resolve().parents[1]
C3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _cells(rows: list[dict]) -> pd.DataFrame:
    base = {"sweep": "t", "variant": "D", "mode": "oneshot", "status": "ok", "alpha_scale": 1e-3,
            "method": "freedarts", "device": "cpu", "search_s": 1.0, "params_m": 1.0}
    return store._table([{**base, "cell_id": f"c{i}", **r} for i, r in enumerate(rows)], store.CELL_SCHEMA).to_pandas()


def _darts_arch(seed: int) -> str:
    return darts.sample_genotype(random.Random(seed)).arch_str()


def _render(name: str, cells: pd.DataFrame, out: Path):
    section = SECTIONS[name]
    assert section.applies(cells, pd.DataFrame())
    return section.render(cells, pd.DataFrame(), out, ReportOptions())


def test_fig6_draws_zero_cost_pt_cells_per_dataset(tmp_path):
    cifar = json.dumps({"preset": "cifar8"})
    cells = _cells([{"space": "darts", "dataset": d, "method": "zero_cost_pt", "proxy": "synflow", "n_samples": 1,
                     "seed": 0, "arch": _darts_arch(i), "space_options": o}
                    for i, (d, o) in enumerate([("cifar10", cifar), ("imagenet", json.dumps({"preset": "imagenet"}))])])
    frag = _render("fig6", cells, tmp_path)
    assert [p.name for p in frag.files] == ["fig6_zero_cost_pt.png"] and frag.files[0].stat().st_size > 10_000
    assert "zero_cost_pt (synflow) [preset=cifar8]: " in frag.markdown and "/16" in frag.markdown


def test_fig7_draws_both_spaces_and_counts_the_biggest_op(tmp_path):
    opts = json.dumps({"channels": 4, "cells_per_stage": 1})
    cells = _cells([{"space": "nasbench201", "dataset": d, "method": "zero_cost", "proxy": "synflow", "n_samples": 9,
                     "seed": 0, "arch": C3, "space_options": opts} for d in ("cifar10", "cifar100")]
                   + [{"space": "darts", "dataset": "cifar10", "method": "zero_cost", "proxy": "synflow",
                       "n_samples": 9, "seed": 1, "arch": _darts_arch(3), "space_options": "{}"}])
    frag = _render("fig7", cells, tmp_path)
    assert [p.name for p in frag.files] == ["fig7_nb201.png", "fig7_darts.png"]
    assert "zero_cost (synflow, N=9): 6/6, 6/6" in frag.markdown  # C3: conv3x3 on every edge


def test_fig8_draws_every_seed_of_every_config(tmp_path):
    rows = [{"space": "darts", "dataset": "cifar10", "seed": s, "arch": _darts_arch(10 + s),
             "space_options": json.dumps({"preset": p})} for p in ("cifar8", "cifar20") for s in range(3)]
    frag = _render("fig8", _cells(rows), tmp_path)
    assert sorted(p.name for p in frag.files) == ["fig8_cifar20_oneshot.png", "fig8_cifar8_oneshot.png"]
    assert "FreeDARTS† (one-shot FreeDARTS-D [preset=cifar20]): 3 seeds" in frag.markdown


def test_fig5_draws_the_mobilenet_networks(tmp_path):
    rng = random.Random(0)
    arch = ",".join(rng.choice(mb.OPS[:6]) for _ in range(mb.N_BLOCKS))
    cells = _cells([{"space": "mobilenet", "dataset": "imagenet", "seed": s, "arch": arch,
                     "space_options": json.dumps({"width_mult": 0.25, "code_mode": False})} for s in (1, 0)])
    frag = _render("fig5", cells, tmp_path)
    assert frag.files[0].name == "fig5_mobilenet.png"
    assert "ours: one-shot FreeDARTS-D, seed 0" not in frag.markdown  # titles are in the figure, not the text
    assert f"one-shot FreeDARTS-D: {arch.split(',').count('MBE6-K7')}/21" in frag.markdown


def test_sections_skip_sweeps_without_their_cells():
    cells = _cells([{"space": "nasbench201", "dataset": "cifar10", "seed": 0, "arch": C3}])
    assert not any(SECTIONS[n].applies(cells, pd.DataFrame()) for n in ("fig5", "fig6", "fig7", "fig8"))


@pytest.mark.parametrize("name,cells", [("fig6", 3), ("fig7", 3)])
def test_new_sweep_files_parse(name, cells):
    sweep = config.load(REPO / "sweeps" / f"{name}.yaml")
    assert sweep.name == name and len(sweep.cells) == cells and {c.space for c in sweep.cells} == {"darts"}
    assert {c.method for c in sweep.cells} == {"zero_cost_pt" if name == "fig6" else "zero_cost"}


def test_nb201_drawing_names_every_op():
    from harness.report._drawings import draw_nb201_cell
    from harness.report._figures import new_figure

    fig, axes = new_figure(1, drawing=True)
    draw_nb201_cell(axes[0], nb.parse_arch_key(C3).ops, "t")
    assert [t.get_text() for t in axes[0].texts].count("nor_conv_3x3") == 6


def test_tables_5_and_6_show_every_surrogate_and_fig4_picks_by_the_closest_to_the_official(tmp_path):
    from harness.report import darts as darts_report

    validation = {"holdout": {"nb301_distilled": {"n": 2000, "spearman": 0.956}, "yahpo_nb301": {"n": 2000, "spearman": 0.576}},
                  "naslib": {"nb301_distilled": {"n": 725, "spearman": 0.951}, "yahpo_nb301": {"n": 725, "spearman": 0.590}}}
    lookups = json.dumps({"nb301_distilled": {"status": "ok", "validation": validation}, "yahpo_nb301": {"status": "ok"}})
    # nb301_distilled and YAHPO disagree on which seed is best: Fig. 4 must follow nb301_distilled.
    rows = [{"space": "darts", "dataset": "cifar10", "mode": mode, "variant": "D", "seed": s, "arch": _darts_arch(20 + s),
             "space_options": '{"preset": "cifar8"}', "flops_m": 500.0, "nb301d_val_err": d, "yahpo_nb301_val_err": y,
             "lookups_json": lookups}
            for mode in ("oneshot", "iterative") for s, d, y in ((0, 6.0, 8.0), (1, 7.0, 5.0))]
    cells = _cells(rows)
    t5, columns = darts_report.table5_rows(cells)
    assert [c for c, _ in columns] == ["nb301d_val_err", "yahpo_nb301_val_err"]
    one = next(r for r in t5 if r["method"] == "One-shot FreeDARTS")
    assert one["ours"] == {"nb301d_val_err": ("6.50 ± 0.71", "6.00"), "yahpo_nb301_val_err": ("6.50 ± 2.12", "5.00")}
    md = darts_report.table5_markdown(t5, columns, darts_report.surrogate_notes(darts_report.darts_cells(cells)))
    assert "| Average (nb301_distilled) | Best (nb301_distilled) | Average (YAHPO) | Best (YAHPO) |" in md
    assert "Spearman with the official NB301 0.956 (hold-out of the 10,000, n=2000), 0.951 (NASLib's 725" in md
    t6 = darts_report.table6_rows(cells, with_published=False)
    assert t6[0]["errs"] == {"nb301d_val_err": "6.50 ± 0.71", "yahpo_nb301_val_err": "6.50 ± 2.12"}
    out = tmp_path / "report"
    out.mkdir()
    frag = darts_report._genotypes(cells, cells.iloc[:0], out, None)
    text = (out / "darts_genotypes.md").read_text()
    assert "NB301 err (nb301_distilled) | NB301 err (YAHPO)" in text
    assert "FreeDARTS oneshot seed 0" in frag.markdown and "lowest nb301_distilled error" in frag.markdown
