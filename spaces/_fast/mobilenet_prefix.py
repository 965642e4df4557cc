"""MobileNet's exact fast net: the reference supernet's own modules, re-run only from the first changed block.

Each searchable block has its own alpha row, and between two scoring passes of a FreeDARTS search
only the alive masks change: alpha is fixed, the weights are fixed (unless re-initialised every step,
where the engine does not use this net) and the input is the same batch. A removal in block b
therefore leaves the input of every block up to b, and the autograd graph that made it, exactly as
the previous pass left them. This net keeps them (its backward retains the graph: `reuses_graph`)
and runs the stem and the blocks before the first changed row again only when something else changed
(the input, alpha, or the first pass). The backward still runs through every block: the gradient that
reaches an early block's alpha depends on every block after it.

Scores are the reference's bit for bit (tests/test_engine_prefix_reuse.py compares every step):

* the blocks run are the reference's `MobileNetSupernet.block` on the same module objects (no
  copied or fused weights), on inputs equal to the reference's;
* alpha's gradient reaches each row through exactly one mixing-weight tensor (the rows before the
  changed block through the one of the pass that made them, the others through this pass's), so each
  entry of `alpha.grad` is one product plus exact zeros: nothing is re-associated;
* the mixing weights are made from a copy of the mask, which pruning does not write into (the
  product saves its mask for a backward that may now run a pass later).

Train-mode BN updates the running statistics only of the blocks it runs; no search reads them (train
mode normalises with the batch's own). Binary-gate `code_mode` draws one path per block from the global
RNG every pass, so skipping a block would change the draws: `prefix_reuse_supernet` returns None for it.
"""

from __future__ import annotations

import torch

from spaces import mobilenet as mb
from spaces._supernet import Supernet


class PrefixReuseMobileNet(Supernet):
    """`MobileNetSupernet`'s logits and ZEROS scores, recomputing only the blocks a removal changed.
    Paper mode only: build it with `prefix_reuse_supernet`, which refuses `code_mode`.

    Shares the reference net's modules, alpha and alive masks (a `set_alive` on either is seen by both).
    `blocks_run` counts the searchable blocks the forwards ran (benchmarks, tests).
    """

    reuses_graph = True  # harness.zeros.score keeps the graph: the next pass backpropagates through its prefix

    def __init__(self, ref: mb.MobileNetSupernet) -> None:
        super().__init__(ref.alpha_transform)
        self.ref = ref
        self.alphas = ref.alphas
        self._group_shapes = dict(ref._group_shapes)
        for g in ref.groups:
            self.register_buffer(f"alive_{g}", ref.alive(g), persistent=False)  # the same tensor: one mask
        self.blocks_run = 0
        self._inputs: list[torch.Tensor] = []  # input of block b at [b]; the last: the head's input
        self._key: tuple | None = None  # what the cached inputs were computed from
        self._x: torch.Tensor | None = None
        self._alive: torch.Tensor | None = None
        self._weights = [p for name, p in ref.named_parameters() if not name.startswith("alphas.")]

    def _first_changed(self, x: torch.Tensor, alive: torch.Tensor) -> int:
        """The first block whose input the last pass did not compute from these values (0: rerun all)."""
        alpha = self.alphas[mb.GROUP]
        key = (x.dtype, x.device, x.shape, torch.is_grad_enabled(), self.ref.training, alpha._version,
               tuple(p._version for p in self._weights))
        if self._alive is None or key != self._key or not (x is self._x or torch.equal(x, self._x)):
            self._key, self._x = key, x
            return 0
        changed = torch.nonzero((alive != self._alive).any(dim=1)).flatten()
        return int(changed[0]) if len(changed) else mb.N_BLOCKS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ref = self.ref
        alive = ref.alive(mb.GROUP).clone()
        start = self._first_changed(x, alive)
        # Drop the graph of the blocks that run again before running them (peak memory: one graph).
        self._inputs = self._inputs[: start + 1] if start else [ref.first(ref.stem(x))]
        self._alive = alive
        w = ref.mixing_weights(mb.GROUP, alive)
        rows = alive.tolist()
        for b in range(start, mb.N_BLOCKS):
            self._inputs.append(ref.block(b, self._inputs[-1], w, rows[b]))
        self.blocks_run += mb.N_BLOCKS - start
        return ref.head(self._inputs[-1])


def prefix_reuse_supernet(ref: mb.MobileNetSupernet) -> PrefixReuseMobileNet | None:
    """The fast engine's exact net for a prepared reference net (None in `code_mode`)."""
    return None if ref.options.code_mode else PrefixReuseMobileNet(ref)
