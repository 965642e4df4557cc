"""NAS-Bench-1Shot1 search space 3: the FreeDARTS supernet, its genotypes and their NB101 cells.

Supernet (FREEDARTS_SPEC §4.2, upstream `automl/nasbench-1shot1` `model_search.py` and
`search_space_3.py`): stem ConvBnRelu 3x3 (3->C), 9 cells; before cells 3 and 6 a MaxPool(2,
stride 2, pad 1) and the channels double; then ReLU-Conv1x1-BN(affine=False) postprocess,
spatial mean, Linear. A cell has 5 choice blocks (nodes 1..5). Node i's input is the weighted sum
of [1x1 ConvBnRelu projection of the cell input, outputs of nodes 1..i-1] (node 1 takes only its
projection); the sum goes through a mixed op over {maxpool3x3, conv3x3-bn-relu, conv1x1-bn-relu}.
Cell output = w_out[0] * proj_out(cell input) + concat_i(w_out[i] * node_i).

Alpha groups (all shared by the 9 cells):

    ops    [5, 3]  rows node1..node5,  columns maxpool3x3, conv3x3-bn-relu, conv1x1-bn-relu
    inputs [4, 5]  rows node2..node5,  columns input, node1, node2, node3, node4
    output [1, 6]  row  output,        columns input, node1, ..., node5

Upstream has one input vector per node of length 2, 3, 4, 5 (node 2..5). The rectangular
`inputs [4, 5]` keeps them as rows; entry (row r, column j) with j > r + 1 does not exist (node
r+2 cannot read node j >= r+2). Those entries are dead in the alive mask from the start, so they
never enter the forward, score exactly 0, and are never chosen.

Search (spec §3, §4.2): ZEROS scores all three groups. Iterative FreeDARTS prunes only `ops`
(`prunable_groups`, 15 -> 5 ops, 10 steps) and scores the pruned supernet once more
(`final_rescore`). `derive` then takes, per node, the surviving op and the top-k input edges by
score (k = 1, 1, 2, 2 for nodes 2..5; output: top-2), ties to the lower index. Space option
`edge_selection="iterative"` instead prunes edges too: input/output entries join the global pool
and each row is pruned down to its k (12 extra steps, 22 in all), so `derive` keeps exactly the survivors.

The result becomes an NB101 cell as upstream `_create_adjacency_matrix` does: a 7x7 matrix built
back from the output (vertex 6) through the parents of every vertex reached, ops
`[input, op1..op5, output]`; vertices not on an input->output path are pruned as NB101's
`ModelSpec` prunes them, and the cell is keyed by the NB101 module hash.

    >>> from spaces import nasbench1shot1 as ns
    >>> g = ns.Genotype.from_str("1:conv3x3-bn-relu<0|2:conv3x3-bn-relu<1|3:maxpool3x3<0|4:conv1x1-bn-relu<0,2|5:conv3x3-bn-relu<3,4|out<2,5")
    >>> g.nb101_cell()            # (pruned matrix, pruned ops)
    >>> ns.arch_key(g)            # "<genotype string>#<module hash>", the key NB101 lookups accept
    >>> ns.param_count(g, 10)     # params of the NB101 network (stem 128, 3 stacks x 3 cells)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from archcodec import nb101

from spaces._supernet import Supernet

NAME = "nasbench1shot1"
OPS: tuple[str, ...] = ("maxpool3x3", "conv3x3-bn-relu", "conv1x1-bn-relu")
N_NODES = 5  # choice blocks 1..5
OUTPUT_VERTEX = N_NODES + 1  # vertex 6 of the NB101 7x7 matrix
NUM_PARENTS = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, OUTPUT_VERTEX: 2}  # upstream num_parents_per_node, space 3
GROUP_OPS, GROUP_INPUTS, GROUP_OUTPUT = "ops", "inputs", "output"
GROUP_SHAPES = {GROUP_OPS: (N_NODES, len(OPS)), GROUP_INPUTS: (N_NODES - 1, N_NODES), GROUP_OUTPUT: (1, N_NODES + 1)}
ROW_NAMES = {
    GROUP_OPS: tuple(f"node{i}" for i in range(1, N_NODES + 1)),
    GROUP_INPUTS: tuple(f"node{i}" for i in range(2, N_NODES + 1)),
    GROUP_OUTPUT: ("output",),
}
OP_NAMES = {
    GROUP_OPS: OPS,
    GROUP_INPUTS: ("input",) + tuple(f"node{i}" for i in range(1, N_NODES)),
    GROUP_OUTPUT: ("input",) + tuple(f"node{i}" for i in range(1, N_NODES + 1)),
}
EDGE_SELECTIONS = ("topk", "iterative")
BN_MOMENTUM, BN_EPSILON = 0.997, 1e-5  # upstream values, copied as-is (spec §4.2)


@dataclass(frozen=True)
class NB1Shot1Options:
    """Space options (`space_options:`); defaults are upstream's supernet.

    Attributes:
        channels: C of the first stage (16 upstream).
        layers: cells (9 upstream); channels double and MaxPool before cells layers//3, 2*layers//3.
        edge_selection: "topk" (default: parents = top-k ZEROS per node on the final scores) or
            "iterative" (input/output edges are pruned one per step with the ops, down to k per row).
    """

    channels: int = 16
    layers: int = 9
    edge_selection: str = "topk"

    def __post_init__(self) -> None:
        if self.edge_selection not in EDGE_SELECTIONS:
            raise ValueError(f"unknown edge_selection {self.edge_selection!r}; valid: {', '.join(EDGE_SELECTIONS)}")
        if self.channels < 1 or self.layers < 1:
            raise ValueError(f"channels and layers must be >= 1, got {self.channels}, {self.layers}")


def structural_mask() -> dict[str, torch.Tensor]:
    """Alive entries that exist at all: everything except inputs (r, j) with j > r + 1."""
    inputs = torch.tensor([[j <= r + 1 for j in range(N_NODES)] for r in range(N_NODES - 1)])
    return {GROUP_OPS: torch.ones(GROUP_SHAPES[GROUP_OPS], dtype=torch.bool), GROUP_INPUTS: inputs,
            GROUP_OUTPUT: torch.ones(GROUP_SHAPES[GROUP_OUTPUT], dtype=torch.bool)}


def row_keep() -> dict[str, torch.Tensor]:
    """Edges each row keeps (k per node, spec §4.2): ops 1, inputs 1,1,2,2, output 2."""
    return {GROUP_OPS: torch.ones(N_NODES, dtype=torch.long),
            GROUP_INPUTS: torch.tensor([NUM_PARENTS[i] for i in range(2, N_NODES + 1)]),
            GROUP_OUTPUT: torch.tensor([NUM_PARENTS[OUTPUT_VERTEX]])}


# -- genotype ---------------------------------------------------------------------------------------
_NODE_RE = re.compile(r"^(\d):([a-z0-9x-]+)<([\d,]+)$")
_OUT_RE = re.compile(r"^out<([\d,]+)$")
FORMAT = "1:op<0|2:op<p|3:op<p|4:op<p,p|5:op<p,p|out<p,p (op in " + ", ".join(OPS) + ")"


@dataclass(frozen=True)
class Genotype:
    """One op per node, the parents of nodes 2..5 (0 = cell input) and of the output."""

    ops: tuple[str, ...]
    parents: tuple[tuple[int, ...], ...]  # nodes 2..5, each sorted
    output: tuple[int, ...]  # sorted

    def __post_init__(self) -> None:
        problems = []
        if len(self.ops) != N_NODES or any(o not in OPS for o in self.ops):
            problems.append(f"ops {self.ops} (need {N_NODES} of {', '.join(OPS)})")
        if len(self.parents) != N_NODES - 1:
            problems.append(f"{len(self.parents)} parent sets (need {N_NODES - 1})")
        for node, ps in zip(range(2, N_NODES + 1), self.parents):
            if len(ps) != NUM_PARENTS[node] or len(set(ps)) != len(ps) or any(not 0 <= p < node for p in ps):
                problems.append(f"node {node} parents {ps} (need {NUM_PARENTS[node]} distinct in 0..{node - 1})")
        if len(self.output) != 2 or len(set(self.output)) != 2 or any(not 0 <= p <= N_NODES for p in self.output):
            problems.append(f"output parents {self.output} (need 2 distinct in 0..{N_NODES})")
        if problems:
            raise ValueError("invalid NB1Shot1 genotype: " + "; ".join(problems) + f"; format {FORMAT}")

    def __str__(self) -> str:
        nodes = [f"1:{self.ops[0]}<0"]
        nodes += [f"{i}:{self.ops[i - 1]}<{','.join(map(str, ps))}" for i, ps in zip(range(2, N_NODES + 1), self.parents)]
        return "|".join(nodes + [f"out<{','.join(map(str, self.output))}"])

    @classmethod
    def from_str(cls, text: str) -> Genotype:
        parts = text.strip().split("|")
        if len(parts) != N_NODES + 1:
            raise ValueError(f"not an NB1Shot1 genotype: {text!r}; format {FORMAT}")
        ops, parents = [], []
        for i, part in enumerate(parts[:-1], start=1):
            m = _NODE_RE.match(part)
            if not m or int(m.group(1)) != i:
                raise ValueError(f"not an NB1Shot1 genotype: {text!r} (bad node {i}: {part!r}); format {FORMAT}")
            ops.append(m.group(2))
            ps = tuple(sorted(int(p) for p in m.group(3).split(",")))
            if i == 1:
                if ps != (0,):
                    raise ValueError(f"not an NB1Shot1 genotype: {text!r} (node 1 reads only the input, <0); format {FORMAT}")
            else:
                parents.append(ps)
        m = _OUT_RE.match(parts[-1])
        if not m:
            raise ValueError(f"not an NB1Shot1 genotype: {text!r} (bad output {parts[-1]!r}); format {FORMAT}")
        return cls(tuple(ops), tuple(parents), tuple(sorted(int(p) for p in m.group(1).split(","))))

    def parent_map(self) -> dict[int, tuple[int, ...]]:
        return {1: (0,), **{i: ps for i, ps in zip(range(2, N_NODES + 1), self.parents)}, OUTPUT_VERTEX: self.output}

    def adjacency(self) -> np.ndarray:
        """Upstream `_create_adjacency_matrix`: from the output, add each reached vertex's parents."""
        return nb101.adjacency_from_parents(self.parent_map(), OUTPUT_VERTEX)

    def nb101_ops(self) -> list[str]:
        return [nb101.INPUT, *self.ops, nb101.OUTPUT]

    def nb101_cell(self) -> tuple[np.ndarray, list[str]]:
        """The pruned NB101 cell (matrix, ops) as NB101's ModelSpec holds it."""
        return nb101.prune(self.adjacency(), self.nb101_ops())

    def module_hash(self) -> str:
        return nb101.cell_hash(self.adjacency(), self.nb101_ops())[0]


