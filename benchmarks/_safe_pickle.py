"""Restricted unpickling for the benchmark data files we read (they are untrusted input).

`pickle.load` calls whatever callables a file names. These loaders resolve a global only through an
explicit allowlist of `(module, name) -> constructor`, so a file can build lists, tuples, dicts,
strings, numbers and exactly the objects its loader admits, nothing else; no builtins are
reachable. The numpy constructors below check their arguments and admit only the dtypes a loader
names, so no object arrays and no numpy callables beyond building a numeric scalar or array.

    >>> allowed = {**numpy_globals(scalar_dtypes=("<f8",))}
    >>> values = load(path, allowed, expected="a list of floats", fix="download the file again")

Any failure (missing file, a global outside the allowlist, truncated or corrupt bytes) raises
`ConversionError` with one line naming the file, what was expected and the fix.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.errors import ConversionError

Allowed = Mapping[tuple[str, str], Any]
# numpy 1.x pickles name numpy.core.multiarray, numpy 2.x numpy._core.multiarray; both mean the same.
_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")


class _ArrayType:
    """Stands in for `numpy.ndarray` in a file: only `_reconstruct` accepts it; it cannot be called."""


_NDARRAY = _ArrayType()


def numpy_globals(*, scalar_dtypes: Iterable[str] = (), array_dtypes: Iterable[str] = ()) -> dict[tuple[str, str], Any]:
    """Allowlist entries that build numpy scalars / arrays of the given dtypes (e.g. "<i8", "<f8").

    A file's dtype is admitted only if `np.dtype(...)` of it equals one of these (byte order included,
    checked after numpy restores the dtype's state); anything else fails with the dtype named.
    """
    scalars = {np.dtype(d) for d in scalar_dtypes}
    arrays = {np.dtype(d) for d in array_dtypes}
    kinds = {d.str[1:] for d in scalars | arrays}

    def dtype(spec: object, align: object = False, copy: object = True) -> np.dtype:
        # numpy pickles a dtype as dtype("i8", False, True) then BUILD with its byte order.
        if not (isinstance(spec, str) and spec in kinds and align is False and copy is True):
            raise pickle.UnpicklingError(f"dtype {spec!r} is not admitted here (admitted: {sorted(kinds)})")
        return np.dtype(spec, False, True)  # a copy, as numpy's own unpickling makes: BUILD then sets its byte order

    def scalar(dt: object, data: object) -> np.generic:
        if not (isinstance(dt, np.dtype) and dt in scalars and isinstance(data, bytes) and len(data) == dt.itemsize):
            raise pickle.UnpicklingError(f"a numpy scalar of dtype {dt!r} is not admitted here "
                                         f"(admitted: {sorted(d.str for d in scalars)})")
        return np.frombuffer(data, dtype=dt)[0]

    def reconstruct(cls: object, shape: object, typecode: object) -> np.ndarray:
        if cls is not _NDARRAY or shape != (0,) or typecode != b"b":
            raise pickle.UnpicklingError("only plain numpy arrays are admitted here")
        return _CheckedArray(frozenset(arrays))

    out: dict[tuple[str, str], Any] = {("numpy", "dtype"): dtype}
    if scalars:
        out.update({(m, "scalar"): scalar for m in _MULTIARRAY})
    if arrays:
        out.update({(m, "_reconstruct"): reconstruct for m in _MULTIARRAY})
        out[("numpy", "ndarray")] = _NDARRAY
    return out


class _CheckedArray:
    """An array under construction: BUILD hands it numpy's ndarray state, whose dtype is checked first."""

    def __init__(self, admitted: frozenset) -> None:
        self.admitted = admitted

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], np.dtype)
                and state[2] in self.admitted and isinstance(state[4], bytes)):
            raise pickle.UnpicklingError("an array of a dtype or layout that is not admitted here")
        _, shape, dt, fortran, raw = state
        self.array = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C").copy()


def _unwrap(obj: Any) -> Any:
    """Replace every `_CheckedArray` with its array (BUILD cannot swap the object it is applied to)."""
    if isinstance(obj, _CheckedArray):
        if not hasattr(obj, "array"):
            raise pickle.UnpicklingError("an array without its data")
        return obj.array
    if isinstance(obj, list):
        return [_unwrap(x) for x in obj]
    if isinstance(obj, tuple) and type(obj) is tuple:
        return tuple(_unwrap(x) for x in obj)
    if isinstance(obj, dict):
        return {_unwrap(k): _unwrap(v) for k, v in obj.items()}
    return obj


class _Restricted(pickle.Unpickler):
    def __init__(self, fh: Any, allowed: Allowed) -> None:
        super().__init__(fh)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            admitted = ", ".join(sorted(f"{m}.{n}" for m, n in self._allowed)) or "none"
            raise pickle.UnpicklingError(f"it names {module}.{name}, which this loader does not admit "
                                         f"(admitted: {admitted})") from None


def load(path: Path, allowed: Allowed, *, expected: str, fix: str,
         check: Callable[[Any], None] | None = None) -> Any:
    """Unpickle `path` with only `allowed` globals; `check(obj)` may raise ValueError for a wrong shape.

    Raises:
        ConversionError: missing, unreadable, corrupt, disallowed or wrongly shaped; names the file and `fix`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file (expected {expected}); fix: {fix}")
    try:
        with path.open("rb") as fh:
            obj = _unwrap(_Restricted(fh, allowed).load())
        if check is not None:
            check(obj)
    # A corrupt pickle can fail inside any opcode handler (EOFError, struct.error, IndexError, ...);
    # every one of them means "not the expected file", so they share one message.
    except Exception as exc:  # noqa: BLE001
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConversionError(f"{path}: not {expected} ({type(exc).__name__}: {detail}); fix: {fix}") from None
    return obj
