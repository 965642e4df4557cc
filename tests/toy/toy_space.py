"""A toy search space, written the way a user adds one (docs/ARCHITECTURE.md "Add a space").

A chain of `layers` mixed layers, each choosing one op of OPS; the genotype is the tuple of chosen
ops and its arch key is "op|op|...". One alpha group, `chain [layers, 3]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from spaces import SpaceSpec
from spaces._supernet import Supernet

NAME = "toy_chain"
OPS = ("conv3x3", "conv1x1", "skip")
GROUP = "chain"


@dataclass(frozen=True)
class ToyOptions:
    channels: int = 4
    layers: int = 2


def _op(name: str, c: int) -> nn.Module:
    return {"conv3x3": lambda: nn.Conv2d(c, c, 3, padding=1), "conv1x1": lambda: nn.Conv2d(c, c, 1),
            "skip": nn.Identity}[name]()


class ToySupernet(Supernet):
    def __init__(self, options: ToyOptions, num_classes: int, alpha_transform: str, alpha_scale: float) -> None:
        super().__init__(alpha_transform)
        self.stem = nn.Conv2d(3, options.channels, 3, padding=1)
        self.layers = nn.ModuleList(nn.ModuleList(_op(o, options.channels) for o in OPS) for _ in range(options.layers))
        self.head = nn.Linear(options.channels, num_classes)
        self._init_alphas({GROUP: (options.layers, len(OPS))}, alpha_scale)  # last: weights first, then alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        w = self.mixing_weights(GROUP)
        for i, ops in enumerate(self.layers):
            x = sum(w[i, j] * op(x) for j, op in enumerate(ops))
        return self.head(x.mean(dim=(2, 3)))


def build_supernet(options: ToyOptions, num_classes: int, input_size: int, *, alpha_transform: str = "raw",
                   alpha_scale: float = 1e-3) -> ToySupernet:
    return ToySupernet(options, num_classes, alpha_transform, alpha_scale)


def derive(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor]) -> tuple[str, ...]:
    s = scores[GROUP].detach().clone().masked_fill(~alive[GROUP].bool(), float("-inf"))
    return tuple(OPS[int(j)] for j in torch.argmax(s, dim=1))


def arch_key(genotype: tuple[str, ...]) -> str:
    return "|".join(genotype)


def parse_arch_key(key: str) -> tuple[str, ...]:
    genotype = tuple(key.split("|"))
    if not all(op in OPS for op in genotype):
        raise ValueError(f"not a {NAME} arch key: {key!r}; ops: {', '.join(OPS)}")
    return genotype


def param_count(genotype: tuple[str, ...], num_classes: int, options: ToyOptions = ToyOptions()) -> int:
    c = options.channels
    per_op = {"conv3x3": c * c * 9 + c, "conv1x1": c * c + c, "skip": 0}
    return 3 * c * 9 + c + sum(per_op[o] for o in genotype) + c * num_classes + num_classes


SPEC = SpaceSpec(
    name=NAME, options=ToyOptions, build_supernet=build_supernet, derive=derive, arch_key=arch_key,
    parse_arch_key=parse_arch_key, param_count=param_count, datasets=("cifar10",), default_alpha_scale=1e-3,
    alpha_in_state_dict=True, default_normalization="darts", default_benchmark="toy_bench",
    row_names={GROUP: ("layer1", "layer2")}, op_names={GROUP: OPS},
)
