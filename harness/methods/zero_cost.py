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

Engines (the run's `--engine`): "reference" builds each network and scores a deep copy of it, as
above. "fast" finds the same architecture: the network is built only to be scored, so the proxy
works on it without a copy (same arithmetic, same score); and for synflow on a space with a
functional discrete network (NB201, spaces/_fast/nasbench201.py) no modules are built at all: the
same weights are drawn by the same init code in the same order, and the score comes from the
layer outputs (`harness.proxies.synflow_from_outputs`, no weight gradients; equal to the
reference's up to float64 summation order).
"""

from __future__ import annotations

import random
import time

import torch

from harness.data import DATASETS, Batch
from harness.engine import DEFAULT_ENGINE, check_engine
from harness.freedarts import Step
from harness.methods._sampling import SampledResult, require
from harness.proxies import get_proxy, synflow_from_outputs
from spaces._fast import nasbench201_discrete as _discrete_nb201

# Spaces whose discrete network has a functional twin: (params drawn as its modules would, BN-free forward).
_FUNCTIONAL = {"nasbench201": (_discrete_nb201.discrete_params, _discrete_nb201.discrete_forward_no_bn)}


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


def run(cell, space, batch: Batch, device: torch.device, *, engine: str = DEFAULT_ENGINE):
    from harness.methods import MethodOutcome

    check_engine(engine)
    require(space, "zero_cost", "sample_genotype", "discrete_network")
    proxy = get_proxy(cell.proxy)
    if proxy.needs_labels and batch.labels is None:
        raise ValueError(f"proxy {proxy.name!r} needs a labelled batch but the cell's variant {cell.variant!r} "
                         "gives none; set variant: labels (synflow works with D)")
    info = DATASETS[cell.dataset]
    options = cell.typed_options
    steps: list[Step] = []
    best_i, best = -1, float("-inf")
    genotypes = sample_distinct(space, random.Random(cell.seed), cell.n_samples)
    functional = _FUNCTIONAL.get(space.name) if engine == "fast" and proxy.name == "synflow" else None
    for i, genotype in enumerate(genotypes):
        t0 = time.perf_counter()
        if functional is not None:
            value = _functional_synflow(functional, genotype, info.num_classes, options, batch, device)
        else:
            net = space.discrete_network(genotype, info.num_classes, options).to(device)
            value = proxy.score(net, batch, copy=engine == "reference")
        key = space.arch_key(genotype)
        steps.append(Step(i, None, None, None, value, {}, {}, key, time.perf_counter() - t0))
        if value > best:
            best_i, best = i, value
    genotype = genotypes[best_i]
    result = SampledResult(genotype, space.arch_key(genotype), {}, {}, steps, score_passes=len(steps))
    return MethodOutcome(result, extra={"method_score": best})


def _functional_synflow(functional, genotype, num_classes: int, options, batch: Batch, device: torch.device) -> float:
    """SynFlow of the network `space.discrete_network` would build (same RNG draws), without modules."""
    draw, forward = functional
    # As `synflow`: float64 (converted from the float32 draws), every parameter made positive.
    params = [p.to(device=device, dtype=torch.float64).abs_() for p in draw(genotype, num_classes, options)]
    return synflow_from_outputs(lambda x, outputs: forward(genotype, params, x, options, outputs), batch)
