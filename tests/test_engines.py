"""The fast ZEROS engine against the reference engine (harness/engine.py), on every registered space.

Spaces with a fused supernet (`SpaceSpec.fast_supernet`): in float64 both engines make the same
removals with scores equal to ~1e-9 relative (the fused net only re-associates float sums); in
float32 (the default) the architectures agree unless the two deciding scores are within float32
noise. Spaces without one: the generic levers (alpha-only gradients, no re-score after a `none`
removal) must give bit-identical scores at every step. Tiny space options; DARTS and MobileNet
searches start from a mostly pruned mask so that an iterative search takes seconds.
DARTS and NB1Shot1 are compared with eval-mode BN (NB1Shot1 also with positive alpha): with train-mode
BN and one all-ones image their logits are the classifier bias whatever alpha is, so their FreeDARTS-D
scores are rounding noise that no two summation orders share (README, "FreeDARTS-D on DARTS and
NB1Shot1"; tests/test_fast_spaces.py::test_train_bn_batch_of_one_makes_the_logits_the_classifier_bias).
scripts/check_engines.py runs the same comparison on many seeds.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from harness import engine as engine_
from harness import freedarts, store, zeros
from harness.data import Batch, ones_batch
from harness.errors import NonFiniteScoreError
from spaces import get_space, list_spaces
from spaces._fast import _pool as fast_pool
from spaces._fast import nasbench201 as fast_nb201
from spaces._fast import nasbench201_discrete as fast_nb201_discrete

# Per space: tiny options, input size, and how many rows per group keep 2 non-`none` ops before an
# iterative search (None: search the whole tiny supernet).
SETTINGS = {
    "nasbench201": ({"channels": 4, "cells_per_stage": 1}, 32, None),
    "darts": ({"preset": "cifar8", "channels": 4, "layers": 3}, 32, 2),
    "nasbench1shot1": ({"channels": 4, "layers": 3}, 32, None),
    "mobilenet": ({"width_mult": 0.1}, 64, 3),
}
NB201 = get_space("nasbench201")
# Spaces whose default FreeDARTS-D scores carry no signal (see the module docstring): compared with
# eval-mode BN, and NB1Shot1 with positive alpha too (signed mixtures die at a ReLU in eval mode).
WITH_SIGNAL = {"darts": {"bn_mode": "eval"}, "nasbench1shot1": {"bn_mode": "eval", "abs_alpha": True}}


def test_every_space_has_engine_settings():
    assert set(list_spaces()) <= set(SETTINGS)


def build(name, seed=0, dtype="float32", transform="raw", bn_mode="train", open_rows=None, abs_alpha=None, **options):
    space = get_space(name)
    opts, size, _ = SETTINGS[name]
    torch.manual_seed(seed)
    net = space.build_supernet(space.options(**{**opts, **options}), num_classes=10, input_size=size,
                               alpha_transform=transform, alpha_scale=1e-3)
    abs_alpha = space.alpha_in_state_dict if abs_alpha is None else abs_alpha
    zeros.prepare(net, abs_weights=True, abs_alpha=abs_alpha, bn_mode=bn_mode, dtype=dtype)
    if open_rows is not None:
        _prune_to_few(net, space, open_rows)
    return net, ones_batch(size)


def _prune_to_few(net, space, open_rows: int) -> None:
    """Keep `none` (where alive) and the first alive other op per row; the first `open_rows` rows of
    each prunable group keep two other ops. A short iterative search that still removes `none` ops."""
    prunable = getattr(net, "prunable_groups", space.prunable_groups) or net.groups
    for g in prunable:
        mask = net.alive(g).clone()
        for row in range(mask.shape[0]):
            others = [k for k in range(mask.shape[1]) if mask[row, k] and space.op_names[g][k] != "none"]
            keep = set(others[: 2 if row < open_rows else 1])
            for k in others:
                mask[row, k] = k in keep
        net.set_alive(g, mask)


def search(name, engine, mode="iterative", seed=0, **kw):
    net, batch = build(name, seed=seed, open_rows=SETTINGS[name][2] if mode == "iterative" else None, **kw)
    settings = freedarts.SearchSettings(mode=mode, seed=seed)
    return freedarts.search(net, batch, get_space(name), settings, engine=engine)


@pytest.mark.parametrize("name", list_spaces())
@pytest.mark.parametrize("mode", ["oneshot", "iterative"])
def test_engines_agree(name, mode):
    space = get_space(name)
    for seed in (0, 1) if mode == "oneshot" else (0,):
        if space.fast_supernet is None:
            # Generic levers only: every step's scores are bit-identical.
            ref, fast = search(name, "reference", mode, seed), search(name, "fast", mode, seed)
            assert fast.arch_key == ref.arch_key and len(fast.steps) == len(ref.steps)
            for a, b in zip(ref.steps, fast.steps):
                assert (a.pruned_group, a.pruned_row, a.pruned_op) == (b.pruned_group, b.pruned_row, b.pruned_op)
                assert a.scores == b.scores, f"step {a.step}"
            assert fast.score_passes <= ref.score_passes
            continue
        # Fused supernet, float64: the same decisions, scores equal up to float re-association.
        bn = WITH_SIGNAL.get(name, {})
        ref = search(name, "reference", mode, seed, dtype="float64", **bn)
        fast = search(name, "fast", mode, seed, dtype="float64", **bn)
        assert engine_.first_divergence(ref, fast) is None
        for a, b in zip(ref.steps, fast.steps):
            for g in a.scores:
                want = torch.tensor(a.scores[g])  # re-association error is relative to the group's largest score
                torch.testing.assert_close(torch.tensor(b.scores[g]), want, rtol=1e-8, atol=1e-9 * float(want.abs().max()) + 1e-300)
        if seed == 0:  # float32, the path a sweep takes: a divergence must be a float32-noise tie
            div = engine_.first_divergence(search(name, "reference", mode, seed, **bn), search(name, "fast", mode, seed, **bn))
            assert div is None or div.gap < 1e-3, div.describe()


def test_fast_nb201_skips_the_rescores_after_none_and_records_every_step():
    ref, fast = search("nasbench201", "reference"), search("nasbench201", "fast")
    assert (ref.score_passes, fast.score_passes - fast.close_calls) == (24, 18)
    assert len(fast.steps) == len(ref.steps) == 25 and [s.step for s in fast.steps] == list(range(25))
    for step in fast.steps[1:7]:  # steps 1-6 remove `none`; each keeps the scores that chose it
        assert NB201.op_names["cell"][step.pruned_op] == "none" and step.pruned_score == 0.0
        assert step.scores["cell"][step.pruned_row][step.pruned_op] == step.pruned_score
    # After the 6th removal the carried scores are what a re-score returns: pruned entries 0.
    assert all(row[0] == 0.0 for row in fast.steps[7].scores["cell"])
    assert fast.arch_key == ref.arch_key


@pytest.mark.parametrize("kw", [{"transform": "softmax"}, {"bn_mode": "eval"}, {"search_conv_bias": False},
                                {"dtype": "float64"}])
def test_fast_nb201_other_settings_agree(kw):
    ref, fast = search("nasbench201", "reference", **kw), search("nasbench201", "fast", **kw)
    div = engine_.first_divergence(ref, fast)
    assert div is None, div.describe()
    # Under softmax removing `none` renormalises the row: every removal is re-scored.
    assert fast.score_passes - fast.close_calls == (24 if kw.get("transform") == "softmax" else 18)


def test_reinit_weights_each_step_refuses_and_draws_the_same_weights():
    settings = freedarts.SearchSettings(reinit_weights_each_step=True)
    nets = {}
    results = {}
    for engine in ("reference", "fast"):
        net, batch = build("nasbench201", dtype="float64")
        results[engine] = freedarts.search(net, batch, NB201, settings, engine=engine)
        nets[engine] = net
    assert engine_.first_divergence(results["reference"], results["fast"]) is None
    assert results["fast"].score_passes - results["fast"].close_calls == 24  # the weights change every step: no pass is skipped
    # Same RNG draws (the fused nets drew nothing); BN running stats differ: the fused net leaves them.
    for (k, a), (_, b) in zip(nets["reference"].named_parameters(), nets["fast"].named_parameters()):
        assert torch.equal(a, b), k
    assert all(p.requires_grad for p in nets["fast"].parameters())  # frozen only during the search


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_labelled_float32_batches_keep_the_reference_net(dtype):
    """Cross-entropy scores are too ill-conditioned in float32 for a fused net (harness/engine.py):
    the fast engine then runs the reference supernet with the generic levers, bit-identically."""
    gen = torch.Generator().manual_seed(0)
    batch = Batch(x=torch.randn(4, 3, 32, 32, generator=gen), labels=torch.tensor([0, 1, 2, 3]), source="test")
    results = {}
    for engine in ("reference", "fast"):
        net, _ = build("nasbench201", dtype=dtype)
        with torch.no_grad():  # the labelled variants keep signed weights
            net.stem[0].weight.neg_()
        run = engine_.start(engine, net, NB201, freedarts.SearchSettings(), batch)
        assert run.fused is False and (run.__enter__().fused is (engine == "fast" and dtype == "float64"))
        run.__exit__(None, None, None)
        results[engine] = freedarts.search(net, batch, NB201, freedarts.SearchSettings(), engine=engine)
    assert engine_.first_divergence(results["reference"], results["fast"]) is None
    if dtype == "float32":
        assert all(a.scores == b.scores for a, b in zip(results["reference"].steps, results["fast"].steps))


def test_generic_levers_are_bit_identical_on_the_reference_net():
    net, batch = build("nasbench201")
    expected = zeros.score(net, batch).scores["cell"]
    with engine_.Run("fast", net, dataclasses.replace(NB201, fast_supernet=None), reinit_each_step=False) as run:
        assert run.net is net and not any(p.requires_grad for n, p in net.named_parameters() if "alphas" not in n)
        assert torch.equal(zeros.score(run.net, batch).scores["cell"], expected)


def test_a_factory_returning_none_falls_back_to_the_reference_net():
    space = dataclasses.replace(NB201, fast_supernet=lambda ref: None)
    net, batch = build("nasbench201")
    res = freedarts.search(net, batch, space, freedarts.SearchSettings(), engine="fast")
    assert res.score_passes - res.close_calls == 18 and res.arch_key == search("nasbench201", "reference").arch_key


# -- the fused NB201 supernet ------------------------------------------------------------------------
@pytest.mark.parametrize("layout", fast_nb201.CONV_LAYOUTS)
@pytest.mark.parametrize("kw", [{}, {"transform": "softmax"}, {"bn_mode": "eval"}, {"search_conv_bias": False}])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_fused_nb201_logits_and_scores_match_the_reference(layout, kw, batch_size):
    ref, _ = build("nasbench201", dtype="float64", **kw)
    fused = fast_nb201.FastNB201Supernet(ref, conv_layout=layout)
    x = torch.randn(batch_size, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    masks = [ref.alive("cell").clone()]
    masks.append(masks[-1].clone())
    masks[-1][:, 0] = False  # `none` gone
    masks.append(masks[-1].clone())
    masks[-1][0, 1:4] = False  # edge 1<-0 keeps only pooling
    masks[-1][1:3, 2] = False  # no 1x1 conv from nodes 0 and 1 into node 2
    masks[-1][5] = torch.tensor([True, False, False, False, False])  # 3<-2 only `none`: node 2 feeds nothing
    for mask in masks:
        ref.set_alive("cell", mask)
        fused.set_alive("cell", mask)
        torch.testing.assert_close(fused(x), ref(x), rtol=1e-10, atol=1e-12)
        batch = Batch(x=x, labels=None, source="test")
        torch.testing.assert_close(zeros.score(fused, batch).scores["cell"], zeros.score(ref, batch).scores["cell"],
                                   rtol=1e-8, atol=1e-300)


def test_fused_nb201_contract():
    ref, batch = build("nasbench201")
    rng = torch.get_rng_state()
    fused = NB201.fast_supernet(ref)
    assert torch.equal(torch.get_rng_state(), rng)  # fusing draws nothing
    assert fused.alphas["cell"] is ref.alphas["cell"] and fused.alpha_transform == ref.alpha_transform
    assert torch.equal(fused.alive("cell"), ref.alive("cell")) and fused.groups == ref.groups
    assert not any(p.requires_grad for n, p in fused.named_parameters() if not n.startswith("alphas"))
    zeros.score(fused, batch)
    assert ref.alphas["cell"].grad is not None  # the backward reached the reference's alpha
    assert fused.training == ref.training


def test_every_node_fed_only_by_none_is_zero():
    ref, batch = build("nasbench201", dtype="float64")
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[:, 0] = True  # every edge `none`: every cell outputs 0
    ref.set_alive("cell", mask)
    fused = NB201.fast_supernet(ref)
    torch.testing.assert_close(fused(batch.x.double()), ref(batch.x.double()))


def test_lever_4_runs_the_reference_nets_pools_channels_last_and_restores_them():
    """The fast engine on an unfused reference net (a labelled float32 batch): its AvgPool2d modules run
    the channels-last kernels during the search (same scores bit for bit) and are plain modules after."""
    gen = torch.Generator().manual_seed(0)
    batch = Batch(x=torch.randn(4, 3, 32, 32, generator=gen), labels=torch.tensor([0, 1, 2, 3]), source="test")
    net, _ = build("nasbench201")
    pools = [m for m in net.modules() if isinstance(m, torch.nn.AvgPool2d)]
    assert pools
    expected = zeros.score(net, batch).scores["cell"]
    with engine_.start("fast", net, NB201, freedarts.SearchSettings(), batch) as run:
        assert run.net is net and all("forward" in m.__dict__ for m in pools)
        assert torch.equal(zeros.score(run.net, batch).scores["cell"], expected)
    assert not any("forward" in m.__dict__ for m in pools)
    with fast_pool.channels_last_pooling(net) as n:
        assert n == len(pools)


def test_kept_stem_output_and_node0_bases_follow_the_input_the_bn_mode_and_the_mask():
    """The fused net keeps the stem output and the first cell's node-0 bases across passes; another
    input, BN mode or source-0 mask must recompute them."""
    ref, _ = build("nasbench201", dtype="float64")
    fused = fast_nb201.FastNB201Supernet(ref)
    gen = torch.Generator().manual_seed(0)
    xs = [torch.ones(1, 3, 32, 32, dtype=torch.float64), torch.randn(1, 3, 32, 32, generator=gen, dtype=torch.float64)]
    pruned = ref.alive("cell").clone()
    pruned[0, 3] = False  # edge 1<-0 loses its 3x3 conv: source 0's bases change
    for mode, mask, x in [(True, None, xs[0]), (True, None, xs[0]), (True, None, xs[1]), (True, pruned, xs[1]),
                          (False, pruned, xs[1]), (True, pruned, xs[0].clone())]:
        for net in (ref, fused):
            net.train(mode)
            if mask is not None:
                net.set_alive("cell", mask)
        torch.testing.assert_close(fused(x), ref(x), rtol=1e-10, atol=1e-12)
    assert fused._stem_cache is not None and fused._node0_cache is not None


def test_fast_engine_raises_on_non_finite_scores():
    net, batch = build("nasbench201")
    with torch.no_grad():
        net.alphas["cell"].mul_(1e33)
    with pytest.raises(NonFiniteScoreError, match="lower alpha_scale"):
        freedarts.search(net, batch, NB201, freedarts.SearchSettings(), engine="fast")


def test_unknown_engine_names_the_choices():
    net, batch = build("nasbench201")
    with pytest.raises(ValueError, match="unknown engine 'turbo'; valid: fast, reference"):
        freedarts.search(net, batch, NB201, freedarts.SearchSettings(), engine="turbo")


def test_divergence_reports_the_deciding_scores():
    ref = search("nasbench201", "reference")
    steps = list(ref.steps)
    s = steps[8]
    alt = next((r, k) for r, row in enumerate(s.scores["cell"]) for k, v in enumerate(row)
               if s.alive["cell"][r][k] and v > 0)
    steps[8] = dataclasses.replace(s, pruned_row=alt[0], pruned_op=alt[1])
    div = engine_.first_divergence(ref, dataclasses.replace(ref, steps=steps))
    assert div.step == 8 and div.reference == ("cell", s.pruned_row, s.pruned_op) and div.fast == ("cell", *alt)
    assert div.scores["reference"][0] == s.pruned_score and not div.near_tie and "step 8" in div.describe()


# -- the run option ----------------------------------------------------------------------------------
def test_engine_is_recorded_in_each_row_and_old_rows_read_as_reference(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.config import CellConfig, resolve
    from harness.runner import RunContext, run_cell

    cell = resolve(CellConfig(mode="oneshot", space_options=(("cells_per_stage", 1), ("channels", 4))))
    rows = {e: run_cell(cell, RunContext(sweep="t", table_dir=None, engine=e))[0] for e in engine_.ENGINES}
    assert {e: r["engine"] for e, r in rows.items()} == {"fast": "fast", "reference": "reference"}
    assert rows["fast"]["arch"] == rows["reference"]["arch"] and rows["fast"]["cell_id"] == rows["reference"]["cell_id"]
    assert json.loads(rows["fast"]["config_json"]) == json.loads(rows["reference"]["config_json"])
    store.write_cell(tmp_path, rows["fast"], [])
    (tmp_path / "cells" / "old.parquet").parent.mkdir(exist_ok=True)
    pq.write_table(pa.table({"cell_id": ["old"], "status": ["ok"]}), tmp_path / "cells" / "old.parquet")
    cells = store.read_cells(tmp_path).set_index("cell_id")
    assert cells.loc["old", "engine"] == "reference" and cells.loc[rows["fast"]["cell_id"], "engine"] == "fast"


def test_sweep_cli_takes_the_engine_option():
    from harness.sweep import build_parser

    assert build_parser().parse_args(["s.yaml"]).engine == "fast"
    assert build_parser().parse_args(["s.yaml", "--engine", "reference"]).engine == "reference"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["s.yaml", "--engine", "turbo"])


# -- zero_cost ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                  "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
                                  "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"])
def test_functional_discrete_nb201_draws_the_module_weights_and_scores_synflow(arch):
    from harness.proxies import synflow, synflow_from_outputs

    g = NB201.parse_arch_key(arch)
    options = NB201.options(channels=4, cells_per_stage=2)
    torch.manual_seed(3)
    net = NB201.discrete_network(g, 10, options)
    after_modules = torch.get_rng_state()
    torch.manual_seed(3)
    params = fast_nb201_discrete.discrete_params(g, 10, options)
    assert torch.equal(torch.get_rng_state(), after_modules)
    module_params = [t for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                     for t in (m.weight, m.bias) if t is not None]
    assert len(params) == len(module_params) and all(torch.equal(a, b) for a, b in zip(params, module_params))
    params = [p.double().abs_() for p in params]
    batch = ones_batch(32)
    fast = synflow_from_outputs(lambda x, out: fast_nb201_discrete.discrete_forward_no_bn(g, params, x, options, out), batch)
    assert fast == pytest.approx(synflow(net, batch), rel=1e-12, abs=0.0)


@pytest.mark.parametrize("proxy, variant", [("synflow", "D"), ("snip", "labels")])
def test_zero_cost_fast_engine_picks_the_same_architecture(proxy, variant):
    from harness.config import CellConfig, resolve
    from harness.runner import RunContext, run_cell

    cell = resolve(CellConfig(method="zero_cost", proxy=proxy, variant=variant, n_samples=6, seed=4,
                              space_options=(("cells_per_stage", 1), ("channels", 4))))
    (ref, ref_traj), (fast, fast_traj) = (run_cell(cell, RunContext(sweep="t", table_dir=None, engine=e))
                                          for e in ("reference", "fast"))
    assert ref["status"] == fast["status"] == "ok", (ref.get("error"), fast.get("error"))
    assert fast["arch"] == ref["arch"] and [t["alpha_arch"] for t in fast_traj] == [t["alpha_arch"] for t in ref_traj]
    rel = 1e-12 if proxy == "synflow" else 0.0  # synflow from layer outputs; snip: same arithmetic, no copy
    for a, b in zip(ref_traj, fast_traj):
        assert b["score"] == pytest.approx(a["score"], rel=rel, abs=0.0)


def test_a_fused_net_that_overflows_falls_back_to_the_reference_net(monkeypatch):
    """Where the fused net's other summation order overflows float32 and the reference's does not
    (NB201 at alpha_scale 1: the fused BN's variance), the search runs again on the reference net."""
    real_score = zeros.score

    def score(net, batch, **kw):
        if isinstance(net, fast_nb201.FastNB201Supernet):
            raise NonFiniteScoreError("a stand-in overflow of the fused net")
        return real_score(net, batch, **kw)

    monkeypatch.setattr(zeros, "score", score)
    ref, fast = search("nasbench201", "reference"), search("nasbench201", "fast")
    assert engine_.first_divergence(ref, fast) is None and fast.score_passes - fast.close_calls == 18  # levers 1-2 still apply


def test_nb201_at_alpha_scale_1_finds_the_reference_architecture():
    from harness.config import CellConfig, resolve
    from harness.runner import RunContext, run_cell

    cell = resolve(CellConfig(variant="D", mode="oneshot", seed=0, alpha_scale=1.0))
    rows = {e: run_cell(cell, RunContext(sweep="t", table_dir=None, engine=e))[0] for e in ("reference", "fast")}
    assert rows["fast"]["status"] == rows["reference"]["status"] == "ok", rows["fast"].get("error")
    assert rows["fast"]["arch"] == rows["reference"]["arch"]


@pytest.mark.parametrize("ratio, fused", [(1e-2, False), (0.1, True), (1.0, True), (100.0, True), (1e3, False)])
def test_the_fast_engine_fuses_only_near_the_default_alpha_scale(ratio, fused):
    """Outside FUSE_ALPHA_RANGE float32 rounding decides the FreeDARTS-D scores (a = 1e-5 and 1 on NB201:
    the engines chose differently on 5 of 5 seeds): there the fast engine runs the reference net,
    whose scores are bit-identical to the reference engine's at every step."""
    net, batch = build("nasbench201")
    settings = freedarts.SearchSettings(alpha_scale_ratio=ratio)
    with engine_.start("fast", net, NB201, settings, batch) as run:
        assert run.fused is fused
    if not fused:
        results = {}
        for engine in ("reference", "fast"):
            net, batch = build("nasbench201")
            results[engine] = freedarts.search(net, batch, NB201, settings, engine=engine)
        assert all(a.scores == b.scores for a, b in zip(results["reference"].steps, results["fast"].steps))
        assert results["reference"].arch_key == results["fast"].arch_key


def test_the_freedarts_method_passes_the_alpha_scale_ratio(monkeypatch):
    from harness.config import CellConfig, resolve
    from harness.methods import freedarts as method

    seen = []
    monkeypatch.setattr(freedarts, "search", lambda net, batch, space, settings, engine: seen.append(settings))
    for scale in (1e-5, 1e-3):
        cell = resolve(CellConfig(variant="D", mode="oneshot", alpha_scale=scale, space_options=(("channels", 4), ("cells_per_stage", 1))))
        batch = Batch(x=torch.ones(1, 3, 32, 32), labels=None, source="test")
        method.run(cell, NB201, batch, torch.device("cpu"), engine="fast")
    assert [s.alpha_scale_ratio for s in seen] == pytest.approx([1e-2, 1.0])


@pytest.mark.parametrize("dataset_seed", [0, 1])
def test_close_calls_are_decided_on_the_reference_nets_scores(monkeypatch, dataset_seed):
    """With every removal a close call, the fast engine decides each one on the reference net's scores: the
    same removals as the reference engine, and each deciding score matrix bit for bit the reference's."""
    ref, _ = search("nasbench201", "reference", seed=dataset_seed), None
    monkeypatch.setattr(engine_, "CLOSE_CALL_GAP", float("inf"))
    fast = search("nasbench201", "fast", seed=dataset_seed)
    assert engine_.first_divergence(ref, fast) is None and fast.arch_key == ref.arch_key
    for a, b in zip(ref.steps[1:], fast.steps[1:]):
        assert (a.pruned_group, a.pruned_row, a.pruned_op) == (b.pruned_group, b.pruned_row, b.pruned_op)
        # A `none` op removed between exact zeros is no close call (0 in both nets, same tie rule).
        assert a.scores == b.scores or b.pruned_score == 0.0, f"step {a.step}"
    assert sum(a.scores == b.scores for a, b in zip(ref.steps[1:], fast.steps[1:])) >= 12
    assert fast.close_calls == fast.score_passes - 18  # every re-scored removal was re-decided: one extra pass each
    monkeypatch.setattr(engine_, "CLOSE_CALL_GAP", 0.0)
    assert search("nasbench201", "fast", seed=dataset_seed).close_calls == 0
