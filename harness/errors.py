"""Domain errors of the harness.

Each error's message is one line that names the offending input, the valid choices and the fix,
so that a failed cell's `error` column and a CLI failure are both actionable:

    >>> raise UnknownNameError("variant", "DD", ["D", "labels", "random_labels"], where="sweeps/x.yaml:grid.variant")
    UnknownNameError: sweeps/x.yaml:grid.variant: unknown variant 'DD' (did you mean 'D'?); valid: D, labels, random_labels

Benchmark errors live in `benchmarks.errors` (benchmarks never import the harness) and are
re-exported here so callers can catch one family.
"""

from __future__ import annotations

from collections.abc import Iterable

from archcodec import registry
from benchmarks.errors import (  # noqa: F401  (re-exported)
    ArchNotInBenchmarkError,
    BenchmarkError,
    BenchmarkTableMissingError,
    ConversionError,
)


class HarnessError(Exception):
    """Base class of the harness's own errors."""


class ConfigError(HarnessError, ValueError):
    """A sweep file or config value is invalid. `where` is `file:dotted.key`."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(ConfigError, registry.UnknownNameError):
    """A name (key, space, variant, dataset, ...) in a sweep file is not one of the valid choices.

    The registries (`get_space`, `get_benchmark`, `get_method`, `get_proxy`) raise the base class,
    `archcodec.registry.UnknownNameError`; catch that one to catch both.
    """

    def __init__(self, kind: str, name: object, choices: Iterable[str], where: str = "") -> None:
        registry.UnknownNameError.__init__(self, kind, name, choices, where)


class DataNotFoundError(HarnessError, FileNotFoundError):
    """Input images for a dataset are missing; says where they were looked for and how to provide them."""

    def __init__(self, what: str, looked_in: Iterable[str], fix: str) -> None:
        self.what = what
        self.looked_in = [str(p) for p in looked_in]
        super().__init__(f"{what} not found; looked in: {', '.join(self.looked_in)}; {fix}")


class DataFormatError(HarnessError, ValueError):
    """A data file exists but cannot be read as the expected format."""


class NonFiniteScoreError(HarnessError, FloatingPointError):
    """ZEROS produced NaN or Inf scores; a cell with such scores never yields an architecture."""
