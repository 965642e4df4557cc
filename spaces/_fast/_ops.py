"""Building blocks shared by the fused DARTS, NB1Shot1 and MobileNet supernets.

* `FusedSupernet`: the `Supernet` a fused net subclasses. It holds the reference net's alpha
  `Parameter`s themselves (so `fast.alphas[g] is ref.alphas[g]`), copies of its alive masks and its
  train/eval mode, and marks a group dirty when `set_alive` changes its mask; a subclass rebuilds
  the fused weights of dirty groups lazily, at the next forward (one rebuild per pruning step).
* `BN`: a batch norm applied functionally on concatenated channels. In train mode it uses batch
  statistics (each channel is normalised over N*H*W exactly as its own `nn.BatchNorm2d` does) and
  leaves running statistics alone (they never affect a train-mode forward); in eval mode it uses
  the concatenated running statistics of the modules it replaces.
* Kernel helpers: a k x k kernel centred in a zero K x K one, or a dilation-2 kernel written as a
  dense one with zeros between its taps, computes the same sums plus exact zeros (on this CPU the
  oneDNN dilated depthwise convolution is several times slower than the dense one it equals).

Nothing here draws from the global RNG and no tensor built here requires grad.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from spaces._supernet import Supernet


class FusedSupernet(Supernet):
    """Base of a fused supernet: the reference net's alphas, alive masks and mode; dirty tracking."""

    def __init__(self, ref: Supernet) -> None:
        super().__init__(ref.alpha_transform)
        for group in ref.groups:
            self.alphas[group] = ref.alphas[group]  # the same Parameter object: its .grad is the score's
            self.register_buffer(f"alive_{group}", ref.alive(group).detach().clone(), persistent=False)
            self._group_shapes[group] = tuple(ref._group_shapes[group])
        self.train(ref.training)
        self._dirty: set[str] = set(self.groups)

    def set_alive(self, group: str, mask: torch.Tensor) -> None:
        before = self.alive(group).clone()
        super().set_alive(group, mask)
        if not torch.equal(before, self.alive(group)):
            self._dirty.add(group)

    def train(self, mode: bool = True) -> FusedSupernet:
        if mode != getattr(self, "training", None):
            self._dirty = set(self._group_shapes)  # eval mode lays pooled rows out per edge (own BN stats)
        return super().train(mode)

    def _apply(self, fn, recurse: bool = True):
        # The fused weights are copies on the reference net's device and dtype: a no-op .to() is fine,
        # a real move or cast would leave them behind, so it is refused (before anything moves) with the fix.
        alpha = next(iter(self.alphas.values())).detach()
        probe = fn(alpha[:0])
        if (probe.device, probe.dtype) != (alpha.device, alpha.dtype):
            raise RuntimeError(
                f"a fused supernet holds copies of the reference weights on {alpha.device} in {alpha.dtype}; move or "
                "cast the reference net instead, then build a new fused net with fast_supernet(ref)")
        return super()._apply(fn, recurse)


