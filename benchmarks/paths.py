"""Where raw benchmark sources and converted tables live.

Two roots, each resolved in one place:

* `data_root()`: raw, possibly read-only sources (official benchmark files, CSV dumps, CIFAR
  images). `$HARNESS_DATA`, else the sweep config's `data_root`, else `~/.cache/freedarts/data`.
* `cache_root()`: converted tables the harness writes (`<cache>/<benchmark>/table.parquet` +
  `metadata.json`). `$HARNESS_CACHE`, else the sweep config's `cache_root`, else `~/.cache/freedarts`.

Neither function creates anything: importing or calling them does no I/O.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "HARNESS_DATA"
CACHE_ENV = "HARNESS_CACHE"
_DEFAULT_CACHE = Path("~/.cache/freedarts")


def _resolve(env_var: str, configured: str | os.PathLike | None, default: Path) -> Path:
    env = os.environ.get(env_var)
    chosen = env or configured
    return Path(chosen).expanduser().resolve() if chosen else default.expanduser()


def data_root(configured: str | os.PathLike | None = None) -> Path:
    """Root of raw data sources: $HARNESS_DATA, then `configured`, then ~/.cache/freedarts/data."""
    return _resolve(DATA_ENV, configured, _DEFAULT_CACHE / "data")


def cache_root(configured: str | os.PathLike | None = None) -> Path:
    """Root of converted tables: $HARNESS_CACHE, then `configured`, then ~/.cache/freedarts."""
    return _resolve(CACHE_ENV, configured, _DEFAULT_CACHE)
