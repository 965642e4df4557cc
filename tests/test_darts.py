"""DARTS space: supernet sizes vs the authors' logs, genotype strings, the top-2 rule, evaluation networks,
and FreeDARTS on a tiny DARTS supernet end to end with the YAHPO NB301 lookup."""

from __future__ import annotations

import json
import random

import pytest
import torch

from archcodec import darts as darts_key
from harness.config import CellConfig, resolve
from harness.runner import RunContext, run_cell
from spaces import darts, get_space

YAHPO_DIR = "nasbench301/yahpo_nb301_v2"
TINY = (("channels", 4), ("layers", 3), ("preset", "cifar8"))


@pytest.mark.parametrize("preset, classes, size, logged_m", [
    ("cifar8", 10, 32, 1.930618),      # FreeDARTS notebook log
    ("cifar20", 10, 32, 4.548730),     # FreeDARTS† log
    ("imagenet", 1000, 224, 25.512016),  # FreeDARTS‡ log
])
def test_supernet_sizes_match_the_authors_logs(preset, classes, size, logged_m):
    net = darts.build_supernet(darts.DartsOptions(preset=preset), classes, size)
    weights = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("alphas."))
    assert weights / 1e6 == pytest.approx(logged_m, rel=0.01)
    assert weights / 1e6 == pytest.approx(logged_m, abs=1e-6)  # in fact exact
    assert {g: tuple(a.shape) for g, a in net.alphas.items()} == {"normal": (14, 8), "reduce": (14, 8)}
    assert sum(c.reduction for c in net.cells) == 2


def test_imagenet_preset_defaults_alpha_scale_5e4_and_signed_alpha():
    cell = resolve(CellConfig(space="darts", dataset="imagenet", space_options=(("preset", "imagenet"),)))
    assert cell.alpha_scale == 5e-4 and cell.abs_weights and not cell.abs_alpha
    assert resolve(CellConfig(space="darts", dataset="cifar10")).alpha_scale == 1e-3
    assert dict(resolve(CellConfig(space="darts")).space_options) == {"preset": "cifar8", "channels": 16, "layers": 8}
    with pytest.raises(ValueError, match="valid: cifar8, cifar20, imagenet"):
        darts.DartsOptions(preset="cifar")


def test_genotype_string_round_trip_is_canonical_and_matches_the_benchmark_parser():
    rng = random.Random(0)
    for _ in range(20):
        g = darts.sample_genotype(rng)
        key = darts.arch_key(g)
        assert darts.parse_arch_key(key) == g and darts.arch_key(darts.parse_arch_key(key)) == key
        parsed = darts_key.parse(key)
        assert [tuple(p) for p in parsed["normal"]] == list(g.normal)
        assert [tuple(p) for p in parsed["reduce"]] == list(g.reduce)
    # DARTS' own form (range concat, pairs in any order within a node) reads into the same genotype.
    paper = darts.PAPER_GENOTYPES["FreeDARTS"]
    g = darts.Genotype.parse(paper.replace("[2, 3, 4, 5]", "range(2, 6)"))
    assert g == darts.Genotype.parse(paper)
    assert g.normal[6:8] == (("sep_conv_5x5", 1), ("sep_conv_5x5", 3))  # (sep5,3)(sep5,1) sorted by input


@pytest.mark.parametrize("bad, match", [
    (darts.PAPER_GENOTYPES["FreeDARTS"].replace("('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ", "", 1), "has 6 pairs, needs 8"),
    (darts.PAPER_GENOTYPES["FreeDARTS"].replace("('max_pool_3x3', 0)", "('none', 0)"), "op 'none' is outside the NB301 DARTS space"),
    (darts.PAPER_GENOTYPES["FreeDARTS"].replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1), "twice"),
    (darts.PAPER_GENOTYPES["FreeDARTS"].replace("('dil_conv_5x5', 2)", "('dil_conv_5x5', 4)"), "invalid for node 3; valid: 0..2"),
    (darts.PAPER_GENOTYPES["FreeDARTS"].replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"), "concatenates"),
    ("|nor_conv_3x3~0|", "not a DARTS genotype"),
])
def test_bad_genotype_strings_raise_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        darts.Genotype.parse(bad)


