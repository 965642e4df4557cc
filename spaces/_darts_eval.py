"""DARTS evaluation networks (DARTS `model.py` NetworkCIFAR / NetworkImageNet, auxiliary head
excluded) and their parameter / FLOP counts: Table 6's "Param" and "+x" columns (see `spaces.darts`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spaces._darts_genotype import CONCAT, PAPER_GENOTYPES, STEPS, Genotype
from spaces._darts_ops import (
    STEM_MULTIPLIER, FactorizedReduce, ReLUConvBN, _cifar_stem, _imagenet_stems, _reductions, make_op,
)


class EvalCell(nn.Module):
    def __init__(self, genotype: Genotype, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c, True) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, True)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, True)
        pairs = genotype.reduce if reduction else genotype.normal
        self.indices = [src for _, src in pairs]
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and src < 2 else 1, True) for op, src in pairs)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(STEPS):
            a, b = 2 * i, 2 * i + 1
            states.append(self.ops[a](states[self.indices[a]]) + self.ops[b](states[self.indices[b]]))
        return torch.cat([states[i] for i in CONCAT], dim=1)


class EvalNetwork(nn.Module):
    """NetworkCIFAR (`imagenet=False`) or NetworkImageNet (mobile setting) of one genotype, no auxiliary head."""

    def __init__(self, genotype: Genotype, num_classes: int, channels: int, layers: int, imagenet: bool) -> None:
        super().__init__()
        self.imagenet = imagenet
        if imagenet:
            self.stem0, self.stem1 = _imagenet_stems(channels // 2, channels)
            c_pp, c_p, c_curr, reduction_prev = channels, channels, channels, True
        else:
            c_curr = STEM_MULTIPLIER * channels
            self.stem = _cifar_stem(c_curr)
            c_pp, c_p, c_curr, reduction_prev = c_curr, c_curr, channels, False
        cells = []
        for i in range(layers):
            reduction = i in _reductions(layers)
            if reduction:
                c_curr *= 2
            cells.append(EvalCell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, len(CONCAT) * c_curr
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.imagenet:
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        else:
            s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(s1, 1), 1))


@dataclass(frozen=True)
class EvalSetting:
    """Which evaluation network: the DARTS CIFAR (C=36, 20 cells) or ImageNet mobile (C=48, 14 cells) one."""

    imagenet: bool
    channels: int
    layers: int
    input_size: int


CIFAR_EVAL = EvalSetting(imagenet=False, channels=36, layers=20, input_size=32)
IMAGENET_EVAL = EvalSetting(imagenet=True, channels=48, layers=14, input_size=224)


def eval_setting(num_classes: int) -> EvalSetting:
    """ImageNet mobile network for a 1000-class head, else the CIFAR network."""
    return IMAGENET_EVAL if num_classes == 1000 else CIFAR_EVAL


def _build(key: str, num_classes: int, setting: EvalSetting) -> EvalNetwork:
    # CPU, not the meta device: measured faster here (meta dispatch made the MAC-counting forward 10x slower).
    return EvalNetwork(Genotype.parse(key), num_classes, setting.channels, setting.layers, setting.imagenet).eval()


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@functools.lru_cache(maxsize=None)
def _op_params(name: str, c: int, stride: int) -> int:
    return _numel(make_op(name, c, stride, True))


@functools.lru_cache(maxsize=None)
def _fixed_params(setting: EvalSetting, num_classes: int) -> tuple[int, tuple[int, ...]]:
    """Genotype-independent parameters: (stem + classifier, per-cell preprocessing), from a network built once."""
    net = _build(PAPER_GENOTYPES["FreeDARTS"], num_classes, setting)
    stem = net.stem if not setting.imagenet else nn.ModuleList([net.stem0, net.stem1])
    return _numel(stem) + _numel(net.classifier), tuple(_numel(c.preprocess0) + _numel(c.preprocess1) for c in net.cells)


@functools.lru_cache(maxsize=4096)
def _params(key: str, num_classes: int, setting: EvalSetting) -> int:
    """Exact parameter count of the evaluation network: its genotype-independent parts (one built network)
    plus every cell's ops, each op module built once per (op, C, stride) -- the same modules `EvalNetwork`
    builds (tests compare with a full build), 1000x faster for the many-genotype statistics."""
    g = Genotype.parse(key)
    fixed, preprocess = _fixed_params(setting, num_classes)
    total, c = fixed + sum(preprocess), setting.channels
    for i in range(setting.layers):
        reduction = i in _reductions(setting.layers)
        c = 2 * c if reduction else c
        for op, src in g.reduce if reduction else g.normal:
            total += _op_params(op, c, 2 if reduction and src < 2 else 1)
    return total


@functools.lru_cache(maxsize=4096)
def _macs(key: str, num_classes: int, setting: EvalSetting) -> int:
    """Multiply-adds of convs and linears for one image, counted by hooks on one forward pass."""
    net = _build(key, num_classes, setting)
    macs = 0

    def hook(module: nn.Module, inputs, output) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            macs += output.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            m.register_forward_hook(hook)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one small forward: extra threads only spin (measured 0.17 s vs 7 s on a busy 2-core box)
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, setting.input_size, setting.input_size))
    finally:
        torch.set_num_threads(threads)
    return macs


def discrete_network(genotype: Genotype, num_classes: int, options: Any = None) -> EvalNetwork:
    """The evaluation network of `genotype` at init (CIFAR C=36/20 cells, or ImageNet mobile for 1000 classes)."""
    s = eval_setting(num_classes)
    return EvalNetwork(genotype, num_classes, s.channels, s.layers, s.imagenet)


def param_count(genotype: Genotype, num_classes: int, options: Any = None,
                setting: EvalSetting | None = None) -> int:
    """Table 6 "Param": parameters of the CIFAR evaluation network (C=36, 20 cells, auxiliary head
    excluded), by building it, with the search dataset's head -- except for ImageNet searches
    (1000 classes), whose cells the paper also sizes on CIFAR-10 (10 classes). `setting` overrides."""
    head = 10 if num_classes == 1000 and setting is None else num_classes
    return _params(genotype.arch_str(), head, setting or CIFAR_EVAL)


def flops(genotype: Genotype, num_classes: int, options: Any = None,
          setting: EvalSetting | None = None) -> int:
    """Table 6 "+x": multiply-adds (convs + linear) of the ImageNet mobile network (C=48, 14 cells,
    224x224, 1000 classes) for one image, whatever the search dataset. `setting` overrides."""
    if setting is None:
        return _macs(genotype.arch_str(), 1000, IMAGENET_EVAL)
    return _macs(genotype.arch_str(), num_classes, setting)


def cifar_params(genotype: Genotype, channels: int = 36, num_classes: int = 10) -> int:
    """Table 6 "Param": the CIFAR-10 network (20 cells, `channels`, no auxiliary head)."""
    return param_count(genotype, num_classes, setting=EvalSetting(False, channels, 20, 32))


def imagenet_flops(genotype: Genotype) -> int:
    """Table 6 "+x": multiply-adds of the ImageNet mobile network (C=48, 14 cells, 224x224)."""
    return flops(genotype, 1000, setting=IMAGENET_EVAL)


def imagenet_params(genotype: Genotype) -> int:
    """Parameters of the ImageNet mobile network (C=48, 14 cells, 1000 classes, no auxiliary head)."""
    return param_count(genotype, 1000, setting=IMAGENET_EVAL)
