"""Report sections of issue 6 (Table 2, Fig. 3, bias analysis) on small synthetic cells tables, and the
cached parameter distribution of harness/space_stats.py."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

import spaces
from benchmarks.paths import cache_root
from harness import store
from harness.report import build_report
from harness.report import bias as bias_mod
from harness.report._base import ReportOptions
from harness.report.bias import op_histogram, param_bias, score_param_correlation, spearman
from harness.report.fig3 import fig3_stats, flat_range
from harness.report.table2 import table2_frame, table2_latex, table2_markdown, table2_stats
from harness.space_stats import param_distribution
from spaces import nasbench201 as nb

C3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


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


def _dist() -> dict:
    archs = [NONE, SKIP, C3]
    return {("nasbench201", "cifar10"): pd.DataFrame({"arch": archs, "params_m": [0.1, 0.1, 1.5]})}


def test_param_bias_and_op_histogram():
    cells = _cells([{"dataset": "cifar10", "method": "zero_cost", "proxy": "synflow", "n_samples": 3, "seed": s,
                     "arch": C3, "params_m": 1.5} for s in range(2)]
                   + [{"dataset": "cifar10", "seed": 0, "arch": SKIP, "params_m": 0.1},
                      {"dataset": "cifar10", "seed": 1, "status": "failed", "error": "E: x"}])
    p = param_bias(cells, _dist()).set_index("method")
    zc = p.loc["zero_cost (synflow, N=3)"]
    assert zc.n == 2 and zc.mean_params_m == 1.5 and zc.share_largest == 1.0 and zc.percentile_of_mean == 100.0
    assert zc.space_median_m == pytest.approx(0.1) and zc.largest_arch == C3
    fd = p.loc["FreeDARTS-D"]
    assert fd.n == 1 and fd.share_largest == 0.0 and fd.percentile_of_mean == pytest.approx(200 / 3)
    h = op_histogram(cells).set_index(["method", "op"])
    assert h.loc[("zero_cost (synflow, N=3)", "nor_conv_3x3"), "share"] == 1.0
    assert h.loc[("FreeDARTS-D", "skip_connect"), "count"] == 6 and h.loc[("FreeDARTS-D", "none"), "count"] == 0


def test_score_param_correlation_per_method():
    cells = _cells([{"cell_id": "z", "dataset": "cifar10", "method": "zero_cost", "proxy": "synflow", "n_samples": 3,
                     "seed": 0, "arch": C3, "params_m": 1.5},
                    {"cell_id": "f", "dataset": "cifar10", "seed": 0, "arch": SKIP, "params_m": 0.1},
                    {"cell_id": "r", "dataset": "cifar10", "method": "random", "seed": 0, "arch": NONE}])
    # FreeDARTS step-0 ZEROS: conv3x3 scores highest on every edge -> C3 top, NONE bottom.
    zeros = [[0.0, 1.0, 2.0, 3.0, 0.5]] * 6
    traj = _traj([{"cell_id": "z", "step": i, "alpha_arch": a, "score": s}
                  for i, (a, s) in enumerate([(NONE, 1.0), (SKIP, 2.0), (C3, 9.0)])]
                 + [{"cell_id": "f", "step": 0, "scores_json": json.dumps({"cell": zeros})}])
    dist = {("nasbench201", "cifar10"): pd.DataFrame({"arch": [NONE, SKIP, C3], "params_m": [0.1, 0.2, 1.5]})}
    corr = score_param_correlation(cells, traj, dist).set_index("method")
    assert corr.loc["zero_cost (synflow, N=3)", "spearman"] == pytest.approx(1.0)
    assert corr.loc["FreeDARTS-D", "spearman"] == pytest.approx(1.0) and corr.loc["FreeDARTS-D", "n_archs"] == 3
    assert "random" not in corr.index


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
    cells = _cells(rows)
    traj = _traj([{"cell_id": "z", "step": i, "alpha_arch": a, "score": s}
                  for i, (a, s) in enumerate([(NONE, 1.0), (SKIP, 2.0), (C3, 9.0)])])
    monkeypatch.setattr(bias_mod, "load_distributions", lambda cells: _dist())
    frags = build_report(cells, traj, tmp_path, ReportOptions(), "t")
    assert {"table2", "fig3", "bias"} <= set(frags)
    for name in ("table2.md", "table2.csv", "fig3_alpha_scale.png", "fig3.md", "bias_params.png", "bias_ops.png",
                 "bias_scatter.png", "bias.md", "bias_spearman.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    text = (tmp_path / "bias.md").read_text()
    assert "picked in 1 of 1 cells; sampled in 1 (ranks when sampled: 1)" in text
    table2 = (tmp_path / "table2.md").read_text()  # two alpha scales: two rows, never pooled
    assert "| **FreeDARTS [alpha_scale=0.001]** | **ours** | 93.00 (n=1) |" in table2
    assert "| **FreeDARTS [alpha_scale=0.01]** | **ours** | 93.00 (n=1) |" in table2
    # Table 3's FreeDARTS-D row pools only FreeDARTS cells (93.0, 93.0), not the zero_cost one (93.7).
    table3 = (tmp_path / "table3.md").read_text()
    assert "93.00" in table3 and "93.23" not in table3


def test_param_distribution_is_exact_and_cached(monkeypatch):
    few = nb.all_genotypes()[::1000]
    small = dataclasses.replace(spaces.get_space("nasbench201"), all_genotypes=lambda: few)
    monkeypatch.setattr(spaces, "get_space", lambda name: small)
    opts = {"channels": 4, "cells_per_stage": 1}
    dist = param_distribution("nasbench201", 100, opts)
    o = nb.NB201Options(**opts)
    assert list(dist["arch"]) == [g.arch_str() for g in few]
    assert list((dist["params_m"] * 1e6).round().astype(int)) == [nb.param_count(g, 100, o) for g in few]
    assert dist.attrs["exact"]
    assert list((cache_root() / "space_params").glob("nasbench201-*.parquet"))  # under $HARNESS_CACHE
    assert param_distribution("nasbench201", 100, opts).equals(dist)


def test_param_distribution_error_names_the_space(monkeypatch):
    bare = dataclasses.replace(spaces.get_space("nasbench201"), all_genotypes=None, sample_genotype=None)
    monkeypatch.setattr(spaces, "get_space", lambda name: bare)
    with pytest.raises(ValueError, match="space 'nasbench201' has neither all_genotypes nor sample_genotype"):
        param_distribution("nasbench201", 10)
