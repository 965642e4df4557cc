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

This module holds the options, `derive` and the supernet; the genotype and constants
(`_darts_genotype.py`, torch-free), the operations and stems (`_darts_ops.py`) and the evaluation
networks with their counts (`_darts_eval.py`) live in private modules and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from spaces._darts_eval import (  # noqa: F401  (re-exported: the evaluation networks and their sizes)
    CIFAR_EVAL, IMAGENET_EVAL, EvalCell, EvalNetwork, EvalSetting, cifar_params, discrete_network, eval_setting, flops,
    imagenet_flops, imagenet_params, param_count,
)
from spaces._darts_genotype import (  # noqa: F401  (re-exported: the space's genotype and constants)
    CONCAT, EDGE_NAMES, EDGES, GENOTYPE_OPS, GROUP_SHAPES, GROUPS, OPS, PAPER_GENOTYPES, STEPS, Genotype, arch_key,
    parse_arch_key, sample_genotype,
)
from spaces._darts_ops import (  # noqa: F401  (re-exported: the fused supernet builds from them)
    STEM_MULTIPLIER, DilConv, FactorizedReduce, ReLUConvBN, SepConv, Zero, _cifar_stem, _imagenet_stems, _reductions,
    make_op,
)
from spaces._supernet import Supernet

NAME = "darts"
MULTIPLIER = 4  # nodes concatenated into the cell output

PRESETS: dict[str, dict] = {
    "cifar8": {"channels": 16, "layers": 8, "stem": "cifar", "alpha_scale": 1e-3},
    "cifar20": {"channels": 16, "layers": 20, "stem": "cifar", "alpha_scale": 1e-3},
    "imagenet": {"channels": 48, "layers": 14, "stem": "imagenet", "alpha_scale": 5e-4},
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

