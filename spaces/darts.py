"""DARTS search space: the FreeDARTS supernets (8 cells, 20 cells, ImageNet), genotypes, evaluation networks.

Supernet (FREEDARTS_SPEC §4.3, as the authors' `DARTS_CNN/model_search.py` / `model_search_imagenet.py`):
a stem, `layers` cells (reduction cells at layers//3 and 2*layers//3 double the channels), global
average pool, Linear. A cell has 2 inputs (the two previous cells, preprocessed by ReLU-Conv1x1-BN
or FactorizedReduce after a reduction) and 4 intermediate nodes; node i sums MixedOps from every
earlier state, and the cell outputs the concatenation of the 4 nodes. All normal cells share the
alpha group `normal [14, 8]`, all reduction cells `reduce [14, 8]`; rows are edges in DARTS order
(node 0: inputs 0,1; node 1: 0,1,2; ... offsets 0, 2, 5, 9), columns the ops:

    OPS = none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5

Three presets (space option `preset`), the paper's three searches:

| preset | search | stem | C | cells | alpha scale | supernet params (ours / authors' log) |
|---|---|---|---|---|---|---|
| `cifar8` | FreeDARTS | conv3x3(3->3C)+BN | 16 | 8 | 1e-3 | 1.930618 M / 1.930618 M |
| `cifar20` | FreeDARTS† | same | 16 | 20 | 1e-3 | 4.548730 M / 4.548730 M |
| `imagenet` | FreeDARTS‡ | 3 stride-2 convs (3->3C/2->3C->3C) | 48 | 14 | 5e-4 | 25.512016 M / 25.512016 M |

(`channels` / `layers` override a preset's C and cell count.) The forward multiplies each op by the
raw alpha (or its softmax, `alpha_transform`), as the authors' code; alpha is NOT in their state dict,
so FreeDARTS-D's |W| pass leaves its sign (`SpaceSpec.alpha_in_state_dict=False`).

Derivation (`derive`, spec §3.1): for each node, keep the 2 incoming edges with the highest
strength = max score over the edge's alive non-`none` ops (stable: ties go to the lower edge),
and on each kept edge the alive non-`none` op with the highest score (first maximum wins).
One-shot applies it to the ZEROS scores; iterative after op pruning, on a final re-score.

Genotypes: `Genotype` (normal / reduce: 8 (op, input) pairs, two per node; concat [2, 3, 4, 5]);
`str(g)` / `g.arch_str()` is DARTS' `genotypes.py` form and the benchmark key; `Genotype.parse`
reads it back. Within a node the pairs are kept in input order, so one cell has one string.

Evaluation networks (what the paper trains; by building them), giving Table 6's two size columns
in every row: `param_count(g, classes)` ("Param") is the CIFAR network (C=36, 20 cells, auxiliary
head excluded, as DARTS counts) with the search dataset's head (10 for ImageNet searches: the paper
sizes every cell on CIFAR-10); `flops(g, classes)` ("+x") is the multiply-adds of every conv and
linear layer of the ImageNet mobile network (C=48, 14 cells, 224x224) for one image.
`imagenet_params(g)` is that network's size; `cifar_params(g, channels=38)` the C=38 variant.

    >>> from spaces import darts
    >>> g = darts.Genotype.parse(darts.PAPER_GENOTYPES["FreeDARTS"])
    >>> darts.param_count(g, 10) / 1e6, darts.imagenet_flops(g) / 1e6
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import torch
from torch import nn

from archcodec import darts as darts_key
from spaces._supernet import Supernet

NAME = "darts"
GENOTYPE_OPS: tuple[str, ...] = darts_key.OPS  # a genotype never holds `none`
OPS: tuple[str, ...] = ("none", *GENOTYPE_OPS)
STEPS = 4  # intermediate nodes per cell
MULTIPLIER = 4  # nodes concatenated into the cell output
STEM_MULTIPLIER = 3
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
EDGES: tuple[tuple[int, int], ...] = tuple((i + 2, j) for i in range(STEPS) for j in range(i + 2))  # (node, input)
GROUPS: tuple[str, ...] = ("normal", "reduce")
GROUP_SHAPES = {g: (len(EDGES), len(OPS)) for g in GROUPS}
EDGE_NAMES: tuple[str, ...] = tuple(f"{node}<-{src}" for node, src in EDGES)

PRESETS: dict[str, dict] = {
    "cifar8": {"channels": 16, "layers": 8, "stem": "cifar", "alpha_scale": 1e-3},
    "cifar20": {"channels": 16, "layers": 20, "stem": "cifar", "alpha_scale": 1e-3},
    "imagenet": {"channels": 48, "layers": 14, "stem": "imagenet", "alpha_scale": 5e-4},
}

# The paper's trained genotypes (spec §7 "Best genotypes", from DARTS_CNN/genotypes.py).
PAPER_GENOTYPES: dict[str, str] = {
    "FreeDARTS": (
        "Genotype(normal=[('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_5x5', 2), "
        "('avg_pool_3x3', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 3), ('sep_conv_5x5', 1)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), "
        "('sep_conv_5x5', 2), ('sep_conv_3x3', 3), ('sep_conv_5x5', 2), ('sep_conv_3x3', 2), ('sep_conv_3x3', 4)], "
        "reduce_concat=[2, 3, 4, 5])"),
    "FreeDARTS†": (
        "Genotype(normal=[('avg_pool_3x3', 1), ('dil_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_5x5', 1), "
        "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('avg_pool_3x3', 3)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('avg_pool_3x3', 1), ('dil_conv_5x5', 0), ('skip_connect', 0), "
        "('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('max_pool_3x3', 2), ('skip_connect', 0), ('sep_conv_5x5', 4)], "
        "reduce_concat=[2, 3, 4, 5])"),
    "FreeDARTS‡": (
        "Genotype(normal=[('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), "
        "('sep_conv_5x5', 3), ('dil_conv_5x5', 0), ('sep_conv_3x3', 2), ('sep_conv_5x5', 1)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 2), ('sep_conv_5x5', 0), ('sep_conv_5x5', 2), ('dil_conv_5x5', 4), ('sep_conv_3x3', 0)], "
        "reduce_concat=[2, 3, 4, 5])"),
}


@dataclass(frozen=True)
class DartsOptions:
    """Space options a sweep may set (`space_options:`).

    Attributes:
        preset: "cifar8" (FreeDARTS, default), "cifar20" (FreeDARTS†) or "imagenet" (FreeDARTS‡):
            stem, width, depth and default alpha scale of the supernet (table in the module doc).
        channels: C of the first cells; None = the preset's (16 / 16 / 48).
        layers: number of cells; None = the preset's (8 / 20 / 14).
    """

    preset: str = "cifar8"
    channels: int | None = None
    layers: int | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown DARTS preset {self.preset!r}; valid: {', '.join(PRESETS)}")
        p = PRESETS[self.preset]
        object.__setattr__(self, "channels", p["channels"] if self.channels is None else int(self.channels))
        object.__setattr__(self, "layers", p["layers"] if self.layers is None else int(self.layers))
        if self.channels < 2 or self.channels % 2 or self.layers < 3:
            raise ValueError(f"DARTS channels must be an even number >= 2 and layers >= 3, got channels="
                             f"{self.channels}, layers={self.layers}")

    @property
    def stem(self) -> str:
        return PRESETS[self.preset]["stem"]


def default_alpha_scale(options: DartsOptions) -> float:
    """1e-3 for the CIFAR presets, 5e-4 for ImageNet (the authors' `_initialize_alphas`)."""
    return float(PRESETS[options.preset]["alpha_scale"])


# -- genotype ---------------------------------------------------------------------------------------
def _canonical_cell(pairs, cell: str) -> tuple[tuple[str, int], ...]:
    """A cell's 8 pairs checked by the shared codec (archcodec.darts), each node's two by increasing input."""
    return tuple((str(op), int(src)) for op, src in darts_key.canonical_order(darts_key.check_cell(cell, pairs)))


@dataclass(frozen=True)
class Genotype:
    """A DARTS cell pair: 8 (op, input) pairs per cell type, two per intermediate node; concat 2..5."""

    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _canonical_cell(self.normal, "normal"))
        object.__setattr__(self, "reduce", _canonical_cell(self.reduce, "reduce"))

    @property
    def normal_concat(self) -> list[int]:
        return list(CONCAT)

    @property
    def reduce_concat(self) -> list[int]:
        return list(CONCAT)

    def arch_str(self) -> str:
        return darts_key.format_key({"normal": self.normal, "reduce": self.reduce})

    __str__ = arch_str

    @classmethod
    def parse(cls, s: str) -> Genotype:
        """Read `arch_str()` (or DARTS' genotypes.py form, `range(2, 6)` concat); ValueError names the defect."""
        g = darts_key.parse(s)
        return cls(tuple(map(tuple, g["normal"])), tuple(map(tuple, g["reduce"])))


