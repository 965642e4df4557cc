"""The `most_params` baseline: sample N architectures, keep the one with the most parameters.

    cell fields: n_samples = N (default 1,000; >= the space size, e.g. 15,625 on NB201, takes the
    whole space, i.e. the largest cell); no proxy, no input batch

The parameter-intensive bias taken to its end (paper §1: "selecting architectures according to
the number of parameters can achieve similar competitive performance as most existing
training-free NAS methods"): the bias analysis (harness/report/bias.py) compares every method's
picks with this one's. The N genotypes are the same as `zero_cost`'s for the same seed and N
(`zero_cost.sample_distinct` on `random.Random(seed)`), so the two are comparable cell by cell.
Each candidate's size is the space's own `param_count` (the discrete network with the search
dataset's head); ties keep the first sample. Trajectory: one row per sample (step = sample index,
alpha_arch = its arch key, score = its parameter count); `method_score` = the largest count.
"""

from __future__ import annotations

import random
import time

import torch

from harness.data import DATASETS, Batch
from harness.freedarts import Step
from harness.methods._sampling import SampledResult, require
from harness.methods.zero_cost import sample_distinct


def run(cell, space, batch: Batch, device: torch.device, engine=None):
    """`engine` is accepted for the common method signature and ignored: nothing here runs a supernet."""
    from harness.methods import MethodOutcome

    require(space, "most_params", "sample_genotype")
    num_classes = DATASETS[cell.dataset].num_classes
    options = cell.typed_options
    steps: list[Step] = []
    best_i, best = -1, -1
    genotypes = sample_distinct(space, random.Random(cell.seed), cell.n_samples)
    for i, genotype in enumerate(genotypes):
        t0 = time.perf_counter()
        params = int(space.param_count(genotype, num_classes, options))
        steps.append(Step(i, None, None, None, float(params), {}, {}, space.arch_key(genotype),
                          time.perf_counter() - t0))
        if params > best:
            best_i, best = i, params
    genotype = genotypes[best_i]
    result = SampledResult(genotype, space.arch_key(genotype), {}, {}, steps, score_passes=0)
    return MethodOutcome(result, extra={"method_score": float(best)})
