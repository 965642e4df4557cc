"""Whole-space parameter statistics for the bias analysis, in closed form (no network per cell).

    >>> from harness.space_stats import space_sizes
    >>> sizes = space_sizes("nasbench201", num_classes=10)
    >>> sizes.max_params, sizes.largest_arch          # the largest cell, exactly
    >>> sizes.distribution().params_m.median()        # all 15,625 cells in ~2 s (not 15 min of builds)
    >>> sizes.params(["|nor_conv_3x3~0|+|...|"])      # any cell's count
    >>> sizes.ops(arch), sizes.max_op_mask(arch)      # op per position, and which hold the position's biggest op

The parameter count of every space here is a sum of independent choices, each measured with the
space's own modules (never assumed), so the whole space's sizes follow without building it:

* NB201: params = base(head) + sum over the 6 edges of c[edge, op]. c[e, o] sums the parameters of
  the edge-e modules of the network with op o on every edge (5 builds); base is `param_count` of
  the all-`none` cell. Every one of the 15,625 cells is then one vectorised sum; the largest is the
  per-edge argmax.
* DARTS (the evaluation network `param_count` sizes: CIFAR, C=36, 20 cells, whatever the search
  supernet's options): params = base + sum over (cell type, node) of c[cell, node, its two (op,
  input) pairs]. c is `param_count` of a reference genotype with that node's pairs replaced minus
  the reference's (1,960 closed-form counts); the largest genotype takes each node's best pair of
  distinct inputs and ops, and its count is checked against `param_count`. Sizes of the space: a
  seeded uniform sample, counted with the same tables.
* MobileNet: params = base + sum over the 21 blocks of c[block, op], c read from the blocks of one
  built network per op (7 builds), the base checked to be the same in each. Sizes: a seeded
  uniform sample over each block's allowed options (skip only where the block keeps its shape).

"Largest" compares parameter counts: on DARTS many genotypes tie for the maximum (the inputs of a
node do not change its count), so a pick is "the largest cell" when its count equals the maximum.
`tests/test_space_stats.py` checks each closed form against building the network.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

DISTRIBUTION_SAMPLE = 5000  # uniform sample size for spaces that cannot be enumerated
_NB201_REFERENCE_OP = "none"
_DARTS_REFERENCE_OP = "max_pool_3x3"


class NoSizeModelError(ValueError):
    """The space has no closed-form parameter model here (e.g. nasbench1shot1)."""

    def __init__(self, space: str) -> None:
        super().__init__(f"no parameter-size model for space {space!r}; spaces with one: {', '.join(SIZE_MODELS)} "
                         "(add one to harness/space_stats.py: a count that is a sum of independent choices)")


@dataclass(frozen=True)
class SpaceSizes:
    """Parameter counts over one space, for one head and the space's options (see module docstring)."""

    space: str
    num_classes: int
    positions: tuple[str, ...]          # names of the choices an architecture makes (NB201: its 6 edges)
    max_params: int                     # the largest parameter count in the space, exactly
    largest_arch: str                   # one architecture with that count
    exact: bool                         # whether distribution() is the whole space (else a uniform sample)
    _params: object = dataclasses.field(repr=False)       # (arch keys) -> np.ndarray of counts
    _ops: object = dataclasses.field(repr=False)          # arch key -> tuple of ops, one per position
    _max_op: object = dataclasses.field(repr=False)       # arch key -> bool per position
    _distribution: object = dataclasses.field(repr=False)  # () -> (arch keys, counts)
    _uniform_max_op: float | None = None  # closed form of uniform_max_op_share, where the positions are independent

    def params(self, archs) -> np.ndarray:
        return np.asarray(self._params(list(archs)), dtype=np.int64)

    def ops(self, arch: str) -> tuple[str, ...]:
        return self._ops(arch)

    def max_op_mask(self, arch: str) -> np.ndarray:
        """Per position: whether the chosen op has the most parameters of the options there."""
        return np.asarray(self._max_op(arch), dtype=bool)

    @functools.cached_property
    def uniform_max_op_share(self) -> float:
        """Expected share of positions holding their most-parameter op for a uniformly random architecture:
        exact where the positions are independent (NB201, MobileNet), else over the distribution sample."""
        if self._uniform_max_op is not None:
            return float(self._uniform_max_op)
        return float(np.mean([self.max_op_mask(a).mean() for a in self.distribution()["arch"]]))

    def is_largest(self, archs) -> np.ndarray:
        return self.params(archs) == self.max_params

    @functools.cached_property
    def _dist(self) -> pd.DataFrame:
        archs, counts = self._distribution()
        return pd.DataFrame({"arch": archs, "params_m": np.asarray(counts, dtype=np.int64) / 1e6})

    def distribution(self) -> pd.DataFrame:
        """arch, params_m over the whole space (`exact`) or a seeded uniform sample of it."""
        return self._dist


