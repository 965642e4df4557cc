"""NAS-Bench-201 search space: the FreeDARTS supernet, genotypes and the discrete network.

Supernet (FREEDARTS_SPEC §4.1, as in the authors' `search_model_darts_v1.py`):
stem conv3x3(3->C)+BN, then 3 stages of N search cells (C, 2C, 4C) joined by two ResNet basic
blocks (stride 2) -- 3N+2 = 17 layers for N=5 -- then BN+ReLU, global average pool, Linear.
A search cell has 4 nodes; node i sums, over every j < i, the mixed edge
`sum_k w[(i<-j), k] * op_k(node_j)`; the cell outputs node 3. One alpha group, `cell [6, 5]`,
is shared by all 15 cells. Rows are the edges in sorted key order, columns the ops:

    EDGES = 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    OPS   = none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3

Example:

    >>> from spaces import nasbench201 as nb201
    >>> net = nb201.build_supernet(nb201.NB201Options(), num_classes=10, input_size=32)
    >>> g = nb201.Genotype.from_arch_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|")
    >>> g.arch_str()   # the official NB201 string, the join key to the benchmark table
    >>> nb201.param_count(g, num_classes=10) / 1e6   # params of the discrete network, by building it
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass

import torch
from torch import nn

from spaces._supernet import Supernet

NAME = "nasbench201"
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
MAX_NODES = 4
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(1, MAX_NODES) for j in range(i))  # (to, from)
GROUP = "cell"
GROUP_SHAPES = {GROUP: (len(EDGES), len(OPS))}


@dataclass(frozen=True)
class NB201Options:
    """Space options a sweep may set (`space_options:`); defaults are the paper's supernet.

    Attributes:
        channels: C, the width of the first stage (16 in NB201).
        cells_per_stage: N, search cells per stage (5 in NB201).
        search_conv_bias: whether the supernet's ReLU-Conv-BN ops carry a conv bias. NB201's
            `ReLUConvBN` uses `bias = not affine` and search cells use affine=False BN, so True
            mirrors the NB201 code (1.6928 M weights; without the biases 1.6861 M; the notebook
            logs 1.69 MB, which both round to). A bias in front of a batch-statistics BN has no
            effect on the forward; under FreeDARTS-D it is made positive like every weight.
    """

    channels: int = 16
    cells_per_stage: int = 5
    search_conv_bias: bool = True


# -- genotype ---------------------------------------------------------------------------------------
_ARCH_RE = re.compile(r"^\|(.+)\|\+\|(.+)\|\+\|(.+)\|$")


@dataclass(frozen=True)
class Genotype:
    """One op per edge, in `EDGES` order; `arch_str()` is the official NB201 string."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES):
            raise ValueError(f"an NB201 genotype has {len(EDGES)} ops (one per edge), got {len(self.ops)}: {self.ops}")
        bad = [o for o in self.ops if o not in OPS]
        if bad:
            raise ValueError(f"unknown NB201 op(s) {bad}; valid: {', '.join(OPS)}")

    def arch_str(self) -> str:
        nodes, k = [], 0
        for i in range(1, MAX_NODES):
            nodes.append("|" + "|".join(f"{self.ops[k + j]}~{j}" for j in range(i)) + "|")
            k += i
        return "+".join(nodes)

    @classmethod
    def from_arch_str(cls, s: str) -> Genotype:
        """Parse `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`; raises ValueError naming the string and the format."""
        fmt = "expected the NB201 form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
        m = _ARCH_RE.match(s.strip())
        if not m:
            raise ValueError(f"not an NB201 arch string: {s!r}; {fmt}")
        ops: list[str] = []
        for i, node in enumerate(m.groups(), start=1):
            items = node.split("|")
            if len(items) != i:
                raise ValueError(f"not an NB201 arch string: {s!r} (node {i} has {len(items)} inputs, needs {i}); {fmt}")
            for j, item in enumerate(items):
                op, _, src = item.partition("~")
                if src != str(j):
                    raise ValueError(f"not an NB201 arch string: {s!r} (input {item!r} should read from node {j}); {fmt}")
                ops.append(op)
        return cls(tuple(ops))


def arch_key(genotype: Genotype) -> str:
    return genotype.arch_str()


def parse_arch_key(key: str) -> Genotype:
    return Genotype.from_arch_str(key)


def derive(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor]) -> Genotype:
    """Per edge, the alive op with the highest score; ties go to the first index (spec §3.1).

    Used with ZEROS scores for one-shot FreeDARTS and with alpha for the Fig. 2 trajectory.
    """
    s = scores[GROUP].detach().to(torch.float64).clone()
    s[~alive[GROUP]] = float("-inf")
    # torch.argmax returns the first maximal index.
    return Genotype(tuple(OPS[int(k)] for k in torch.argmax(s, dim=1)))


# -- operations -------------------------------------------------------------------------------------
class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool, bias: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=True),
        )


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _make_op(name: str, c: int, affine: bool, bias: bool) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0, affine, bias)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1, affine, bias)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}; valid: {', '.join(OPS)}")


