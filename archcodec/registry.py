"""The one registry shape of the project: a dict by name, `get_x(name)` / `list_x()`, one error.

Spaces (`spaces.SPACES`), benchmarks (`benchmarks.BENCHMARKS`), methods (`harness.methods.METHODS`)
and proxies (`harness.proxies.PROXIES`) are each a plain `dict[str, Spec]` built by `build` (a
duplicate name fails at import) and read through `lookup` (an unknown name raises
`UnknownNameError`, which names the input, the valid names and the closest one):

    >>> lookup({"nasbench201": spec}, "search space", "nasbench210")
    UnknownNameError: unknown search space 'nasbench210' (did you mean 'nasbench201'?); valid: nasbench201

It lives here, beside the codecs, because spaces/ and benchmarks/ cannot import the harness;
`harness.errors.UnknownNameError` subclasses it and adds the `file:key` of a sweep file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Callable, TypeVar

T = TypeVar("T")


def unknown_name_message(kind: str, name: object, choices: Iterable[str]) -> str:
    """`unknown <kind> <name> (did you mean <close>?); valid: <sorted choices>`."""
    valid = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}"


class UnknownNameError(ValueError):
    """A name (space, benchmark, method, proxy, key, ...) is not one of the valid choices.

    Attributes: kind, name, choices (sorted), where (`file:dotted.key` or "").
    """

    def __init__(self, kind: str, name: object, choices: Iterable[str], where: str = "") -> None:
        self.kind = kind
        self.name = name
        self.choices = sorted(str(c) for c in choices)
        self.where = where
        message = unknown_name_message(kind, name, self.choices)
        super().__init__(f"{where}: {message}" if where else message)


def build(items: Iterable[T], kind: str, name_of: Callable[[T], str] = lambda item: item.name) -> dict[str, T]:
    """A registry dict by name; a name registered twice is a programming error, so fail at import."""
    registry: dict[str, T] = {}
    for item in items:
        name = name_of(item)
        if name in registry:
            raise ValueError(f"{kind} {name!r} is registered twice; pick another name")
        registry[name] = item
    return registry


def lookup(registry: Mapping[str, T], kind: str, name: str) -> T:
    """`registry[name]`, or `UnknownNameError` naming the valid names and the closest one."""
    try:
        return registry[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name (a YAML list where a name belongs)
        raise UnknownNameError(kind, name, registry) from None
