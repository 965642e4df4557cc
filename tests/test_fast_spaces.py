"""The fused DARTS, NB1Shot1 and MobileNet supernets (spaces/_fast/) against their reference nets.

Each fused net must give the reference's ZEROS scores (to float re-association), alpha gradients
only, the same derived architectures one-shot and after iterative FreeDARTS, and rebuild itself
when an alive mask changes. Tiny options keep each test to a second or two.

Settings: train-mode BN with ONE input image makes DARTS' and NB1Shot1's logits equal to the
classifier bias for every alpha (every cell output is a sum of per-channel-normalised maps, whose
spatial mean is 0), so their FreeDARTS-D scores there are pure rounding noise that no re-associated
computation reproduces (`test_train_bn_batch_of_one_...` pins this down). The score comparisons
therefore use eval-mode BN with the all-ones image, or train-mode BN with a labelled batch of two.
"""

from __future__ import annotations

import pytest
import torch

from harness import freedarts, zeros
from harness.data import Batch, ones_batch
from spaces import darts, get_space, mobilenet, nasbench1shot1
from spaces._fast import darts as fast_darts, mobilenet as fast_mobilenet, nasbench1shot1 as fast_nb1shot1

# The fused nets of spaces/_fast/, registered or not (MobileNet's is not: see its module docstring).
FUSED = {"darts": fast_darts.fast_supernet, "nasbench1shot1": fast_nb1shot1.fast_supernet,
         "mobilenet": fast_mobilenet.fast_supernet}
CASES = {  # name -> (space, options, classes, input size)
    "darts": ("darts", darts.DartsOptions(channels=4, layers=3), 10, 8),
    "darts-imagenet": ("darts", darts.DartsOptions(preset="imagenet", channels=4, layers=3), 1000, 32),
    "nb1shot1": ("nasbench1shot1", nasbench1shot1.NB1Shot1Options(channels=4, layers=3), 10, 16),
    "nb1shot1-edges": ("nasbench1shot1", nasbench1shot1.NB1Shot1Options(channels=4, layers=3,
                                                                       edge_selection="iterative"), 10, 16),
    "mobilenet": ("mobilenet", mobilenet.MobileNetOptions(width_mult=0.1), 1000, 32),
}
SETTINGS = {  # (bn_mode, dtype, alpha_transform, batch of two labelled images?)
    "eval-f64": ("eval", "float64", "raw", False),
    "train-f64": ("train", "float64", "raw", True),
    "eval-f32": ("eval", "float32", "raw", False),
    "softmax": ("train", "float64", "softmax", True),
}
COMBOS = [(c, s) for c in ("darts", "nb1shot1", "mobilenet") for s in SETTINGS] + \
    [("darts-imagenet", "eval-f64"), ("darts-imagenet", "train-f64"), ("nb1shot1-edges", "train-f64")]


def _nets(case: str, bn_mode: str, dtype: str, transform: str, seed: int = 0):
    space_name, options, classes, size = CASES[case]
    space = get_space(space_name)
    torch.manual_seed(seed)
    ref = space.build_supernet(options, classes, size, alpha_transform=transform, alpha_scale=1e-3)
    # |alpha| too: with signed alpha the tiny nets often end in all-dead ReLUs (every score exactly 0).
    zeros.prepare(ref, abs_weights=True, abs_alpha=True, bn_mode=bn_mode, dtype=dtype)
    return space, ref, FUSED[space_name](ref)


def _batch(case: str, labelled: bool, seed: int = 0) -> Batch:
    _, _, classes, size = CASES[case]
    if not labelled:
        return ones_batch(size)
    gen = torch.Generator().manual_seed(seed)
    return Batch(x=torch.rand(2, 3, size, size, generator=gen), labels=torch.randint(classes, (2,), generator=gen),
                 source="test")