def detached(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()


class BN:
    """Functional batch norm over concatenated channels (see the module docstring)."""

    def __init__(self, mean: torch.Tensor | None, var: torch.Tensor | None, eps: float,
                 weight: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> None:
        self.mean, self.var, self.eps, self.weight, self.bias = mean, var, eps, weight, bias

    @classmethod
    def of(cls, bn: nn.BatchNorm2d) -> BN:
        return cls(detached(bn.running_mean), detached(bn.running_var), bn.eps, detached(bn.weight), detached(bn.bias))

    @classmethod
    def cat(cls, bns: list[nn.BatchNorm2d]) -> BN:
        """The running statistics (and affine, if any) of several BNs with one eps, side by side."""
        eps = {bn.eps for bn in bns}
        if len(eps) > 1:
            raise ValueError(f"cannot fuse batch norms with different eps {sorted(eps)}")
        def cat(name):
            ts = [getattr(bn, name) for bn in bns]
            return None if any(t is None for t in ts) else torch.cat([t.detach() for t in ts])
        return cls(cat("running_mean"), cat("running_var"), eps.pop(), cat("weight"), cat("bias"))

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return F.batch_norm(x, self.mean, self.var, self.weight, self.bias, False, 0.0, self.eps)


def centred(w: torch.Tensor, size: int) -> torch.Tensor:
    """[..., k, k] kernel in the centre of a zero [..., size, size] one (same output with padding (size-1)/2)."""
    k = w.shape[-1]
    if k == size:
        return w
    off = (size - k) // 2
    out = w.new_zeros(*w.shape[:-2], size, size)
    out[..., off:off + k, off:off + k] = w
    return out


def undilated(w: torch.Tensor, dilation: int) -> torch.Tensor:
    """A dilated [..., k, k] kernel as the dense [..., d(k-1)+1, ...] one with zeros between its taps."""
    if dilation == 1:
        return w
    k = w.shape[-1]
    size = dilation * (k - 1) + 1
    out = w.new_zeros(*w.shape[:-2], size, size)
    out[..., ::dilation, ::dilation] = w
    return out


# Cost of one depthwise conv call (forward or backward) on this CPU at 1 thread, measured: a fixed
# ~0.25 ms (PyTorch's oneDNN wrapper, whatever the size) plus ~4 GMAC/s. Only speed depends on it.
DW_CALL_S, DW_MAC_S = 2.5e-4, 1 / 4e9


def depthwise_groups(sizes: list[int], channels: int, pixels: int) -> list[int]:
    """Split depthwise convs (kernel sizes ascending, `channels` each) into consecutive calls.

    Each call runs its convs at its largest kernel size (smaller kernels centred in zeros): one call
    saves a fixed cost, a larger kernel costs multiply-adds. Returns the number of convs per call,
    the cheapest under the (DW_CALL_S, DW_MAC_S) model; only speed depends on the choice.
    """
    if not sizes:
        return []
    distinct = sorted(set(sizes))
    counts = [sizes.count(s) for s in distinct]
    best, best_cost = None, float("inf")
    for cuts in itertools.product((False, True), repeat=len(distinct) - 1):  # cut after size i?
        groups, cost, start = [], 0.0, 0
        for i in range(len(distinct)):
            if i == len(distinct) - 1 or cuts[i]:
                n = sum(counts[start:i + 1])
                groups.append(n)
                cost += DW_CALL_S + n * channels * distinct[i] ** 2 * pixels * DW_MAC_S
                start = i + 1
        if cost < best_cost:
            best, best_cost = groups, cost
    return best


class _Mix(torch.autograd.Function):
    """out = base + m @ z (batched); m's gradient (alpha's) computed as the reference computes alpha's.

    The reference scales each op output by an alpha scalar, so alpha's gradient is `(g * out).sum()`:
    a product, then torch's cascade sum over D = C*H*W (1e4-1e5) terms. A gemm sums the same terms in
    another order. In float32 some scores cancel so much that the order decides them: MobileNet's
    block-0 scores carry ~10% error in the reference itself (against float64), and with a gemm
    (float32 or float64) seed 0's one-shot block 0 flipped, while products + torch.sum matched the
    reference on seeds 0-4 (measured). So in float32 m's gradient is (g_row * z_row).sum(-1) for the
    entries of m that can be non-zero (`used`); in float64 a gemm (already ~1e-16 per product)."""

    @staticmethod
    def forward(ctx, base, m, z, first, cols, extra_rows, extra_cols):
        ctx.save_for_backward(m, z, first, cols, extra_rows, extra_cols)
        ctx.has_base = base is not None
        return torch.baddbmm(base, m, z) if base is not None else torch.bmm(m, z)

    @staticmethod
    def backward(ctx, g):
        m, z, first, cols, extra_rows, extra_cols = ctx.saved_tensors
        grad_z = torch.bmm(m.transpose(1, 2), g) if ctx.needs_input_grad[2] else None
        grad_m = None
        if ctx.needs_input_grad[1] and z.dtype == torch.float64:
            grad_m = torch.bmm(g, z.transpose(1, 2))
        elif ctx.needs_input_grad[1]:
            grad_m = g.new_zeros(m.shape)
            gf = g if g.shape[1] == 1 else g.index_select(1, first)  # one row: broadcast, no copy
            grad_m[:, first, cols] = (gf * z).sum(-1)
            if len(extra_rows):
                ge, ze = g.index_select(1, extra_rows), z.index_select(1, extra_cols)
                grad_m[:, extra_rows, extra_cols] = (ge * ze).sum(-1)
        return (g if ctx.has_base else None), grad_m, grad_z, None, None, None, None


def mix(m: torch.Tensor, z: torch.Tensor, used: tuple, base: torch.Tensor | None = None) -> torch.Tensor:
    """[N, t, D] = base + m @ z for m [N, t, k] (often an expanded view of alpha-derived weights) and z [N, k, D].

    `used` (from `used_entries`) names the entries of m that can be non-zero: only their gradients are
    computed (the others are structural zeros whose gradient lands on a constant)."""
    return _Mix.apply(base, m, z, *used)


def used_entries(index: list[list[int]], zero: int, device) -> tuple[torch.Tensor, ...]:
    """For a [t, k] gather-index matrix (`zero`: the index of a constant 0): per column one row whose entry is
    used (row 0 if none is) and the columns 0..k-1, then the (rows, cols) of the other used entries."""
    t, k = len(index), len(index[0]) if index else 0
    first, extra = [], []
    for col in range(k):
        rows = [r for r in range(t) if index[r][col] != zero]
        first.append(rows[0] if rows else 0)
        extra += [(r, col) for r in rows[1:]]

    def as_long(v: list[int]) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.long, device=device)

    return as_long(first), as_long(list(range(k))), as_long([r for r, _ in extra]), as_long([c for _, c in extra])
