"""The FreeDARTS method: build the supernet, the |W| pass, then `harness.freedarts.search` (either engine)."""

from __future__ import annotations

import time

import torch

from harness import freedarts, zeros
from harness.data import DATASETS, Batch
from harness.engine import DEFAULT_ENGINE


def run(cell, space, batch: Batch, device: torch.device, *, engine: str = DEFAULT_ENGINE):
    from harness.methods import MethodOutcome

    info = DATASETS[cell.dataset]
    t0 = time.perf_counter()
    # Weights first, alpha last, from the seeded CPU RNG (as the authors' code); then move.
    net = space.build_supernet(cell.typed_options, num_classes=info.num_classes, input_size=info.input_size,
                               alpha_transform=cell.alpha_transform, alpha_scale=cell.alpha_scale)
    zeros.prepare(net, abs_weights=cell.abs_weights, abs_alpha=cell.abs_alpha, bn_mode=cell.bn_mode, dtype=cell.dtype)
    net.to(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    build_s = time.perf_counter() - t0
    settings = freedarts.SearchSettings(mode=cell.mode, tie_break=cell.tie_break, prune_pool=cell.prune_pool,
                                        reinit_weights_each_step=cell.reinit_weights_each_step,
                                        abs_weights=cell.abs_weights, seed=cell.seed,
                                        alpha_scale_ratio=cell.alpha_scale / space.alpha_scale_default(cell.typed_options))
    # The fast engine fuses the supernet inside `search`, so that cost is in the timed search.
    return MethodOutcome(freedarts.search(net, batch, space, settings, engine=engine), build_s=build_s)