# -- NB201 ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _nb201_edge_counts(options: str) -> np.ndarray:
    """[edge, op] parameters an op adds on an edge, summed over every cell of the network: read from the
    edge modules of one network per op (5 builds); an op with no parameters (none, skip, pool) adds 0."""
    from spaces import nasbench201 as nb

    opts = nb.NB201Options(**json.loads(options))
    contrib = np.zeros((len(nb.EDGES), len(nb.OPS)), dtype=np.int64)
    for k, op in enumerate(nb.OPS):
        net = nb.discrete_network(nb.Genotype((op,) * len(nb.EDGES)), 10, opts)
        for cell in (c for c in net.modules() if isinstance(c, nb.DiscreteCell)):
            for e, module in enumerate(cell.edges):
                contrib[e, k] += sum(p.numel() for p in module.parameters())
    return contrib


def _nb201(num_classes: int, options: dict) -> SpaceSizes:
    from spaces import nasbench201 as nb

    opts = nb.NB201Options(**options)
    n_edges = len(nb.EDGES)
    contrib = _nb201_edge_counts(json.dumps(options, sort_keys=True))  # [edge, op], the same for every head
    # Everything outside the cells' edges (stem, reductions, head): the all-`none` network, built with this head.
    base = nb.param_count(nb.Genotype((_NB201_REFERENCE_OP,) * n_edges), num_classes, opts)
    op_index = {op: k for k, op in enumerate(nb.OPS)}

    def indices(arch: str) -> list[int]:
        return [op_index[o] for o in nb.parse_arch_key(arch).ops]

    every_idx = np.array(list(itertools.product(range(len(nb.OPS)), repeat=n_edges)), dtype=np.int64)
    every_count = base + contrib[np.arange(n_edges), every_idx].sum(axis=1)
    every_arch = [nb.Genotype(tuple(nb.OPS[k] for k in row)).arch_str() for row in every_idx]
    count_of = dict(zip(every_arch, every_count.tolist()))  # a dict lookup instead of parsing each string

    def params(archs: list[str]) -> np.ndarray:
        return np.array([count_of[a] if a in count_of else int(base + contrib[np.arange(n_edges), indices(a)].sum())
                         for a in archs], dtype=np.int64)

    def everything():
        return every_arch, every_count

    best = contrib.argmax(axis=1)
    largest = nb.Genotype(tuple(nb.OPS[k] for k in best)).arch_str()
    return SpaceSizes(
        "nasbench201", num_classes, tuple(f"{i}<-{j}" for i, j in nb.EDGES), int(base + contrib.max(axis=1).sum()),
        largest, True, params, lambda a: nb.parse_arch_key(a).ops,
        lambda a: [contrib[e, k] == contrib[e].max() for e, k in enumerate(indices(a))], everything,
        float(np.mean([(contrib[e] == contrib[e].max()).mean() for e in range(n_edges)])))


