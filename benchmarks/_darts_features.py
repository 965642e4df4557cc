"""Feature encodings of a DARTS genotype for the `nb301_distilled` regressor (no torch, no spaces/).

A genotype is what `archcodec.darts.parse` returns: per cell type ("normal", "reduce") 8
[op, input] pairs, pairs 2k and 2k+1 feeding intermediate node k+2. Edges are numbered as NB301's
config space numbers them (`edge_<cell>_<i>`): node 2's edges 0-1 (inputs 0, 1), node 3's 2-4,
node 4's 5-8, node 5's 9-13, i.e. edge = EDGE_OFFSET[node - 2] + input. Every encoding is
invariant to the order of a node's two pairs, so equal cells get equal features.

Encodings (`ENCODINGS`; the converter picks one by k-fold Spearman on its training split):

* `edge_op`: one-hot (cell, edge, op): 2 x 14 x 7 = 196 binary features; an edge is 1 for
  the op on it, an unused edge is all zero. It is exactly the information NB301's surrogates see.
* `edge_op+op_counts`: `edge_op` plus, per cell, how many of its 8 pairs use each op (14 counts).
* `node_inputs+node_ops`: one-hot (cell, node, input) (28) plus counts (cell, node, op) (56): which
  inputs each node reads and which ops it applies, without tying an op to its input edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archcodec.darts import OPS

CELLS = ("normal", "reduce")
EDGE_OFFSET = (0, 2, 5, 9)  # first edge of nodes 2..5
N_EDGES = 14
_OP = {op: i for i, op in enumerate(OPS)}

ENCODINGS: dict[str, str] = {
    "edge_op": "one-hot (cell, edge, op); edge = EDGE_OFFSET[node-2] + input, NB301's edge numbering",
    "edge_op+op_counts": "edge_op plus per-cell op counts over the 8 pairs",
    "node_inputs+node_ops": "one-hot (cell, node, input) plus counts (cell, node, op)",
}


def _edge_names() -> list[str]:
    names = []
    for node in range(4):
        names += [f"e{EDGE_OFFSET[node] + src}(node{node + 2}<{src})" for src in range(node + 2)]
    return names


def feature_names(encoding: str) -> list[str]:
    """The column names of `encoding`, in order (saved in features.json, checked when a table opens)."""
    edge_op = [f"{cell}:{edge}:{op}" for cell in CELLS for edge in _edge_names() for op in OPS]
    counts = [f"{cell}:count:{op}" for cell in CELLS for op in OPS]
    if encoding == "edge_op":
        return edge_op
    if encoding == "edge_op+op_counts":
        return edge_op + counts
    if encoding == "node_inputs+node_ops":
        return ([f"{cell}:{edge.split('(')[1].rstrip(')')}" for cell in CELLS for edge in _edge_names()]
                + [f"{cell}:node{node + 2}:{op}" for cell in CELLS for node in range(4) for op in OPS])
    raise ValueError(f"unknown DARTS encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")


def encode(encoding: str, genotypes: Sequence[dict[str, list]]) -> np.ndarray:
    """[N, n_features] float64 features of parsed genotypes (`darts_key.parse` / `from_cells`)."""
    n_features = len(feature_names(encoding))
    x = np.zeros((len(genotypes), n_features), dtype=np.float64)
    for row, genotype in enumerate(genotypes):
        for c, cell in enumerate(CELLS):
            for k, (op, src) in enumerate(genotype[cell]):
                node, o = k // 2, _OP[op]
                edge = EDGE_OFFSET[node] + src
                if encoding == "node_inputs+node_ops":
                    x[row, c * N_EDGES + edge] = 1.0
                    x[row, 2 * N_EDGES + (c * 4 + node) * len(OPS) + o] += 1.0
                else:
                    x[row, (c * N_EDGES + edge) * len(OPS) + o] = 1.0
                    if encoding == "edge_op+op_counts":
                        x[row, 2 * N_EDGES * len(OPS) + c * len(OPS) + o] += 1.0
    return x
