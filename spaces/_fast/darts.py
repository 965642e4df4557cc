"""The fused DARTS supernet: `spaces.darts.DartsSupernet`'s logits with far fewer, larger tensor ops.

The reference cell runs every alive op of each of its 14 edges on its own (a MixedOp is up to 7
ops of 4-8 module calls each, every output scaled by one indexed alpha and summed). Here a cell
works per *unit* of source states that are available together -- (s0, s1), then node 2, 3, 4
(node 5 sends nothing) -- and every op of every out-edge of a unit is batched:

* ReLU once per unit; every alive sep/dil conv of every out-edge reads it through ONE gather of
  the source states, then the depthwise convs run in as few calls as pay (`_ops.depthwise_groups`:
  each oneDNN depthwise call costs ~0.25 ms whatever its size on this CPU, so small kernels ride
  centred in a larger call's zero kernel when that is cheaper; a dilation-2 kernel is always the
  dense kernel with zeros between its taps, as oneDNN's dilated depthwise path is several times
  slower), ONE batched matmul for all the pointwise 1x1 convs and ONE batch norm over the
  concatenated channels -- together with the FactorizedReduce skips (one dense matmul over the
  even/odd pixel phases) and the pooled rows; the sep convs' second stage is one ReLU, depthwise
  conv(s), batched matmul and BN more;
* max and avg pooling once per unit (not once per edge: in train mode a search BN normalises the
  same tensor the same way for every edge; in eval mode each edge's pooled row gets its own
  running statistics);
* the unit's outputs are the rows of one matrix `Z` (one row = one op output or one shared basis:
  a pooled or identity state) and ONE product `M @ Z` (`_ops.mix`) adds them into every target
  node, where `M[t, k]` is the mixing weight of row k on the edge into node t. `M` is gathered from
  the [14, 8] mixing weights once per forward and shared by every cell of the type (alpha is
  shared), so alpha's gradient arrives through it, reduced as the reference reduces it (products,
  then torch.sum); `none` is never computed (its output is exactly 0);
* the two preprocessing convs of a cell are one block-diagonal matmul and one BN.

Why the numbers are the same: per-channel BN over concatenated channels normalises each channel as
its own module does; a kernel inside a larger zero kernel adds exact zeros; only the order of float
additions differs (tests/test_fast_spaces.py: scores to ~1e-9 relative in float64, ~1e-4 in float32,
and the same architectures, both transforms, train/eval BN, one image or a batch). The fused
weights are copies, rebuilt (at the next forward) over the alive ops whenever an alive mask changes,
so pruned ops cost nothing. No weight requires grad.

Caveat (a property of the reference setting, not of this module): with train-mode BN and a batch of
ONE image (FreeDARTS-D), every cell output is a sum of per-channel-normalised maps (zero spatial
mean), so the logits equal the classifier bias for every alpha and the scores are float rounding
noise (~1e-9 in float32): no computation that re-associates a single addition reproduces them, and
the fused and reference nets then derive unrelated architectures (scripts/check_fused_defaults.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spaces import darts as dz
from spaces._fast import _pool as fast_pool
from spaces._fast._ops import BN, FusedSupernet, centred, depthwise_groups, mix as mix_rows, undilated, used_entries

NONE, MAX, AVG, SKIP, SEP3, SEP5, DIL3, DIL5 = range(len(dz.OPS))
CONV_OPS = (SEP3, SEP5, DIL3, DIL5)
SEP_OPS = (SEP3, SEP5)
N_OPS = len(dz.OPS)
ZERO_SLOT = len(dz.EDGES) * N_OPS  # index of the 0 appended to the flattened mixing weights
# Dense kernel size of each op's depthwise conv (a dilation-2 kxk kernel is a (2k-1)x(2k-1) one);
# CONV_OPS is sorted by it, so the alive convs of a unit are ordered by kernel size.
DENSE = {SEP3: 3, SEP5: 5, DIL3: 5, DIL5: 9}
DILATION = {SEP3: 1, SEP5: 1, DIL3: 2, DIL5: 2}
UNITS = ((0, 1), (2,), (3,), (4,))  # source states computed together; state 5 feeds nothing
_OFFSET = {node: sum(range(2, node)) for node in range(2, 2 + dz.STEPS)}  # first row of a node's edges


def _row(node: int, src: int) -> int:
    return _OFFSET[node] + src


def _targets(unit: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(range(max(2, max(unit) + 1), 2 + dz.STEPS))


def _edges(unit: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(row, position of the source in the unit, target index) of every out-edge of a unit."""
    first = _targets(unit)[0]
    return [(_row(node, src), pos, node - first) for pos, src in enumerate(unit) for node in _targets(unit)]


