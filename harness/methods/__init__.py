"""Search methods a cell can run, behind one registry (the sweep's `method` field).

    METHODS["freedarts"]     FreeDARTS: ZEROS scores + iterative / one-shot pruning (the default)
    METHODS["random"]        one uniformly random architecture per seed (harness/methods/random.py)
    METHODS["zero_cost"]     Abdelfattah et al.: best of N sampled nets by a summing-up proxy (synflow)
    METHODS["zero_cost_pt"]  Xiang et al. (Zero-Cost-PT): perturbation of each edge's ops on the
                             supernet, proxy of the masked supernet (synflow), edge by edge
    METHODS["most_params"]   the sampled architecture with the most parameters (the bias baseline)

Method settings are the cell fields `proxy` (harness.proxies) and `n_samples`; a method's
`default_proxy` / `default_n_samples` fill them in `harness.config.resolve` (FreeDARTS: both null,
so existing FreeDARTS cells keep their cell_id).

Every method is a function `(cell, space, batch, device, *, engine) -> MethodOutcome`: it builds what it
needs (a supernet, discrete networks), searches, and returns a `freedarts.SearchResult` (genotype,
arch key, steps recorded as the cell's trajectory) plus its build time and method-specific row
values. `engine` is the run's ZEROS engine ("fast" or "reference", harness/engine.py): a method
with a fast path takes it when "fast" and must return the same result as with "reference"; a
method without one ignores it. The runner does the rest identically for every method: seeding, the input batch,
parameter count, benchmark lookups of the result and of every step, the row, failures.

Add a method: write `harness/methods/<name>.py` with such a function, register it in `METHODS`
below with its own settings' defaults, and it becomes a valid `method:` value in sweep files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archcodec import registry
from harness.methods import freedarts as _freedarts
from harness.methods import most_params as _most_params
from harness.methods import random as _random
from harness.methods import zero_cost as _zero_cost
from harness.methods import zero_cost_pt as _zero_cost_pt
from harness.methods._sampling import require


# The search settings that make the input batch (harness.data.search_batch): what a proxy-scoring
# baseline reads besides its proxy and n_samples.
BATCH_SETTINGS = ("variant", "batch_size", "augment", "normalization")


@dataclass(frozen=True)
class MethodOutcome:
    result: Any  # harness.freedarts.SearchResult
    build_s: float = 0.0  # construction outside the timed search (FreeDARTS: the supernet)
    extra: dict[str, Any] = field(default_factory=dict)  # more row values (columns of harness.store)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method. `reads`: the search settings of a cell (`harness.cell.SEARCH_SETTINGS`)
    its search depends on (None: all of them, as FreeDARTS); a setting it does not read must keep
    its default, checked at load (`resolve`), so a sweep never runs one search under several cell ids.
    `default_proxy` / `default_n_samples`: what `resolve` fills into unset `proxy` / `n_samples`
    (None: the method takes no such setting, and setting it is an error).
    `needs`: the `SpaceSpec` capabilities it calls (e.g. `sample_genotype`); `spaces`: the only
    spaces it supports (None = any space that has `needs`). `incompatibility` reads both.
    `check`: the method's own validation of a resolved cell's settings (raises ValueError naming the
    fix), run by `harness.config.resolve`, i.e. at load, not in a worker."""

    name: str
    run: Callable[..., MethodOutcome]
    description: str
    reads: tuple[str, ...] | None = None
    default_proxy: str | None = None
    default_n_samples: int | None = None
    needs: tuple[str, ...] = ()
    spaces: tuple[str, ...] | None = None
    check: Callable[[Any], None] | None = None

    @property
    def uses_batch(self) -> bool:
        """Whether its search reads the variant's input batch."""
        return self.reads is None or bool(set(self.reads) & set(BATCH_SETTINGS))

    def settings(self) -> tuple[str, ...]:
        """The method-setting cell fields it takes (the others must stay unset)."""
        return tuple(k for k, d in (("proxy", self.default_proxy), ("n_samples", self.default_n_samples)) if d is not None)


METHODS: dict[str, MethodSpec] = registry.build((
    MethodSpec("freedarts", _freedarts.run,
               "FreeDARTS: ZEROS |dL/dalpha * alpha| + iterative or one-shot pruning"),
    MethodSpec("random", _random.run, "one uniformly random architecture per seed",
               reads=(), default_n_samples=1, needs=("sample_genotype",), check=_random.check),
    MethodSpec("zero_cost", _zero_cost.run,
               "Abdelfattah et al.: best of N sampled networks by a summing-up proxy",
               reads=BATCH_SETTINGS, default_proxy="synflow", default_n_samples=1000,
               needs=("sample_genotype", "discrete_network")),
    MethodSpec("zero_cost_pt", _zero_cost_pt.run,
               "Zero-Cost-PT: per-edge op perturbation on the supernet, proxy-scored",
               reads=(*BATCH_SETTINGS, "alpha_scale"), default_proxy="synflow", default_n_samples=1,
               spaces=_zero_cost_pt.SUPPORTED_SPACES),
    MethodSpec("most_params", _most_params.run,
               "the sampled architecture with the most parameters (bias baseline)",
               reads=(), default_n_samples=1000, needs=("sample_genotype",)),
), "method")


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(METHODS)


def get_method(name: str) -> MethodSpec:
    """The spec registered as `name`; an unknown name raises `archcodec.registry.UnknownNameError`."""
    return registry.lookup(METHODS, "method", name)


def incompatibility(method: MethodSpec, space: Any) -> str | None:
    """Why `method` cannot run on `space` (a `spaces.SpaceSpec`), in one line; None when it can.

    The methods check the same at run time (a cell of an unsupported pair ends `failed` naming it);
    this lets tests and listings enumerate the supported pairs from the declarations.
    """
    if method.spaces is not None and space.name not in method.spaces:
        return f"method {method.name!r} supports spaces {', '.join(method.spaces)}, not {space.name!r}"
    try:
        require(space, method.name, *method.needs)
    except ValueError as exc:
        return str(exc)
    return None
