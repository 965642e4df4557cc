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


def data_root(configured: str | os.PathLike | None = None) -> Path:
    """Root of raw data sources: $HARNESS_DATA, then `configured`, then ~/.cache/freedarts/data."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if configured:
        return Path(configured).expanduser().resolve()
    return (_DEFAULT_CACHE / "data").expanduser()


def cache_root(configured: str | os.PathLike | None = None) -> Path:
    """Root of converted tables: $HARNESS_CACHE, then `configured`, then ~/.cache/freedarts."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if configured:
        return Path(configured).expanduser().resolve()
    return _DEFAULT_CACHE.expanduser()
