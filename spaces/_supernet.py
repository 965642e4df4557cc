"""The part every FreeDARTS supernet shares: named architecture-parameter groups and alive masks.

A space's supernet subclasses `Supernet`, builds its modules, then calls `_init_alphas` LAST, so
that (as in the authors' code) the weights are drawn from the seeded RNG first and alpha after
them. Each group is one `[rows, ops]` tensor (NB201: `cell [6, 5]`; DARTS: `normal`, `reduce`);
row = edge (or block), column = candidate op. The forward asks `mixing_weights(group)` for the
weights it multiplies each op's output by:

* `raw` (authors' code): w = alpha * alive, so a pruned op contributes exactly 0;
* `softmax` (paper text): w = softmax over the alive ops of each row (pruned ops get logit -inf).

alpha lives in `nn.ParameterDict` `self.alphas`, so it is part of `state_dict()` exactly as the NB201
code registers it (FreeDARTS-D's |W| pass then makes it positive unless `abs_alpha` is off, which
the harness handles). Alive masks are non-persistent buffers: they are state of the search, not
weights, and must never be abs'd or saved as weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

ALPHA_TRANSFORMS = ("raw", "softmax")


class Supernet(nn.Module):
    """Base class: architecture-parameter groups with alive masks and the alpha -> weight mapping."""

    def __init__(self, alpha_transform: str = "raw") -> None:
        super().__init__()
        if alpha_transform not in ALPHA_TRANSFORMS:
            raise ValueError(f"unknown alpha_transform {alpha_transform!r}; valid: {', '.join(ALPHA_TRANSFORMS)}")
        self.alpha_transform = alpha_transform
        self.alphas = nn.ParameterDict()
        self._group_shapes: dict[str, tuple[int, int]] = {}

    # -- construction -------------------------------------------------------------------------------
    def _init_alphas(self, shapes: Mapping[str, tuple[int, int]], scale: float) -> None:
        """alpha = scale * N(0, 1) per group, from the global (seeded) RNG, after the weights."""
        for name, shape in shapes.items():
            self.alphas[name] = nn.Parameter(scale * torch.randn(*shape))
            self.register_buffer(f"alive_{name}", torch.ones(*shape, dtype=torch.bool), persistent=False)
            self._group_shapes[name] = tuple(shape)

    # -- search state -------------------------------------------------------------------------------
    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._group_shapes)

    def alive(self, group: str) -> torch.Tensor:
        return getattr(self, f"alive_{group}")

    def alive_masks(self) -> dict[str, torch.Tensor]:
        return {g: self.alive(g).clone() for g in self.groups}

    def set_alive(self, group: str, mask: torch.Tensor) -> None:
        cur = self.alive(group)
        if mask.shape != cur.shape:
            raise ValueError(f"alive mask for group {group!r} has shape {tuple(mask.shape)}, expected {tuple(cur.shape)}")
        cur.copy_(mask.to(torch.bool))

    def weight_state_keys(self) -> list[str]:
        """state_dict keys that are not architecture parameters (what FreeDARTS-D makes positive)."""
        return [k for k in self.state_dict() if not k.startswith("alphas.")]

    # -- forward helpers ----------------------------------------------------------------------------
    def mixing_weights(self, group: str, alive: torch.Tensor | None = None) -> torch.Tensor:
        """[rows, ops] weights the forward multiplies op outputs by; pruned ops get exactly 0.

        `alive`: the mask to use instead of the group's live one (a net whose autograd graph outlives a
        removal passes a copy: the product saves the mask for the backward, and pruning writes into the live one).
        """
        alpha = self.alphas[group]
        alive = self.alive(group) if alive is None else alive
        if self.alpha_transform == "raw":
            return alpha * alive
        return torch.softmax(alpha.masked_fill(~alive, float("-inf")), dim=-1)
