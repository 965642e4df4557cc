"""Report sections Table 2, Fig. 3 and the bias analysis on small synthetic cells tables (tiny NB201 options,
so the closed-form size models of harness/space_stats.py are built in milliseconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from harness import store
from harness.report import _bias_text, build_report
from harness.report import bias as bias_mod
from harness.report._base import ReportOptions
from harness.report.bias import score_param_correlation, spearman
from harness.report.fig3 import fig3_stats, flat_range
from harness.report.table2 import table2_frame, table2_latex, table2_markdown, table2_stats
from spaces import nasbench201 as nb

C3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
MIX = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def _cells(rows: list[dict]) -> pd.DataFrame:
    base = {"space": "nasbench201", "variant": "D", "mode": "iterative", "status": "ok", "alpha_scale": 1e-3,
            "method": "freedarts", "space_options": "{}", "device": "cpu", "search_s": 1.0}
    full = [{**base, "cell_id": f"c{i}", "sweep": "t", **r} for i, r in enumerate(rows)]
    return store._table(full, store.CELL_SCHEMA).to_pandas()


def _traj(rows: list[dict]) -> pd.DataFrame:
    full = [{"sweep": "t", "space": "nasbench201", **r} for r in rows]
    return store._table(full, store.TRAJECTORY_SCHEMA).to_pandas()


def test_spearman_matches_known_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: ranks a = 1, 2.5, 2.5, 4 vs b = 1..4
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1])
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([1, 2], [1, 2]))


TINY = json.dumps({"channels": 4, "cells_per_stage": 1})


def _nb(rows: list[dict]) -> pd.DataFrame:
    return _cells([{"space_options": TINY, **r} for r in rows])


def test_picks_against_the_largest_cell_and_the_space():
    cells = _nb([{"dataset": "cifar10", "method": "zero_cost", "proxy": "synflow", "n_samples": 3, "seed": s,
                  "arch": C3} for s in range(2)]
                + [{"dataset": "cifar10", "seed": 0, "arch": SKIP},
                   {"dataset": "cifar10", "seed": 1, "status": "failed", "error": "E: x"}])
    sizes = bias_mod.load_sizes(cells)
    p = bias_mod.param_bias(bias_mod.picks(cells, sizes), sizes).set_index("method")
    zc = p.loc["zero_cost (synflow, N=3)"]
    assert zc.n == 2 and zc.n_largest == 2 and zc.share_largest == 1.0
    assert zc.mean_params_m * 1e6 == nb.param_count(nb.Genotype.from_arch_str(C3), 10, nb.NB201Options(4, 1))
    assert zc.mean_percentile == pytest.approx(100 * (1 - 0.5 / 15625))  # the one largest cell, ties half
    fd = p.loc["FreeDARTS-D"]
    assert fd.n == 1 and fd.share_largest == 0.0 and fd.space_cells == 15625 and fd.space_exact
    assert list(p.index) == ["FreeDARTS-D", "zero_cost (synflow, N=3)"]  # FreeDARTS first, then baselines


def test_same_accuracy_band_counts_every_cell_of_the_paper_band():
    cells = _nb([{"dataset": "cifar10", "seed": 0, "arch": SKIP, "cifar10_test_acc": 93.6}])
    sizes = bias_mod.load_sizes(cells)
    acc = pd.DataFrame({"arch": [C3, SKIP, NONE, MIX], "cifar10_test_acc": [93.5, 93.6, 10.0, 93.7],
                        "cifar100_test_acc": 0.0, "imagenet16_test_acc": 0.0})
    band = bias_mod.same_accuracy(bias_mod.picks(cells, sizes), acc, sizes).iloc[0]
    assert (band.band_low, band.band_high) == pytest.approx((93.40, 93.88)) and band.band_source == "paper Table 3"
    assert band.band_cells == 3 and band.band_largest_in  # C3, SKIP, MIX; NONE is far outside
    # SKIP is the smallest of the three (0 conv params): below C3 and MIX, tied with itself -> (0 + 0.5) / 3.
    assert band.percentile_in_band == pytest.approx(100 * 0.5 / 3)
    assert bias_mod.paper_band("most_params (N=10)", "cifar10", pd.Series([90.0]))[2] == "ours"
    assert bias_mod.paper_band("random", "cifar10", pd.Series(dtype=float))[:2] == pytest.approx((73.15, 100.0))


def test_edge_diversity_histogram_and_conclusion():
    cells = _nb([{"dataset": "cifar10", "seed": s, "arch": a} for s, a in enumerate([C3, MIX])]
                + [{"dataset": "cifar10", "method": "zero_cost_pt", "proxy": "synflow", "n_samples": 1, "seed": 0,
                    "arch": C3}])
    sizes = bias_mod.load_sizes(cells)
    pk = bias_mod.picks(cells, sizes)
    edges = bias_mod.edge_diversity(pk, sizes).set_index(["method", "position"])
    assert edges.loc[("FreeDARTS-D", "1<-0"), "max_op_share"] == 1.0  # C3 and MIX both hold conv3x3 there
    assert edges.loc[("FreeDARTS-D", "2<-0"), "max_op_share"] == 0.5
    assert edges.loc[("FreeDARTS-D", "2<-0"), "distinct_ops"] == 2
    summary = bias_mod.diversity_summary(pk, bias_mod.edge_diversity(pk, sizes), sizes)
    div = summary.set_index("method")
    assert div.loc["zero_cost_pt (synflow)", "max_op_share"] == 1.0
    assert div.loc["FreeDARTS-D", "distinct_ops_per_arch"] == pytest.approx((1 + 5) / 2)  # C3: 1 type, MIX: 5
    assert div.loc["FreeDARTS-D", "uniform_max_op_share"] == pytest.approx(0.2)
    h = bias_mod.op_histogram(pk, sizes).set_index(["method", "op"])
    assert h.loc[("zero_cost_pt (synflow)", "nor_conv_3x3"), "share"] == 1.0
    result = _bias_text.BiasResult("t", bias_mod.param_bias(pk, sizes), pk, {}, None, {},
                                   bias_mod.op_histogram(pk, sizes), bias_mod.edge_diversity(pk, sizes),
                                   pd.DataFrame(columns=["space", "method", "score", "spearman"]), sizes)
    text = _bias_text.conclusion(result.with_diversity(summary))
    assert "FreeDARTS-D in 1 of 2 searches (zero_cost_pt (synflow): 1 of 1)" in text
    assert "1 of 2 FreeDARTS picks hold the most-parameter op on every position" in text
    assert "contradict" not in text


def test_score_param_correlation_per_method():
    cells = _nb([{"cell_id": "z", "dataset": "cifar10", "method": "zero_cost", "proxy": "synflow", "n_samples": 3,
                  "seed": 0, "arch": C3},
                 {"cell_id": "f", "dataset": "cifar10", "seed": 0, "arch": SKIP},
                 {"cell_id": "r", "dataset": "cifar10", "method": "random", "seed": 0, "arch": NONE}])
    # FreeDARTS step-0 ZEROS: conv3x3 scores highest on every edge, then conv1x1 -> sum follows size.
    zeros = [[0.0, 1.0, 2.0, 3.0, 0.5]] * 6
    traj = _traj([{"cell_id": "z", "step": i, "alpha_arch": a, "score": s}
                  for i, (a, s) in enumerate([(NONE, 1.0), (SKIP, 2.0), (C3, 9.0)])]
                 + [{"cell_id": "f", "step": 0, "scores_json": json.dumps({"cell": zeros})}])
    corr = score_param_correlation(cells, traj, bias_mod.load_sizes(cells)).set_index("method")
    assert corr.loc["zero_cost (synflow, N=3)", "spearman"] == pytest.approx(spearman([1, 2, 9], [0, 0, 1]))
    assert corr.loc["FreeDARTS-D", "n_archs"] == 15625 and corr.loc["FreeDARTS-D", "spearman"] > 0.5
    assert "random" not in corr.index
    dist = bias_mod.load_sizes(cells)[("nasbench201", "cifar10", TINY)].distribution()
    scores = bias_mod.additive_scores({"cell": zeros}, "nasbench201", [C3, NONE])
    assert list(scores) == [18.0, 0.0] and len(dist) == 15625


def test_table2_rows_quote_the_literature_and_put_ours_beside_the_paper():
    cells = _cells([{"dataset": "cifar10", "method": "random", "n_samples": 1, "seed": s, "cifar10_test_acc": v}
                    for s, v in enumerate([80.0, 90.0])]
                   + [{"dataset": "cifar100", "seed": 0, "cifar100_test_acc": 70.0},
                      {"dataset": "cifar100", "seed": 1, "variant": "labels", "cifar100_test_acc": 1.0},
                      {"dataset": "imagenet16-120", "method": "zero_cost", "proxy": "synflow", "n_samples": 5,
                       "seed": 0, "status": "failed", "error": "NonFiniteScoreError: x"}])
    stats = table2_stats(cells)
    assert stats[("random", "cifar10")].mean == 85.0 and stats[("random", "cifar10")].n == 2
    assert stats[("FreeDARTS-D", "cifar100")].n == 1  # the labelled cell is not Table 2's FreeDARTS row
    assert stats[("zero_cost (synflow, N=5)", "imagenet16-120")].text() == "no data (1 failed)"
    assert ("zero_cost_pt", "cifar10") not in stats
    frame = table2_frame(cells)
    assert set(frame.loc[frame["method"] == "GDAS", "source"]) == {"quoted"}
    assert list(frame.loc[frame["method"] == "Random baseline", "source"]) == ["paper", "ours"]
    ours = frame[(frame["method"] == "Random baseline") & (frame["source"] == "ours")].iloc[0]
    assert ours["CIFAR-10"] == "85.00 ± 7.07 (n=2)"
    assert list(frame.loc[frame["source"] == "ours", "method"])[1] == "Zero-Cost NAS (synflow, N=5)"
    md = table2_markdown(cells)
    assert "| KNAS | quoted | 93.43 | 71.05 | 45.05 | 20000s |" in md
    assert "- `zero_cost (synflow, N=5)`: 1 cells (0 ok); seeds 0-0; datasets imagenet16-120" in md


def test_table2_keeps_proxies_apart_and_lists_harness_only_methods():
    zc = {"dataset": "cifar10", "method": "zero_cost", "variant": "labels", "n_samples": 30, "seed": 0}
    cells = _cells([{**zc, "proxy": "snip", "cifar10_test_acc": 90.0}, {**zc, "proxy": "grad_norm", "cifar10_test_acc": 92.0},
                    {"dataset": "cifar10", "method": "most_params", "n_samples": 100, "seed": 0,
                     "cifar10_test_acc": 93.0}])
    frame = table2_frame(cells).set_index("method")
    assert frame.loc["Zero-Cost NAS (snip, N=30)", "CIFAR-10"] == "90.00 (n=1)"
    assert frame.loc["Zero-Cost NAS (grad_norm, N=30)", "CIFAR-10"] == "92.00 (n=1)"
    assert frame.loc["Most parameters (not in the paper) (N=100)", "source"] == "ours"
    tex = table2_latex(cells)
    assert r"\caption{Table 2: comparison" in tex and r"\label{tab:t-table2}" in tex and r"\toprule" in tex


def test_fig3_counts_failures_and_finds_the_flat_range():
    rows = [{"dataset": "cifar10", "seed": s, "alpha_scale": a, "cifar10_test_acc": acc}
            for a, accs in ((1e-4, [93.0, 93.4]), (1e-3, [93.6, 93.8]), (1e-1, [91.0, 92.0])) for s, acc in
            enumerate(accs)]
    error = "NonFiniteScoreError: ZEROS scores are not finite at pruning step 3 (loss=inf)"
    rows += [{"dataset": "cifar10", "seed": s, "alpha_scale": 1.0, "status": "failed", "error": error}
             for s in range(2)]
    stats = fig3_stats(_cells(rows))
    failed = stats[stats["alpha_scale"] == 1.0].iloc[0]
    assert failed.n_failed == 2 and failed.n_ok == 0 and math.isnan(failed["mean"])
    assert "NonFiniteScoreError" in failed.failures
    assert flat_range(stats) == {"cifar10": [1e-4, 1e-3]}


def test_sections_write_their_files(tmp_path, monkeypatch):
    rows = [{"dataset": "cifar10", "seed": 0, "alpha_scale": a, "arch": C3, "params_m": 1.5,
             "cifar10_test_acc": 93.0} for a in (1e-3, 1e-2)]
    rows += [{"cell_id": "z", "dataset": "cifar10", "method": "zero_cost", "proxy": "synflow", "n_samples": 3,
              "seed": 0, "arch": C3, "params_m": 1.5, "cifar10_test_acc": 93.7}]
    cells = _nb(rows)
    traj = _traj([{"cell_id": "z", "step": i, "alpha_arch": a, "score": s}
                  for i, (a, s) in enumerate([(NONE, 1.0), (SKIP, 2.0), (C3, 9.0)])])
    acc = pd.DataFrame({"arch": [C3, SKIP, NONE], "cifar10_test_acc": [93.5, 93.6, 10.0], "cifar100_test_acc": 0.0,
                        "imagenet16_test_acc": 0.0})
    monkeypatch.setattr(bias_mod, "nb201_accuracies", lambda: acc)
    frags = build_report(cells, traj, tmp_path, ReportOptions(), "t")
    assert {"table2", "fig3", "bias"} <= set(frags)
    for name in ("table2.md", "table2.tex", "table2.csv", "fig3_alpha_scale.png", "fig3.md", "fig3.tex",
                 "bias_params.png", "bias_band.png", "bias_ops.png", "bias_edges.png", "bias_scatter.png", "bias.md",
                 "bias.tex", "bias_spearman.csv", "search_cost.tex"):
        assert (tmp_path / name).stat().st_size > 0, name
    text = (tmp_path / "bias.md").read_text()
    assert "zero_cost (synflow, N=3): a largest cell was among the sampled cells in 1 of 1 cells." in text
    assert "### Conclusion" in text and "Spearman(test accuracy, params)" in text
    tex = (tmp_path / "bias.tex").read_text()
    assert tex.count(r"\caption{") == tex.count(r"\label{") == tex.count(r"\begin{table}") >= 4
    table2 = (tmp_path / "table2.md").read_text()  # two alpha scales: two rows, never pooled
    assert "| **FreeDARTS [alpha_scale=0.001]** | **ours** | 93.00 (n=1) |" in table2
    assert "| **FreeDARTS [alpha_scale=0.01]** | **ours** | 93.00 (n=1) |" in table2
    # Table 3 is one table per alpha scale, and never pools the zero_cost cell (93.7).
    table3 = (tmp_path / "table3.md").read_text()
    assert "### alpha_scale=0.001" in table3 and "### alpha_scale=0.01" in table3 and "93.35" not in table3
    assert (tmp_path / "table3.tex").read_text().count(r"\begin{table}") == 2