def test_derive_top2_edges_stable_ties_and_never_none():
    scores = {g: torch.zeros(14, 8) for g in darts.GROUPS}
    alive = {g: torch.ones(14, 8, dtype=torch.bool) for g in darts.GROUPS}
    s = scores["normal"]
    s[:, 0] = 100.0  # `none` scores are ignored
    s[0, 4] = 1.0  # node 2: edge 0<-... sep_conv_3x3
    s[1, 5] = 1.0  # edge 1: sep_conv_5x5
    s[2, 1] = s[3, 2] = s[4, 3] = 2.0  # node 3: three equal strengths -> edges 0 and 1 (stable)
    s[5, 6] = 3.0
    s[8, 7] = 4.0  # node 4: edges 0 and 3
    s[9, 1] = s[9, 2] = 5.0  # node 5 edge 0: tie between ops -> first (max_pool)
    s[13, 3] = 6.0
    alive["normal"][13, 3] = False  # pruned: not selectable, edge 4 falls back to other edges
    g = darts.derive(scores, alive)
    assert g.normal == (("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("avg_pool_3x3", 1),
                        ("dil_conv_3x3", 0), ("dil_conv_5x5", 3), ("max_pool_3x3", 0), ("max_pool_3x3", 1))
    assert all(op != "none" for op, _ in g.reduce)


@pytest.mark.parametrize("name, channels, logged_m", [
    ("FreeDARTS‡", 36, 4.14),   # cifar10-FreeDARTS++ log: C=36, 4.14 M
    ("FreeDARTS†", 38, 3.65),   # cifar10-FreeDARTS+ log: C=38, 3.65 M
])
def test_paper_genotypes_cifar_params_match_the_training_logs(name, channels, logged_m):
    g = darts.Genotype.parse(darts.PAPER_GENOTYPES[name])
    assert darts.cifar_params(g, channels) / 1e6 == pytest.approx(logged_m, abs=0.005)


@pytest.mark.parametrize("setting", [darts.CIFAR_EVAL, darts.IMAGENET_EVAL])
def test_fast_param_count_equals_building_the_whole_network(setting):
    rng = random.Random(7)
    for _ in range(3):
        g = darts.sample_genotype(rng)
        net = darts.EvalNetwork(g, 10, setting.channels, setting.layers, setting.imagenet)
        assert darts.param_count(g, 10, setting=setting) == sum(p.numel() for p in net.parameters())


def test_imagenet_mobile_network_of_the_paper_genotype():
    g = darts.Genotype.parse(darts.PAPER_GENOTYPES["FreeDARTS‡"])
    assert darts.imagenet_params(g) / 1e6 == pytest.approx(5.77, abs=0.005)  # ImageNet_FreeDARTS++ log: 5.77 M
    macs = darts.imagenet_flops(g) / 1e6
    assert 550 < macs < 700  # mobile setting (< 600-700 M); Table 6 says 655 M for this cell


@pytest.fixture(scope="module")
def yahpo(data_root):
    return str(data_root / YAHPO_DIR)


def test_oneshot_on_a_tiny_darts_supernet_looks_up_yahpo(yahpo):
    cell = resolve(CellConfig(space="darts", mode="oneshot", seed=1, space_options=TINY))
    row, traj = run_cell(cell, RunContext(sweep="t", benchmark="yahpo_nb301", table_dir=yahpo))
    assert row["status"] == "ok", row.get("error")
    g = darts.parse_arch_key(row["arch"])
    assert row["lookup_status"] == "ok" and 85 < row["yahpo_nb301_val_acc"] < 96
    assert row["yahpo_nb301_val_err"] == pytest.approx(100 - row["yahpo_nb301_val_acc"])
    assert row["params_m"] == pytest.approx(darts.cifar_params(g) / 1e6)  # Table 6 "Param"
    assert row["flops_m"] == pytest.approx(darts.imagenet_flops(g) / 1e6)  # Table 6 "+x"
    assert darts.param_count(g, 1000) == darts.cifar_params(g)  # ImageNet searches are sized on CIFAR-10
    assert row["benchmark_sha256"] and "YAHPO" in row["benchmark_source"]
    assert len(traj) == 1 and not cell.abs_alpha


def test_iterative_prunes_none_first_then_rescoring_picks_two_edges(yahpo, monkeypatch):
    from harness import engine

    monkeypatch.setattr(engine, "CLOSE_CALL_GAP", 0.0)  # pass counts of the loop itself, no close-call passes
    # prune_pool per_group (one removal per cell type per pass) halves the passes of this test; the default
    # global pool is the same loop with one removal per pass (tested on NB201 in test_freedarts.py).
    cell = resolve(CellConfig(space="darts", mode="iterative", seed=0, prune_pool="per_group", space_options=TINY))
    row, traj = run_cell(cell, RunContext(sweep="t", benchmark="yahpo_nb301", table_dir=yahpo))
    assert row["status"] == "ok", row.get("error")
    # 224 -> 28 ops, + final re-score; the (default) fast engine skips the 14 passes after `none`-only removals.
    assert row["n_steps"] == 2 * 14 * 7 and row["score_passes"] == 14 * 7 + 1 - 14 and row["engine"] == "fast"
    assert {t["op"] for t in traj[1:29]} == {"none"}  # zero scores go first
    assert [t["group"] for t in traj[1:5]] == ["normal", "reduce", "normal", "reduce"]
    alive = json.loads(traj[-1]["alive_json"])
    assert all(sum(r) == 1 for g in alive.values() for r in g)
    assert get_space("darts").final_rescore
    darts.parse_arch_key(row["arch"])