# -- DARTS ------------------------------------------------------------------------------------------
def _darts(num_classes: int, options: dict) -> SpaceSizes:
    from spaces import darts

    opts = darts.DartsOptions(**options)
    ref_pairs = tuple(((_DARTS_REFERENCE_OP, 0), (_DARTS_REFERENCE_OP, 1)) for _ in range(darts.STEPS))

    def count(cells: dict[str, tuple]) -> int:
        g = darts.Genotype(*(sum(cells[c], ()) for c in darts.GROUPS))
        return darts.param_count(g, num_classes, opts)

    reference = {c: ref_pairs for c in darts.GROUPS}
    base = count(reference)
    # contrib[(cell, node)][((op, in), (op, in))] = count with that node's pairs replaced - base
    contrib: dict[tuple[str, int], dict[tuple, int]] = {}
    for cell, node in itertools.product(darts.GROUPS, range(darts.STEPS)):
        table = {}
        for s1, s2 in itertools.combinations(range(node + 2), 2):
            for o1, o2 in itertools.product(darts.GENOTYPE_OPS, repeat=2):
                pairs = ((o1, s1), (o2, s2))
                nodes = list(reference[cell])
                nodes[node] = pairs
                table[pairs] = count({**reference, cell: tuple(nodes)}) - base
        contrib[(cell, node)] = table
    best = {key: max(table, key=lambda p: (table[p], p)) for key, table in contrib.items()}
    largest_cells = {c: tuple(best[(c, n)] for n in range(darts.STEPS)) for c in darts.GROUPS}
    max_params = base + sum(contrib[key][p] for key, p in best.items())
    if count(largest_cells) != max_params:  # the count must be additive over nodes for the model to hold
        raise RuntimeError("DARTS parameter count is not a sum over nodes; harness/space_stats.py needs another model")
    largest = darts.Genotype(*(sum(largest_cells[c], ()) for c in darts.GROUPS)).arch_str()

    def single(cell: str, node: int, src: int, op: str) -> int:
        """Count of `op` on an input `src` of a node, up to a constant per (cell, node, src)."""
        other = 1 if src == 0 else 0
        pairs = ((op, src), (_DARTS_REFERENCE_OP, other)) if src < other else ((_DARTS_REFERENCE_OP, other), (op, src))
        return contrib[(cell, node)][pairs]

    best_op = {(c, n, src): max(single(c, n, src, o) for o in darts.GENOTYPE_OPS)
               for c, n in contrib for src in range(n + 2)}

    def cell_pairs(g) -> list[tuple[str, int, tuple[str, int]]]:
        return [(c, i // 2, p) for c, pairs in zip(darts.GROUPS, (g.normal, g.reduce)) for i, p in enumerate(pairs)]

    def mask(g) -> list[bool]:
        return [single(c, n, src, op) == best_op[(c, n, src)] for c, n, (op, src) in cell_pairs(g)]

    def model_count(g) -> int:  # base + the node tables: no network, no parsing
        return base + sum(contrib[(c, n)][tuple(pairs[2 * n: 2 * n + 2])]
                          for c, pairs in zip(darts.GROUPS, (g.normal, g.reduce)) for n in range(darts.STEPS))

    rng = random.Random(0)
    sampled = [darts.sample_genotype(rng) for _ in range(DISTRIBUTION_SAMPLE)]
    uniform = float(np.mean([np.mean(mask(g)) for g in sampled]))

    def sample():
        return [g.arch_str() for g in sampled], [model_count(g) for g in sampled]

    positions = tuple(f"{c[0].upper()}{n}.{k + 1}" for c in darts.GROUPS for n in range(darts.STEPS) for k in range(2))
    return SpaceSizes(
        "darts", num_classes, positions, int(max_params), largest, False,
        lambda archs: [darts.param_count(darts.parse_arch_key(a), num_classes, opts) for a in archs],
        lambda a: tuple(op for _, _, (op, _) in cell_pairs(darts.parse_arch_key(a))),
        lambda a: mask(darts.parse_arch_key(a)), sample, uniform)


# -- MobileNet --------------------------------------------------------------------------------------
def _mobilenet(num_classes: int, options: dict) -> SpaceSizes:
    from spaces import mobilenet as mb

    opts = mb.MobileNetOptions(**options)
    lay = mb.layout(opts.width_mult)
    n_ops = mb.n_ops(opts)
    choices = [[o for o in mb.OPS[:n_ops] if o != mb.SKIP or lay.has_skip(b)] for b in range(mb.N_BLOCKS)]
    contrib = np.full((mb.N_BLOCKS, len(mb.OPS)), -1, dtype=np.int64)  # -1: not allowed there
    bases = set()
    for op in mb.OPS[:n_ops]:
        genotype = tuple(op if op in choices[b] else mb.OPS[0] for b in range(mb.N_BLOCKS))
        net = mb.DiscreteNetwork(mb.Genotype(genotype), num_classes, opts.width_mult)
        per_block = [sum(p.numel() for p in block.parameters()) for block in net.blocks]
        for b, o in enumerate(genotype):
            contrib[b, mb.OPS.index(o)] = per_block[b]
        bases.add(sum(p.numel() for p in net.parameters()) - sum(per_block))
    if len(bases) != 1:
        raise RuntimeError(f"MobileNet parameters outside the blocks differ between genotypes ({sorted(bases)})")
    base = bases.pop()
    op_index = {o: k for k, o in enumerate(mb.OPS)}

    def idx(archs: list[str]) -> np.ndarray:
        return np.array([[op_index[o] for o in mb.parse_arch_key(a).ops] for a in archs],
                        dtype=np.int64).reshape(-1, mb.N_BLOCKS)

    def params(archs: list[str]) -> np.ndarray:
        return base + contrib[np.arange(mb.N_BLOCKS), idx(archs)].sum(axis=1)

    def sample():
        rng = np.random.default_rng(0)
        picks = np.array([[op_index[c[rng.integers(len(c))]] for c in choices]
                          for _ in range(DISTRIBUTION_SAMPLE)], dtype=np.int64)
        return ([",".join(mb.OPS[k] for k in row) for row in picks],
                base + contrib[np.arange(mb.N_BLOCKS), picks].sum(axis=1))

    best = contrib.argmax(axis=1)
    largest = ",".join(mb.OPS[k] for k in best)
    return SpaceSizes(
        "mobilenet", num_classes, tuple(f"b{b + 1}" for b in range(mb.N_BLOCKS)),
        int(base + contrib.max(axis=1).sum()), largest, False, params, lambda a: mb.parse_arch_key(a).ops,
        lambda a: (contrib[np.arange(mb.N_BLOCKS), idx([a])[0]] == contrib.max(axis=1)).tolist(), sample,
        float(np.mean([np.mean([contrib[b, mb.OPS.index(o)] == contrib[b].max() for o in choices[b]])
                       for b in range(mb.N_BLOCKS)])))


SIZE_MODELS = {"nasbench201": _nb201, "darts": _darts, "mobilenet": _mobilenet}


def space_sizes(space: str, num_classes: int, options: dict | None = None) -> SpaceSizes:
    """The closed-form size model of `space` with a `num_classes` head and the space's `options`
    (a dict as in `space_options`; defaults filled by the space). Raises NoSizeModelError."""
    if space not in SIZE_MODELS:
        raise NoSizeModelError(space)
    if space == "darts":  # the evaluation network param_count sizes does not depend on the supernet's options
        options = {}
    return _cached(space, num_classes, json.dumps(options or {}, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _cached(space: str, num_classes: int, options: str) -> SpaceSizes:
    return SIZE_MODELS[space](num_classes, json.loads(options))


def param_distribution(space: str, num_classes: int, options: dict | None = None) -> pd.DataFrame:
    """arch, params_m over the space (attrs["exact"]: True = every architecture, False = a uniform sample)."""
    sizes = space_sizes(space, num_classes, options)
    out = sizes.distribution()
    out.attrs["exact"] = sizes.exact
    return out
