"""Whole-space statistics the bias analysis compares searches against: parameter counts.

    >>> from harness.space_stats import param_distribution
    >>> dist = param_distribution("nasbench201", num_classes=10)   # DataFrame: arch, params_m
    >>> dist.params_m.median()

For a space that can enumerate itself (`SpaceSpec.all_genotypes`, NB201: 15,625 cells) the
distribution is exact: the space's own `param_count` of every genotype, i.e. the discrete network
is built for each. That takes minutes on a CPU, so the result is cached as a small Parquet file
under the cache root (`$HARNESS_CACHE/space_params/`), keyed by space, head and options; later
calls (and `python -m harness.report`) read it in milliseconds.

Only one head is built per genotype: the classifier is the same `Linear` for every genotype, so
the count for another `num_classes` is that count plus the head difference, which is measured on
one genotype with the space's `param_count` (not assumed).

Spaces that cannot be enumerated but can sample (`SpaceSpec.sample_genotype`) get `n_sample`
uniformly random genotypes (seeded) instead; the frame's `exact` attribute says which.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import time
from pathlib import Path

import pandas as pd

from benchmarks.paths import cache_root

log = logging.getLogger(__name__)

_REFERENCE_CLASSES = 10


def _cache_path(space_name: str, options: dict, exact: bool, n_sample: int) -> Path:
    blob = json.dumps({"options": options, "exact": exact, "n": None if exact else n_sample}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return cache_root() / "space_params" / f"{space_name}-{digest}.parquet"


def _reference_counts(space, options_obj, exact: bool, n_sample: int) -> pd.DataFrame:
    if exact:
        genotypes = space.all_genotypes()
    else:
        rng = random.Random(0)
        genotypes = [space.sample_genotype(rng) for _ in range(n_sample)]
    t0 = time.perf_counter()
    rows = [(space.arch_key(g), space.param_count(g, _REFERENCE_CLASSES, options_obj)) for g in genotypes]
    log.info("param counts of %d %s genotypes in %.1f s", len(rows), space.name, time.perf_counter() - t0)
    return pd.DataFrame(rows, columns=["arch", "params"])


def param_distribution(space_name: str, num_classes: int, options: dict | None = None,
                       n_sample: int = 2000) -> pd.DataFrame:
    """arch, params_m (M parameters with a `num_classes` head) over the space (or a uniform sample).

    Raises ValueError naming the space when it can neither enumerate nor sample genotypes.
    """
    from spaces import get_space  # torch only when needed

    space = get_space(space_name)
    options_obj = space.options(**(options or {}))
    opts = dataclasses.asdict(options_obj)
    exact = space.all_genotypes is not None
    if not exact and space.sample_genotype is None:
        raise ValueError(f"space {space_name!r} has neither all_genotypes nor sample_genotype; add one to its "
                         "SpaceSpec (spaces/__init__.py) to get its parameter distribution")
    path = _cache_path(space_name, opts, exact, n_sample)
    if path.exists():
        ref = pd.read_parquet(path)
    else:
        ref = _reference_counts(space, options_obj, exact, n_sample)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        ref.to_parquet(tmp, index=False)
        tmp.replace(path)
    g0 = space.parse_arch_key(ref["arch"].iloc[0])
    shift = space.param_count(g0, num_classes, options_obj) - space.param_count(g0, _REFERENCE_CLASSES, options_obj)
    out = pd.DataFrame({"arch": ref["arch"], "params_m": (ref["params"] + shift) / 1e6})
    out.attrs["exact"] = exact
    return out
