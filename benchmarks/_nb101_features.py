"""Feature encodings of a pruned NB101 cell for the `nb101_predicted` regressor.

A cell is (matrix, ops): the pruned upper-triangular adjacency (n x n, 2 <= n <= 7, vertex 0 the
input, n-1 the output) and the ops of vertices 1..n-2 (from `benchmarks.nasbench101.OPS`).

Encodings (`ENCODINGS`; the converter picks one by k-fold Spearman on its training split):

* `adjacency+ops`: the cell padded to 7 vertices with the output moved to vertex 6 (padding
  vertices have no edges and no op): the 21 upper-triangular bits, then a one-hot op per vertex
  1..5 (15). Depends on the vertex order, like NB101's own matrices.
* `adjacency+ops+summary`: plus 7 summary numbers: vertices, edges, depth (longest input->output
  path, in edges), per-op vertex counts (3), number of input->output paths.
* `paths+summary`: counts of every input->output path by its op sequence (BANANAS' path
  encoding: 3^0 + ... + 3^5 = 364 sequences) plus the summary; invariant to vertex order.
* `adjacency+ops+paths`: all of the above (407).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from benchmarks.nasbench101 import OPS

MAX_V = 7
_TRIU = [(i, j) for i in range(MAX_V) for j in range(i + 1, MAX_V)]
_SEQUENCES = [s for length in range(MAX_V - 1) for s in itertools.product(range(len(OPS)), repeat=length)]
_SEQ_INDEX = {s: i for i, s in enumerate(_SEQUENCES)}
_SUMMARY = ("n_vertices", "n_edges", "depth", *(f"count:{op}" for op in OPS), "n_paths")

ENCODINGS: dict[str, str] = {
    "adjacency+ops": "7x7 upper triangle (output at vertex 6) + one-hot op of vertices 1..5",
    "adjacency+ops+summary": "adjacency+ops + vertices, edges, depth, op counts, path count",
    "paths+summary": "counts of input->output paths by op sequence (364) + the summary",
    "adjacency+ops+paths": "adjacency+ops + path counts + the summary",
}


def feature_names(encoding: str) -> list[str]:
    adjacency = [f"edge{i}->{j}" for i, j in _TRIU] + [f"v{v}:{op}" for v in range(1, MAX_V - 1) for op in OPS]
    paths = ["path:" + ("-".join(OPS[o] for o in s) or "direct") for s in _SEQUENCES]
    summary = list(_SUMMARY)
    parts = {"adjacency+ops": adjacency, "adjacency+ops+summary": adjacency + summary,
             "paths+summary": paths + summary, "adjacency+ops+paths": adjacency + paths + summary}
    if encoding not in parts:
        raise ValueError(f"unknown NB101 encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
    return parts[encoding]


def _paths(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> list[tuple[int, ...]]:
    """The op sequence (indices) of every input->output path."""
    n, out = len(matrix), []
    stack: list[tuple[int, tuple[int, ...]]] = [(0, ())]
    while stack:
        v, seq = stack.pop()
        for w in range(v + 1, n):
            if matrix[v][w]:
                if w == n - 1:
                    out.append(seq)
                else:
                    stack.append((w, seq + (OPS.index(ops[w - 1]),)))
    return out


def _depth(matrix: Sequence[Sequence[int]]) -> int:
    n, depth = len(matrix), [0] * len(matrix)
    for v in range(n):
        for w in range(v + 1, n):
            if matrix[v][w]:
                depth[w] = max(depth[w], depth[v] + 1)
    return depth[-1]


def _one(matrix: Sequence[Sequence[int]], ops: Sequence[str], encoding: str) -> list[float]:
    n = len(matrix)
    adjacency: list[float] = []
    if encoding != "paths+summary":
        position = list(range(n - 1)) + [MAX_V - 1]  # output -> vertex 6
        padded = np.zeros((MAX_V, MAX_V))
        for i in range(n):
            for j in range(n):
                if matrix[i][j]:
                    padded[position[i], position[j]] = 1.0
        onehot = np.zeros((MAX_V - 2, len(OPS)))
        for v, op in enumerate(ops):
            onehot[v, OPS.index(op)] = 1.0
        adjacency = [padded[i, j] for i, j in _TRIU] + onehot.ravel().tolist()
    if encoding == "adjacency+ops":
        return adjacency
    paths = _paths(matrix, ops)
    summary = [float(n), float(sum(map(sum, matrix))), float(_depth(matrix)),
               *(float(list(ops).count(op)) for op in OPS), float(len(paths))]
    if encoding == "adjacency+ops+summary":
        return adjacency + summary
    counts = [0.0] * len(_SEQUENCES)
    for seq in paths:
        counts[_SEQ_INDEX[seq]] += 1.0
    return adjacency + counts + summary


def encode(encoding: str, cells: Sequence[tuple[Sequence[Sequence[int]], Sequence[str]]]) -> np.ndarray:
    """[N, n_features] float64 features of pruned cells (matrix, ops of vertices 1..n-2)."""
    width = len(feature_names(encoding))
    x = np.zeros((len(cells), width), dtype=np.float64)
    for row, (matrix, ops) in enumerate(cells):
        x[row] = _one(matrix, ops, encoding)
    return x
