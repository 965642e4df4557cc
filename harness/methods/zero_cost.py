"""The `zero_cost` baseline (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS"):
sample N architectures, score each whole network at initialisation with a summing-up proxy
(`harness.proxies`: synflow by default, snip, grad_norm), keep the highest score.

    cell fields: proxy (default synflow), n_samples = N (default 1,000; >= the space size, e.g.
    15,625 on NB201, scores every architecture once)

The N genotypes are drawn uniformly *without replacement* from `random.Random(seed)`; each network
is built at initialisation from the seeded global torch RNG (so a cell is reproducible), moved to
the device and scored by the proxy on a copy. Ties keep the first sample. Trajectory: one row per
sample (step = sample index, alpha_arch = its arch key, score = its proxy score, plus its
benchmark accuracies); the row's `n_steps` = N and `score_passes` = N, `method_score` = the best
score. SynFlow ignores the batch's content (it uses an all-ones image of its shape), so
`variant: D` suffices; snip/grad_norm need `variant: labels`.
"""

from __future__ import annotations

import random
import time

import torch

from harness.data import DATASETS, Batch
from harness.freedarts import Step
from harness.methods._sampling import SampledResult, require
from harness.proxies import get_proxy


def sample_distinct(space, rng: random.Random, n: int) -> list:
    """n distinct uniformly random genotypes (every genotype, in order, if n covers the space)."""
    if space.all_genotypes is not None:
        every = space.all_genotypes()
        if n >= len(every):
            return every
    out, seen = [], set()
    while len(out) < n:
        g = space.sample_genotype(rng)
        key = space.arch_key(g)
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def run(cell, space, batch: Batch, device: torch.device):
    from harness.methods import MethodOutcome

    require(space, "zero_cost", "sample_genotype", "discrete_network")
    proxy = get_proxy(cell.proxy)
    if proxy.needs_labels and batch.labels is None:
        raise ValueError(f"proxy {proxy.name!r} needs a labelled batch but the cell's variant {cell.variant!r} "
                         "gives none; set variant: labels (synflow works with D)")
    info = DATASETS[cell.dataset]
    options = space.options(**cell.options)
    steps: list[Step] = []
    best_i, best = -1, float("-inf")
    genotypes = sample_distinct(space, random.Random(cell.seed), cell.n_samples)
    for i, genotype in enumerate(genotypes):
        t0 = time.perf_counter()
        net = space.discrete_network(genotype, info.num_classes, options).to(device)
        value = proxy.score(net, batch)
        key = space.arch_key(genotype)
        steps.append(Step(i, None, None, None, value, {}, {}, key, time.perf_counter() - t0))
        if value > best:
            best_i, best = i, value
    genotype = genotypes[best_i]
    result = SampledResult(genotype, space.arch_key(genotype), {}, {}, steps, score_passes=len(steps))
    return MethodOutcome(result, extra={"method_score": best})
