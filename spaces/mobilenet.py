"""MobileNet (ProxylessNAS) search space: 21 searchable blocks x 7 options, FreeDARTS at 224x224.

Backbone (FREEDARTS_SPEC §4.4, the authors' `super_proxyless.py`): stem conv3x3 stride 2 -> 40,
BN, ReLU6; a fixed 3x3 MBConv1 block -> 24; 21 searchable blocks in 6 stages of widths
(32, 56, 112, 128, 256, 432), repeats (4, 4, 4, 4, 4, 1), first-block strides (2, 2, 2, 1, 2, 1);
feature-mix conv1x1 -> 1728, BN, ReLU6; global average pool; Linear(1000). BN momentum 0.1,
eps 1e-3; `he_fout` init (conv ~ N(0, 2 / (k*k*out)), BN 1/0, Linear U(+-1/sqrt(in)), bias 0).
An MBConv (`MBE{e}-K{k}`) is conv1x1 expand (x e) + BN + ReLU6, depthwise kxk + BN + ReLU6,
conv1x1 project + BN; a block whose stride is 1 and in == out also adds the identity shortcut.

One alpha group `blocks [21, 7]`, columns in the authors' order plus skip:

    MBE3-K3, MBE6-K3, MBE3-K5, MBE6-K5, MBE3-K7, MBE6-K7, skip

Default (paper) mode, as spec §4.4 recommends: a softmax-free weighted MixedOp over the 7 options
(`w = alpha`, or softmax with `alpha_transform`), block output = shortcut(x) + sum_k w_k op_k(x)
with `skip` the identity op. Skip exists only where ProxylessNAS offers its Zero candidate
(stride 1 and in == out: 15 of the 21 blocks); in the 6 first blocks of a stage the skip entry is
dead in the alive mask from the start. FreeDARTS-D scores with one all-ones 1x3x224x224 image,
|W| and |alpha|, one-shot (per-block argmax of S) or iterative (one op per step, global pool,
141 -> 21 alive, 120 steps).

`code_mode=True` mimics the authors' released code instead (spec §4.4, §8 item 6): 6 ops (skip
commented out), ProxylessNAS binary gates (one path per block sampled from softmax(alpha) with the
global RNG; alpha gradient by the binary-gate estimator d/d alpha_i = sum_j g_j p_j (delta_ij - p_i)),
the `mul#log` FLOPs regulariser (the logits are scaled by 0.2 * (log E[FLOPs] / log 475e6)^0.3, so
the harness's sum-of-logits loss is the code's loss), and one Adam step on alpha (lr 1e-3, betas
(0, 0.999)) applied right after the backward, before S = |alpha * grad| is read. The code feeds
real ImageNet images (sweep: `variant: labels`, `abs_weights: false`); those are not available
here, so such cells fail with DataNotFoundError; with `variant: D` code mode runs on all-ones.
Deviation: with real labelled images the harness loss is cross-entropy on the scaled logits,
while the code summed the outputs and ignored the labels.

No benchmark exists for this space: `param_count` and `flops` build the found network.

    >>> from spaces import mobilenet as mb
    >>> g = mb.Genotype(("MBE6-K7",) * 21)
    >>> mb.param_count(g, 1000) / 1e6, mb.flops(g, 1000) / 1e6     # params, multiply-adds at 224x224
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from spaces._supernet import Supernet

NAME = "mobilenet"
GROUP = "blocks"
MBCONV_OPS: tuple[tuple[int, int], ...] = ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))  # (kernel, expand)
OPS: tuple[str, ...] = tuple(f"MBE{e}-K{k}" for k, e in MBCONV_OPS) + ("skip",)
SKIP = "skip"
N_BLOCKS = 21
INPUT_SIZE = 224
FLOPS_REF = 475e6  # ProxylessNAS mul#log reference
BN_MOMENTUM, BN_EPS = 0.1, 1e-3


@dataclass(frozen=True)
class MobileNetOptions:
    """Space options (`space_options:`).

    Attributes:
        width_mult: scales every width (1.0 = the paper's backbone; tests use a tiny one). Widths are
            rounded to a multiple of 8 (at least 8).
        code_mode: mimic the authors' code (6 ops, binary gates, FLOPs regulariser, Adam step).
    """

    width_mult: float = 1.0
    code_mode: bool = False

    def __post_init__(self) -> None:
        if not self.width_mult > 0:
            raise ValueError(f"width_mult must be > 0, got {self.width_mult}")


def _width(c: int, mult: float) -> int:
    return c if mult == 1.0 else max(8, int(round(c * mult / 8)) * 8)


@dataclass(frozen=True)
class Layout:
    stem: int
    first: int
    blocks: tuple[tuple[int, int, int], ...]  # (in, out, stride) per searchable block
    feature_mix: int

    def has_skip(self, b: int) -> bool:
        c_in, c_out, stride = self.blocks[b]
        return stride == 1 and c_in == c_out


@functools.lru_cache(maxsize=16)
def layout(width_mult: float = 1.0) -> Layout:
    blocks, c_in = [], _width(24, width_mult)
    for width, repeats, stride in zip((32, 56, 112, 128, 256, 432), (4, 4, 4, 4, 4, 1), (2, 2, 2, 1, 2, 1)):
        c_out = _width(width, width_mult)
        for i in range(repeats):
            blocks.append((c_in, c_out, stride if i == 0 else 1))
            c_in = c_out
    return Layout(_width(40, width_mult), _width(24, width_mult), tuple(blocks), _width(1728, width_mult))


def n_ops(options: MobileNetOptions) -> int:
    return len(OPS) - 1 if options.code_mode else len(OPS)


# -- genotype ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Genotype:
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        bad = [o for o in self.ops if o not in OPS]
        if len(self.ops) != N_BLOCKS or bad:
            raise ValueError(f"a MobileNet genotype is {N_BLOCKS} ops from {', '.join(OPS)}; got {len(self.ops)} "
                             f"ops{f', unknown {bad}' if bad else ''}")

    def __str__(self) -> str:
        return ",".join(self.ops)


def arch_key(genotype: Genotype) -> str:
    return str(genotype)


def parse_arch_key(key: str) -> Genotype:
    return Genotype(tuple(key.strip().split(",")))


def derive(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor]) -> Genotype:
    """Per block the alive op with the highest score, ties to the first index (spec §3.1)."""
    s = scores[GROUP].detach().to(torch.float64).clone()
    s[~alive[GROUP]] = float("-inf")
    return Genotype(tuple(OPS[int(k)] for k in torch.argmax(s, dim=1)))


# -- modules ----------------------------------------------------------------------------------------
def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=BN_MOMENTUM, eps=BN_EPS)


class MBConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        mid = round(c_in * expand)
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, mid, 1, bias=False), _bn(mid), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False), _bn(mid), nn.ReLU6(inplace=True),
                   nn.Conv2d(mid, c_out, 1, bias=False), _bn(c_out)]
        super().__init__(*layers)


def _make_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    if name == SKIP:
        return nn.Identity()
    k, e = MBCONV_OPS[OPS.index(name)]
    return MBConv(c_in, c_out, k, stride, e)


def mbconv_macs(c_in: int, c_out: int, kernel: int, expand: int, stride: int, size: int) -> int:
    """Multiply-adds of one MBConv on a size x size input."""
    mid, out = round(c_in * expand), math.ceil(size / stride)
    expand_macs = size * size * c_in * mid if expand != 1 else 0
    return expand_macs + out * out * mid * kernel * kernel + out * out * mid * c_out


def _he_fout(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.weight.size(1))
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


class _Backbone(nn.Module):
    def _build_ends(self, lay: Layout, num_classes: int) -> None:
        self.stem = nn.Sequential(nn.Conv2d(3, lay.stem, 3, 2, 1, bias=False), _bn(lay.stem), nn.ReLU6(inplace=True))
        self.first = MBConv(lay.stem, lay.first, 3, 1, 1)
        self.feature_mix = nn.Sequential(nn.Conv2d(lay.blocks[-1][1], lay.feature_mix, 1, bias=False),
                                         _bn(lay.feature_mix), nn.ReLU6(inplace=True))
        self.classifier = nn.Linear(lay.feature_mix, num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.feature_mix(x).mean(dim=(2, 3)))


class MobileNetSupernet(Supernet, _Backbone):
    """Every option in every block; `forward` returns the logits (code mode: FLOPs-scaled)."""

    def __init__(self, options: MobileNetOptions, num_classes: int, input_size: int,
                 alpha_transform: str, alpha_scale: float) -> None:
        Supernet.__init__(self, alpha_transform)
        self.options, self.lay = options, layout(options.width_mult)
        self._build_ends(self.lay, num_classes)
        ops = OPS[: n_ops(options)]
        self.blocks = nn.ModuleList(
            nn.ModuleList(_make_op(op, c_in, c_out, stride) if (op != SKIP or self.lay.has_skip(b)) else nn.Identity()
                          for op in ops)
            for b, (c_in, c_out, stride) in enumerate(self.lay.blocks))
        _he_fout(self)
        self._init_alphas({GROUP: (N_BLOCKS, len(ops))}, alpha_scale)  # last, as the authors' code
        if not options.code_mode:
            mask = torch.ones(N_BLOCKS, len(ops), dtype=torch.bool)
            for b in range(N_BLOCKS):
                mask[b, OPS.index(SKIP)] = self.lay.has_skip(b)
            self.set_alive(GROUP, mask)
        else:
            self._op_macs, self._fixed_macs = self._macs_table(input_size, num_classes)
            self.alphas[GROUP].register_post_accumulate_grad_hook(self._adam_step)

    # -- code mode ----------------------------------------------------------------------------------
    def _macs_table(self, size: int, num_classes: int) -> tuple[torch.Tensor, float]:
        lay, s = self.lay, math.ceil(size / 2)
        fixed = s * s * 3 * lay.stem * 9 + mbconv_macs(lay.stem, lay.first, 3, 1, 1, s)
        table = []
        for c_in, c_out, stride in lay.blocks:
            table.append([mbconv_macs(c_in, c_out, k, e, stride, s) for k, e in MBCONV_OPS])
            s = math.ceil(s / stride)
        fixed += s * s * lay.blocks[-1][1] * lay.feature_mix + lay.feature_mix * num_classes
        return torch.tensor(table, dtype=torch.float64), float(fixed)

    @torch.no_grad()
    def _adam_step(self, alpha: torch.Tensor) -> None:
        """First Adam step (lr 1e-3, betas (0, 0.999), eps 1e-8): alpha -= lr * g / (|g| + eps)."""
        g = alpha.grad
        alpha.sub_(1e-3 * g / (g.abs() + 1e-8))

    def _code_forward_block(self, b: int, x: torch.Tensor, probs: torch.Tensor, alive: list[bool]) -> torch.Tensor:
        ks = [k for k in range(len(alive)) if alive[k]]
        active = ks[int(torch.multinomial(probs[b, ks].detach().float(), 1))]
        # gate = one-hot(active) in value; its gradient reaches alpha through p (binary-gate estimator).
        gates = torch.zeros_like(probs[b])
        gates[active] = 1.0
        gates = gates + probs[b] - probs[b].detach()
        outs = {k: self.blocks[b][k](x) for k in ks}
        # value: the active op's output; gate gradient: <o_k, dL/dout>; x-gradient: active path only.
        out = outs[active] + sum(gates[k] * outs[k].detach() - gates[k].detach() * outs[k].detach() for k in ks)
        c_in, c_out, stride = self.lay.blocks[b]
        return out + x if (stride == 1 and c_in == c_out) else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alive = self.alive(GROUP).tolist()
        x = self.first(self.stem(x))
        if self.options.code_mode:
            probs = torch.softmax(self.alphas[GROUP].masked_fill(~self.alive(GROUP), float("-inf")), dim=-1)
            for b in range(N_BLOCKS):
                x = self._code_forward_block(b, x, probs, alive[b])
            expected = self._fixed_macs + (probs.to(torch.float64) * self._op_macs.to(probs.device)).sum()
            scale = 0.2 * (torch.log(expected) / math.log(FLOPS_REF)) ** 0.3
            return self.head(x) * scale.to(x.dtype)
        w = self.mixing_weights(GROUP)
        for b in range(N_BLOCKS):
            x = self.block(b, x, w, alive[b])
        return self.head(x)

    def block(self, b: int, x: torch.Tensor, w: torch.Tensor, alive_row: list[bool]) -> torch.Tensor:
        """Searchable block `b` (paper mode): shortcut(x) + sum over its alive options of w[b, k] * op_k(x)."""
        c_in, c_out, stride = self.lay.blocks[b]
        out = sum(op(x) * w[b, k] for k, op in enumerate(self.blocks[b]) if alive_row[k])
        return out + x if (stride == 1 and c_in == c_out) else out


def build_supernet(options: MobileNetOptions, num_classes: int, input_size: int, *,
                   alpha_transform: str = "raw", alpha_scale: float = 1e-3) -> MobileNetSupernet:
    if input_size < 32:
        raise ValueError(f"MobileNet input_size must be >= 32 (five stride-2 stages), got {input_size}")
    return MobileNetSupernet(options, num_classes, input_size, alpha_transform, alpha_scale)


class DiscreteNetwork(_Backbone):
    """The network of one genotype: MBConv blocks with residuals, skip blocks are identities."""

    def __init__(self, genotype: Genotype, num_classes: int, width_mult: float = 1.0) -> None:
        super().__init__()
        lay = layout(width_mult)
        no_skip = [b for b, o in enumerate(genotype.ops) if o == SKIP and not lay.has_skip(b)]
        if no_skip:
            raise ValueError(f"MobileNet genotype {genotype}: blocks {no_skip} change stride or width and cannot be skip")
        self._build_ends(lay, num_classes)
        self.blocks = nn.ModuleList(_make_op(op, c_in, c_out, stride)
                                    for op, (c_in, c_out, stride) in zip(genotype.ops, lay.blocks))
        self.residual = [op != SKIP and stride == 1 and c_in == c_out for op, (c_in, c_out, stride) in zip(genotype.ops, lay.blocks)]
        _he_fout(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for block, res in zip(self.blocks, self.residual):
            x = block(x) + x if res else block(x)
        return self.head(x)


@functools.lru_cache(maxsize=256)
def _counts(ops: tuple[str, ...], num_classes: int, width_mult: float) -> tuple[int, int]:
    net = DiscreteNetwork(Genotype(ops), num_classes, width_mult)
    macs = [0]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs[0] += output.numel() * k
        elif isinstance(module, nn.Linear):
            macs[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
    for h in handles:
        h.remove()
    return sum(p.numel() for p in net.parameters()), macs[0]


def param_count(genotype: Genotype, num_classes: int, options: MobileNetOptions = MobileNetOptions()) -> int:
    """Parameters of the found network (the paper's Table 7 'Params'), by building it."""
    return _counts(genotype.ops, num_classes, options.width_mult)[0]


def flops(genotype: Genotype, num_classes: int, options: MobileNetOptions = MobileNetOptions()) -> int:
    """Multiply-adds of the found network on one 224x224 image (forward hooks on convs and the Linear)."""
    return _counts(genotype.ops, num_classes, options.width_mult)[1]


def supernet_param_count(num_classes: int = 1000, options: MobileNetOptions = MobileNetOptions()) -> int:
    """Weights of the supernet (all options of all blocks; alpha excluded), by building it."""
    net = MobileNetSupernet(options, num_classes, INPUT_SIZE, "raw", 1e-3)
    return sum(p.numel() for n, p in net.named_parameters() if not n.startswith("alphas."))
