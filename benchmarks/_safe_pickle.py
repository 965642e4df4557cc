"""Unpickling data files without running code from them.

Data files are untrusted input: a pickle can name any importable callable (`os.system`,
`builtins.eval`, ...) and the standard unpickler calls it. The official files this project reads
(CIFAR-10/100 python batches, NB201's ImageNet16 batches, NASLib's NB101 `get_metrics_from_hash`
pickle, NATS-Bench `.pickle.pbz2` archives) hold only dicts, lists, tuples, strings, bytes,
numbers and numpy arrays, so `load` admits exactly the globals that rebuild those and nothing
else: no `builtins` callables, no `copyreg`, no classes of other packages.

    >>> with open("cifar-10-batches-py/data_batch_1", "rb") as fh:
    ...     batch = load(fh, encoding="latin1")     # dict of numpy arrays and lists
    >>> load(open("crafted.pkl", "rb"))             # names os.system -> UnsafePickleError, nothing runs

A refusal raises `UnsafePickleError` (an `pickle.UnpicklingError`) naming the global, so loaders
turn it into their own one-line format error.
"""

from __future__ import annotations

import collections
import io
import pickle
from typing import IO, Any

import numpy as np

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
ALLOWED: dict[tuple[str, str], Any] = {
    **_numpy_globals(),
    ("collections", "OrderedDict"): collections.OrderedDict,  # a dict; no code of its own
    ("_codecs", "encode"): _latin1_bytes,  # bytes under pickle protocols 0-2
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside `ALLOWED` (what an attack or a foreign file does)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        super().__init__(f"refusing to unpickle {module}.{name}: data files may hold only dicts, lists, tuples, "
                         "strings, bytes, numbers and numpy arrays")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(module, name) from None


def load(fh: IO[bytes], *, encoding: str = "ASCII") -> Any:
    """Unpickle `fh` admitting only plain data and numpy arrays (see the module docstring).

    Args:
        fh: a binary file object.
        encoding: how to decode Python 2 `str` objects (CIFAR batches need "latin1").

    Raises:
        UnsafePickleError: the file names a callable or class outside the allow-list.
        pickle.UnpicklingError, EOFError, ValueError, ...: the file is not a valid pickle.
    """
    return _RestrictedUnpickler(fh, encoding=encoding).load()


def loads(data: bytes, *, encoding: str = "ASCII") -> Any:
    """`load` from bytes."""
    return load(io.BytesIO(data), encoding=encoding)
