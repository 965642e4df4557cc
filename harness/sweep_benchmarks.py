"""Which benchmarks a sweep looks its cells up in, checked at load (`harness.config.parse`).

`benchmark:` names the primary one (or "none"); `extra_benchmarks:` more, each answering every found
architecture in its own columns. A name that is unknown, repeated, or does not answer one of the
sweep's spaces fails here with `file:key` and the fix, not in every worker.
"""

from __future__ import annotations

from typing import Any

from harness.cell import CellConfig
from harness.errors import ConfigError, UnknownNameError


def check_benchmark(benchmark: str, cells: list[CellConfig], where: str) -> None:
    """`benchmark:` checked: a registered name or "none", answering every space of the cells."""
    from benchmarks import list_benchmarks  # local: keeps `import harness.config` light

    if benchmark != "none" and benchmark not in list_benchmarks():
        raise UnknownNameError("benchmark", benchmark, [*list_benchmarks(), "none"], where)
    _check_answers(benchmark, cells, where, "set benchmark: to {} or none")


def _check_answers(benchmark: str, cells: list[CellConfig], where: str, fix: str) -> None:
    """A benchmark that does not answer one of the sweep's spaces fails at load: every lookup would fail."""
    from benchmarks import get_benchmark, list_benchmarks

    for space in sorted({c.space for c in cells}) if benchmark != "none" else ():
        if space not in get_benchmark(benchmark).spaces:
            fits = [b for b in list_benchmarks() if space in get_benchmark(b).spaces]
            raise ConfigError(where, f"benchmark {benchmark!r} does not answer space {space!r} (it answers "
                                     f"{', '.join(get_benchmark(benchmark).spaces)}); "
                              + fix.format(" or ".join(fits) or "another benchmark"))


def check_extra_benchmarks(value: Any, benchmark: str, cells: list[CellConfig], where: str) -> tuple[str, ...]:
    """`extra_benchmarks:` checked: known names, none twice, not the primary, each answering every space."""
    from benchmarks import list_benchmarks

    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where, f"extra_benchmarks is a list of benchmark names, got {value!r}")
    if value and benchmark == "none":
        raise ConfigError(where, "extra_benchmarks needs a primary benchmark; set benchmark: to one of them")
    for name in value:
        if name not in list_benchmarks():
            raise UnknownNameError("benchmark", name, list_benchmarks(), where)
        if name == benchmark or value.count(name) > 1:
            raise ConfigError(where, f"{name!r} is named twice (benchmark: and extra_benchmarks: together name "
                                     "each benchmark once); remove the repeat")
        _check_answers(name, cells, where, "remove it, or use {}")
    return tuple(value)