def _random_masks(space, net, gen: torch.Generator, keep: float) -> dict[str, torch.Tensor]:
    """A pruning as iterative FreeDARTS leaves it: prunable groups only, >= row_keep alive ops per row."""
    start = net.alive_masks()
    prunable = getattr(net, "prunable_groups", None) or space.prunable_groups or tuple(start)
    rows_keep = getattr(net, "row_keep", None) or {}
    out = {}
    for g, alive in start.items():
        if g not in prunable:
            out[g] = alive
            continue
        mask = alive & (torch.rand(alive.shape, generator=gen) < keep)
        for r in range(alive.shape[0]):
            k = int(rows_keep[g][r]) if g in rows_keep else 1
            cols = torch.nonzero(alive[r]).flatten()
            mask[r] = False if keep == 0 else mask[r]
            mask[r, cols[torch.randperm(len(cols), generator=gen)[:k]]] = True
        out[g] = mask
    return out


def _assert_same_scores(a: dict, b: dict, dtype: str, nonzero: bool = True) -> None:
    rtol = 1e-9 if dtype == "float64" else 2e-4
    for g in a:
        scale = float(a[g].abs().max())
        assert scale > 0 or not nonzero, f"group {g}: every score is 0, the comparison would assert nothing"
        torch.testing.assert_close(b[g], a[g], rtol=rtol, atol=rtol * scale, msg=lambda m: f"group {g}: {m}")


@pytest.mark.parametrize("case, setting", COMBOS)
def test_scores_match_the_reference_full_and_pruned(case, setting):
    bn_mode, dtype, transform, labelled = SETTINGS[setting]
    space, ref, fast = _nets(case, bn_mode, dtype, transform)
    batch = _batch(case, labelled)
    gen = torch.Generator().manual_seed(1)
    for keep in (1.0, 0.4, 0.0):  # full supernet, a random pruning, one op per row (row_keep per row)
        if keep < 1.0:
            for g, m in _random_masks(space, ref, gen, keep).items():
                ref.set_alive(g, m)
                fast.set_alive(g, m)
        a, b = zeros.score(ref, batch), zeros.score(fast, batch)
        assert b.loss == pytest.approx(a.loss, rel=1e-9 if dtype == "float64" else 1e-5)
        # softmax over one alive op is the constant 1: with one op per row every score is exactly 0.
        _assert_same_scores(a.scores, b.scores, dtype, nonzero=keep > 0 or transform == "raw")
        assert space.arch_key(space.derive(b.scores, fast.alive_masks())) == \
            space.arch_key(space.derive(a.scores, ref.alive_masks()))


@pytest.mark.parametrize("case", list(CASES))
def test_alpha_is_shared_and_the_only_thing_that_gets_a_gradient(case):
    space, ref, fast = _nets(case, "eval", "float64", "raw")
    assert list(fast.alphas) == list(ref.alphas) and fast.groups == ref.groups
    assert all(fast.alphas[g] is ref.alphas[g] for g in ref.groups)
    assert all(torch.equal(fast.alive(g), ref.alive(g)) for g in ref.groups)
    assert fast.alpha_transform == ref.alpha_transform and fast.training == ref.training
    assert [p for p in fast.parameters()] == [ref.alphas[g] for g in ref.groups]
    zeros.score(fast, _batch(case, False))
    assert all(fast.alphas[g].grad is not None for g in ref.groups)
    assert all(p.grad is None for n, p in ref.named_parameters() if not n.startswith("alphas."))


def _few_ops_left(space, net, gen: torch.Generator) -> None:
    """Prune to one op per row (two on about a quarter of the rows), never keeping DARTS' `none`."""
    for g in net.prunable_groups if hasattr(net, "prunable_groups") else space.prunable_groups or net.groups:
        alive = net.alive(g).clone()
        if space.name == "darts":
            alive[:, 0] = False
        mask = torch.zeros_like(alive)
        for r in range(alive.shape[0]):
            cols = torch.nonzero(alive[r]).flatten()
            k = 2 if torch.rand(1, generator=gen) < 0.25 else 1
            mask[r, cols[torch.randperm(len(cols), generator=gen)[:k]]] = True
        net.set_alive(g, mask)


