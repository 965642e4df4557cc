"""The fused NAS-Bench-201 supernet: `spaces.nasbench201.NB201Supernet`'s logits, fewer and larger ops.

The reference search cell runs every alive op of every edge on its own (up to 30 ReLU-Conv-BN,
pooling and identity calls per cell, each output scaled by one indexed alpha and summed). Here, per
source node j of a cell (j = 0, 1, 2, with 3, 2, 1 out-edges):

* the bases j sends on are computed once: the node itself (for its `skip_connect` edges), one
  average pooling (for its `avg_pool_3x3` edges), ReLU once, the alive `nor_conv_*` ops of every
  out-edge as ONE 3x3 convolution and ONE 1x1 matrix product (or, `conv_layout="packed"`, one
  convolution with each 1x1 kernel at the centre of a zero 3x3 one), and ONE batch norm over all
  those conv channels;
* one matrix product mixes the bases into every later node: `carry = carry + A_j @ S_j`, where the
  rows of `S_j` are the flattened bases, `A_j[t, b]` the mixing weight of base b on the edge
  j -> t (0 where base b belongs to another edge), and `carry` the partial sums of the nodes not yet
  complete. `A_j` is gathered from the [6, 5] mixing weights once per forward and shared by all 15
  cells (alpha is shared), so alpha's gradient arrives through it;
* `none` ops are not computed: their output is exactly 0 (their score is 0 in both nets).

Why it gives the same numbers: a per-channel BN over concatenated channels normalises each channel
as the per-op BNs do (search-cell BN has no affine, so alpha rides in the mixing matrix instead of
the BN weight: one matrix product mixes every base, a BN weight would add an op); a conv with
concatenated output channels computes each channel from the same weights; a zero-padded 1x1 kernel
adds exact zeros; conv biases are kept (`search_conv_bias`) and BN eval mode uses the concatenated
running statistics; float32 or float64, raw or softmax alpha all work. What differs is the order of
float additions. The D-variant scores are ill-conditioned (a BN-normalised op output is summed
against a near-constant gradient: the reference's own float32 scores differ from its float64 ones
by 1e-4 to 1e-2 relative), so the fused scores differ from the reference's by a similar amount,
and architectures agree except where two deciding scores are that close
(tests/test_engines.py; scripts/check_engines.py reports every such case with its score gap).

Measured choices (this 2-core CPU, 1 thread, interleaved micro-benchmarks): "split" was as fast as
"packed" at batch 1 and faster at batch 64 (a packed 1x1 costs 9x its multiply-adds), so it is the
default; the 1x1 convs of a batch-1 input run as one matrix product (faster than `conv2d` here);
train-mode BN of one image runs as group norm with one group per channel (the same statistics:
each channel's over H x W; 2.7x faster forward + backward than the batch-norm kernel here).
Pooling of one image runs as matrix products (`_pool_mm`: the 3x3 window with
count_include_pad=False is separable, A_h X A_w^T; up to 8 x 8 pixels one kron(A_h, A_w) product):
forward + backward per call 226 vs 329 us at 16 x 32 x 32, 122 vs 141 us at 32 x 16 x 16, 53 vs 77 us
at 64 x 8 x 8 against channels-last `avg_pool2d` (which needs four layout copies and a Python
autograd Function; the NCHW kernel is slower still). It re-associates the window sums (scores move
~1e-5 relative, as the fused convs already do); batches of more than one image keep the
bit-identical channels-last kernel (`avg_pool_3x3`, also the discrete network's in nasbench201_discrete.py).

A scoring pass of this net is ~40 % framework overhead at CIFAR size and ~80 % at 16 x 16 (measured:
the same pass at a 4 x 4 input costs 17 of 42 ms), so what a pass does not run matters as much as
kernel speed: the stem's output depends on neither alpha nor the masks, and neither does anything the
first cell computes from its node 0 (the stem output): both are kept across the passes of a search
(`_stem`, `_node0_bases`, rebuilt when the input, BN mode or source 0's alive ops change); a batch-1
source's bases are concatenated along channels and viewed as the rows of S once (no per-base views,
each of which is an autograd node). Measured together with the pooling above (scoring passes of 3
real searches, CPU time, interleaved): 1.10x on CIFAR-10 iterative, 1.12x on one full-mask pass.
What capped a one-shot search (one pass) was memory, not arithmetic: `harness.runner` trimmed the
heap after every cell (malloc_trim), so the first pass of a search page-faulted in everything it keeps
for the backward (CIFAR-100 one-shot in `run_cell`: ~7.7K minor faults, nearly all in the forward; the
reference ~11.2K; the same fast search on an untrimmed heap ran 43.8 instead of 70.5 ms). The runner
now trims only after a cell that grew the worker by 256 MiB (`harness.runner._release_memory`).

The fused weights are rebuilt lazily, at the next forward after a mask change, over the alive ops
only (pruned ops cost nothing; a removal changes one source node's conv weights, the rest come from
a cache). Weights are copies: after the reference net's weights change (`zeros.reinit_weights`),
build a new fused net with `fast_supernet(ref)` (the kept stem output and node-0 bases assume fixed
weights, like the copies). No weight requires grad; BN in train mode uses batch statistics and
leaves the running statistics alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spaces import nasbench201 as nb
from spaces._fast import _pool as fast_pool
from spaces._supernet import Supernet

SKIP, CONV1, CONV3, POOL = (nb.OPS.index(o) for o in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))
N_OPS = len(nb.OPS)
ZERO_SLOT = len(nb.EDGES) * N_OPS  # index of a constant 0 appended to the flattened mixing weights
CONV_LAYOUTS = ("split", "packed")


def _detach(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()


class _BN:
    """Batch-norm tensors applied functionally (train: batch stats, running stats untouched)."""

    def __init__(self, weight, bias, mean, var, eps: float) -> None:
        self.weight, self.bias, self.mean, self.var, self.eps = weight, bias, mean, var, eps

    @classmethod
    def of(cls, bn: nn.BatchNorm2d) -> _BN:
        return cls(_detach(bn.weight), _detach(bn.bias), _detach(bn.running_mean), _detach(bn.running_var), bn.eps)

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        if not training:
            return torch.batch_norm(x, self.weight, self.bias, self.mean, self.var, False, 0.0, self.eps, False)
        if x.shape[0] == 1:
            # One image: batch statistics are each channel's over H x W, i.e. group norm with one group
            # per channel (same formula, biased variance, same eps); its CPU kernel was 2.7x faster
            # (forward + backward) than batch norm's at these shapes.
            return torch.group_norm(x, x.shape[1], self.weight, self.bias, self.eps, False)
        return torch.batch_norm(x, self.weight, self.bias, None, None, True, 0.0, self.eps, False)


class _ResBlock:
    """NB201's ResNet reduction block, functionally (same op order as `ResNetBasicBlock`)."""

    def __init__(self, block: nb.ResNetBasicBlock) -> None:
        conv_a, conv_b = block.conv_a[1], block.conv_b[1]
        self.wa, self.sa, self.bna = conv_a.weight.detach(), conv_a.stride, _BN.of(block.conv_a[2])
        self.wb, self.bnb = conv_b.weight.detach(), _BN.of(block.conv_b[2])
        self.wd = block.downsample[1].weight.detach()

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        a = self.bna(F.conv2d(F.relu(x), self.wa, stride=self.sa, padding=1), training)
        b = self.bnb(F.conv2d(F.relu(a), self.wb, padding=1), training)
        return F.conv2d(F.avg_pool2d(x, 2, stride=2, padding=0), self.wd) + b