def arch_key(genotype: Genotype) -> str:
    """`<genotype>#<NB101 module hash>`: readable, parseable, and what the NB101 table looks up."""
    return f"{genotype}#{genotype.module_hash()}"


def parse_arch_key(key: str) -> Genotype:
    text, sep, h = key.partition("#")
    genotype = Genotype.from_str(text)
    if sep and h != genotype.module_hash():
        raise ValueError(f"arch key {key!r}: the hash after '#' is not the module hash {genotype.module_hash()} "
                         "of the genotype; drop the suffix or fix the genotype")
    return genotype


def _top(scores: torch.Tensor, alive: torch.Tensor, k: int) -> tuple[int, ...]:
    """Indices of the k highest alive scores, ties to the lower index (stable sort)."""
    idx = [j for j in range(len(scores)) if alive[j]]
    idx.sort(key=lambda j: -float(scores[j]))  # stable: equal scores keep index order
    return tuple(sorted(idx[:k]))


def derive(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor]) -> Genotype:
    """Per node the best alive op; parents = top-k alive input scores (k = 1,1,2,2); output top-2."""
    s_ops = scores[GROUP_OPS].detach().to(torch.float64).clone()
    s_ops[~alive[GROUP_OPS]] = float("-inf")
    ops = tuple(OPS[int(k)] for k in torch.argmax(s_ops, dim=1))
    keep = row_keep()
    parents = tuple(_top(scores[GROUP_INPUTS][r], alive[GROUP_INPUTS][r], int(keep[GROUP_INPUTS][r]))
                    for r in range(N_NODES - 1))
    output = _top(scores[GROUP_OUTPUT][0], alive[GROUP_OUTPUT][0], 2)
    return Genotype(ops, parents, output)


