"""Unpickling data files without running code from them (data files are untrusted input).

`pickle.load` calls whatever importable callable a file names (`os.system`, `builtins.eval`, ...).
Every pickle this project reads goes through one restricted unpickler that resolves a global only
through an explicit allow-list of `(module, name) -> object`; no builtins are reachable. Two entry
points share it:

* `load(fh, encoding=...)` / `loads(data)`: plain data. The official files read this way (CIFAR-10/100
  python batches, NB201's ImageNet16 batches, NATS-Bench `.pickle.pbz2` archives) hold only dicts,
  lists, tuples, strings, bytes, numbers and numpy arrays, so `DATA_GLOBALS` admits exactly what
  rebuilds those. A refusal raises `UnsafePickleError` (a `pickle.UnpicklingError`) naming the global.

      >>> with open("cifar-10-batches-py/data_batch_1", "rb") as fh:
      ...     batch = load(fh, encoding="latin1")     # dict of numpy arrays and lists
      >>> load(open("crafted.pkl", "rb"))             # names os.system -> UnsafePickleError, nothing runs

* `load_file(path, allowed, expected=..., fix=...)`: a converter's input with a stricter, per-file
  allow-list; `numpy_globals` builds entries that admit only the named numpy dtypes (no object
  arrays). Any failure (missing file, a global outside the list, corrupt bytes, wrong shape) raises
  `ConversionError` with one line naming the file, what was expected and the fix.

      >>> allowed = {**numpy_globals(scalar_dtypes=("<f8",))}
      >>> values = load_file(path, allowed, expected="a list of floats", fix="download the file again")
"""

from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from benchmarks.errors import ConversionError


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy's pickle entry points under every module path numpy 1.x and 2.x write."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core
    found = {
        "_reconstruct": core.multiarray._reconstruct,  # ndarray.__reduce__ (protocols 0-4)
        "scalar": core.multiarray.scalar,  # numpy scalars (np.float64(...))
        "_frombuffer": core.numeric._frombuffer,  # ndarray.__reduce_ex__ under protocol 5
    }
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = found["_reconstruct"]
        allowed[(f"{package}.multiarray", "scalar")] = found["scalar"]
        allowed[(f"{package}.numeric", "_frombuffer")] = found["_frombuffer"]
    return allowed


def _latin1_bytes(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """What `bytes` pickled under protocols 0-2 call (`_codecs.encode(text, "latin1")`), and nothing
    more: any other codec name is refused instead of reaching the codec registry."""
    if encoding != "latin1" or errors != "strict" or not isinstance(text, str):
        raise UnsafePickleError("_codecs", f"encode(..., {encoding!r})")
    return text.encode("latin1")


# (module, name) -> the object itself: resolved here, never through an import by name from the file.
DATA_GLOBALS: dict[tuple[str, str], Any] = {
    **_numpy_globals(),
    ("collections", "OrderedDict"): collections.OrderedDict,  # a dict; no code of its own
    ("_codecs", "encode"): _latin1_bytes,  # bytes under pickle protocols 0-2
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (what an attack or a foreign file does)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        super().__init__(f"refusing to unpickle {module}.{name}: data files may hold only dicts, lists, tuples, "
                         "strings, bytes, numbers and numpy arrays")


def load(fh: IO[bytes], *, encoding: str = "ASCII") -> Any:
    """Unpickle `fh` admitting only plain data and numpy arrays (see the module docstring).

    Args:
        fh: a binary file object.
        encoding: how to decode Python 2 `str` objects (CIFAR batches need "latin1").

    Raises:
        UnsafePickleError: the file names a callable or class outside the allow-list.
        pickle.UnpicklingError, EOFError, ValueError, ...: the file is not a valid pickle.
    """
    return _Restricted(fh, DATA_GLOBALS, encoding=encoding).load()


def loads(data: bytes, *, encoding: str = "ASCII") -> Any:
    """`load` from bytes."""
    return load(io.BytesIO(data), encoding=encoding)

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
    """Resolves globals only through `allowed`; anything else raises UnsafePickleError."""

    def __init__(self, fh: Any, allowed: Allowed, *, encoding: str = "ASCII") -> None:
        super().__init__(fh, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(module, name) from None


def load_file(path: Path, allowed: Allowed, *, expected: str, fix: str,
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
