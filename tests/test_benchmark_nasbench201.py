"""NAS-Bench-201 benchmark: conversion through the REAL official APIs, lookups, the real CSV, error paths.

The official-format fixtures are built here from plain Python in the documented state-dict schema
(shared/BENCHMARK_APIS.md §2) and read back by `nas_201_api` / `nats_bench` themselves, so a change
in how we call those APIs shows up as a wrong number, not as a silently skipped test.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from nats_bench import pickle_save

from benchmarks import BENCHMARKS, get_benchmark, list_benchmarks
from benchmarks import __main__ as cli
from benchmarks import nasbench201 as nb201
from benchmarks.errors import ArchNotInBenchmarkError, BenchmarkTableMissingError, ConversionError
from benchmarks.paths import cache_root

OPTIMUM = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ARCHS = (  # meta_archs of the fixtures; the last one is listed but never evaluated
    ALL_SKIP,
    OPTIMUM,
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
)
EVALUATED = (0, 1, 2, 3)
SEEDS = (777, 888)
EVAL_SETS = {  # dataset -> eval sets the official files hold
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
SOURCE_OF = {  # column -> (NB201 dataset, eval set) it must come from (FREEDARTS_SPEC §5.1)
    "cifar10_test_acc": ("cifar10", "ori-test"),
    "cifar100_test_acc": ("cifar100", "x-test"),
    "imagenet16_test_acc": ("ImageNet16-120", "x-test"),
    "cifar10_valid_acc": ("cifar10-valid", "x-valid"),
    "cifar100_valid_acc": ("cifar100", "x-valid"),
    "imagenet16_valid_acc": ("ImageNet16-120", "x-valid"),
}


def expected(index: int) -> dict[str, float]:
    """Distinct known 200-epoch means per arch and column."""
    return {col: 40.0 + 9.0 * index + 1.25 * k for k, col in enumerate(SOURCE_OF)}


# -- official-format fixture builders (schema: shared/BENCHMARK_APIS.md §2) ------------------------------


def _eval_value(index: int, dataset: str, eval_set: str, full: bool) -> float:
    if not full:
        return 11.0  # the 12-epoch ('less') results: a converter reading hp='12' would return these
    for col, src in SOURCE_OF.items():
        if src == (dataset, eval_set):
            return expected(index)[col]
    return 3.0  # splits the table does not use (e.g. cifar100 ori-test)


def _results_count(index: int, dataset: str, seed: int, epochs: int, full: bool) -> dict:
    sign = -1.0 if seed == SEEDS[0] else 1.0  # per-seed values differ; their mean is the expected value
    accs, losses, times = {}, {}, {}
    for eval_set in EVAL_SETS[dataset]:
        final = _eval_value(index, dataset, eval_set, full) + 0.5 * sign
        for e in range(epochs):
            key = f"{eval_set}@{e}"
            accs[key] = final if e == epochs - 1 else 1.0  # only the last epoch is the reported value
            losses[key], times[key] = 1.0, 0.1
    return {
        "name": dataset, "net_state_dict": None,
        "train_acc1es": {e: 50.0 for e in range(epochs)}, "train_acc5es": None,
        "train_losses": {e: 1.0 for e in range(epochs)}, "train_times": {e: 1.0 for e in range(epochs)},
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": ARCHS[index], "class_num": 10},
        "params": 0.5, "flop": 50.0, "seed": seed, "epochs": epochs, "latency": [0.01],
        "eval_names": list(EVAL_SETS[dataset]), "eval_acc1es": accs, "eval_losses": losses, "eval_times": times,
    }


def _arch_results(index: int, full: bool) -> dict:
    epochs = 200 if full else 12
    return {
        "arch_index": index, "arch_str": ARCHS[index], "clear_net_done": True,
        "dataset_seed": {d: list(SEEDS) for d in EVAL_SETS},
        "all_results": {(d, s): _results_count(index, d, s, epochs, full) for d in EVAL_SETS for s in SEEDS},
    }


def _nb201_state() -> dict:
    return {
        "meta_archs": list(ARCHS),
        "arch2infos": {i: {"less": _arch_results(i, False), "full": _arch_results(i, True)} for i in EVALUATED},
        "evaluated_indexes": list(EVALUATED),
    }


def _nats_infos(index: int) -> dict:
    return {"12": _arch_results(index, False), "200": _arch_results(index, True)}


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nb201-fixtures")


@pytest.fixture(scope="module")
def nb201_pth(fixture_dir) -> Path:
    path = fixture_dir / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(_nb201_state(), path)
    return path


@pytest.fixture(scope="module")
def nats_file(fixture_dir) -> Path:
    stem = fixture_dir / "NATS-tss-v1_0-3ffb9-simple.pickle"
    pickle_save({"meta_archs": list(ARCHS), "arch2infos": {i: _nats_infos(i) for i in EVALUATED},
                 "evaluated_indexes": list(EVALUATED)}, stem)  # writes <stem>.pbz2
    return fixture_dir / "NATS-tss-v1_0-3ffb9-simple.pickle.pbz2"


@pytest.fixture(scope="module")
def nats_dir(fixture_dir) -> Path:
    directory = fixture_dir / "NATS-tss-v1_0-3ffb9-simple"
    directory.mkdir()
    pickle_save({"meta_archs": list(ARCHS)}, directory / "meta.pickle")
    for i in EVALUATED:
        pickle_save(_nats_infos(i), directory / f"{i:06d}.pickle")
    return directory


@pytest.fixture(scope="module")
def csv_table(data_root, tmp_path_factory) -> nb201.NB201Table:
    out = nb201.convert(data_root / "nasbench201" / "nats_bench.csv", tmp_path_factory.mktemp("csv") / "nb201")
    return nb201.open_table(out)


def _check_fixture_table(table: nb201.NB201Table, *, valid_columns: bool = True) -> None:
    assert len(table) == len(EVALUATED)
    assert table.arch_keys() == tuple(ARCHS[i] for i in EVALUATED)
    assert table.metrics == (nb201.METRIC_NAMES if valid_columns else nb201.METRIC_NAMES[:3])
    for i in EVALUATED:
        got = table.lookup(ARCHS[i])
        assert got.keys() == set(table.metrics)
        for col in table.metrics:
            assert got[col] == pytest.approx(expected(i)[col], abs=1e-9), (ARCHS[i], col)
    assert ARCHS[4] not in table


# -- conversion through the real official APIs ------------------------------------------------------------


def test_nb201_pth_through_real_api(nb201_pth, tmp_path):
    out = nb201.convert(nb201_pth, tmp_path / "t")
    table = nb201.open_table(out)
    _check_fixture_table(table)
    meta = table.metadata
    assert meta["source"]["kind"] == nb201.KIND_NB201_PTH
    assert meta["api"] == {"package": "nas-bench-201", "version": "2.1"}
    assert meta["n_archs"] == 4 and meta["hp"] == "200"
    assert "ori-test" in meta["metrics"]["cifar10_test_acc"] and "200-epoch" in meta["metrics"]["cifar10_test_acc"]
    assert "ICLR 2020" in meta["citation"] and "TPAMI 2021" in meta["citation"]
    assert "unique_str" not in pq.read_table(out / nb201.TABLE_FILE).column_names


def test_nb201_pth_with_numpy_values_loads_through_the_allow_list(fixture_dir, tmp_path, caplog):
    path = fixture_dir / "NAS-Bench-201-v1_0-e61699.pth"
    # numpy scalars and arrays fail torch's default weights-only load; the NB201 allow-list admits them.
    torch.save({**_nb201_state(), "note": np.float64(1.0), "arr": np.arange(3.0)}, path)
    with caplog.at_level(logging.WARNING, logger="benchmarks.nasbench201"):
        table = nb201.open_table(nb201.convert(path, tmp_path / "t"))
    _check_fixture_table(table)
    assert "weights_only" not in caplog.text  # never the unrestricted load


@pytest.mark.parametrize("which", ["file", "fast_dir"])
def test_nats_tss_through_real_api(which, nats_file, nats_dir, tmp_path, csv_table):
    source = nats_file if which == "file" else nats_dir
    out = nb201.convert(source, tmp_path / "t")
    table = nb201.open_table(out)
    _check_fixture_table(table)
    meta = table.metadata
    assert meta["source"]["kind"] == (nb201.KIND_NATS_FILE if which == "file" else nb201.KIND_NATS_DIR)
    assert meta["source"]["sha256_of"] == (source.name if which == "file" else nb201.NATS_META)
    assert meta["api"] == {"package": "nats-bench", "version": "1.8"}
    unique = pq.read_table(out / nb201.TABLE_FILE).to_pydict()
    # the API's isomorphism string must agree with the CSV's UniqueString for the same cells
    csv_unique = dict(zip(*pq.read_table(csv_table.path / nb201.TABLE_FILE, columns=["arch", "unique_str"])
                          .to_pydict().values()))
    assert unique["unique_str"] == [csv_unique[a] for a in unique["arch"]]


def test_partially_missing_values_are_left_out_of_lookups(tmp_path, caplog):
    infos = {i: _nats_infos(i) for i in EVALUATED}
    full = infos[3]["200"]  # arch 3 was never trained on cifar10-valid for 200 epochs
    del full["dataset_seed"]["cifar10-valid"]
    full["all_results"] = {k: v for k, v in full["all_results"].items() if k[0] != "cifar10-valid"}
    pickle_save({"meta_archs": list(ARCHS), "arch2infos": infos, "evaluated_indexes": list(EVALUATED)},
                tmp_path / "partial.pickle")
    with caplog.at_level(logging.WARNING, logger="benchmarks.nasbench201"):
        table = nb201.open_table(nb201.convert(tmp_path / "partial.pickle.pbz2", tmp_path / "t"))
    assert "lacks cifar10_valid_acc for 1 of 4 archs" in caplog.text
    assert "cifar10_valid_acc" in table.metrics and "cifar10_valid_acc" in table.lookup(ARCHS[2])
    assert table.lookup(ARCHS[3]).keys() == set(table.metrics) - {"cifar10_valid_acc"}


def test_source_without_200_epoch_results_is_rejected(tmp_path):
    infos = {i: {"12": _arch_results(i, False)} for i in EVALUATED}  # only the 12-epoch ('less') results
    pickle_save({"meta_archs": list(ARCHS), "arch2infos": infos, "evaluated_indexes": list(EVALUATED)},
                tmp_path / "less.pickle")
    with pytest.raises(ConversionError, match=r"less\.pickle\.pbz2 has no 200-epoch cifar10 test-accuracy"):
        nb201.convert(tmp_path / "less.pickle.pbz2", tmp_path / "t")


def test_metadata_and_atomic_write(nats_file, tmp_path):
    out = nb201.convert(nats_file, tmp_path / "t")
    assert sorted(p.name for p in out.iterdir()) == [nb201.METADATA_FILE, nb201.TABLE_FILE]  # no temp files left
    meta = json.loads((out / nb201.METADATA_FILE).read_text())
    assert meta["table_sha256"] == hashlib.sha256((out / nb201.TABLE_FILE).read_bytes()).hexdigest()
    assert meta["source"]["sha256"] == hashlib.sha256(nats_file.read_bytes()).hexdigest()
    assert meta["benchmark"] == nb201.NAME and meta["created_at"]
    assert nb201.open_table(out).sha256 == meta["table_sha256"]


# -- the real 200-epoch table ---------------------------------------------------------------------------


def test_real_nats_bench_csv(csv_table):
    assert len(csv_table) == 15_625
    assert csv_table.metrics == ("cifar10_test_acc", "cifar100_test_acc", "imagenet16_test_acc")
    assert csv_table.metadata["source"]["kind"] == nb201.KIND_CSV
    columns = pq.read_table(csv_table.path / nb201.TABLE_FILE).to_pydict()
    assert columns["arch_index"] == list(range(15_625))
    best = {col: max(columns[col]) for col in csv_table.metrics}
    assert best["cifar10_test_acc"] == pytest.approx(94.3733, abs=1e-3)
    assert best["cifar100_test_acc"] == pytest.approx(73.5133, abs=1e-3)
    assert best["imagenet16_test_acc"] == pytest.approx(47.3111, abs=1e-3)
    assert columns["arch"][int(np.argmax(columns["cifar10_test_acc"]))] == OPTIMUM
    assert csv_table.lookup(OPTIMUM)["cifar10_test_acc"] == pytest.approx(94.3733, abs=1e-3)
    skip = csv_table.lookup(ALL_SKIP)  # the DARTS row of the paper's Table 2
    assert skip == pytest.approx({"cifar10_test_acc": 54.30, "cifar100_test_acc": 15.61,
                                  "imagenet16_test_acc": 16.32}, abs=0.01)


# -- error paths ----------------------------------------------------------------------------------------


def test_lookup_miss_names_key_and_table(nats_file, tmp_path):
    table = nb201.open_table(nb201.convert(nats_file, tmp_path / "t"))
    with pytest.raises(ArchNotInBenchmarkError) as err:
        table.lookup(ARCHS[4])  # well-formed, but the fixture holds 4 archs
    assert ARCHS[4] in str(err.value) and str(table.path) in str(err.value) and "well-formed" in str(err.value)
    with pytest.raises(ArchNotInBenchmarkError, match=r"official NB201 strings .*op~0") as err:
        table.lookup("nor_conv_3x3 skip")
    assert isinstance(err.value, LookupError) and "\n" not in str(err.value)


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("name, make", [
    ("garbage.pth", lambda p: _write(p, b"this is not a torch file")),
    ("nokeys.pth", lambda p: (torch.save({"meta_archs": list(ARCHS)}, p), p)[1]),
    ("bad.pickle.pbz2", lambda p: _write(p, b"BZh9 not really bz2")),
    ("nats_bench.csv", lambda p: _write(p, "a,b,c\n1,2,3\n")),
    ("bad_arch.csv", lambda p: _write(p, ",".join(nb201._CSV_COLUMNS) + "\n90,70,40,|conv~0|,x\n")),
    ("dup_arch.csv", lambda p: _write(p, ",".join(nb201._CSV_COLUMNS) + f"\n90,70,40,{OPTIMUM},x\n91,71,41,{OPTIMUM},x\n")),
    ("header_only.csv", lambda p: _write(p, ",".join(nb201._CSV_COLUMNS) + "\n")),
    ("not_numbers.csv", lambda p: _write(p, ",".join(nb201._CSV_COLUMNS) + f"\nninety,70,40,{OPTIMUM},x\n")),
    ("notes.txt", lambda p: _write(p, "hello")),
    ("missing.pth", lambda p: p),
    ("empty_dir", lambda p: (p.mkdir(), p)[1]),
])
def test_malformed_source_raises_conversion_error(name, make, tmp_path):
    source = make(tmp_path / name)
    with pytest.raises(ConversionError) as err:
        nb201.convert(source, tmp_path / "out")
    message = str(err.value)
    assert name in message and "\n" not in message
    assert "accepted" in message or "fix" in message
    assert not (tmp_path / "out" / nb201.METADATA_FILE).exists()


def test_official_api_missing_gives_install_hint(nb201_pth, nats_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # makes `import nas_201_api` raise ImportError
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    for source in (nb201_pth, nats_file):
        with pytest.raises(ImportError, match=r"pip install 'freedarts-harness\[official\]'") as err:
            nb201.convert(source, tmp_path / "out")
        assert isinstance(err.value, ConversionError)


def test_missing_or_tampered_table(tmp_path, nats_file):
    with pytest.raises(BenchmarkTableMissingError, match="python -m benchmarks convert nasbench201") as err:
        nb201.open_table(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(err.value) and isinstance(err.value, FileNotFoundError)
    out = nb201.convert(nats_file, tmp_path / "t")
    (out / nb201.TABLE_FILE).write_bytes((out / nb201.TABLE_FILE).read_bytes() + b"x")
    with pytest.raises(ConversionError, match="not an intact nasbench201 table"):
        nb201.open_table(out)
    (out / nb201.METADATA_FILE).write_text("{")
    with pytest.raises(ConversionError, match=f"{out} is not an intact nasbench201 table"):
        nb201.open_table(out)


# -- resolve_table ----------------------------------------------------------------------------------------


def test_resolve_table_empty_data_root_returns_none(tmp_path):
    (tmp_path / "data").mkdir()
    assert nb201.resolve_table(tmp_path / "data", tmp_path / "cache") is None
    assert not (tmp_path / "cache").exists()


def test_resolve_table_converts_then_reuses(data_root, tmp_path, caplog):
    root = tmp_path / "data"
    (root / "nasbench201").mkdir(parents=True)
    (root / "nasbench201" / "nats_bench.csv").symlink_to(data_root / "nasbench201" / "nats_bench.csv")
    assert nb201.find_raw_source(root) == root / "nasbench201" / "nats_bench.csv"
    with caplog.at_level(logging.INFO, logger="benchmarks.nasbench201"):
        table_dir = nb201.resolve_table(root, tmp_path / "cache")
    assert table_dir == tmp_path / "cache" / "nasbench201"
    assert "please cite" in caplog.text
    stamp = (table_dir / nb201.METADATA_FILE).stat().st_mtime_ns
    assert nb201.resolve_table(root, tmp_path / "cache") == table_dir  # cached: no second conversion
    assert (table_dir / nb201.METADATA_FILE).stat().st_mtime_ns == stamp
    assert len(nb201.open_table(table_dir)) == 15_625


def test_resolve_table_prefers_official_file_and_configured_dir(nb201_pth, nats_file, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / nb201_pth.name).symlink_to(nb201_pth)
    (root / nats_file.name).symlink_to(nats_file)
    assert nb201.find_raw_source(root) == root / nb201_pth.name  # RAW_SOURCES priority order
    configured = nb201.convert(nats_file, tmp_path / "mine")
    assert nb201.resolve_table(root, tmp_path / "cache", configured=configured) == configured
    assert not (tmp_path / "cache").exists()
    with pytest.raises(BenchmarkTableMissingError, match="python -m benchmarks convert"):
        nb201.resolve_table(root, tmp_path / "cache", configured=tmp_path / "absent")


# -- registry and CLI -----------------------------------------------------------------------------------


def test_registry():
    assert "nasbench201" in list_benchmarks() and list_benchmarks() == sorted(BENCHMARKS)
    spec = get_benchmark("nasbench201")
    assert spec is BENCHMARKS["nasbench201"] and spec.spaces == ("nasbench201",)
    assert spec.convert is nb201.convert and spec.open_table is nb201.open_table
    assert spec.obtain_hint == nb201.OBTAIN_HINT and "\n" not in spec.obtain_hint
    with pytest.raises(ValueError, match=r"unknown benchmark 'nasbench210' \(did you mean 'nasbench201'\?\); valid: .*nasbench201"):
        get_benchmark("nasbench210")


def test_cli_convert_info_and_errors(nats_file, tmp_path, capsys):
    out = tmp_path / "t"
    assert cli.main(["convert", "nasbench201", str(nats_file), "--out", str(out)]) == 0
    assert nb201.has_table(out)
    assert cli.main(["info", str(out)]) == 0
    printed = capsys.readouterr().out
    assert '"benchmark": "nasbench201"' in printed and "rows: 4" in printed
    assert cli.main(["info", str(tmp_path / "none")]) == 2
    assert cli.main(["convert", "nasbench201", str(tmp_path / "none.pth"), "--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "none.pth does not exist" in errors[1]


def test_cli_default_out_is_cache_root(nats_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))  # keep the 4-arch fixture out of the session cache
    assert cli.main(["convert", "nasbench201", str(nats_file)]) == 0
    assert capsys.readouterr().out.strip() == str(cache_root() / "nasbench201")
    assert nb201.has_table(cache_root() / "nasbench201")