# -- supernet ---------------------------------------------------------------------------------------
class ConvBnRelu(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM, eps=BN_EPSILON), nn.ReLU(inplace=False))


def _make_op(name: str, c: int) -> nn.Module:
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name == "conv3x3-bn-relu":
        return ConvBnRelu(c, c, 3)
    if name == "conv1x1-bn-relu":
        return ConvBnRelu(c, c, 1)
    raise ValueError(f"unknown NB1Shot1 op {name!r}; valid: {', '.join(OPS)}")


class SearchCell(nn.Module):
    def __init__(self, c_prev: int, c: int) -> None:
        super().__init__()
        self.projections = nn.ModuleList(ConvBnRelu(c_prev, c, 1) for _ in range(N_NODES))
        self.output_projection = ConvBnRelu(c_prev, c * N_NODES, 1)
        self.mixed_ops = nn.ModuleList(nn.ModuleList(_make_op(op, c) for op in OPS) for _ in range(N_NODES))

    def forward(self, s0: torch.Tensor, w: dict[str, torch.Tensor], alive: dict[str, list]) -> torch.Tensor:
        states: list[torch.Tensor] = []
        for i in range(N_NODES):
            candidates = [self.projections[i](s0), *states]
            if i == 0:
                x = candidates[0]
            else:
                x = sum(candidates[j] * w[GROUP_INPUTS][i - 1, j] for j in range(i + 1) if alive[GROUP_INPUTS][i - 1][j])
            states.append(sum(op(x) * w[GROUP_OPS][i, k] for k, op in enumerate(self.mixed_ops[i]) if alive[GROUP_OPS][i][k]))
        w_out = w[GROUP_OUTPUT][0]
        return w_out[0] * self.output_projection(s0) + torch.cat([w_out[i + 1] * s for i, s in enumerate(states)], dim=1)


