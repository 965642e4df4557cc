"""The restricted unpickler every benchmark loader uses: admitted objects load, anything else is one line."""

from __future__ import annotations

import builtins
import pickle

import numpy as np
import pytest

from benchmarks import _safe_pickle
from benchmarks.errors import ConversionError

SCALARS = _safe_pickle.numpy_globals(scalar_dtypes=("<i8", "<f8"))
ARRAYS = _safe_pickle.numpy_globals(array_dtypes=("<i8",))


def _write(tmp_path, obj, name="x.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def test_admitted_numpy_scalars_and_arrays_load_with_their_values(tmp_path):
    values = [np.int64(3), np.float64(93.25), "sep_conv_3x3", (1, [2.5])]
    assert _safe_pickle.load_file(_write(tmp_path, values), SCALARS, expected="e", fix="f") == values
    table = {"h": ({"module_adjacency": np.arange(6, dtype=np.int64).reshape(2, 3)}, {108: [{"a": 0.5}]})}
    out = _safe_pickle.load_file(_write(tmp_path, table), ARRAYS, expected="e", fix="f")
    assert out["h"][0]["module_adjacency"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert out["h"][1] == {108: [{"a": 0.5}]}
    fortran = np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3))
    assert _safe_pickle.load_file(_write(tmp_path, [fortran]), ARRAYS, expected="e", fix="f")[0].tolist() == fortran.tolist()


class _Evil:
    def __reduce__(self):
        return (builtins.exec, ("import sys; sys.exit('pwned')",))


@pytest.mark.parametrize("obj, allowed, named", [
    ([_Evil()], SCALARS, "builtins.exec"),
    ([np.int32(1)], SCALARS, "dtype 'i4' is not admitted"),
    ([np.array([1, "a"], dtype=object)], ARRAYS, "dtype 'O8' is not admitted"),
    ([np.arange(3, dtype=np.float32)], ARRAYS, "dtype 'f4' is not admitted"),
    ([np.arange(3, dtype=">i8")], ARRAYS, "not admitted"),
    ([np.int64(1)], ARRAYS, "numpy.core.multiarray.scalar|numpy._core.multiarray.scalar"),
])
def test_anything_outside_the_allowlist_is_refused_in_one_line(tmp_path, obj, allowed, named):
    path = _write(tmp_path, obj)
    with pytest.raises(ConversionError, match=named) as err:
        _safe_pickle.load_file(path, allowed, expected="a list of numbers", fix="download it again")
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "fix: download it again" in message


def test_missing_truncated_and_wrongly_shaped_files_are_one_line_each(tmp_path):
    with pytest.raises(ConversionError, match=r"no such file \(expected a list\); fix: get it"):
        _safe_pickle.load_file(tmp_path / "absent.pkl", SCALARS, expected="a list", fix="get it")
    good = pickle.dumps([np.float64(1.0)] * 50, protocol=4)
    (tmp_path / "cut.pkl").write_bytes(good[: len(good) // 2])
    with pytest.raises(ConversionError, match="cut.pkl: not a list .*; fix: get it"):
        _safe_pickle.load_file(tmp_path / "cut.pkl", SCALARS, expected="a list", fix="get it")
    (tmp_path / "junk.pkl").write_bytes(b"\x00\x01 not a pickle")
    with pytest.raises(ConversionError, match="junk.pkl: not a list"):
        _safe_pickle.load_file(tmp_path / "junk.pkl", SCALARS, expected="a list", fix="get it")

    def must_be_list(obj):
        if not isinstance(obj, list):
            raise ValueError(f"a {type(obj).__name__}, not a list")

    with pytest.raises(ConversionError, match="a dict, not a list"):
        _safe_pickle.load_file(_write(tmp_path, {"a": 1}), SCALARS, expected="a list", fix="get it", check=must_be_list)
