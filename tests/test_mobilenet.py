"""MobileNet (ProxylessNAS) space: backbone layout and sizes against the authors' log, skip only where
ProxylessNAS allows it, paper-mode and code-mode scoring on a tiny width, and the labelled code-mode
path failing cleanly without ImageNet images."""

from __future__ import annotations

import pytest
import torch

from harness import freedarts, zeros
from harness.config import CellConfig, resolve
from harness.data import ones_batch
from harness.runner import RunContext, run_cell
from spaces import get_space
from spaces import mobilenet as mb

TINY = mb.MobileNetOptions(width_mult=0.1)
# The authors' seed-0 search result (spec §4.4, `SynFlow.ipynb`), op indices in the code's 6-op order.
AUTHORS_SEED0 = "0 2 0 4 2 3 3 4 4 3 4 4 3 3 5 1 0 4 3 0 2"


def test_layout_is_the_proxylessnas_backbone():
    lay = mb.layout()
    assert len(lay.blocks) == mb.N_BLOCKS == 21
    assert [b for b in range(21) if not lay.has_skip(b)] == [0, 4, 8, 12, 16, 20]  # first block of each stage
    assert lay.blocks[0] == (24, 32, 2) and lay.blocks[12] == (112, 128, 1) and lay.blocks[20] == (256, 432, 1)
    assert (lay.stem, lay.first, lay.feature_mix) == (40, 24, 1728)


def test_authors_seed0_network_has_the_logged_6_26_m_parameters():
    g = mb.Genotype(tuple(mb.OPS[int(i)] for i in AUTHORS_SEED0.split()))
    assert round(mb.param_count(g, 1000) / 1e6, 2) == 6.26  # retrain log: 6.26 M (paper Table 7: 6.2 M)
    biggest = mb.Genotype(("MBE6-K7",) * 21)
    assert mb.param_count(biggest, 1000) > mb.param_count(g, 1000)
    assert mb.flops(biggest, 1000) > mb.flops(g, 1000) > 0


def test_flops_hooks_agree_with_the_analytic_mbconv_count():
    g = mb.Genotype(("MBE3-K5",) * 21)
    lay, s = mb.layout(), 112
    macs = s * s * 3 * 40 * 9 + mb.mbconv_macs(40, 24, 3, 1, 1, s)
    for c_in, c_out, stride in lay.blocks:
        macs += mb.mbconv_macs(c_in, c_out, 5, 3, stride, s)
        s = -(-s // stride)
    macs += s * s * 432 * 1728 + 1728 * 1000
    assert mb.flops(g, 1000) == macs


def test_skip_only_where_the_block_keeps_shape():
    ops = ["MBE3-K3"] * 21
    ops[1] = "skip"
    assert mb.param_count(mb.Genotype(tuple(ops)), 1000) < mb.param_count(mb.Genotype(("MBE3-K3",) * 21), 1000)
    ops[0] = "skip"
    with pytest.raises(ValueError, match=r"blocks \[0\]"):
        mb.param_count(mb.Genotype(tuple(ops)), 1000)
    with pytest.raises(ValueError, match="21 ops"):
        mb.parse_arch_key("MBE3-K3,skip")


def test_paper_mode_dead_skip_entries_and_iterative_search():
    torch.manual_seed(0)
    net = mb.build_supernet(TINY, 1000, 64)  # 64: the last stage keeps 2x2 pixels for batch-stat BN
    zeros.prepare(net, abs_weights=True, abs_alpha=True, bn_mode="train", dtype="float32")
    lay = mb.layout(0.1)
    dead = [b for b in range(21) if not lay.has_skip(b)]
    assert int(net.alive("blocks").sum()) == 21 * 7 - len(dead)
    scores = zeros.score(net, ones_batch(64)).scores["blocks"]
    assert scores[dead, 6].eq(0).all() and (scores[[b for b in range(21) if b not in dead], 6] > 0).all()
    # Iterative pruning over a reduced pool (MBE3-K3 vs skip) keeps the test fast: one step per skip-able block.
    mask = net.alive("blocks").clone()
    mask[:, 1:6] = False
    net.set_alive("blocks", mask)
    result = freedarts.search(net, ones_batch(64), get_space("mobilenet"), freedarts.SearchSettings())
    assert result.n_steps == 21 - len(dead)
    assert (result.alive["blocks"].sum(dim=1) == 1).all()
    g = mb.parse_arch_key(result.arch_key)
    assert all(g.ops[b] == "MBE3-K3" for b in dead) and set(g.ops) <= {"MBE3-K3", "skip"}


def test_code_mode_binary_gates_adam_step_and_flops_regulariser():
    torch.manual_seed(0)
    net = mb.build_supernet(mb.MobileNetOptions(width_mult=0.1, code_mode=True), 1000, 64)
    zeros.prepare(net, abs_weights=False, abs_alpha=False, bn_mode="train", dtype="float32")
    assert net.alphas["blocks"].shape == (21, 6)
    before = net.alphas["blocks"].detach().clone()
    result = zeros.score(net, ones_batch(64))
    after = net.alphas["blocks"].detach()
    step = (after - before).abs()
    # One Adam step with betas (0, 0.999): |delta alpha| = lr * |g| / (|g| + eps), just under 1e-3.
    assert 9e-4 < float(step.max()) <= 1e-3 * (1 + 1e-5)
    assert (result.scores["blocks"] > 0).all()  # every op gets a binary-gate gradient
    expected = net._fixed_macs + (torch.softmax(before.double(), -1) * net._op_macs).sum()
    assert 0 < float(expected) and net._op_macs.shape == (21, 6)


def test_labelled_code_mode_fails_cleanly_without_imagenet_images():
    opts = tuple(sorted({"width_mult": 0.1, "code_mode": True}.items()))
    labelled = resolve(CellConfig(space="mobilenet", dataset="imagenet", variant="labels", mode="oneshot",
                                  abs_weights=False, space_options=opts))
    row, _ = run_cell(labelled, RunContext(sweep="t", benchmark="none"))
    assert row["status"] == "no_data" and row["error"].startswith("DataNotFoundError: imagenet training images not found")
