"""Search methods a cell can run, behind one registry (the sweep's `method` field).

    METHODS["freedarts"]   FreeDARTS: ZEROS scores + iterative / one-shot pruning (the default)

Every method is a function `(cell, space, batch, device) -> MethodOutcome`: it builds what it
needs (a supernet, discrete networks), searches, and returns a `freedarts.SearchResult` (genotype,
arch key, steps recorded as the cell's trajectory) plus its build time and method-specific row
values. The runner does the rest identically for every method: seeding, the input batch,
parameter count, benchmark lookups of the result and of every step, the row, failures.

Add a method: write `harness/methods/<name>.py` with such a function, register it in `METHODS`
below with its own settings' defaults, and it becomes a valid `method:` value in sweep files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.methods import freedarts as _freedarts


@dataclass(frozen=True)
class MethodOutcome:
    result: Any  # harness.freedarts.SearchResult
    build_s: float = 0.0  # construction outside the timed search (FreeDARTS: the supernet)
    extra: dict[str, Any] = field(default_factory=dict)  # more row values (columns of harness.store)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method. `uses_batch`: whether it needs the variant's input batch."""

    name: str
    run: Callable[..., MethodOutcome]
    description: str
    uses_batch: bool = True


METHODS: dict[str, MethodSpec] = {
    "freedarts": MethodSpec("freedarts", _freedarts.run,
                            "FreeDARTS: ZEROS |dL/dalpha * alpha| + iterative or one-shot pruning"),
}


def list_methods() -> list[str]:
    return sorted(METHODS)


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(list_methods())}") from None
