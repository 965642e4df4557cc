"""The fused MobileNet (ProxylessNAS) supernet, paper mode: `spaces.mobilenet.MobileNetSupernet`'s logits.

The reference block runs each alive MBConv option on its own (expand conv, BN, ReLU6, depthwise conv,
BN, ReLU6, project conv, BN: nine module calls per option, seven options, every output scaled by an
indexed alpha and summed). Here, per block:

* the expand 1x1 convs of all alive options are ONE matmul over their concatenated weights (they
  read the same input), followed by ONE BN and one ReLU6 over the concatenated channels;
* one depthwise conv per alive option (kernels 3/5/7 differ), then ONE BN and one ReLU6;
* the project 1x1 convs are ONE batched matmul per expand ratio (options are ordered (e3: k3, k5,
  k7), (e6: k3, k5, k7), so equal shapes are adjacent), then ONE BN;
* ONE `baddbmm` (`_ops.mix`) mixes the option outputs (rows of `Z`; the identity `skip` option
  is the input as one more row) with the block's alpha row and adds the residual. The mixing rows of all 21
  blocks are gathered from the [21, 7] mixing weights once per forward, so alpha's gradient
  arrives through them, reduced as the reference reduces it (products, then torch.sum: with a gemm
  instead, seed 0's one-shot block 0 flipped inside the reference's own float32 error).

At 224x224 this network is compute-bound; most of the saving is that no weight gradient is computed
(the reference computes one for every conv of every option) and that 1x1 convs are plain matmuls.
Only the order of float additions differs from the reference. The fused weights are copies,
rebuilt (at the next forward) over the alive options whenever the mask changes.

`code_mode` (binary gates sampled from the global RNG, an Adam step inside the backward) is not
fused: `fast_supernet` returns None for it, and the engine runs the reference net.

Not registered as the space's `fast_supernet` (spaces/__init__.py): on this CPU a pass of this net takes
as long as a pass of the reference net with the fast engine's levers 1 and 4 (alpha-only gradients,
channels-last pooling), which is where the whole saving comes from, while its re-associated float32 sums
cost close-call passes and agreement. It stays tested against the reference (tests/test_fast_spaces.py)
and measured by `scripts/bench_fused.py --targets mobilenet`, the place to decide again on other hardware.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spaces import mobilenet as mb
from spaces._fast._ops import BN, FusedSupernet, mix, used_entries

ORDER = (0, 2, 4, 1, 3, 5)  # MBConv columns sorted by (expand ratio, kernel): equal project shapes adjacent
SKIP = mb.OPS.index(mb.SKIP)
N_OPS = len(mb.OPS)
ZERO_SLOT = mb.N_BLOCKS * N_OPS


def _relu6(x: torch.Tensor) -> torch.Tensor:
    return F.hardtanh(x, 0.0, 6.0)  # nn.ReLU6 is hardtanh(0, 6)


class _Block:
    """One searchable block: every option's weights, and their alive selection."""

    def __init__(self, options: list, c_in: int, c_out: int, stride: int) -> None:
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        self.residual = stride == 1 and c_in == c_out
        self.expand = {k: options[k][0].weight.detach()[:, :, 0, 0] for k in ORDER}
        self.expand_bn = {k: options[k][1] for k in ORDER}
        self.dw = {k: options[k][3].weight.detach() for k in ORDER}
        self.dw_bn = {k: options[k][4] for k in ORDER}
        self.project = {k: options[k][6].weight.detach()[:, :, 0, 0] for k in ORDER}
        self.project_bn = {k: options[k][7] for k in ORDER}

    def select(self, alive: list[bool]) -> list[int]:
        """Fuse the alive options; returns the Z rows' alpha columns (options in ORDER, then skip)."""
        ops = [k for k in ORDER if alive[k]]
        self.ops = ops
        self.mids = [self.expand[k].shape[0] for k in ops]
        self.w_exp = torch.cat([self.expand[k] for k in ops]) if ops else None
        self.bn_exp = BN.cat([self.expand_bn[k] for k in ops]) if ops else None
        self.bn_dw = BN.cat([self.dw_bn[k] for k in ops]) if ops else None
        self.bn_proj = BN.cat([self.project_bn[k] for k in ops]) if ops else None
        self.groups = []  # project matmuls: (number of options, stacked weights [n, c_out, mid])
        for k in ops:
            if self.groups and self.groups[-1][2] == self.mids[ops.index(k)]:
                n, ws, mid = self.groups[-1]
                self.groups[-1] = (n + 1, ws + [self.project[k]], mid)
            else:
                self.groups.append((1, [self.project[k]], self.mids[ops.index(k)]))
        self.groups = [(n, torch.stack(ws)) for n, ws, _ in self.groups]
        self.skip = bool(alive[SKIP])
        self.used = used_entries([[0] * (len(ops) + self.skip)], -1, self.dw[0].device)  # one row, all used
        return ops + ([SKIP] if self.skip else [])

    def forward(self, x: torch.Tensor, m: torch.Tensor, training: bool) -> torch.Tensor:
        n, _, h, w = x.shape
        s = self.stride
        ho, wo = (h + s - 1) // s, (w + s - 1) // s
        z = []
        if self.ops:
            e = torch.matmul(self.w_exp, x.view(n, self.c_in, h * w)).view(n, -1, h, w)
            e = F.hardtanh_(self.bn_exp(e, training), 0.0, 6.0)  # in place: BN's backward needs its input only
            parts = e.split(self.mids, 1) if len(self.ops) > 1 else (e,)
            d = [F.conv2d(p, self.dw[k], None, s, self.dw[k].shape[-1] // 2, 1, p.shape[1])
                 for p, k in zip(parts, self.ops)]
            d = F.hardtanh_(self.bn_dw(torch.cat(d, 1) if len(d) > 1 else d[0], training), 0.0, 6.0)
            blocks = d.split([nk * wk.shape[2] for nk, wk in self.groups], 1) if len(self.groups) > 1 else (d,)
            y = [torch.matmul(wk, b.reshape(n, nk, -1, ho * wo)) for b, (nk, wk) in zip(blocks, self.groups)]
            y = torch.cat(y, 1) if len(y) > 1 else y[0]  # [N, options, c_out, H'W']
            z.append(self.bn_proj(y.view(n, -1, ho, wo), training).view(n, len(self.ops), -1))
        if self.skip:
            z.append(x.reshape(n, 1, -1))
        z = torch.cat(z, 1) if len(z) > 1 else z[0]
        m = m.unsqueeze(0) if n == 1 else m.expand(n, -1, -1)  # expand's backward is a sum
        return mix(m, z, self.used, x.reshape(n, 1, -1) if self.residual else None).view(n, self.c_out, ho, wo)


class FastMobileNetSupernet(FusedSupernet):
    """Fused paper-mode `MobileNetSupernet` (see the module docstring); built by `fast_supernet(ref)`."""

    def __init__(self, ref: mb.MobileNetSupernet) -> None:
        super().__init__(ref)
        self.options, self.lay = ref.options, ref.lay
        stem, first = ref.stem, ref.first  # conv-BN-ReLU6; MBConv1: depthwise-BN-ReLU6-project-BN
        self.stem_w, self.stem_bn = stem[0].weight.detach(), BN.of(stem[1])
        self.first_dw, self.first_bn1 = first[0].weight.detach(), BN.of(first[1])
        self.first_pw, self.first_bn2 = first[3].weight.detach()[:, :, 0, 0], BN.of(first[4])
        self.blocks = [_Block(list(ops), *spec) for ops, spec in zip(ref.blocks, ref.lay.blocks)]
        fm = ref.feature_mix
        self.mix_w, self.mix_bn = fm[0].weight.detach()[:, :, 0, 0], BN.of(fm[1])
        self.fc_w, self.fc_b = ref.classifier.weight.detach(), ref.classifier.bias.detach()

    def _rebuild(self) -> None:
        alive = self.alive(mb.GROUP).tolist()
        index = []
        for b, block in enumerate(self.blocks):
            cols = block.select(alive[b])
            index.append([b * N_OPS + k for k in cols])
        self._index = torch.tensor([i for cols in index for i in cols], dtype=torch.long,
                                   device=self.alive(mb.GROUP).device)
        self._sizes = [len(cols) for cols in index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dirty:
            self._rebuild()
            self._dirty.clear()
        training = self.training
        m = self.mixing_weights(mb.GROUP).reshape(-1).index_select(0, self._index).split(self._sizes)
        x = _relu6(self.stem_bn(F.conv2d(x, self.stem_w, None, 2, 1), training))
        x = _relu6(self.first_bn1(F.conv2d(x, self.first_dw, None, 1, 1, 1, x.shape[1]), training))
        n, c, h, w = x.shape
        x = self.first_bn2(torch.matmul(self.first_pw, x.view(n, c, h * w)).view(n, -1, h, w), training)
        for block, mb_row in zip(self.blocks, m):
            x = block.forward(x, mb_row.view(1, -1), training)
        n, c, h, w = x.shape
        f = _relu6(self.mix_bn(torch.matmul(self.mix_w, x.view(n, c, h * w)).view(n, -1, h, w), training))
        return F.linear(f.mean(dim=(2, 3)), self.fc_w, self.fc_b)


def fast_supernet(ref: mb.MobileNetSupernet) -> FastMobileNetSupernet | None:
    """The fused net of a prepared paper-mode reference MobileNet supernet; None in `code_mode` (not fused)."""
    if ref.options.code_mode:
        return None
    return FastMobileNetSupernet(ref)
