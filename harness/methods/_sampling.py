"""Shared pieces of the baseline methods: their result type and the space capabilities they need."""

from __future__ import annotations

from dataclasses import dataclass

from harness.freedarts import SearchResult


@dataclass(frozen=True)
class SampledResult(SearchResult):
    """A sampling method's result: `steps` holds one entry per scored architecture.

    Step i is the i-th sampled candidate (`alpha_arch` = its arch key, `pruned_score` = its proxy
    score, so the runner looks every candidate up and the trajectory table holds per-architecture
    scores and accuracies). `n_steps` is the number of architectures the method drew (not
    "pruning steps minus the unpruned state" as for FreeDARTS).
    """

    @property
    def n_steps(self) -> int:
        return len(self.steps)


def require(space, method: str, *capabilities: str) -> None:
    """Raise a one-line ValueError if `space` lacks a SpaceSpec capability `method` needs."""
    from spaces import SPACES

    missing = [c for c in capabilities if getattr(space, c, None) is None]
    if missing:
        ok = sorted(n for n, s in SPACES.items() if all(getattr(s, c, None) is not None for c in capabilities))
        raise ValueError(f"method {method!r} needs space {space.name!r} to provide {', '.join(missing)}; "
                         f"spaces that do: {', '.join(ok) or 'none'}; add it to the space's SpaceSpec")
