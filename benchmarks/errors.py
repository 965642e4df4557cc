"""Errors raised by benchmark converters and lookups.

Every message is one line that names the input (an arch key, a file, a table directory), what was
expected, and how to fix it. `harness.errors` re-exports these so callers catch one family.
"""

from __future__ import annotations


class BenchmarkError(Exception):
    """Base class of every benchmark error."""


class ArchNotInBenchmarkError(BenchmarkError, LookupError):
    """An architecture key has no row in a benchmark table."""

    def __init__(self, arch_key: str, table: str, hint: str = "") -> None:
        self.arch_key = arch_key
        self.table = table
        msg = f"architecture {arch_key!r} is not in the benchmark table {table}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)


class BenchmarkTableMissingError(BenchmarkError, FileNotFoundError):
    """No converted benchmark table where one was expected."""

    def __init__(self, benchmark: str, path: str, fix: str) -> None:
        self.benchmark = benchmark
        self.path = path
        super().__init__(f"no {benchmark} table at {path}; {fix}")


class ConversionError(BenchmarkError, ValueError):
    """A raw benchmark source could not be converted (wrong format, missing fields)."""