def arch_key(genotype: Genotype) -> str:
    return genotype.arch_str()


def parse_arch_key(key: str) -> Genotype:
    return Genotype.parse(key)


def sample_genotype(rng: random.Random) -> Genotype:
    """A uniform sample of the NB301/DARTS space: per node 2 distinct inputs, each with one of the 7 ops."""
    cells = []
    for _ in GROUPS:
        pairs = []
        for node in range(STEPS):
            for src in rng.sample(range(node + 2), 2):
                pairs.append((rng.choice(GENOTYPE_OPS), src))
        cells.append(tuple(pairs))
    return Genotype(*cells)


def _derive_cell(scores: torch.Tensor, alive: torch.Tensor, group: str) -> tuple[tuple[str, int], ...]:
    s = scores.detach().to(torch.float64).clone()
    s[~alive.bool()] = float("-inf")
    s[:, 0] = float("-inf")  # `none` is never selected
    pairs: list[tuple[str, int]] = []
    start = 0
    for node in range(STEPS):
        n = node + 2
        block = s[start:start + n]
        strength = block.max(dim=1).values.tolist()
        edges = sorted(range(n), key=lambda j: -strength[j])[:2]  # stable: ties keep the lower edge
        for j in edges:
            if strength[j] == float("-inf"):
                raise ValueError(f"{group} node {node + 2} has fewer than 2 incoming edges with an alive non-none op; "
                                 "cannot derive a DARTS cell (prune `none` before real ops, or use one-shot)")
            pairs.append((OPS[int(torch.argmax(block[j]))], j))  # argmax: first maximum wins
        start += n
    return tuple(pairs)