# -- plan: which rows are computed, shared by every cell of a type (depends on the mask only) ---------
@dataclass
class _UnitPlan:
    conv: list[tuple[int, int]]  # alive (op, edge) conv instances, ops in CONV_OPS order
    conv_pos: list[int]  # source position (in the unit) of each alive conv instance
    n_sep: int  # the first n_sep convs are sep convs
    fr: list[int]  # alive FactorizedReduce skips, indices into the unit's edges
    pools: list[tuple[int, list[int]]]  # (op, rows): train: one row per source; eval: per alive edge
    pool_stats: list[int]  # eval: index into [MAX/AVG][edge] BN stats of each pooled row
    identity: bool
    m_index: list[list[int]]  # [targets][Z rows] flat index into the padded mixing weights
    n_z: int


def _plan(unit: tuple[int, ...], stride: int, alive: list[list[bool]], training: bool) -> _UnitPlan:
    edges = _edges(unit)
    n_t = len(_targets(unit))
    conv = [(op, e) for op in CONV_OPS for e in range(len(edges)) if alive[edges[e][0]][op]]
    z_entries: list[list[tuple[int, int]]] = [[(edges[e][2], edges[e][0] * N_OPS + op)] for op, e in conv]
    fr = []
    if stride == 2:
        fr = [e for e, (r, _, _) in enumerate(edges) if alive[r][SKIP]]
        z_entries += [[(edges[e][2], edges[e][0] * N_OPS + SKIP)] for e in fr]
    pools, pool_stats = [], []
    for p_i, op in enumerate((MAX, AVG)):
        live = [e for e, (r, _, _) in enumerate(edges) if alive[r][op]]
        if not live:
            continue
        if training:  # one shared row per source state: BN(pool(x)) is the same for every edge
            pools.append((op, list(range(len(unit)))))
            z_entries += [[(t, r * N_OPS + op) for e, (r, q, t) in enumerate(edges) if q == pos and e in live]
                          for pos in range(len(unit))]
        else:  # one row per edge: each edge's BN has its own running statistics
            pools.append((op, [edges[e][1] for e in live]))
            pool_stats += [p_i * len(edges) + e for e in live]
            z_entries += [[(edges[e][2], edges[e][0] * N_OPS + op)] for e in live]
    identity = stride == 1 and any(alive[r][SKIP] for r, _, _ in edges)
    if identity:
        z_entries += [[(t, r * N_OPS + SKIP) for r, q, t in edges if q == pos and alive[r][SKIP]]
                      for pos in range(len(unit))]
    m_index = [[ZERO_SLOT] * len(z_entries) for _ in range(n_t)]
    for k, entries in enumerate(z_entries):
        for t, flat in entries:
            m_index[t][k] = flat
    n_sep = sum(1 for op, _ in conv if op in SEP_OPS)
    return _UnitPlan(conv, [edges[e][1] for _, e in conv], n_sep, fr, pools, pool_stats, identity, m_index,
                     len(z_entries))


# -- weights: every op of every out-edge of a unit, stacked once; the alive rows picked per mask -----
def _stack(ts: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in ts])


