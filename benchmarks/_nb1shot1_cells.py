"""Every NB101 cell of NAS-Bench-1Shot1 search space 3, enumerated (for `nb101_predicted`).

A space-3 genotype (`spaces.nasbench1shot1.Genotype`) picks an op for each of 5 nodes, one parent
for nodes 2 and 3, two for nodes 4 and 5, and two for the output: 3^5 x 2 x 3 x 6 x 10 x 15 =
1,312,200 genotypes. NB101 prunes vertices off the input->output path and keys the rest by the
module hash, so far fewer distinct cells remain. This module lists them:

1. `topologies()`: the distinct pruned adjacency matrices, built by the space's own rule
   (`Genotype.adjacency`, imported lazily: it lives beside the supernet, in spaces/) for each of the
   5,400 parent choices, pruned by NB101's `prune`.
2. `enumerate_cells(topologies)`: every op assignment of each matrix's intermediate vertices,
   keyed by the module hash; the first (matrix, ops) in this fixed order represents a hash.

Measured on the shared 2-core box: 596 matrices, 118,524 (matrix, ops) pairs, 55,854 distinct
hashes (the slow test in tests/test_benchmark_nb101_predicted.py checks the count).

`fast_module_hash` is `spaces._nb101_cell._hash_labelled` on Python lists instead of a numpy
array (same md5 strings in the same order); it hashes the 118,524 pairs ~2.5x faster. The
reference stays the oracle: the tests compare both on every cell they enumerate.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable, Sequence

from benchmarks.nasbench101 import INPUT, OPS, OUTPUT, prune

log = logging.getLogger(__name__)

Matrix = tuple[tuple[int, ...], ...]
Cell = tuple[Matrix, tuple[str, ...]]  # pruned matrix, ops of its intermediate vertices (input/output implied)
_PARENT_CHOICES = ((2, 1), (3, 1), (4, 2), (5, 2))  # (candidates, parents) of nodes 2..5; node 1 reads the input
_OUTPUT_CHOICES = (6, 2)


def fast_module_hash(matrix: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """NB101's module hash of a pruned cell; labels -1 (input), op index in `OPS`, -2 (output)."""
    n = len(matrix)
    ins = [sum(matrix[w][v] for w in range(n)) for v in range(n)]
    outs = [sum(row) for row in matrix]
    preds = [[w for w in range(n) if matrix[w][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    hashes = [hashlib.md5(str((o, i, lab)).encode()).hexdigest() for o, i, lab in zip(outs, ins, labels)]
    for _ in range(n):
        hashes = [hashlib.md5(("".join(sorted(hashes[w] for w in preds[v])) + "|"
                               + "".join(sorted(hashes[w] for w in succs[v])) + "|" + hashes[v]).encode()).hexdigest()
                  for v in range(n)]
    return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()


def cell_labels(ops: Sequence[str]) -> list[int]:
    return [-1, *(OPS.index(op) for op in ops), -2]


def genotype_parents() -> Iterable[tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]]:
    """Every (parents of nodes 2..5, output parents) of space 3, in a fixed order."""
    node_choices = [list(itertools.combinations(range(n), k)) for n, k in _PARENT_CHOICES]
    for *parents, output in itertools.product(*node_choices, itertools.combinations(range(_OUTPUT_CHOICES[0]),
                                                                                     _OUTPUT_CHOICES[1])):
        yield tuple(parents), output


def topologies() -> list[Matrix]:
    """The distinct pruned adjacency matrices of space 3, sorted by (size, matrix)."""
    from spaces.nasbench1shot1 import Genotype  # local: spaces/ holds the one definition of the space

    placeholder = ("maxpool3x3",) * 5  # adjacency does not depend on the ops
    seen: set[Matrix] = set()
    for parents, output in genotype_parents():
        adjacency = Genotype(placeholder, parents, output).adjacency()
        matrix, _ = prune(adjacency, [INPUT, *placeholder, OUTPUT])
        seen.add(tuple(tuple(int(v) for v in row) for row in matrix))
    return sorted(seen, key=lambda m: (len(m), m))


def enumerate_cells(matrices: Sequence[Matrix]) -> dict[str, Cell]:
    """module hash -> its first (matrix, ops) over every op assignment of every matrix."""
    cells: dict[str, Cell] = {}
    for i, matrix in enumerate(matrices):
        for ops in itertools.product(OPS, repeat=len(matrix) - 2):
            cells.setdefault(fast_module_hash(matrix, cell_labels(ops)), (matrix, ops))
        if i % 100 == 99:
            log.info("space-3 cells: %d of %d matrices hashed, %d distinct cells so far", i + 1, len(matrices), len(cells))
    return cells
