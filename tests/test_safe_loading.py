"""Item 10 of issue 10: no code runs from a data file.

Every loader of a pickled data file gets a crafted file whose payload would create a marker file
(through `os.system` or `builtins.eval`); the payload must not run and the error must be one line
naming the file. The benign format of each loader still loads (other test files cover it fully).
"""

from __future__ import annotations

import bz2
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import _safe_pickle
from benchmarks import nasbench101 as nb101
from benchmarks import nasbench201 as nb201
from benchmarks.errors import ConversionError
from harness import data
from harness.errors import DataFormatError

REPO = Path(__file__).resolve().parents[1]


class _SystemPayload:
    """Unpickling calls os.system(...) (pickled as GLOBAL posix.system)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalPayload:
    """Unpickling calls builtins.eval(...): what the old NB101 allow-list ('builtins') let through."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


PAYLOADS = {"os.system": _SystemPayload, "builtins.eval": _EvalPayload}


@pytest.fixture(params=sorted(PAYLOADS))
def payload(request, tmp_path):
    marker = tmp_path / f"PWNED-{request.param.replace('.', '-')}"
    return PAYLOADS[request.param](marker), marker


def _one_line(text: str) -> bool:
    return "\n" not in str(text).strip()


def test_payload_fixture_really_runs_under_plain_pickle(payload):
    """Guard: the crafted payloads do execute with `pickle.loads`, so the tests below mean something."""
    obj, marker = payload
    pickle.loads(pickle.dumps(obj))
    assert marker.exists()


def test_restricted_unpickler_admits_data_and_numpy_only(payload):
    obj, marker = payload
    with pytest.raises(_safe_pickle.UnsafePickleError, match="refusing to unpickle"):
        _safe_pickle.loads(pickle.dumps({"data": obj}))
    assert not marker.exists()
    plain = {"a": np.arange(3, dtype=np.uint8), "b": [1, 2.5, "x", b"y", None, (1, 2)], "c": np.float64(2.0)}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = _safe_pickle.loads(pickle.dumps(plain, protocol=protocol))
        assert back["b"] == plain["b"] and (back["a"] == plain["a"]).all() and back["c"] == 2.0


@pytest.mark.parametrize("dataset, rel, key", [
    ("cifar10", "cifar-10-batches-py/data_batch_1", b"data"),
    ("cifar100", "cifar-100-python/train", b"data"),
    ("imagenet16-120", "ImageNet16/train_data_batch_1", "data"),
])
def test_image_pickles_do_not_run_code(payload, tmp_path, dataset, rel, key):
    obj, marker = payload
    path = tmp_path / "root" / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({key: obj, b"labels": [0]}, protocol=2))
    data.clear_cache()
    with pytest.raises(DataFormatError) as err:
        data.load_images(dataset, tmp_path / "root")
    assert not marker.exists()
    assert _one_line(err.value) and str(path) in str(err.value) and "refusing to unpickle" in str(err.value)


def test_nb101_pickle_does_not_run_code(payload, tmp_path):
    obj, marker = payload
    src = tmp_path / "nasbench101"
    src.mkdir()
    (src / "nb101_dummy.pkl").write_bytes(pickle.dumps({"0" * 32: (obj, {108: []})}))
    with pytest.raises(ConversionError) as err:
        nb101.convert(src, tmp_path / "out")
    assert not marker.exists()
    assert _one_line(err.value) and "refusing to unpickle" in str(err.value)


def test_nb201_pth_does_not_run_code(payload, tmp_path):
    obj, marker = payload
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save({"meta_archs": [], "arch2infos": {0: obj}, "evaluated_indexes": []}, path)
    with pytest.raises(ConversionError) as err:
        nb201.convert(path, tmp_path / "out")
    assert not marker.exists()
    assert _one_line(err.value) and "refusing to load" in str(err.value) and str(path) in str(err.value)


def test_nats_archives_do_not_run_code(payload, tmp_path):
    obj, marker = payload
    single = tmp_path / "NATS-tss-v1_0-3ffb9-simple.pickle.pbz2"
    single.write_bytes(bz2.compress(pickle.dumps({"meta_archs": [], "arch2infos": {0: obj}})))
    fast = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    fast.mkdir()
    (fast / nb201.NATS_META).write_bytes(bz2.compress(pickle.dumps({"meta_archs": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]})))
    (fast / "000000.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({"200": obj})))
    for source in (single, fast):
        with pytest.raises(ConversionError) as err:
            nb201.convert(source, tmp_path / "out")
        assert _one_line(err.value) and "refusing to unpickle" in str(err.value)
    assert not marker.exists()


def test_sweep_with_a_crafted_pth_in_the_data_root_is_one_error_line(tmp_path):
    """The path a user takes: the sweep finds a file named like the official NB201 .pth and converts it."""
    marker = tmp_path / "PWNED"
    root = tmp_path / "data"
    root.mkdir()
    torch.save({"meta_archs": [_SystemPayload(marker)]}, root / "NAS-Bench-201-v1_1-096897.pth")
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\ngrid:\n  mode: [oneshot]\n")
    res = subprocess.run([sys.executable, "-m", "harness.sweep", str(sweep), "--results", str(tmp_path / "r")],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HARNESS_DATA": str(root), "HARNESS_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2, res.stderr
    assert not marker.exists()
    assert res.stderr.strip().count("\n") == 0 and "refusing to load" in res.stderr and "Traceback" not in res.stderr
