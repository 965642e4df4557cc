"""The fused NAS-Bench-1Shot1 (space 3) supernet: `spaces.nasbench1shot1.NB1Shot1Supernet`'s logits, fewer ops.

The reference cell computes six 1x1 ConvBnRelu projections of the cell input one by one, then per
node the weighted input sum and the three candidate ops, each scaled by an indexed alpha. Here:

* every projection the alive masks need (node 1's, node i's when its `input` edge is alive, the
  output projection when its edge is alive) is ONE matmul over the concatenated weights, ONE BN
  (affine, as the reference's) and one ReLU;
* per node, the 3x3 conv and the 1x1 conv (a matmul) share ONE BN and one ReLU, beside one max
  pooling; their outputs are the rows of `Z_i`;
* per node, ONE product `w_ops[i] @ Z_i` gives its state and ONE `addcmul` adds the state into an
  accumulator whose rows are the inputs of nodes 2..5 and the weighted outputs of nodes 1..5: row
  j-1 with weight w_in[j-1, i+1] (node i's share of node j's input), row 4+i with w_out[i+1] (its
  share of the cell output); the projections enter the inputs through one more product, and the
  cell output is the last five rows. The weights come from the [5, 3] / [4, 5] / [1, 6] mixing
  weights by gathers once per forward, shared by the 9 cells, so alpha's gradients arrive through
  them as in the reference: products with the state or op outputs, then torch.sum.

Only the order of float additions differs from the reference. Caveat:
with train-mode BN and one input image the postprocess BN makes the logits the classifier bias for
every alpha, so FreeDARTS-D scores are rounding noise there (see spaces/_fast/darts.py); the fused
net happens to reproduce that noise closely (scripts/check_fused_defaults.py). The fused weights
are copies, rebuilt (at the next forward) over the alive ops and edges whenever a mask changes.
`prunable_groups` and `row_keep` are the reference net's.
No weight requires grad; train-mode BN uses batch statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spaces import nasbench1shot1 as ns
from spaces._fast._ops import BN, FusedSupernet, mix as mix_rows, used_entries

MAXPOOL, CONV3, CONV1 = range(len(ns.OPS))
N = ns.N_NODES
GI, GO, GP = ns.GROUP_INPUTS, ns.GROUP_OUTPUT, ns.GROUP_OPS
N_COEF = N + (N - 1) * N  # flattened [w_out[0, 1:], w_in]; index N_COEF is a 0


@dataclass
class _Plan:
    proj: list[int]  # nodes (0-based, > 0) whose projection feeds their input
    out_proj: bool
    ops: list[list[int]]  # per node: alive op columns (the rows of Z_i)
    op_index: list[int]  # flat indices into w_ops of every node's alive ops, node after node
    coef_index: list[int]  # [N nodes x ROWS] flat indices into [w_out[0, 1:], w_in, 0]: node i's accumulator row weights
    proj_index: list[list[int]]  # [ROWS x projections] the same for M_proj


def _coef(row: int, col: int) -> int:
    """Flat index of w_in[row, col] in [w_out[0, 1:], w_in.flatten()]."""
    return N + row * N + col


ROWS = 2 * N - 1  # accumulator rows: inputs of nodes 2..5 (rows 0..3), outputs of nodes 1..5 (rows 4..8)


def _plan(alive: dict[str, list]) -> _Plan:
    ops = [[k for k in range(len(ns.OPS)) if alive[GP][i][k]] for i in range(N)]
    proj = [i for i in range(1, N) if alive[GI][i - 1][0]]
    coef_index = []
    for i in range(N):
        # Node i's state enters the input of every later node j (row j-1) and the cell output (row N-1+i).
        coefs = [N_COEF] * ROWS
        for j in range(i + 1, N):
            coefs[j - 1] = _coef(j - 1, i + 1) if alive[GI][j - 1][i + 1] else N_COEF
        coefs[N - 1 + i] = i if alive[GO][0][i + 1] else N_COEF
        coef_index += coefs
    # M_proj: w_in[j-1, 0] from node j's projection into node j's input (row j-1)
    proj_index = [[_coef(row, 0) if row < N - 1 and p == row + 1 else N_COEF for p in proj] for row in range(ROWS)]
    op_index = [i * len(ns.OPS) + k for i in range(N) for k in ops[i]]
    return _Plan(proj, bool(alive[GO][0][0]), ops, op_index, coef_index, proj_index)


class _Cell:
    """One search cell's weights: all projections and node convs, and their alive selection."""

    def __init__(self, cell: ns.SearchCell) -> None:
        convs = [p[0] for p in cell.projections] + [cell.output_projection[0]]
        self.c = convs[0].out_channels
        self.proj_w = torch.cat([m.weight.detach()[:, :, 0, 0] for m in convs])  # [10c, c_prev]
        self.proj_bn = [p[1] for p in cell.projections] + [cell.output_projection[1]]
        self.conv3 = [m[CONV3][0].weight.detach() for m in cell.mixed_ops]  # [c, c, 3, 3]
        self.conv1 = [m[CONV1][0].weight.detach()[:, :, 0, 0] for m in cell.mixed_ops]  # [c, c]
        self.node_bn = [(m[CONV3][1], m[CONV1][1]) for m in cell.mixed_ops]

    def select(self, plan: _Plan, training: bool) -> None:
        c, dev = self.c, self.proj_w.device
        blocks = [0] + plan.proj + ([N] if plan.out_proj else [])  # projection blocks (block N: 5c channels)
        rows = torch.cat([torch.arange(b * c, (b + 1) * c if b < N else (2 * N) * c, device=dev) for b in blocks])
        self.pw = self.proj_w.index_select(0, rows)
        self.pbn = BN.cat([self.proj_bn[b] for b in blocks])
        self.split = [c, len(plan.proj) * c, N * c if plan.out_proj else 0]
        self.ops = plan.ops
        self.nbn = []
        for i, ops in enumerate(plan.ops):
            convs = [k for k in ops if k != MAXPOOL]
            self.nbn.append(BN.cat([self.node_bn[i][k - CONV3] for k in convs]) if convs else None)

    def forward(self, s0: torch.Tensor, mix: tuple, w_out0: torch.Tensor, training: bool) -> torch.Tensor:
        """mix: (per node its [1, ops] op weights, [N, ROWS] accumulator row weights, M_proj, used entries)."""
        w_ops, coefs, m_proj, used = mix
        n, _, h, w = s0.shape
        p = F.relu(self.pbn(torch.matmul(self.pw, s0.view(n, -1, h * w)).view(n, -1, h, w), training))
        x, pn, po = p.split(self.split, 1)
        n_proj, chw = self.split[1] // self.c, self.c * h * w
        one = (lambda m: m.unsqueeze(0)) if n == 1 else (lambda m: m.expand(n, -1, -1))  # expand's backward sums
        # acc rows: the inputs of nodes 2..5 and the (weighted) outputs of nodes 1..5. Per node: its state (one
        # product over its op outputs), then one addcmul into every row -- the reference's multiply-adds, whose
        # alpha gradients (products, then torch.sum over the state) this keeps.
        acc = mix_rows(one(m_proj), pn.reshape(n, n_proj, chw), used[N]) if n_proj else s0.new_zeros(n, ROWS, chw)
        for i in range(N):
            if i:
                x = acc.select(1, i - 1).view(n, self.c, h, w)
            z = []
            if self.ops[i][0] == MAXPOOL:
                z.append(F.max_pool2d(x, 3, 1, 1).view(n, 1, chw))
            # The 3x3 conv and the 1x1 conv (a matmul) side by side, then one BN and ReLU over both. (One
            # conv with the 1x1 kernel centred in a zero 3x3 one costs 1.8x the multiply-adds: slower here.)
            y = []
            if CONV3 in self.ops[i]:
                y.append(F.conv2d(x, self.conv3[i], None, 1, 1).view(n, self.c, h * w))
            if CONV1 in self.ops[i]:
                y.append(torch.matmul(self.conv1[i], x.reshape(n, self.c, h * w)))
            if y:
                y = torch.cat(y, 1) if len(y) > 1 else y[0]
                z.append(F.relu(self.nbn[i](y.view(n, -1, h, w), training)).view(n, -1, chw))
            state = mix_rows(one(w_ops[i]), torch.cat(z, 1) if len(z) > 1 else z[0], used[i])  # [N, 1, C*H*W]
            acc = torch.addcmul(acc, coefs[i].view(1, ROWS, 1), state)
        out = acc.narrow(1, N - 1, N).reshape(n, N * self.c, h, w)
        return torch.addcmul(out, po, w_out0) if self.split[2] else out


