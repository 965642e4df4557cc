"""Every registered search space: supernet forward/backward, alpha groups, derive/arch-key round trip.

Parametrised over `spaces.list_spaces()`, so a newly registered space is tested with no extra work.
"""

from __future__ import annotations

import pytest
import torch

from spaces import SPACES, get_space, list_spaces
from spaces import nasbench201 as nb201

TINY = {"nasbench201": {"channels": 4, "cells_per_stage": 1},
        "darts": {"preset": "cifar8", "channels": 4, "layers": 3},
        "nasbench1shot1": {"channels": 4, "layers": 3},
        "mobilenet": {"width_mult": 0.1}}


def test_every_space_has_a_tiny_setting():
    assert set(list_spaces()) <= set(TINY)


@pytest.mark.parametrize("name", list_spaces())
@pytest.mark.parametrize("transform", ["raw", "softmax"])
def test_supernet_forward_backward_gives_alpha_grads(name, transform):
    space = get_space(name)
    torch.manual_seed(0)
    net = space.build_supernet(space.options(**TINY[name]), num_classes=10, input_size=32,
                               alpha_transform=transform, alpha_scale=1e-3)
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    for group, alpha in net.alphas.items():
        assert alpha.shape == net.alive(group).shape
        assert alpha.grad is not None and torch.isfinite(alpha.grad).all()
        assert len(space.row_names[group]) == alpha.shape[0]
        assert len(space.op_names[group]) == alpha.shape[1]


@pytest.mark.parametrize("name", list_spaces())
def test_pruned_op_gets_no_gradient_and_derive_respects_alive(name):
    space = get_space(name)
    torch.manual_seed(0)
    net = space.build_supernet(space.options(**TINY[name]), num_classes=10, input_size=32)
    group = net.groups[0]
    mask = net.alive(group).clone()
    mask[0, 1] = False
    net.set_alive(group, mask)
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    assert float(net.alphas[group].grad[0, 1]) == 0.0
    scores = {g: torch.zeros_like(a) for g, a in net.alphas.items()}
    scores[group][0, 1] = 10.0  # highest score, but pruned: derive must not pick it
    key = space.arch_key(space.derive(scores, net.alive_masks()))
    assert space.arch_key(space.parse_arch_key(key)) == key


def test_alpha_is_drawn_after_the_weights():
    """Same seed, same weights whatever alpha_scale; alpha = a * the same randn draw."""
    torch.manual_seed(3)
    a = nb201.build_supernet(nb201.NB201Options(), 10, 32, alpha_scale=1e-3)
    torch.manual_seed(3)
    b = nb201.build_supernet(nb201.NB201Options(), 10, 32, alpha_scale=1.0)
    assert torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert torch.allclose(a.alphas["cell"] * 1e3, b.alphas["cell"])


def test_nb201_supernet_matches_the_spec_layout():
    net = nb201.build_supernet(nb201.NB201Options(), 10, 32)
    assert len(net.cells) == 17  # 5 cells, ResNet block, 5 cells, ResNet block, 5 cells
    assert net.alphas["cell"].shape == (6, 5)
    weights = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("alphas."))
    assert round(weights / 1e6, 2) == 1.69  # notebook log: "Params 1.69 MB"
    assert net(torch.ones(1, 3, 32, 32)).shape == (1, 10)
    assert nb201.build_supernet(nb201.NB201Options(), 120, 16)(torch.ones(1, 3, 16, 16)).shape == (1, 120)


def test_nb201_arch_string_round_trip_and_edge_order():
    s = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    g = nb201.Genotype.from_arch_str(s)
    assert g.ops == ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none", "nor_conv_3x3")
    assert g.arch_str() == s
    assert [f"{i}<-{j}" for i, j in nb201.EDGES] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]


@pytest.mark.parametrize("bad", ["", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|+|none~0|"])
def test_nb201_bad_arch_strings_name_the_input_and_format(bad):
    with pytest.raises(ValueError, match="NB201|op"):
        nb201.Genotype.from_arch_str(bad)


def test_nb201_derive_is_per_edge_argmax_first_index_on_ties():
    scores = torch.zeros(6, 5)
    scores[0, 3] = 2.0
    scores[1, 2] = scores[1, 4] = 1.0  # tie -> first index (nor_conv_1x1)
    alive = torch.ones(6, 5, dtype=torch.bool)
    g = nb201.derive({"cell": scores}, {"cell": alive})
    assert g.ops[:2] == ("nor_conv_3x3", "nor_conv_1x1")
    assert g.ops[2:] == ("none",) * 4  # all-zero rows -> index 0


@pytest.mark.parametrize("arch, classes, expected_m", [
    # NB201's published parameter counts (MB) for these cells.
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", 10, 1.531546),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10, 0.073306),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 100, 0.079156),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 120, 0.080456),
])
def test_nb201_param_count_by_building_the_discrete_network(arch, classes, expected_m):
    assert nb201.param_count(nb201.Genotype.from_arch_str(arch), classes) / 1e6 == pytest.approx(expected_m, abs=1e-6)


def test_registry_rejects_unknown_names():
    with pytest.raises(ValueError, match="valid: .*nasbench201"):
        get_space("nb201")
    assert SPACES["nasbench201"].default_alpha_scale == 1e-3
