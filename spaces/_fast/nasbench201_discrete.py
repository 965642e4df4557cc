"""NB201's discrete network, functionally: the `zero_cost` baseline's fast path (SynFlow on NB201).

`discrete_params` draws the same weights `nb.discrete_network` draws at construction, without
building modules; `discrete_forward_no_bn` computes its BN-free logits and collects every conv /
linear output, the tensors SynFlow's per-layer sums run over (harness/methods/zero_cost.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spaces import nasbench201 as nb
from spaces._fast.nasbench201 import avg_pool_3x3


def _layout(options: nb.NB201Options) -> list[tuple[int, bool]]:
    """(channels, is_reduction) of every layer after the stem, as `_Macro._build_macro` lays them out."""
    c, n = options.channels, options.cells_per_stage
    return [(c, False)] * n + [(2 * c, True)] + [(2 * c, False)] * n + [(4 * c, True)] + [(4 * c, False)] * n


def _drawn(module_cls, weight_shape: tuple[int, ...], bias: int | None = None) -> list[torch.Tensor]:
    """A layer's parameters drawn by `module_cls.reset_parameters` itself (same init, same RNG draws)."""
    holder = type("Holder", (), {})()
    holder.weight = torch.empty(weight_shape)
    holder.bias = None if bias is None else torch.empty(bias)
    module_cls.reset_parameters(holder)
    return [holder.weight] + ([] if holder.bias is None else [holder.bias])


def discrete_params(genotype: nb.Genotype, num_classes: int, options: nb.NB201Options) -> list[torch.Tensor]:
    """The conv and linear parameters `nb.discrete_network(genotype, num_classes, options)` draws at
    construction, in construction order, from the global RNG, without building modules (its BN layers
    draw nothing). Float32, CPU, as the modules draw them; tests check them equal to the module's."""
    conv = nn.Conv2d
    params = _drawn(conv, (options.channels, 3, 3, 3))  # stem
    c_prev = options.channels
    for c, reduce in _layout(options):
        if reduce:  # ResNetBasicBlock: conv_a, conv_b, downsample conv
            params += _drawn(conv, (c, c_prev, 3, 3)) + _drawn(conv, (c, c, 3, 3)) + _drawn(conv, (c, c_prev, 1, 1))
        else:
            for op in genotype.ops:
                if op in ("nor_conv_1x1", "nor_conv_3x3"):
                    k = 1 if op == "nor_conv_1x1" else 3
                    params += _drawn(conv, (c, c, k, k))
        c_prev = c
    return params + _drawn(nn.Linear, (num_classes, c_prev), bias=num_classes)


def discrete_forward_no_bn(genotype: nb.Genotype, params: list[torch.Tensor], x: torch.Tensor,
                           options: nb.NB201Options, outputs: list[torch.Tensor]) -> torch.Tensor:
    """The logits of `nb.discrete_network` with every BN removed (what SynFlow scores), functionally,
    with `params` in `discrete_params` order. Appends to `outputs` the output of every conv and
    linear layer without its bias (module order): the tensors SynFlow's per-layer sums are over.
    `none` edges add exact zeros and are skipped."""
    it = iter(params)

    def layer(y: torch.Tensor) -> torch.Tensor:
        outputs.append(y)
        return y

    x = layer(F.conv2d(x, next(it), padding=1))
    for _, reduce in _layout(options):
        if reduce:
            wa, wb, wd = next(it), next(it), next(it)
            a = layer(F.conv2d(F.relu(x), wa, stride=2, padding=1))
            b = layer(F.conv2d(F.relu(a), wb, padding=1))
            x = layer(F.conv2d(F.avg_pool2d(x, 2, stride=2), wd)) + b
            continue
        nodes = [x]
        ops = iter(genotype.ops)
        for i in range(1, nb.MAX_NODES):
            terms = []
            for (to, src), op in zip((e for e in nb.EDGES if e[0] == i), ops):
                if op == "skip_connect":
                    terms.append(nodes[src])
                elif op == "avg_pool_3x3":
                    terms.append(avg_pool_3x3(nodes[src]))
                elif op in ("nor_conv_1x1", "nor_conv_3x3"):
                    w = next(it)
                    terms.append(layer(F.conv2d(F.relu(nodes[src]), w, padding=w.shape[-1] // 2)))
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        x = nodes[-1]
    weight, bias = next(it), next(it)
    z = layer(torch.flatten(F.adaptive_avg_pool2d(F.relu(x), 1), 1) @ weight.t())
    return z + bias
