"""DARTS-space genotypes: the op and edge constants, `Genotype`, its arch key, uniform sampling.

Torch-free (the report and the bias analysis read genotypes without building networks); the
key's text form is parsed and written by the shared codec `archcodec.darts`, which the NB301
benchmarks use too. Re-exported by `spaces.darts`, the module to import.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from archcodec import darts as darts_key

GENOTYPE_OPS: tuple[str, ...] = darts_key.OPS  # a genotype never holds `none`
OPS: tuple[str, ...] = ("none", *GENOTYPE_OPS)
STEPS = 4  # intermediate nodes per cell
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
EDGES: tuple[tuple[int, int], ...] = tuple((i + 2, j) for i in range(STEPS) for j in range(i + 2))  # (node, input)
GROUPS: tuple[str, ...] = ("normal", "reduce")
GROUP_SHAPES = {g: (len(EDGES), len(OPS)) for g in GROUPS}
EDGE_NAMES: tuple[str, ...] = tuple(f"{node}<-{src}" for node, src in EDGES)

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