class FastNB1Shot1Supernet(FusedSupernet):
    """Fused `NB1Shot1Supernet` (see the module docstring); built by `fast_supernet(ref)`."""

    def __init__(self, ref: ns.NB1Shot1Supernet) -> None:
        super().__init__(ref)
        self.options = ref.options
        self.prunable_groups, self.row_keep = ref.prunable_groups, ref.row_keep  # read by harness.freedarts
        self.stem_w, self.stem_bn = ref.stem[0].weight.detach(), BN.of(ref.stem[1])
        self.downsample_before = ref.downsample_before
        self.cells = [_Cell(cell) for cell in ref.cells]
        self.post_w, self.post_bn = ref.postprocess[1].weight.detach(), BN.of(ref.postprocess[2])
        self.fc_w, self.fc_b = ref.classifier.weight.detach(), ref.classifier.bias.detach()

    def _rebuild(self) -> None:
        plan = _plan({g: self.alive(g).tolist() for g in self.groups})
        dev = self.alive(GP).device
        self._plan = plan
        self._op_index = torch.tensor(plan.op_index, dtype=torch.long, device=dev)
        self._coef_index = torch.tensor(plan.coef_index + [i for row in plan.proj_index for i in row],
                                        dtype=torch.long, device=dev)
        self._used = [used_entries([[0] * len(ops)], -1, dev) for ops in plan.ops] + \
            [used_entries(plan.proj_index, N_COEF, dev)]
        for cell in self.cells:
            cell.select(plan, self.training)

    def _mixing(self) -> tuple[tuple, torch.Tensor]:
        w = {g: self.mixing_weights(g) for g in self.groups}
        coef = F.pad(torch.cat([w[GO][0, 1:], w[GI].reshape(-1)]), (0, 1))  # ..., 0 (N_COEF)
        coef = coef.index_select(0, self._coef_index)
        coefs, m_proj = coef[: N * ROWS].view(N, ROWS), coef[N * ROWS:].view(ROWS, len(self._plan.proj))
        w_ops = w[GP].reshape(-1).index_select(0, self._op_index).split([len(ops) for ops in self._plan.ops])
        return ([t.view(1, -1) for t in w_ops], coefs, m_proj, self._used), w[GO][0, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dirty:
            self._rebuild()
            self._dirty.clear()
        training = self.training
        mix, w_out0 = self._mixing()
        x = F.relu(self.stem_bn(F.conv2d(x, self.stem_w, None, 1, 1), training))
        for i, cell in enumerate(self.cells):
            if i in self.downsample_before:
                x = F.max_pool2d(x, 2, 2, 1)
            x = cell.forward(x, mix, w_out0, training)
        x = self.post_bn(F.conv2d(F.relu(x), self.post_w), training)
        return F.linear(x.flatten(2).mean(-1), self.fc_w, self.fc_b)


def fast_supernet(ref: ns.NB1Shot1Supernet) -> FastNB1Shot1Supernet:
    """The fused net of a prepared reference NB1Shot1 supernet (same alphas, masks, mode, pruning rules)."""
    return FastNB1Shot1Supernet(ref)