class NB1Shot1Supernet(Supernet):
    """The NB1Shot1 space-3 supernet; `forward` returns the logits."""

    def __init__(self, options: NB1Shot1Options, num_classes: int, alpha_transform: str, alpha_scale: float) -> None:
        super().__init__(alpha_transform)
        self.options = options
        c = options.channels
        self.stem = ConvBnRelu(3, c, 3)
        self.downsample_before = (options.layers // 3, 2 * options.layers // 3)
        cells, c_prev = [], c
        for i in range(options.layers):
            if i in self.downsample_before:
                c *= 2
            cells.append(SearchCell(c_prev, c))
            c_prev = c * N_NODES
        self.cells = nn.ModuleList(cells)
        self.pool = nn.MaxPool2d(2, stride=2, padding=1)
        self.postprocess = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_prev, c, 1, bias=False),
                                         nn.BatchNorm2d(c, affine=False))
        self.classifier = nn.Linear(c, num_classes)
        self._init_alphas(GROUP_SHAPES, alpha_scale)  # last, as upstream
        for group, mask in structural_mask().items():
            self.set_alive(group, mask)
        # Read by harness.freedarts: which groups iterative pruning removes from, and down to how many.
        self.prunable_groups = (GROUP_OPS,) if options.edge_selection == "topk" else (GROUP_OPS, GROUP_INPUTS, GROUP_OUTPUT)
        self.row_keep = row_keep()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = {g: self.mixing_weights(g) for g in self.groups}
        alive = {g: self.alive(g).tolist() for g in self.groups}
        x = self.stem(x)
        for i, cell in enumerate(self.cells):
            if i in self.downsample_before:
                x = self.pool(x)
            x = cell(x, w, alive)
        x = self.postprocess(x)
        return self.classifier(x.flatten(2).mean(-1))