class _Source:
    """What source node j of every cell sends on under the current mask (the same in all cells).

    Bases, in row order: the node (if a `skip_connect` out-edge is alive), its pooling (if an
    `avg_pool_3x3` one is), then the alive conv ops of all its out-edges, 1x1 ones first.
    Targets: every later node (rows of edges with nothing alive but `none` are zero).
    """

    def __init__(self, j: int, alive: list[list[bool]]) -> None:
        edges = [nb.EDGES.index((i, j)) for i in range(j + 1, nb.MAX_NODES)]
        self.skip = any(alive[e][SKIP] for e in edges)
        self.pool = any(alive[e][POOL] for e in edges)
        self.conv1 = tuple((e, CONV1) for e in edges if alive[e][CONV1])
        self.conv3 = tuple((e, CONV3) for e in edges if alive[e][CONV3])
        kinds = ([SKIP] if self.skip else []) + ([POOL] if self.pool else [])
        bases = [(None, k) for k in kinds] + list(self.conv1 + self.conv3)  # (edge, None = any edge; op)
        self.n_bases = len(bases)
        # index[t][b]: where base b's weight on the edge j -> t sits in the flattened [6 * 5 + 1] weights.
        self.index = [[e * N_OPS + k if alive[e][k] and be in (None, e) else ZERO_SLOT for be, k in bases]
                      for e in edges]

    def conv_groups(self, layout: str) -> tuple[tuple[tuple[int, int], ...], ...]:
        """The ops of each conv call: the 1x1 ones and the 3x3 ones, or all in one ("packed")."""
        groups = (self.conv1 + self.conv3,) if layout == "packed" else (self.conv1, self.conv3)
        return tuple(g for g in groups if g)


