"""ZEROS scores and FreeDARTS pruning on the real NB201 supernet (small widths where it doesn't matter).

Searches run the default (fast) engine unless a test pins the reference engine's own pass counts;
tests/test_engines.py checks that both engines agree."""

from __future__ import annotations

import pytest
import torch

from harness import freedarts, zeros
from harness.data import Batch, ones_batch
from harness.errors import NonFiniteScoreError
from spaces import get_space

SPACE = get_space("nasbench201")
SMALL = {"channels": 4, "cells_per_stage": 1}


def make_net(seed=0, transform="raw", scale=1e-3, abs_weights=True, abs_alpha=True, dtype="float32", **options):
    torch.manual_seed(seed)
    net = SPACE.build_supernet(SPACE.options(**(options or SMALL)), num_classes=10, input_size=32,
                               alpha_transform=transform, alpha_scale=scale)
    zeros.prepare(net, abs_weights=abs_weights, abs_alpha=abs_alpha, bn_mode="train", dtype=dtype)
    return net


def test_abs_pass_covers_weights_buffers_and_optionally_alpha():
    net = make_net(abs_weights=True, abs_alpha=False)
    for key, t in net.state_dict().items():
        if key.startswith("alphas."):
            assert (t < 0).any(), "alpha keeps its sign when abs_alpha is off"
        elif t.is_floating_point():
            assert (t >= 0).all(), key
    net = make_net(abs_weights=False, abs_alpha=True)
    assert (net.alphas["cell"] >= 0).all()
    assert (net.stem[0].weight < 0).any()


def test_none_scores_exactly_zero_and_score_is_abs_alpha_times_grad():
    net = make_net(dtype="float64")
    res = zeros.score(net, ones_batch(32))
    s = res.scores["cell"]
    assert s.shape == (6, 5) and s.dtype == torch.float64
    assert (s[:, 0] == 0).all()  # `none` outputs x*0: exactly zero gradient
    assert (s[:, 1:] > 0).all()
    # S = |alpha * dL/dalpha|, checked against a central finite difference of the loss.
    e, k, h = 2, 3, 1e-6
    alpha = net.alphas["cell"]

    def loss_at(delta):
        with torch.no_grad():
            alpha[e, k] += delta
            out = float(net(ones_batch(32).x.double()).sum())
            alpha[e, k] -= delta
        return out

    grad = (loss_at(h) - loss_at(-h)) / (2 * h)
    assert float(s[e, k]) == pytest.approx(abs(float(alpha.detach()[e, k]) * grad), rel=1e-4)


def test_labelled_loss_is_cross_entropy_of_the_batch():
    net = make_net(abs_weights=False, abs_alpha=False)
    gen = torch.Generator().manual_seed(0)
    batch = Batch(x=torch.randn(4, 3, 32, 32, generator=gen), labels=torch.tensor([0, 1, 2, 3]), source="test")
    res = zeros.score(net, batch)
    with torch.no_grad():
        logits = net(batch.x)
    assert res.loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, batch.labels)), rel=1e-5)


@pytest.mark.parametrize("engine, passes", [("reference", 24), ("fast", 18)])
def test_iterative_nb201_prunes_24_ops_none_first_and_ends_one_op_per_edge(engine, passes):
    net = make_net(**{"channels": 8, "cells_per_stage": 2})
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings(mode="iterative"), engine=engine)
    assert res.n_steps == 24 and len(res.steps) == 25
    # The last removal leaves nothing to re-score; the fast engine also skips the 6 after a `none`.
    assert res.score_passes - res.close_calls == passes
    assert [(s.pruned_row, s.pruned_op) for s in res.steps[1:7]] == [(e, 0) for e in range(6)]
    alive_counts = [sum(map(sum, s.alive["cell"])) for s in res.steps]
    assert alive_counts == list(range(30, 5, -1))
    assert (res.alive["cell"].sum(dim=1) == 1).all()
    chosen = [SPACE.op_names["cell"][int(k)] for k in res.alive["cell"].float().argmax(dim=1)]
    assert res.arch_key == SPACE.arch_key(SPACE.parse_arch_key(res.arch_key))
    assert SPACE.parse_arch_key(res.arch_key).ops == tuple(chosen)
    for step in res.steps[1:]:
        row = step.scores["cell"][step.pruned_row]
        assert step.pruned_score == row[step.pruned_op]


def test_each_removal_is_the_global_minimum_over_eligible_ops():
    net = make_net()
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings(mode="iterative"))
    alive = torch.ones(6, 5, dtype=torch.bool)
    for step in res.steps[1:]:
        s = torch.tensor(step.scores["cell"])
        cand = freedarts.eligible({"cell": alive})["cell"]
        assert step.pruned_score == float(s[cand].min())
        alive = torch.tensor(step.alive["cell"])


def test_oneshot_is_per_edge_argmax_of_the_first_scores():
    net = make_net()
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings(mode="oneshot"))
    assert res.n_steps == 0 and res.score_passes == 1
    expected = SPACE.derive({"cell": torch.tensor(res.steps[0].scores["cell"])}, {"cell": torch.ones(6, 5, dtype=torch.bool)})
    assert res.arch_key == SPACE.arch_key(expected)
    assert "none" not in res.arch_key