class _UnitWeights:
    """Full (all ops alive) stacked weights of one unit of one cell, and the alive selection."""

    def __init__(self, cell: dz.SearchCell, unit: tuple[int, ...], c: int, stride: int) -> None:
        self.c, self.stride, self.n_src = c, stride, len(unit)
        edges = _edges(unit)
        mixed = [cell.ops[r].ops for r, _, _ in edges]

        def first_stage(op: int, m):  # (depthwise, pointwise, BN) of the op's first stage
            stage = m[op][0] if op in SEP_OPS else m[op]
            return stage[1], stage[2], stage[3]

        # Per op, stacked over the unit's out-edges: depthwise kernels at their dense size, pointwise [C, C].
        self.dw1 = {op: _stack([undilated(first_stage(op, m)[0].weight, DILATION[op]) for m in mixed])
                    for op in CONV_OPS}
        self.pw1 = {op: _stack([first_stage(op, m)[1].weight[:, :, 0, 0] for m in mixed]) for op in CONV_OPS}
        self.bn1 = {op: [first_stage(op, m)[2] for m in mixed] for op in CONV_OPS}
        self.dw2 = {op: _stack([m[op][1][1].weight for m in mixed]) for op in SEP_OPS}
        self.pw2 = {op: _stack([m[op][1][2].weight[:, :, 0, 0] for m in mixed]) for op in SEP_OPS}
        self.bn2 = {op: [m[op][1][3] for m in mixed] for op in SEP_OPS}
        self.pool_bn = [m[op][1] for op in (MAX, AVG) for m in mixed]
        self.fr, self.fr_bn = None, []
        if stride == 2:  # FactorizedReduce: conv_1 on the even pixels, conv_2 on the odd ones, one matmul
            n = len(unit)
            w = torch.zeros(len(edges), c, 2 * n * c, dtype=self.pw1[SEP3].dtype, device=self.pw1[SEP3].device)
            for e, (r, pos, _) in enumerate(edges):
                fr = mixed[e][SKIP]
                w[e, : c // 2, pos * c:(pos + 1) * c] = fr.conv_1.weight.detach()[:, :, 0, 0]
                w[e, c // 2:, (n + pos) * c:(n + pos + 1) * c] = fr.conv_2.weight.detach()[:, :, 0, 0]
                self.fr_bn.append(fr.bn)
            self.fr = w

    def select(self, plan: _UnitPlan, training: bool) -> None:
        """The alive rows of every fused weight (called when the type's mask or the mode changes)."""
        dev = self.pw1[SEP3].device
        self.plan, self._dw_for = plan, None  # depthwise kernels: grouped at the next forward (size-dependent)
        self.gather = torch.tensor(plan.conv_pos, dtype=torch.long, device=dev)  # source state of each conv
        sep = plan.conv[: plan.n_sep]
        self.p1 = torch.stack([self.pw1[op][e] for op, e in plan.conv]) if plan.conv else None
        self.p2 = torch.stack([self.pw2[op][e] for op, e in sep]) if sep else None
        self.f = self.fr.index_select(0, torch.tensor(plan.fr, device=dev)).flatten(0, 1) if plan.fr else None
        bns1 = [self.bn1[op][e] for op, e in plan.conv] + [self.fr_bn[e] for e in plan.fr] + \
            [self.pool_bn[k] for k in plan.pool_stats]
        eps = self.bn1[SEP3][0].eps  # search-cell BNs: no affine, one eps; train mode needs no statistics
        self.bn1_f = BN(None, None, eps) if training or not bns1 else BN.cat(bns1)
        self.bn2_f = BN(None, None, eps) if training or not sep else BN.cat([self.bn2[op][e] for op, e in sep])
        self.pool_idx = [(op, torch.tensor(rows, dtype=torch.long, device=dev)) for op, rows in plan.pools]

    def _depthwise_kernels(self, pixels_in: int, pixels_out: int) -> None:
        """Group the alive depthwise convs into calls by kernel size (cost model of `_ops.depthwise_groups`)."""
        plan, c = self.plan, self.c
        self.w1 = _grouped([(DENSE[op], self.dw1[op][e]) for op, e in plan.conv], c, pixels_out)
        self.w2 = _grouped([(DENSE[op], self.dw2[op][e]) for op, e in plan.conv[: plan.n_sep]], c, pixels_out)
        self._dw_for = (pixels_in, pixels_out)

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor | None:
        """Z [N, rows, C*H'*W'] of one unit: the outputs its out-edges mix (see `_plan` for the rows)."""
        plan, c, s, n = self.plan, self.c, self.stride, x.shape[0]
        h, w = (x.shape[2] + s - 1) // s, (x.shape[3] + s - 1) // s
        parts = []  # inputs of the first BN, each [N, channels, H'*W']
        if plan.conv and self._dw_for != (x.shape[2] * x.shape[3], h * w):
            self._depthwise_kernels(x.shape[2] * x.shape[3], h * w)
        r = F.relu(x) if plan.conv or plan.fr else None
        if plan.conv:
            g = r.view(n, self.n_src, -1).index_select(1, self.gather).view(n, -1, x.shape[2], x.shape[3])
            y = _depthwise(g, self.w1, c, s)
            parts.append(torch.matmul(self.p1, y.view(n, len(plan.conv), c, h * w)).view(n, -1, h * w))
        if plan.fr:
            phases = torch.cat([r[:, :, ::2, ::2], r[:, :, 1::2, 1::2]], 1).view(n, -1, h * w)
            parts.append(torch.matmul(self.f, phases))
        for op, rows in self.pool_idx:
            p = F.max_pool2d(x, 3, s, 1) if op == MAX else _avg_pool(x, s)
            if not training:  # one row per edge, for each edge's own BN statistics
                p = p.view(n, self.n_src, -1).index_select(1, rows)
            parts.append(p.view(n, -1, h * w))
        z = []
        if parts:
            b1 = self.bn1_f((torch.cat(parts, 1) if len(parts) > 1 else parts[0]).view(n, -1, h, w), training)
            n_sep, n_rest = plan.n_sep, b1.shape[1] // c - plan.n_sep
            sep, rest = b1.split([n_sep * c, n_rest * c], 1) if n_sep and n_rest else (b1, b1) if n_sep else (None, b1)
            if n_sep:
                y = _depthwise(F.relu(sep), self.w2, c, 1)
                p2 = torch.matmul(self.p2, y.view(n, n_sep, c, h * w)).view(n, -1, h, w)
                z.append(self.bn2_f(p2, training).view(n, n_sep, -1))
            if n_rest:
                z.append(rest.reshape(n, n_rest, c * h * w))
        if plan.identity:
            z.append(x.reshape(n, self.n_src, -1))
        if not z:
            return None
        return torch.cat(z, 1) if len(z) > 1 else z[0]


def _grouped(kernels: list[tuple[int, torch.Tensor]], c: int, pixels: int) -> list[tuple[int, int, torch.Tensor]]:
    """(size, convs, [convs*C, 1, size, size] kernels) per depthwise call, kernels centred in the call's size."""
    groups = depthwise_groups([size for size, _ in kernels], c, pixels)
    out, start = [], 0
    for n in groups:
        size = max(s for s, _ in kernels[start:start + n])
        out.append((size, n, torch.cat([centred(k, size) for _, k in kernels[start:start + n]])))
        start += n
    return out


def _depthwise(x: torch.Tensor, kernels: list[tuple[int, int, torch.Tensor]], c: int, stride: int) -> torch.Tensor:
    """One depthwise conv per kernel size over consecutive channel blocks of x, concatenated."""
    if len(kernels) == 1:
        size, n, k = kernels[0]
        return F.conv2d(x, k, None, stride, size // 2, 1, n * c)
    blocks = x.split([n * c for _, n, _ in kernels], 1)  # split, not slices: one cat in the backward
    return torch.cat([F.conv2d(b, k, None, stride, size // 2, 1, n * c) for b, (size, n, k) in zip(blocks, kernels)], 1)


class _Cell:
    """One search cell: fused preprocessing and its four units."""

    def __init__(self, cell: dz.SearchCell, c: int) -> None:
        self.reduction, self.c = cell.reduction, c
        self.reduction_prev = isinstance(cell.preprocess0, dz.FactorizedReduce)
        p0, p1 = cell.preprocess0, cell.preprocess1
        w1 = p1[1].weight.detach()[:, :, 0, 0]  # [C, c_p]
        if self.reduction_prev:  # s0 is twice as large: its even and odd pixel phases, then s1
            a, b = p0.conv_1.weight.detach()[:, :, 0, 0], p0.conv_2.weight.detach()[:, :, 0, 0]
            self.pre_w = torch.block_diag(a, b, w1)
            self.pre_bn = [p0.bn, p1[2]]
        else:
            self.pre_w = torch.block_diag(p0[1].weight.detach()[:, :, 0, 0], w1)
            self.pre_bn = [p0[2], p1[2]]
        self.units = [_UnitWeights(cell, unit, c, 2 if self.reduction and unit == UNITS[0] else 1) for unit in UNITS]

    def select(self, plans: list[_UnitPlan], training: bool) -> None:
        self.pre_bn_f = BN.cat(self.pre_bn)
        for u, plan in zip(self.units, plans):
            u.select(plan, training)

    def forward(self, r0: torch.Tensor, r1: torch.Tensor, mix: list, training: bool) -> torch.Tensor:
        """r0, r1: ReLU of the two previous outputs; mix: per unit, its [targets, Z rows] matrix and used entries."""
        h, w = r1.shape[2:]
        if self.reduction_prev:
            inp = torch.cat([r0[:, :, ::2, ::2], r0[:, :, 1::2, 1::2], r1], 1)
        else:
            inp = torch.cat([r0, r1], 1)
        n = r1.shape[0]
        x = self.pre_bn_f(torch.matmul(self.pre_w, inp.view(n, -1, h * w)).view(n, -1, h, w), training)
        s = self.units[0].stride
        hh, ww = (h + s - 1) // s, (w + s - 1) // s  # every node's size
        nodes, acc = [], None
        for k, (unit, (m, used)) in enumerate(zip(self.units, mix)):
            z = unit.forward(x, training)
            m = m.unsqueeze(0) if n == 1 else m.expand(n, -1, -1)  # expand's backward is a sum
            if z is not None:
                acc = mix_rows(m, z, used, acc)
            elif acc is None:
                acc = x.new_zeros(n, m.shape[1], self.c * hh * ww)
            node, acc = acc.split([1, acc.shape[1] - 1], 1)
            nodes.append(node)
            x = node.reshape(n, self.c, hh, ww)
        return torch.cat(nodes, 1).view(n, len(nodes) * self.c, hh, ww)


class FastDartsSupernet(FusedSupernet):
    """Fused `DartsSupernet` (see the module docstring); built by `fast_supernet(ref)`."""

    def __init__(self, ref: dz.DartsSupernet) -> None:
        super().__init__(ref)
        self.options = ref.options
        self.imagenet = ref.options.stem == "imagenet"
        stems = [ref.stem0[0], ref.stem0[1], ref.stem0[3], ref.stem0[4], ref.stem1[1], ref.stem1[2]] if self.imagenet \
            else [ref.stem[0], ref.stem[1]]
        self.stem = [(m.weight.detach(), m.stride, m.padding, BN.of(bn)) for m, bn in zip(stems[::2], stems[1::2])]
        self.cells = [_Cell(cell, cell.ops[0].ops[SEP3][0][2].weight.shape[0]) for cell in ref.cells]
        self.fc_w, self.fc_b = ref.classifier.weight.detach(), ref.classifier.bias.detach()
        self._plans: dict[str, tuple] = {}  # group -> (unit plans, M rows per unit, M gather index, M used entries)

    def _rebuild(self, group: str) -> None:
        alive = self.alive(group).tolist()
        plans = [_plan(unit, 2 if group == "reduce" and unit == UNITS[0] else 1, alive, self.training)
                 for unit in UNITS]
        flat = [i for p in plans for row in p.m_index for i in row]
        index = torch.tensor(flat, dtype=torch.long, device=self.alive(group).device)
        used = [used_entries(p.m_index, ZERO_SLOT, index.device) for p in plans]
        self._plans[group] = (plans, [len(p.m_index) for p in plans], index, used)
        for cell in self.cells:
            if cell.reduction == (group == "reduce"):
                cell.select(plans, self.training)

    def _mixing(self, group: str) -> list[tuple[torch.Tensor, tuple]]:
        plans, rows, index, used = self._plans[group]
        w = F.pad(self.mixing_weights(group).reshape(-1), (0, 1))  # [..., 0]: the ZERO_SLOT
        m = w.index_select(0, index)
        out, off = [], 0
        for plan, t, u in zip(plans, rows, used):
            out.append((m[off:off + t * plan.n_z].view(t, plan.n_z), u))
            off += t * plan.n_z
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for group in sorted(self._dirty):
            self._rebuild(group)
        self._dirty.clear()
        training = self.training
        mix = {g: self._mixing(g) for g in dz.GROUPS}
        if self.imagenet:  # stem0: conv-BN-ReLU-conv-BN; stem1: ReLU-conv-BN
            (wa, sa, pa, ba), (wb, sb, pb, bb), (wc, sc, pc, bc) = self.stem
            s0 = bb(F.conv2d(F.relu(ba(F.conv2d(x, wa, None, sa, pa), training)), wb, None, sb, pb), training)
            r0 = F.relu(s0)
            s1 = bc(F.conv2d(r0, wc, None, sc, pc), training)
            r1 = F.relu(s1)
        else:
            (wa, sa, pa, ba), = self.stem
            s1 = ba(F.conv2d(x, wa, None, sa, pa), training)
            r0 = r1 = F.relu(s1)
        for cell in self.cells:
            s1 = cell.forward(r0, r1, mix["reduce" if cell.reduction else "normal"], training)
            r0, r1 = r1, F.relu(s1)
        return F.linear(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1), self.fc_w, self.fc_b)


def fast_supernet(ref: dz.DartsSupernet) -> FastDartsSupernet:
    """The fused net of a prepared reference DARTS supernet (same alphas, masks and mode)."""
    return FastDartsSupernet(ref)


def _avg_pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    """DARTS's avg_pool_3x3 (count_include_pad=False), bit-identical; stride 1 in channels-last order
    (spaces/_fast/_pool.py; batch 1 here: 2.1-3.8x faster forward + backward at [1, 32-320, 8-32, 8-32]),
    stride 2 on the NCHW kernel (the channels-last one was no faster: 0.96x at [1, 64, 32, 32])."""
    if stride == 1:
        return fast_pool.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
