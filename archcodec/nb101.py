"""The NAS-Bench-101 cell: module hash, `ModelSpec` pruning and validity, without TensorFlow.

Used by `spaces/nasbench1shot1.py` (its genotypes become NB101 cells) and by `benchmarks/`
(`nasbench101` keys its table by this hash; `nb101_predicted` enumerates space-3 cells).
Re-implemented from the NB101 paper's description and verified against real keys: all 30 of
`nb101_dummy.pkl` and all 1,000 of `nasbench-vis_data-1k.json` (tests/test_benchmark_nasbench101.py).

    >>> matrix, ops = prune(adjacency_7x7, ["input", "conv3x3-bn-relu", ..., "output"])
    >>> module_hash(matrix, ops)     # 32 hex, NB101's key
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # NB101 available_ops
INPUT, OUTPUT = "input", "output"
MAX_VERTICES, MAX_EDGES = 7, 9


def module_hash(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> str:
    """NB101's module hash of a (pruned) cell: iterated md5 of (out-degree, in-degree, label).

    Labels are -1 (input), the index in `OPS`, -2 (output), as `ModelSpec.hash_spec`.
    """
    return labelled_hash(np.asarray(matrix).astype(np.int64).tolist(), cell_labels(ops[1:-1]))


def cell_labels(ops: Sequence[str]) -> list[int]:
    """NB101 hash labels of a cell whose intermediate vertices hold `ops` (input/output implied)."""
    return [-1, *(OPS.index(op) for op in ops), -2]


def labelled_hash(matrix: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """The module hash of a square 0/1 matrix (nested lists) with NB101 vertex labels.

    Plain lists rather than numpy: `nb101_predicted` hashes ~120k cells and list indexing is
    ~2.5x faster there; the real NB101 keys in the tests are the oracle.
    """
    n = len(matrix)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for a {n}-vertex matrix")
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


def prune(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """NB101 `ModelSpec` pruning: drop vertices not on a path input -> output.

    Raises:
        ValueError: the input is not connected to the output (NB101 calls such a spec invalid).
    """
    m = np.asarray(matrix).astype(np.int64)
    n = m.shape[0]
    from_input, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if m[top, v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    to_output, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(0, top):
            if m[v, top] and v not in to_output:
                to_output.add(v)
                frontier.append(v)
    extraneous = sorted(set(range(n)) - (from_input & to_output))
    if len(extraneous) > n - 2:
        raise ValueError(f"NB101 cell {m.tolist()} {list(ops)}: the input is not connected to the output")
    keep = [v for v in range(n) if v not in extraneous]
    return m[np.ix_(keep, keep)], [ops[v] for v in keep]


def check_spec(matrix: np.ndarray, ops: Sequence[str]) -> None:
    """NB101 validity of a pruned spec: <= 7 vertices, <= 9 edges, upper-triangular, known ops."""
    m = np.asarray(matrix)
    n = m.shape[0]
    problems = []
    if m.shape != (n, n) or n > MAX_VERTICES or n < 2:
        problems.append(f"shape {m.shape} (need square, 2..{MAX_VERTICES} vertices)")
    if int(m.sum()) > MAX_EDGES:
        problems.append(f"{int(m.sum())} edges (max {MAX_EDGES})")
    if np.any(np.tril(m) != 0):
        problems.append("not upper-triangular")
    if len(ops) != n or ops[0] != INPUT or ops[-1] != OUTPUT or any(o not in OPS for o in ops[1:-1]):
        problems.append(f"ops {list(ops)} (need input, {'/'.join(OPS)}..., output)")
    if problems:
        raise ValueError(f"invalid NB101 cell {m.tolist()}: " + "; ".join(problems))


def cell_hash(matrix: np.ndarray, ops: Sequence[str]) -> tuple[str, np.ndarray, list[str]]:
    """(module hash, pruned matrix, pruned ops) of an unpruned 7x7 cell, as NB101 would key it."""
    pm, pops = prune(matrix, ops)
    check_spec(pm, pops)
    return module_hash(pm, pops), pm, pops


def adjacency_from_parents(parents: Mapping[int, Sequence[int]], output_vertex: int) -> np.ndarray:
    """Upstream NAS-Bench-1Shot1 `_create_adjacency_matrix`: from the output, add each reached vertex's parents.

    Args:
        parents: vertex -> its parent vertices (0 is the cell input, which has none).
        output_vertex: the output's vertex; the matrix is (output_vertex + 1) square.
    """
    matrix = np.zeros((output_vertex + 1, output_vertex + 1), dtype=np.int64)
    stack, seen = [output_vertex], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for p in parents[node]:
            matrix[p, node] = 1
            if p != 0:
                stack.append(p)
    return matrix