def derive(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor]) -> Genotype:
    """DARTS top-2 incoming edges per node, best non-`none` op per edge, on `scores` (spec §3.1)."""
    return Genotype(*(_derive_cell(scores[g], alive[g], g) for g in GROUPS))


# -- operations (DARTS operations.py) ---------------------------------------------------------------
class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
                         DilConv(c_in, c_out, kernel, 1, padding, 1, affine))


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int, affine: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(name: str, c: int, stride: int, affine: bool) -> nn.Module:
    if name == "none":
        return Zero(stride)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2, affine)
    raise ValueError(f"unknown DARTS op {name!r}; valid: {', '.join(OPS)}")


# -- supernet ---------------------------------------------------------------------------------------
class MixedOp(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        ops = []
        for name in OPS:
            op = make_op(name, c, stride, affine=False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, alive: list[bool]) -> torch.Tensor:
        total = 0
        for k, op in enumerate(self.ops):
            if alive[k]:  # a pruned op has weight exactly 0 in both alpha transforms: skip it
                total = total + weights[k] * op(x)
        return total


class SearchCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c, affine=False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, False)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, False)
        self.ops = nn.ModuleList(MixedOp(c, 2 if reduction and src < 2 else 1) for _, src in EDGES)

    def forward(self, s0, s1, weights: torch.Tensor, alive: list[list[bool]]) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(STEPS):
            states.append(sum(self.ops[offset + j](h, weights[offset + j], alive[offset + j])
                              for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[-MULTIPLIER:], dim=1)


def _cifar_stem(c_stem: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))


