"""Zero-cost proxies (harness/proxies.py): registry, and each proxy's numerics against a hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.data import Batch
from harness.errors import NonFiniteScoreError
from harness.proxies import PROXIES, Proxy, get_proxy, grad_norm, list_proxies, register, remove_bn, snip, synflow

ONES = Batch(x=torch.ones(1, 4), labels=None, source="all-ones")


def _mlp(seed: int = 0, bn: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 3, bias=True)] + ([nn.BatchNorm1d(3)] if bn else []) + [nn.ReLU(), nn.Linear(3, 2)]
    return nn.Sequential(*layers)


def test_registry_names_and_errors():
    assert list_proxies() == ["grad_norm", "snip", "synflow"]
    with pytest.raises(ValueError, match=r"unknown proxy 'jacob'; valid: grad_norm, snip, synflow"):
        get_proxy("jacob")
    with pytest.raises(ValueError, match="registered twice"):
        register(Proxy("synflow", synflow, "again"))
    assert PROXIES["snip"].needs_labels and not PROXIES["synflow"].needs_labels


def test_synflow_equals_hand_computation_with_bn_removed():
    net = _mlp()
    w1, b1 = net[0].weight.detach().double().abs(), net[0].bias.detach().double().abs()
    w2 = net[-1].weight.detach().double().abs()
    # BN removed, |W|, ones input: h = |W1| 1 + |b1| >= 0 so ReLU is the identity; R = sum(|W2| h + |b2|).
    h = w1 @ torch.ones(4, dtype=torch.float64) + b1
    # dR/dW2[i, j] = h[j]; dR/dW1[j, k] = sum_i W2[i, j] * 1. Weights only (biases are not summed).
    expected = float((w2 * h[None, :]).sum() + (w1 * w2.sum(0)[:, None]).sum())
    assert synflow(net, ONES) == pytest.approx(expected, rel=1e-12)


def test_synflow_ignores_signs_and_leaves_the_callers_net_alone():
    net = _mlp()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flipped = _mlp()
    with torch.no_grad():
        flipped[0].weight.neg_()
        flipped[-1].bias.neg_()
    assert synflow(flipped, ONES) == pytest.approx(synflow(net, ONES), rel=1e-12)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert next(net.parameters()).dtype == torch.float32 and isinstance(net[1], nn.BatchNorm1d)


def test_synflow_scales_with_a_layer():
    net = _mlp(bn=False)
    with torch.no_grad():
        net[0].bias.zero_()
        net[-1].bias.zero_()
    base = synflow(net, ONES)
    with torch.no_grad():
        net[0].weight.mul_(1e3)
    # Bias-free positive linear net: every layer's sum w * dR/dw equals R, and R is linear in W1.
    assert synflow(net, ONES) == pytest.approx(1e3 * base, rel=1e-6)


def test_synflow_runs_in_float64():
    # A chain of five 1x1 layers of weight -1e10: R = 1e50 overflows float32, not float64; each layer
    # contributes |w * dR/dw| = R, so the score is 5e50 (signs do not matter).
    net = nn.Sequential(*[nn.Linear(1, 1, bias=False) for _ in range(5)])
    with torch.no_grad():
        for layer in net:
            layer.weight.fill_(-1e10)
    assert synflow(net, Batch(x=torch.ones(1, 1), labels=None, source="all-ones")) == pytest.approx(5e50, rel=1e-12)


def test_remove_bn_replaces_nested_batchnorms():
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Sequential(nn.BatchNorm2d(2), nn.ReLU()))
    remove_bn(net)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def _labelled(n: int = 8) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(x=torch.randn(n, 4, generator=g), labels=torch.randint(2, (n,), generator=g), source="test")


def _reference_grads(net: nn.Module, batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    net = net.train()
    net.zero_grad()
    nn.functional.cross_entropy(net(batch.x), batch.labels).backward()
    return [(m.weight.detach(), m.weight.grad.detach()) for m in (net[0], net[-1])]


def test_snip_and_grad_norm_sum_over_layer_weights_only():
    batch = _labelled()
    grads = _reference_grads(_mlp(), batch)
    assert snip(_mlp(), batch) == pytest.approx(sum(float((w * g).abs().sum()) for w, g in grads), rel=1e-5)
    assert grad_norm(_mlp(), batch) == pytest.approx(sum(float(g.norm()) for _, g in grads), rel=1e-5)


@pytest.mark.parametrize("fn", [snip, grad_norm])
def test_labelled_proxies_refuse_an_unlabelled_batch(fn):
    with pytest.raises(ValueError, match="needs a labelled batch.*variant: labels"):
        fn(_mlp(), Batch(x=torch.ones(2, 4), labels=None, source="all-ones"))


def test_non_finite_score_raises():
    net = _mlp()
    with torch.no_grad():
        net[0].weight[0, 0] = float("inf")
    with pytest.raises(NonFiniteScoreError, match="synflow proxy score is not finite"):
        synflow(net, ONES)