# Source-major edge order: node 0's out-edges, then node 1's, then node 2's. A source's conv ops of one
# kind are a contiguous block of a cell's weights stacked in this order, so the full mask needs no copy.
# Node 2 has one out-edge (3<-2): its convs are used as they are and are not stacked (no copy).
_SRC_ORDER = tuple(nb.EDGES.index((i, j)) for j in range(nb.MAX_NODES - 1) for i in range(j + 1, nb.MAX_NODES))
_STACKED = _SRC_ORDER[:-1]
_POS = {e: p for p, e in enumerate(_STACKED)}


class _CellConvs:
    """One search cell's ReLU-Conv-BN ops, fused per group of alive ops on first use (cached).

    On first use the cell's 1x1 and 3x3 conv weights (and biases) of nodes 0 and 1 are each
    concatenated once, in source-major edge order (`_STACKED`): a source's alive convs of one kind are
    then a contiguous block (a view, no copy) unless a middle edge was pruned (one cat, cached); a
    single conv is its own weight. (Looking each op up by ModuleList indexing, per source and conv
    group, was most of the fusing's Python time in a one-shot search's cProfile.) A removal changes the
    conv ops of one source node, so after a mask change only that node's fused weights are new.
    """

    def __init__(self, cell: nb.SearchCell) -> None:
        self._cell = cell
        self._convs: dict[tuple, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._bns: dict[tuple, _BN] = {}
        self._stacks: dict[int, tuple[torch.Tensor, torch.Tensor | None]] | None = None
        self._eps: dict[tuple[int, int], float] = {}
        self._conv_modules: dict[tuple[int, int], nn.Conv2d] = {}

    def _stacked(self) -> dict[int, tuple[torch.Tensor, torch.Tensor | None]]:
        """Per conv kind, (weight [5C, C, k, k], bias [5C] or None) of the edges in `_STACKED`."""
        if self._stacks is None:
            edges = list(self._cell.edges)  # iterating a ModuleList is cheap; indexing one is not
            for e in _SRC_ORDER:
                ops = list(edges[e])
                for k in (CONV1, CONV3):
                    _, conv, bn = ops[k]  # ReLUConvBN = [ReLU, Conv2d, BatchNorm2d]
                    self._conv_modules[e, k] = conv
                    self._eps[e, k] = bn.eps
            convs = {k: [self._conv_modules[e, k] for e in _STACKED] for k in (CONV1, CONV3)}
            with torch.no_grad():  # detached copies
                self._stacks = {k: (torch.cat([c.weight for c in cs]),
                                    None if cs[0].bias is None else torch.cat([c.bias for c in cs]))
                                for k, cs in convs.items()}
        return self._stacks

    def conv(self, ops: tuple[tuple[int, int], ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight, bias) of one conv over `ops`; a 1x1 kernel among 3x3 ones is zero-padded."""
        if ops not in self._convs:
            kinds = {k for _, k in ops}
            if len(ops) == 1:
                self._stacked()
                conv = self._conv_modules[ops[0]]
                self._convs[ops] = (conv.weight.detach(), _detach(conv.bias))
            elif len(kinds) == 1:
                (k,) = kinds
                w, b = self._stacked()[k]
                c = w.shape[0] // len(_STACKED)
                pos = [_POS[e] for e, _ in ops]
                if pos == list(range(pos[0], pos[0] + len(pos))):
                    sl = slice(pos[0] * c, (pos[-1] + 1) * c)
                    self._convs[ops] = (w[sl], None if b is None else b[sl])
                else:
                    with torch.no_grad():
                        self._convs[ops] = (torch.cat([w[p * c:(p + 1) * c] for p in pos]),
                                            None if b is None else torch.cat([b[p * c:(p + 1) * c] for p in pos]))
            else:  # conv_layout="packed": 1x1 and 3x3 kernels in one conv
                convs = [self._cell.edges[e][k][1] for e, k in ops]
                size = max(c.kernel_size[0] for c in convs)
                weights = [c.weight.detach() for c in convs]
                weights = [w if w.shape[-1] == size else F.pad(w, (size // 2,) * 4) for w in weights]
                biases = [c.bias.detach() for c in convs] if convs[0].bias is not None else None
                self._convs[ops] = (_cat(weights), None if biases is None else _cat(biases))
        return self._convs[ops]

    def bn(self, ops: tuple[tuple[int, int], ...]) -> _BN:
        """One BN over the concatenated output channels of `ops` (affine=False: exact per channel).
        Its running statistics are concatenated on first use in eval mode (train mode ignores them)."""
        if ops not in self._bns:
            self._stacked()
            self._bns[ops] = _LazyStatsBN(self._cell, ops, self._eps[ops[0]])
        return self._bns[ops]


class _LazyStatsBN(_BN):
    """A `_BN` over several BNs' channels whose running statistics are concatenated when first needed
    (the BN modules themselves are looked up only then: train mode never needs them)."""

    def __init__(self, cell: nb.SearchCell, ops, eps: float) -> None:
        super().__init__(None, None, None, None, eps)
        self._cell, self._ops = cell, ops

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        if not training and self.mean is None:
            bns = [self._cell.edges[e][k][2] for e, k in self._ops]
            self.mean = _cat([b.running_mean for b in bns])
            self.var = _cat([b.running_var for b in bns])
        return super().__call__(x, training)


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


class FastNB201Supernet(Supernet):
    """Fused twin of an `NB201Supernet` (see the module docstring). Build with `fast_supernet(ref)`."""

    def __init__(self, ref: nb.NB201Supernet, conv_layout: str = "split") -> None:
        super().__init__(ref.alpha_transform)
        if conv_layout not in CONV_LAYOUTS:
            raise ValueError(f"unknown conv_layout {conv_layout!r}; valid: {', '.join(CONV_LAYOUTS)}")
        self.alphas = ref.alphas  # the same Parameters: gradients land on the reference's alpha
        for group, shape in ref._group_shapes.items():
            self.register_buffer(f"alive_{group}", ref.alive(group).clone(), persistent=False)
            self._group_shapes[group] = shape
        self.options = ref.options
        self.conv_layout = conv_layout
        self.train(ref.training)
        self._stem_w, self._stem_bn = ref.stem[0].weight.detach(), _BN.of(ref.stem[1])
        self._layers = [_CellConvs(c) if isinstance(c, nb.SearchCell) else _ResBlock(c) for c in ref.cells]
        self._head_bn = _BN.of(ref.lastact[0])
        self._fc_w, self._fc_b = ref.classifier.weight.detach(), _detach(ref.classifier.bias)
        self._planned_for: torch.Tensor | None = None  # the alive mask the plan below was made for
        self._stem_cache: tuple | None = None
        self._node0_cache: tuple | None = None

    def _plan(self) -> None:
        """Per source node: bases, conv groups and the gather index of its mixing matrix."""
        alive = self.alive(nb.GROUP)
        self._planned_for = alive.clone()
        self._sources = [_Source(j, alive.tolist()) for j in range(nb.MAX_NODES - 1)]
        self._groups = [s.conv_groups(self.conv_layout) for s in self._sources]
        self._conv_ops = [sum(g, ()) for g in self._groups]
        flat = [k for s in self._sources for row in s.index for k in row]
        self._index = torch.tensor(flat, dtype=torch.long, device=alive.device)
        self._sizes = [len(s.index) * s.n_bases for s in self._sources]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._planned_for is None or not torch.equal(self._planned_for, self.alive(nb.GROUP)):
            self._plan()
        w = self.mixing_weights(nb.GROUP)
        # Every source's mixing matrix [targets, bases] from one gather, shared by all cells.
        gathered = torch.cat([w.reshape(-1), w.new_zeros(1)])[self._index]
        mix = [m.view(len(s.index), s.n_bases) for m, s in zip(gathered.split(self._sizes), self._sources)]
        x = self._stem(x)
        for i, layer in enumerate(self._layers):
            x = self._cell(x, layer, mix, i == 0) if isinstance(layer, _CellConvs) else layer(x, self.training)
        x = F.relu(self._head_bn(x, self.training))
        return F.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), self._fc_w, self._fc_b)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """Stem conv + BN; the output is kept while the input (and BN mode) are the same: it depends on
        neither alpha nor the masks, so every pass of a search gets the same tensor back."""
        key = (self.training, x.dtype, x.shape)
        c = self._stem_cache
        if c is not None and c[0] == key and not x.requires_grad and torch.equal(c[1], x):
            return c[2]
        out = self._stem_bn(F.conv2d(x, self._stem_w, padding=1), self.training)
        self._stem_cache = None if x.requires_grad else (key, x.clone(), out)
        return out

    def _cell(self, x: torch.Tensor, convs: _CellConvs, mix: list[torch.Tensor], first: bool) -> torch.Tensor:
        n, c, h, w = x.shape
        # carry: [nodes j..3, N*C*H*W], the partial sums of the nodes not complete before source j.
        # Split (not indexed) into node j and the rest: its backward is one cat, not zero-filled copies.
        carry: torch.Tensor | None = None
        for j, src in enumerate(self._sources):
            rest = None
            if j == 0:
                xj = x
            elif carry is not None:
                head, rest = carry.split([1, carry.shape[0] - 1])
                xj = head.view(n, c, h, w)
            else:  # nothing but `none` reaches node j: it is exactly 0
                xj = x.new_zeros(x.shape)
            if not src.n_bases:
                carry = rest
                continue
            if j == 0 and first and not x.requires_grad:
                stacked = self._node0_bases(x, convs)
            else:
                stacked = self._bases(xj, convs, j)
            carry = torch.mm(mix[j], stacked) if rest is None else torch.addmm(rest, mix[j], stacked)
        return carry.view(n, c, h, w) if carry is not None else x.new_zeros(x.shape)

    def _node0_bases(self, x: torch.Tensor, convs: _CellConvs) -> torch.Tensor:
        """The first cell's node 0 is the stem output: its bases depend only on source 0's plan."""
        key = (x, self._sources[0].skip, self._sources[0].pool, self._groups[0])
        c = self._node0_cache
        if c is None or c[0] is not x or c[1:4] != key[1:]:
            self._node0_cache = key + (self._bases(x, convs, 0),)
        return self._node0_cache[-1]

    def _bases(self, xj: torch.Tensor, convs: _CellConvs, j: int) -> torch.Tensor:
        """S_j: one flattened [N*C*H*W] base per row (a conv output holds one base per C channels)."""
        src = self._sources[j]
        n, c, h, w = xj.shape
        bases = [xj] if src.skip else []
        if src.pool:
            bases.append(_pool_mm(xj) if n == 1 else avg_pool_3x3(xj))
        if self._groups[j]:
            r = torch.relu(xj)
            ys = [_conv(r, *convs.conv(ops)) for ops in self._groups[j]]
            y = ys[0] if len(ys) == 1 else torch.cat(ys, 1)
            bases.append(convs.bn(self._conv_ops[j])(y, self.training))
        if n == 1:  # [1, bases * C, H, W] is already the rows of S in order
            return (bases[0] if len(bases) == 1 else torch.cat(bases, 1)).view(src.n_bases, -1)
        return torch.cat([b.view(n, -1, c * h * w).transpose(0, 1) for b in bases]).view(src.n_bases, -1)


def _conv(r: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    n, c, h, w = r.shape
    if n == 1 and weight.shape[-1] == 1:  # a batch-1 1x1 conv is one matrix product [out, C] @ [C, H*W]
        w2, r2 = weight.view(weight.shape[0], c), r.view(c, h * w)
        y = torch.mm(w2, r2) if bias is None else torch.addmm(bias.view(-1, 1), w2, r2)
        return y.view(1, -1, h, w)
    return torch.conv2d(r, weight, bias, 1, weight.shape[-1] // 2)


_POOL_MATRICES: dict = {}


def _pool_matrix(h: int, dtype, device) -> torch.Tensor:
    """[h, h]: row i averages rows i-1..i+1 that exist (NB201's count_include_pad=False, one axis)."""
    key = (h, dtype, device)
    if key not in _POOL_MATRICES:
        i = torch.arange(h)
        near = (i.view(-1, 1) - i.view(1, -1)).abs() <= 1
        m = near.to(torch.float64) / near.sum(dim=1, keepdim=True)
        _POOL_MATRICES[key] = m.to(dtype=dtype, device=device)
    return _POOL_MATRICES[key]


_KRON_MATRICES: dict = {}


def _pool_mm(x: torch.Tensor) -> torch.Tensor:
    """NB201's avg_pool_3x3 of one image as matrix products (see the module docstring).

    With count_include_pad=False the window count at (i, j) is (rows i-1..i+1 that exist) x (columns
    j-1..j+1 that exist), so the pooling is separable: Y_c = A_h X_c A_w^T with `_pool_matrix` A. Up to
    8 x 8 pixels one [HW, HW] matrix (kron(A_h, A_w)) does both axes in one product. The same window
    sums in another order, times reciprocal counts: float re-association of `F.avg_pool2d`."""
    n, c, h, w = x.shape
    if h * w <= 64:
        key = (h, w, x.dtype, x.device)
        if key not in _KRON_MATRICES:
            _KRON_MATRICES[key] = torch.kron(_pool_matrix(h, torch.float64, x.device),
                                             _pool_matrix(w, torch.float64, x.device)).t().contiguous().to(x.dtype)
        return torch.mm(x.view(c, h * w), _KRON_MATRICES[key]).view(n, c, h, w)
    ah, aw = _pool_matrix(h, x.dtype, x.device), _pool_matrix(w, x.dtype, x.device)
    return torch.matmul(ah, torch.mm(x.view(c * h, w), aw.t()).view(c, h, w)).view(n, c, h, w)


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """`F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)`, bit-identical, on the channels-last kernels
    (spaces/_fast/_pool.py)."""
    return fast_pool.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def fast_supernet(ref: nb.NB201Supernet) -> FastNB201Supernet:
    """The fused twin of a prepared reference NB201 supernet (see the module docstring)."""
    return FastNB201Supernet(ref)