def build_supernet(options: NB1Shot1Options, num_classes: int, input_size: int, *,
                   alpha_transform: str = "raw", alpha_scale: float = 1e-3) -> NB1Shot1Supernet:
    if input_size < 4:
        raise ValueError(f"NB1Shot1 input_size must be >= 4 (two 2x2 max-pools), got {input_size}")
    return NB1Shot1Supernet(options, num_classes, alpha_transform, alpha_scale)


# -- the NB101 network of a cell (for its parameter count) ------------------------------------------
def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    """NB101 `compute_vertex_channels`: output channels split over the vertices feeding the output."""
    n = matrix.shape[0]
    ch = [0] * n
    ch[0], ch[n - 1] = c_in, c_out
    if n == 2:
        return ch
    in_degree = matrix[1:].sum(axis=0)
    interior, correction = divmod(c_out, int(in_degree[n - 1]))
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            ch[v] = interior + (1 if correction else 0)
            correction -= 1 if correction else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    ch[v] = max(ch[v], ch[dst])
    return ch


class NB101Cell(nn.Module):
    """NB101 `build_module`: projections of the input, truncated interior edges, concat at the output."""

    def __init__(self, matrix: np.ndarray, ops: list[str], c_in: int, c_out: int) -> None:
        super().__init__()
        self.matrix, self.n = matrix, matrix.shape[0]
        self.ch = vertex_channels(c_in, c_out, matrix)
        self.proj = nn.ModuleDict({str(t): ConvBnRelu(c_in, self.ch[t], 1)
                                   for t in range(1, self.n - 1) if matrix[0, t]})
        self.vertex = nn.ModuleDict({str(t): (nn.MaxPool2d(3, 1, 1) if ops[t] == "maxpool3x3"
                                              else ConvBnRelu(self.ch[t], self.ch[t], 3 if ops[t] == "conv3x3-bn-relu" else 1))
                                     for t in range(1, self.n - 1)})
        self.out_proj = ConvBnRelu(c_in, c_out, 1) if matrix[0, self.n - 1] else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors, concat = [x], []
        for t in range(1, self.n - 1):
            add = [tensors[s][:, : self.ch[t]] for s in range(1, t) if self.matrix[s, t]]
            if self.matrix[0, t]:
                add.append(self.proj[str(t)](x))
            tensors.append(self.vertex[str(t)](sum(add)))
            if self.matrix[t, self.n - 1]:
                concat.append(tensors[t])
        if not concat:
            return self.out_proj(x)
        out = torch.cat(concat, dim=1)
        return out + self.out_proj(x) if self.out_proj is not None else out


class NB101Network(nn.Module):
    """NB101's network: stem conv3x3 (128), 3 stacks of 3 cells, max-pool + channel doubling between, GAP, dense."""

    def __init__(self, matrix: np.ndarray, ops: list[str], num_classes: int = 10, stem: int = 128,
                 stacks: int = 3, cells_per_stack: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBnRelu(3, stem, 3)]
        c_in = c = stem
        for s in range(stacks):
            if s > 0:
                layers.append(nn.MaxPool2d(2, 2))
                c *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(matrix, ops, c_in, c))
                c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


@functools.lru_cache(maxsize=4096)
def _nb101_params(matrix_bits: str, ops: tuple[str, ...], num_classes: int) -> int:
    n = len(ops)
    matrix = np.array([int(b) for b in matrix_bits], dtype=np.int64).reshape(n, n)
    with torch.device("meta"):  # shapes only: no memory, no initialisation, no draw from the RNG
        net = NB101Network(matrix, list(ops), num_classes)
    return sum(p.numel() for p in net.parameters())


def nb101_param_count(matrix: np.ndarray, ops: list[str], num_classes: int = 10) -> int:
    """Trainable parameters of NB101's network for a pruned cell (NB101's `trainable_parameters`)."""
    return _nb101_params("".join(str(int(v)) for v in np.asarray(matrix).flatten()), tuple(ops), num_classes)


def param_count(genotype: Genotype, num_classes: int, options: NB1Shot1Options = NB1Shot1Options()) -> int:
    """Parameters of the NB101 network of the genotype's cell (what NB101 trained), by building it."""
    return nb101_param_count(*genotype.nb101_cell(), num_classes)
