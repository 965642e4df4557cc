"""Every NB101 cell of NAS-Bench-1Shot1 search space 3, enumerated (for `nb101_predicted`).

A space-3 genotype (`spaces.nasbench1shot1.Genotype`) picks an op for each of 5 nodes, one parent
for nodes 2 and 3, two for nodes 4 and 5, and two for the output: 3^5 x 2 x 3 x 6 x 10 x 15 =
1,312,200 genotypes. NB101 prunes vertices off the input->output path and keys the rest by the
module hash, so far fewer distinct cells remain. This module lists them:

1. `topologies()`: the distinct pruned adjacency matrices, built by the space's own rule
   (`archcodec.nb101.adjacency_from_parents`, which `spaces.nasbench1shot1.Genotype.adjacency`
   also uses) for each of the 5,400 parent choices, pruned by NB101's `prune`.
2. `enumerate_cells(topologies)`: every op assignment of each matrix's intermediate vertices,
   keyed by the module hash; the first (matrix, ops) in this fixed order represents a hash.

Measured on the shared 2-core box: 596 matrices, 118,524 (matrix, ops) pairs, 55,854 distinct
hashes (the slow test in tests/test_benchmark_nb101_predicted.py checks the count).

Cells are hashed by `archcodec.nb101.labelled_hash` on plain lists (the one NB101 hash).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence

from archcodec.nb101 import INPUT, OPS, OUTPUT, adjacency_from_parents, cell_labels, labelled_hash, prune

log = logging.getLogger(__name__)

Matrix = tuple[tuple[int, ...], ...]
Cell = tuple[Matrix, tuple[str, ...]]  # pruned matrix, ops of its intermediate vertices (input/output implied)
_PARENT_CHOICES = ((2, 1), (3, 1), (4, 2), (5, 2))  # (candidates, parents) of nodes 2..5; node 1 reads the input
_OUTPUT_CHOICES = (6, 2)
_OUTPUT_VERTEX = 6  # vertices: 0 input, 1..5 nodes, 6 output


def genotype_parents() -> Iterable[tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]]:
    """Every (parents of nodes 2..5, output parents) of space 3, in a fixed order."""
    node_choices = [list(itertools.combinations(range(n), k)) for n, k in _PARENT_CHOICES]
    for *parents, output in itertools.product(*node_choices, itertools.combinations(range(_OUTPUT_CHOICES[0]),
                                                                                     _OUTPUT_CHOICES[1])):
        yield tuple(parents), output


def topologies() -> list[Matrix]:
    """The distinct pruned adjacency matrices of space 3, sorted by (size, matrix)."""
    placeholder = ("maxpool3x3",) * 5  # adjacency does not depend on the ops
    seen: set[Matrix] = set()
    for parents, output in genotype_parents():
        parent_map = {1: (0,), **dict(zip(range(2, 6), parents)), _OUTPUT_VERTEX: output}
        adjacency = adjacency_from_parents(parent_map, _OUTPUT_VERTEX)
        matrix, _ = prune(adjacency, [INPUT, *placeholder, OUTPUT])
        seen.add(tuple(tuple(int(v) for v in row) for row in matrix))
    return sorted(seen, key=lambda m: (len(m), m))


def enumerate_cells(matrices: Sequence[Matrix]) -> dict[str, Cell]:
    """module hash -> its first (matrix, ops) over every op assignment of every matrix."""
    cells: dict[str, Cell] = {}
    for i, matrix in enumerate(matrices):
        for ops in itertools.product(OPS, repeat=len(matrix) - 2):
            cells.setdefault(labelled_hash(matrix, cell_labels(ops)), (matrix, ops))
        if i % 100 == 99:
            log.info("space-3 cells: %d of %d matrices hashed, %d distinct cells so far", i + 1, len(matrices), len(cells))
    return cells
