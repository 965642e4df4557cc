"""What the model-backed DARTS tables share (`yahpo_nb301`, `nb301_distilled`): a lookup that asks the
model once per arch key and answers repeats from a cache.

A subclass (a `@dataclass(eq=False)` adding its model fields) implements `_predict_one(arch_key)`
-> the row's values; model calls go through `self._lock` (one inference session or booster per
table, shared by a worker's threads).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(eq=False)
class CachedSurrogate:
    """A table answered by a model: `lookup(arch_key)` -> a copy of the (cached) predicted values."""

    path: Path
    metadata: dict[str, Any]
    _cache: dict[str, dict[str, float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _predict_one(self, arch_key: str) -> dict[str, float]:
        raise NotImplementedError

    def lookup(self, arch_key: str) -> dict[str, float]:
        hit = self._cache.get(arch_key)
        if hit is None:
            hit = self._cache[arch_key] = self._predict_one(arch_key)
        return dict(hit)
