"""The `random` baseline: one uniformly random architecture of the space per cell (seeded).

No network is built and nothing is scored: the cell's seed draws one genotype with the space's
`sample_genotype(random.Random(seed))`. The paper's "Random baseline" row is this over many
seeds (sweeps/table2.yaml: 100). `n_samples` must be 1 (its default); `method_score` is null.
"""

from __future__ import annotations

import random
import time

import torch

from harness.data import Batch
from harness.engine import DEFAULT_ENGINE
from harness.freedarts import Step
from harness.methods._sampling import SampledResult, require


def check(cell) -> None:
    """At load (harness.config.resolve): `random` draws exactly one architecture per cell."""
    if cell.n_samples != 1:
        raise ValueError(f"method 'random' draws one architecture per cell, got n_samples={cell.n_samples}; "
                         "leave n_samples unset and add seeds instead")


def run(cell, space, batch: Batch, device: torch.device, *, engine: str = DEFAULT_ENGINE):
    """`engine` is accepted and ignored: nothing is scored."""
    from harness.methods import MethodOutcome

    require(space, "random", "sample_genotype")
    check(cell)
    t0 = time.perf_counter()
    genotype = space.sample_genotype(random.Random(cell.seed))
    key = space.arch_key(genotype)
    step = Step(0, None, None, None, None, {}, {}, key, time.perf_counter() - t0)
    return MethodOutcome(SampledResult(genotype, key, {}, {}, [step], score_passes=0))