def test_same_seed_same_architecture_different_seeds_vary():
    archs = []
    for seed in (0, 0, 1, 2, 3):
        net = make_net(seed=seed)
        archs.append(freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings()).arch_key)
    assert archs[0] == archs[1]
    assert len(set(archs)) > 1


@pytest.mark.parametrize("transform", ["raw", "softmax"])
def test_both_alpha_transforms_search_to_a_valid_architecture(transform):
    net = make_net(transform=transform)
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings())
    assert res.n_steps == 24
    SPACE.parse_arch_key(res.arch_key)


def test_softmax_mode_renormalises_over_alive_ops():
    net = make_net(transform="softmax")
    mask = net.alive("cell").clone()
    mask[0, :3] = False
    net.set_alive("cell", mask)
    w = net.mixing_weights("cell")
    assert torch.allclose(w.sum(dim=1), torch.ones(6, dtype=w.dtype))
    assert (w[0, :3] == 0).all()


def test_tie_break_first_vs_random():
    gen = torch.Generator().manual_seed(0)
    scores = {"cell": torch.ones(6, 5, dtype=torch.float64)}
    alive = {"cell": torch.ones(6, 5, dtype=torch.bool)}
    first = freedarts._choose(scores, alive, freedarts.SearchSettings(tie_break="first"), gen)
    assert first == [("cell", 0, 0)]
    picks = {tuple(freedarts._choose(scores, alive, freedarts.SearchSettings(tie_break="random"), gen)[0])
             for _ in range(20)}
    assert len(picks) > 1


def test_prune_pool_global_vs_per_group():
    scores = {"a": torch.tensor([[1.0, 5.0]]), "b": torch.tensor([[3.0, 2.0]])}
    alive = {g: torch.ones(1, 2, dtype=torch.bool) for g in scores}
    gen = torch.Generator()
    assert freedarts._choose(scores, alive, freedarts.SearchSettings(prune_pool="global"), gen) == [("a", 0, 0)]
    assert freedarts._choose(scores, alive, freedarts.SearchSettings(prune_pool="per_group"), gen) == [("a", 0, 0), ("b", 0, 1)]


def test_ops_on_single_op_rows_are_never_candidates():
    alive = {"cell": torch.tensor([[True, False], [True, True]])}
    scores = {"cell": torch.tensor([[0.0, 9.0], [5.0, 4.0]], dtype=torch.float64)}
    assert freedarts._choose(scores, alive, freedarts.SearchSettings(), torch.Generator()) == [("cell", 1, 1)]


def test_reinit_weights_each_step_redraws_weights_keeps_alpha():
    net = make_net()
    alpha_before = net.alphas["cell"].detach().clone()
    w_before = net.stem[0].weight.detach().clone()
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings(reinit_weights_each_step=True))
    assert res.n_steps == 24
    assert torch.equal(net.alphas["cell"].detach(), alpha_before)
    assert not torch.equal(net.stem[0].weight.detach(), w_before)
    assert (net.stem[0].weight >= 0).all()  # the abs pass is re-applied to the new weights


def test_trajectory_alpha_arch_is_argmax_alpha_over_alive_ops():
    net = make_net()
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings())
    alpha = net.alphas["cell"].detach()
    for step in (res.steps[0], res.steps[10], res.steps[-1]):
        expected = SPACE.derive({"cell": alpha}, {"cell": torch.tensor(step.alive["cell"])})
        assert step.alpha_arch == SPACE.arch_key(expected)
    assert res.steps[-1].alpha_arch == res.arch_key  # one op per edge: alpha and scores agree


def test_bn_eval_and_float64_paths():
    net = make_net(dtype="float64")
    net.train(False)
    res = freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings(mode="oneshot"))
    assert res.final_scores["cell"].dtype == torch.float64


def test_non_finite_scores_raise_with_a_diagnostic():
    net = make_net(scale=1e30)
    with pytest.raises(NonFiniteScoreError, match="lower alpha_scale"):
        freedarts.search(net, ones_batch(32), SPACE, freedarts.SearchSettings())


def test_groups_outside_prunable_groups_are_only_scored():
    import dataclasses

    space = dataclasses.replace(SPACE, prunable_groups=())
    res = freedarts.search(make_net(), ones_batch(32), space, freedarts.SearchSettings())
    assert res.n_steps == 0 and res.score_passes == 1
    assert res.alive["cell"].all()


def test_final_rescore_scores_the_pruned_supernet_once_more():
    import dataclasses

    space = dataclasses.replace(SPACE, final_rescore=True)
    res = freedarts.search(make_net(), ones_batch(32), space, freedarts.SearchSettings(), engine="reference")
    assert res.n_steps == 24 and res.score_passes == 25
    dead = ~res.alive["cell"]
    assert (res.final_scores["cell"][dead] == 0).all() and (res.final_scores["cell"][res.alive["cell"]] > 0).all()
