"""harness/space_stats.py: the closed-form parameter counts equal building the network, and the largest
cell follows each space's own rules (not a sample)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from harness.space_stats import NoSizeModelError, param_distribution, space_sizes
from spaces import darts
from spaces import mobilenet as mb
from spaces import nasbench201 as nb

TINY_NB201 = {"channels": 4, "cells_per_stage": 1}


@pytest.mark.parametrize("options,num_classes", [({}, 10), (TINY_NB201, 120)])
def test_nb201_closed_form_equals_building_the_network(options, num_classes):
    sizes = space_sizes("nasbench201", num_classes, options)
    opts = nb.NB201Options(**options)
    rng = random.Random(1)
    sample = [nb.sample_genotype(rng) for _ in range(12)] + [nb.Genotype(("none",) * 6), nb.Genotype(("skip_connect",) * 6)]
    built = [sum(p.numel() for p in nb.discrete_network(g, num_classes, opts).parameters()) for g in sample]
    assert list(sizes.params([g.arch_str() for g in sample])) == built
    c3 = nb.Genotype(("nor_conv_3x3",) * 6)
    assert sizes.largest_arch == c3.arch_str() and sizes.max_params == nb.param_count(c3, num_classes, opts)
    assert sizes.exact and sizes.positions == ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")


def test_nb201_distribution_is_every_cell():
    dist = param_distribution("nasbench201", 10, TINY_NB201)
    assert dist.attrs["exact"] and len(dist) == 15_625
    assert set(dist["arch"]) == {g.arch_str() for g in nb.all_genotypes()}
    sizes = space_sizes("nasbench201", 10, TINY_NB201)
    assert dist["params_m"].max() * 1e6 == pytest.approx(sizes.max_params)
    assert int((dist["params_m"] * 1e6).round().eq(sizes.max_params).sum()) == 1  # one largest cell on NB201


def test_nb201_ops_and_biggest_op_per_edge():
    sizes = space_sizes("nasbench201", 10, TINY_NB201)
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    assert sizes.ops(arch) == ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "none", "avg_pool_3x3", "nor_conv_3x3")
    assert list(sizes.max_op_mask(arch)) == [True, False, False, False, False, True]
    assert list(sizes.is_largest([arch, sizes.largest_arch])) == [False, True]


def test_darts_largest_cell_by_the_space_rules():
    sizes = space_sizes("darts", 10, {"preset": "cifar8"})
    largest = darts.parse_arch_key(sizes.largest_arch)
    assert sizes.max_params == darts.param_count(largest, 10)
    assert {op for op, _ in largest.normal + largest.reduce} == {"sep_conv_5x5"}
    dist = param_distribution("darts", 10, {"preset": "cifar8"})
    assert not dist.attrs["exact"] and dist["params_m"].max() * 1e6 < sizes.max_params  # a sample never reaches it
    head = dist.head(5)  # the sample is counted with the node tables: the same as param_count
    assert list((head["params_m"] * 1e6).round().astype(int)) == [darts.param_count(darts.parse_arch_key(a), 10)
                                                                  for a in head["arch"]]
    assert space_sizes("darts", 10, {"preset": "imagenet"}) is sizes  # sizes do not depend on the supernet
    # Inputs do not change a node's count: another all-sep_conv_5x5 genotype ties for the maximum.
    other = darts.Genotype(*(tuple(("sep_conv_5x5", s) for n in range(4) for s in (0, n + 1)),) * 2)
    assert sizes.is_largest([other.arch_str()])[0]
    rng = random.Random(3)
    sample = [darts.sample_genotype(rng) for _ in range(5)]
    assert list(sizes.params([g.arch_str() for g in sample])) == [darts.param_count(g, 10) for g in sample]
    mask = sizes.max_op_mask(other.arch_str())
    assert mask.shape == (16,) and mask.all() and sizes.positions[:2] == ("N0.1", "N0.2")
    assert not sizes.max_op_mask(sample[0].arch_str())[[op != "sep_conv_5x5" for op in sizes.ops(sample[0].arch_str())]].any()


def test_mobilenet_closed_form_equals_building_the_network():
    options = {"width_mult": 0.25}
    sizes = space_sizes("mobilenet", 1000, options)
    lay = mb.layout(0.25)
    rng = random.Random(0)
    sample = [mb.Genotype(tuple(rng.choice([o for o in mb.OPS if o != mb.SKIP or lay.has_skip(b)])
                                for b in range(mb.N_BLOCKS))) for _ in range(3)]
    built = [sum(p.numel() for p in mb.DiscreteNetwork(g, 1000, 0.25).parameters()) for g in sample]
    assert list(sizes.params([str(g) for g in sample])) == built
    assert sizes.largest_arch == ",".join(["MBE6-K7"] * mb.N_BLOCKS)
    assert sizes.max_params == sum(p.numel() for p in mb.DiscreteNetwork(
        mb.parse_arch_key(sizes.largest_arch), 1000, 0.25).parameters())
    mask = sizes.max_op_mask(str(sample[0]))
    assert list(mask) == [op == "MBE6-K7" for op in sample[0].ops]
    dist = sizes.distribution()
    assert len(dist) == 5000 and np.all(dist["params_m"] * 1e6 <= sizes.max_params)


def test_a_space_without_a_model_names_the_ones_with_one():
    with pytest.raises(NoSizeModelError, match="no parameter-size model for space 'nasbench1shot1'; spaces with one: "
                                               "nasbench201, darts, mobilenet"):
        space_sizes("nasbench1shot1", 10)