class ResNetBasicBlock(nn.Module):
    """NB201's reduction layer: two ReLU-Conv3x3-BN(affine), shortcut AvgPool(2)+Conv1x1."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, affine=True, bias=False)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine=True, bias=False)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class SearchCell(nn.Module):
    """Every op on every edge; the supernet passes the [6, 5] weights and the alive mask."""

    def __init__(self, c: int, bias: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(_make_op(op, c, affine=False, bias=bias) for op in OPS) for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in range(1, MAX_NODES):
            total = 0
            for e, (to, src) in enumerate(EDGES):
                if to != i:
                    continue
                # Pruned ops are skipped: their weight is exactly 0 in both alpha transforms.
                for k, op in enumerate(self.edges[e]):
                    if alive[e][k]:
                        total = total + op(nodes[src]) * weights[e, k]
            nodes.append(total)
        return nodes[-1]


class DiscreteCell(nn.Module):
    """The benchmark's cell for one genotype (NB201 InferCell): affine BN, no conv bias."""

    def __init__(self, c: int, genotype: Genotype) -> None:
        super().__init__()
        self.genotype = genotype
        self.edges = nn.ModuleList(_make_op(op, c, affine=True, bias=False) for op in genotype.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in range(1, MAX_NODES):
            nodes.append(sum(self.edges[e](nodes[src]) for e, (to, src) in enumerate(EDGES) if to == i))
        return nodes[-1]


class _Macro(nn.Module):
    """Stem, 3 stages of cells with ResNet reductions, head: shared by supernet and discrete net."""

    def _build_macro(self, c: int, n: int, num_classes: int, make_cell) -> None:
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        channels = [c] * n + [2 * c] + [2 * c] * n + [4 * c] + [4 * c] * n
        reductions = [False] * n + [True] + [False] * n + [True] + [False] * n
        layers, c_prev = [], c
        for c_cur, reduce in zip(channels, reductions):
            layers.append(ResNetBasicBlock(c_prev, c_cur) if reduce else make_cell(c_cur))
            c_prev = c_cur
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c_prev, num_classes)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class NB201Supernet(Supernet, _Macro):
    """The FreeDARTS NB201 supernet; `forward` returns the logits."""

    def __init__(self, options: NB201Options, num_classes: int, alpha_transform: str, alpha_scale: float) -> None:
        Supernet.__init__(self, alpha_transform)
        self.options = options
        self._build_macro(options.channels, options.cells_per_stage, num_classes,
                          lambda c: SearchCell(c, options.search_conv_bias))
        self._init_alphas(GROUP_SHAPES, alpha_scale)  # last, as in the authors' code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.mixing_weights(GROUP)
        alive = self.alive(GROUP).tolist()  # python bools: no per-op tensor sync in the loop
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, weights, alive) if isinstance(cell, SearchCell) else cell(x)
        return self._head(x)


class DiscreteNetwork(_Macro):
    """The NB201 network of one genotype, as the benchmark trained it."""

    def __init__(self, genotype: Genotype, num_classes: int, channels: int = 16, cells_per_stage: int = 5) -> None:
        super().__init__()
        self._build_macro(channels, cells_per_stage, num_classes, lambda c: DiscreteCell(c, genotype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self._head(x)


def build_supernet(options: NB201Options, num_classes: int, input_size: int, *,
                   alpha_transform: str = "raw", alpha_scale: float = 1e-3) -> NB201Supernet:
    """The supernet for a search dataset's head. `input_size` is not needed to build NB201 (global
    pooling) but is part of the space interface; it is checked to be a positive multiple of 4."""
    if input_size <= 0 or input_size % 4:
        raise ValueError(f"NB201 input_size must be a positive multiple of 4 (two stride-2 stages), got {input_size}")
    return NB201Supernet(options, num_classes, alpha_transform, alpha_scale)


def sample_genotype(rng: random.Random) -> Genotype:
    """A uniformly random genotype of the 15,625 (one op per edge, each op equally likely)."""
    return Genotype(tuple(rng.choice(OPS) for _ in EDGES))


def all_genotypes() -> list[Genotype]:
    """Every genotype of the space (5^6 = 15,625), in op-index order (edge 1<-0 slowest)."""
    return [Genotype(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]


def discrete_network(genotype: Genotype, num_classes: int, options: NB201Options = NB201Options()) -> DiscreteNetwork:
    """The benchmark's network of `genotype` at initialisation (default PyTorch init, global RNG)."""
    return DiscreteNetwork(genotype, num_classes, options.channels, options.cells_per_stage)


@functools.lru_cache(maxsize=4096)
def _param_count(ops: tuple[str, ...], num_classes: int, channels: int, cells_per_stage: int) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation, no draw from the RNG
        net = DiscreteNetwork(Genotype(ops), num_classes, channels, cells_per_stage)
    return sum(p.numel() for p in net.parameters())


def param_count(genotype: Genotype, num_classes: int, options: NB201Options = NB201Options()) -> int:
    """Parameters of the discrete network of `genotype` with a `num_classes` head, by building it."""
    return _param_count(genotype.ops, num_classes, options.channels, options.cells_per_stage)
