"""The NAS-Bench-101 cell: module hash, `ModelSpec` pruning and validity, without TensorFlow.

Shared by `spaces/nasbench1shot1.py` (its genotypes become NB101 cells) and
`benchmarks/nasbench101.py` (the table is keyed by this hash). Re-implemented from the NB101
paper's description and verified against real keys: all 30 of `nb101_dummy.pkl` and all 1,000 of
`nasbench-vis_data-1k.json` (tests/test_benchmark_nasbench101.py).

    >>> matrix, ops = prune(adjacency_7x7, ["input", "conv3x3-bn-relu", ..., "output"])
    >>> module_hash(matrix, ops)     # 32 hex, NB101's key
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # NB101 available_ops
INPUT, OUTPUT = "input", "output"
MAX_VERTICES, MAX_EDGES = 7, 9


def module_hash(matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]) -> str:
    """NB101's module hash of a (pruned) cell: iterated md5 of (out-degree, in-degree, label).

    Labels are -1 (input), the index in `OPS`, -2 (output), as `ModelSpec.hash_spec`.
    """
    m = np.asarray(matrix).astype(np.int64)
    labels = [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]
    return _hash_labelled(m, labels)


def _hash_labelled(m: np.ndarray, labels: Sequence[int]) -> str:
    n = m.shape[0]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for a {n}-vertex matrix")
    in_edges, out_edges = m.sum(axis=0).tolist(), m.sum(axis=1).tolist()
    hashes = [hashlib.md5(str((o, i, lab)).encode()).hexdigest() for o, i, lab in zip(out_edges, in_edges, labels)]
    for _ in range(n):
        hashes = [hashlib.md5(("".join(sorted(hashes[w] for w in range(n) if m[w, v])) + "|"
                               + "".join(sorted(hashes[w] for w in range(n) if m[v, w])) + "|"
                               + hashes[v]).encode()).hexdigest() for v in range(n)]
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