def _imagenet_stems(c_in_half: int, c: int) -> tuple[nn.Module, nn.Module]:
    stem0 = nn.Sequential(nn.Conv2d(3, c_in_half, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_in_half),
                          nn.ReLU(inplace=True), nn.Conv2d(c_in_half, c, 3, stride=2, padding=1, bias=False),
                          nn.BatchNorm2d(c))
    stem1 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c))
    return stem0, stem1


def _reductions(layers: int) -> set[int]:
    return {layers // 3, 2 * layers // 3}


class DartsSupernet(Supernet):
    """The FreeDARTS DARTS-space supernet of one preset; `forward` returns the logits."""

    def __init__(self, options: DartsOptions, num_classes: int, alpha_transform: str, alpha_scale: float) -> None:
        super().__init__(alpha_transform)
        self.options = options
        c, layers = options.channels, options.layers
        c_curr = STEM_MULTIPLIER * c
        if options.stem == "imagenet":
            self.stem0, self.stem1 = _imagenet_stems(c_curr // 2, c_curr)
            reduction_prev = True  # the first cell treats its previous input (stem0, 2x larger) as a reduction
        else:
            self.stem = _cifar_stem(c_curr)
            reduction_prev = False
        c_pp, c_p, c_curr = c_curr, c_curr, c
        cells = []
        for i in range(layers):
            reduction = i in _reductions(layers)
            if reduction:
                c_curr *= 2
            cells.append(SearchCell(c_pp, c_p, c_curr, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, MULTIPLIER * c_curr
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, num_classes)
        self._init_alphas(GROUP_SHAPES, alpha_scale)  # last, as in the authors' code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = {g: self.mixing_weights(g) for g in GROUPS}
        alive = {g: self.alive(g).tolist() for g in GROUPS}  # python bools: no per-op sync
        if self.options.stem == "imagenet":
            s0 = self.stem0(x)
            s1 = self.stem1(s0)
        else:
            s0 = s1 = self.stem(x)
        for cell in self.cells:
            g = "reduce" if cell.reduction else "normal"
            s0, s1 = s1, cell(s0, s1, weights[g], alive[g])
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(s1, 1), 1))


def build_supernet(options: DartsOptions, num_classes: int, input_size: int, *,
                   alpha_transform: str = "raw", alpha_scale: float = 1e-3) -> DartsSupernet:
    """The supernet of `options.preset` for a search dataset's head and input size."""
    need = 32 if options.stem == "imagenet" else 4  # stride-2 stages before the last reduction
    if input_size <= 0 or input_size % need:
        raise ValueError(f"DARTS preset {options.preset!r} needs an input size that is a positive multiple of {need}, "
                         f"got {input_size}")
    return DartsSupernet(options, num_classes, alpha_transform, alpha_scale)


# -- evaluation networks (DARTS model.py NetworkCIFAR / NetworkImageNet, auxiliary head excluded) -----
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


def discrete_network(genotype: Genotype, num_classes: int, options: DartsOptions | None = None) -> EvalNetwork:
    """The evaluation network of `genotype` at init (CIFAR C=36/20 cells, or ImageNet mobile for 1000 classes)."""
    s = eval_setting(num_classes)
    return EvalNetwork(genotype, num_classes, s.channels, s.layers, s.imagenet)


def param_count(genotype: Genotype, num_classes: int, options: DartsOptions | None = None,
                setting: EvalSetting | None = None) -> int:
    """Table 6 "Param": parameters of the CIFAR evaluation network (C=36, 20 cells, auxiliary head
    excluded), by building it, with the search dataset's head -- except for ImageNet searches
    (1000 classes), whose cells the paper also sizes on CIFAR-10 (10 classes). `setting` overrides."""
    head = 10 if num_classes == 1000 and setting is None else num_classes
    return _params(genotype.arch_str(), head, setting or CIFAR_EVAL)


def flops(genotype: Genotype, num_classes: int, options: DartsOptions | None = None,
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