@pytest.mark.parametrize("case, pre_prune", [("darts", True), ("nb1shot1", False), ("nb1shot1-edges", False),
                                             ("mobilenet", True)])
def test_iterative_search_finds_the_same_architecture(case, pre_prune):
    """`harness.freedarts.search` with each net (DARTS/MobileNet start pre-pruned: fewer steps, same loop)."""
    for seed in (0, 1):
        runs = []
        for engine in ("reference", "fast"):
            space, ref, _ = _nets(case, "train", "float64", "raw", seed)
            if pre_prune:
                _few_ops_left(space, ref, torch.Generator().manual_seed(seed))
            net = ref if engine == "reference" else FUSED[space.name](ref)
            settings = freedarts.SearchSettings(mode="iterative", seed=seed)
            result = freedarts.search(net, _batch(case, True, seed), space, settings, engine="reference")  # the loop as written; `net` is already fused or not
            runs.append((result.arch_key, [(s.pruned_group, s.pruned_row, s.pruned_op) for s in result.steps]))
        assert runs[0] == runs[1]
        assert len(runs[0][1]) > 3  # the search pruned something


def test_nb1shot1_exposes_the_reference_pruning_rules():
    for case in ("nb1shot1", "nb1shot1-edges"):
        _, ref, fast = _nets(case, "train", "float32", "raw")
        assert fast.prunable_groups == ref.prunable_groups
        assert {g: t.tolist() for g, t in fast.row_keep.items()} == {g: t.tolist() for g, t in ref.row_keep.items()}


def test_fused_weights_are_rebuilt_over_the_alive_ops_only():
    space, ref, fast = _nets("darts", "eval", "float64", "raw")
    x = ones_batch(CASES["darts"][3]).x.double()
    fast(x)
    cell = fast.cells[0]  # a normal cell: 8 out-edges from (s0, s1) x 4 conv ops alive
    assert len(cell.units[0].plan.conv) == 32
    mask = ref.alive("normal").clone()
    mask[:, 4:] = False  # prune every sep/dil conv of the normal cells
    for net in (ref, fast):
        net.set_alive("normal", mask)
    out = fast(x)
    assert all(not u.plan.conv and u.p1 is None for u in cell.units)  # pruned convs cost nothing
    torch.testing.assert_close(out, ref(x), rtol=1e-12, atol=1e-12)
    fast.set_alive("normal", mask)  # an unchanged mask does not trigger a rebuild
    assert not fast._dirty


def test_mobilenet_code_mode_is_not_fused_and_casting_a_fused_net_is_refused():
    ref = mobilenet.build_supernet(mobilenet.MobileNetOptions(width_mult=0.1, code_mode=True), 1000, 32)
    assert fast_mobilenet.fast_supernet(ref) is None  # the engine runs the reference net
    _, ref, fast = _nets("nb1shot1", "train", "float32", "raw")
    assert fast.to(torch.float32) is fast  # a no-op move is fine
    with pytest.raises(RuntimeError, match="build a new fused net"):
        fast.double()
    assert ref.alphas["ops"].dtype == torch.float32  # refused before anything moved


@pytest.mark.parametrize("module, case", [(fast_darts, "darts"), (fast_nb1shot1, "nb1shot1")])
def test_train_bn_batch_of_one_makes_the_logits_the_classifier_bias(module, case):
    """Why FreeDARTS-D scores of DARTS/NB1Shot1 with train-mode BN are rounding noise (see module doc)."""
    _, ref, fast = _nets(case, "train", "float64", "raw")
    x = ones_batch(CASES[case][3]).x.double()
    with torch.no_grad():
        for net in (ref, fast):
            torch.testing.assert_close(net(x)[0], ref.classifier.bias, rtol=0, atol=1e-12)
    assert module.fast_supernet is get_space(CASES[case][0]).fast_supernet
