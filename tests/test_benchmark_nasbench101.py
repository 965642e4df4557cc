"""NAS-Bench-101: our tfrecord reader (round trip in the official format), the module hash against
the staged real keys, NB101 pruning, the partial table's coverage and its misses."""

from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from benchmarks import get_benchmark
from benchmarks import nasbench101 as nb101
from benchmarks.errors import ArchNotInBenchmarkError, ConversionError

import nb101_tfrecord_writer as writer  # tests/: the test-only NB101 file writers

DATA = Path("/work/shared/data/nasbench101")


def _dummy() -> dict:
    with (DATA / "nb101_dummy.pkl").open("rb") as fh:
        return pickle.load(fh)


def test_crc32c_known_value():
    assert nb101.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_module_hash_matches_all_30_keys_of_the_dummy_pickle():
    data = _dummy()
    assert len(data) == 30
    for key, (fixed, _) in data.items():
        matrix, ops = nb101.prune(fixed["module_adjacency"], fixed["module_operations"])
        assert nb101.module_hash(matrix, ops) == key


def test_module_hash_matches_the_1k_nasbench_vis_keys():
    data = json.loads((DATA / "nasbench-vis_data-1k.json").read_text())
    assert len(data["key"]) == 1000
    for i, key in enumerate(data["key"]):
        adj, ops = nb101._vis_cell(data["adjacency"][i], data["operations"][i])
        n = len(ops.split(","))
        matrix = np.array([int(c) for c in adj]).reshape(n, n)
        assert nb101.module_hash(matrix, ops.split(",")) == key, i


def test_prune_drops_vertices_off_the_input_output_path_and_rejects_disconnected_cells():
    m = np.zeros((7, 7), dtype=int)
    m[0, 1] = m[1, 6] = 1  # vertex 1 on the path
    m[0, 2] = 1            # vertex 2: dangling (no path to output)
    m[3, 6] = 1            # vertex 3: unreachable from the input
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"]
    pm, pops = nb101.prune(m, ops)
    assert pm.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert pops == ["input", "conv3x3-bn-relu", "output"]
    with pytest.raises(ValueError, match="not connected"):
        nb101.prune(np.zeros((7, 7), dtype=int), ops)


def _cells():
    """Three real cells (from the dummy pickle) with made-up, distinct metrics per repeat/epochs."""
    out = []
    for key, (fixed, _) in list(_dummy().items())[:3]:
        out.append((key, np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"]),
                    int(fixed["trainable_parameters"])))
    return out


def _metrics(c: int, epochs: int, r: int, params: int) -> nb101.ModelMetrics:
    base = 0.5 + 0.1 * c + 0.01 * r + epochs / 1000
    evals = tuple(nb101.EvaluationData(current_epoch=e, training_time=10.0 * e + r, train_accuracy=base + 0.05,
                                       validation_accuracy=base + 0.001 * i, test_accuracy=base - 0.002 * i)
                  for i, e in enumerate((0.0, epochs / 2, float(epochs))))
    return nb101.ModelMetrics(evals, params, 123.5)


@pytest.fixture(scope="module")
def tfrecord(tmp_path_factory) -> Path:
    """A tfrecord in the official format: 3 cells x epochs {4, 108} x 3 repeats."""
    payloads = []
    for c, (key, matrix, ops, params) in enumerate(_cells()):
        for epochs in (4, 108):
            for r in range(3):
                payloads.append(writer.encode_record(matrix, ops, epochs, _metrics(c, epochs, r, params), key))
    return writer.write_tfrecord(tmp_path_factory.mktemp("nb101") / "nasbench_only108.tfrecord", payloads)


def test_model_metrics_proto_round_trip():
    m = _metrics(1, 108, 2, 4_000_000)
    assert nb101.decode_model_metrics(writer.encode_model_metrics(m)) == m


def test_tfrecord_round_trips_through_the_reader(tfrecord, tmp_path):
    out = nb101.convert(tfrecord, tmp_path / "table")
    table = nb101.open_table(out)
    assert len(table) == 3
    assert table.metadata["source"]["kind"] == nb101.KIND_TFRECORD
    for c, (key, _, _, params) in enumerate(_cells()):
        for epochs in (4, 108):
            got = table.lookup(key, epochs=epochs)
            reps = [_metrics(c, epochs, r, params).evaluation_data[-1] for r in range(3)]
            for r, ev in enumerate(reps):
                assert got[f"nb101_valid_acc_r{r}"] == pytest.approx(100 * ev.validation_accuracy)
                assert got[f"nb101_test_acc_r{r}"] == pytest.approx(100 * ev.test_accuracy)
            assert got["nb101_test_acc"] == pytest.approx(100 * sum(ev.test_accuracy for ev in reps) / 3)
            assert got["nb101_best_repeat_test_acc"] == pytest.approx(100 * max(ev.test_accuracy for ev in reps))
            assert got["nb101_train_time_s"] == pytest.approx(sum(ev.training_time for ev in reps) / 3)
            assert got["nb101_params"] == params and got["nb101_n_repeats"] == 3
    # "<anything>#<hash>" keys (the NB1Shot1 arch keys) resolve to the same row.
    key = _cells()[0][0]
    assert table.lookup(f"genotype-text#{key}") == table.lookup(key)


def test_reader_rejects_corrupted_records_and_wrong_hashes(tfrecord, tmp_path):
    data = bytearray(tfrecord.read_bytes())
    data[20] ^= 0xFF  # inside the first payload
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match="bad data CRC"):
        nb101.convert(bad, tmp_path / "t1")
    key, matrix, ops, params = _cells()[0]
    wrong = writer.write_tfrecord(tmp_path / "wrong.tfrecord",
                                 [writer.encode_record(matrix, ops, 108, _metrics(0, 108, 0, params), "0" * 32)])
    with pytest.raises(ConversionError, match="hashes to " + key):
        nb101.convert(wrong, tmp_path / "t2")
    truncated = tmp_path / "trunc.tfrecord"
    truncated.write_bytes(tfrecord.read_bytes()[:-3])
    with pytest.raises(ConversionError, match="truncated"):
        nb101.convert(truncated, tmp_path / "t3")


@pytest.fixture(scope="module")
def partial_table(tmp_path_factory):
    """The staged dummy pickle + the 1k nasbench-vis file (the 10k/20k files only add rows)."""
    src = tmp_path_factory.mktemp("partial")
    for name in ("nb101_dummy.pkl", "nasbench-vis_data-1k.json"):
        (src / name).symlink_to(DATA / name)
    return nb101.open_table(nb101.convert(src, tmp_path_factory.mktemp("table")))


def test_partial_table_states_its_coverage_and_returns_repeats(partial_table):
    cov = partial_table.metadata["coverage"]
    assert cov["complete"] is False
    assert cov["by_epochs"]["108"] == {"cells": 1030, "cells_with_test_acc": 30, "cells_with_3_repeats": 30,
                                       "fraction_of_nb101": round(1030 / nb101.N_NB101_CELLS, 6)}
    key, (fixed, computed) = next(iter(_dummy().items()))
    got = partial_table.lookup(key)
    runs = computed[108]
    assert got["nb101_test_acc"] == pytest.approx(100 * np.mean([r["final_test_accuracy"] for r in runs]))
    assert got["nb101_valid_acc_r2"] == pytest.approx(100 * runs[2]["final_validation_accuracy"])
    assert got["nb101_params"] == fixed["trainable_parameters"]
    vis = json.loads((DATA / "nasbench-vis_data-1k.json").read_text())
    v = partial_table.lookup(vis["key"][0])
    assert v["nb101_valid_acc"] == pytest.approx(100 * vis["108_final_validation_accuracy"][0])
    assert v["nb101_n_repeats"] == 1 and "nb101_test_acc" not in v
    assert partial_table.lookup(vis["key"][0], epochs=4)["nb101_valid_acc"] == \
        pytest.approx(100 * vis["4_final_validation_accuracy"][0])


def test_miss_in_a_partial_table_names_the_coverage(partial_table):
    with pytest.raises(ArchNotInBenchmarkError, match=r"PARTIAL NB101 table: 1,030 of 423,624"):
        partial_table.lookup("f" * 32)
    with pytest.raises(ArchNotInBenchmarkError, match="32-hex module hashes"):
        partial_table.lookup("not-a-key")


def test_registry_and_resolve_convert_the_staged_data_once(tmp_path):
    spec = get_benchmark("nasbench101")
    assert spec.spaces == ("nasbench1shot1",)
    src = tmp_path / "data" / "nasbench101"
    src.mkdir(parents=True)
    (src / "nb101_dummy.pkl").symlink_to(DATA / "nb101_dummy.pkl")
    assert spec.resolve_table(tmp_path / "empty", tmp_path / "cache0") is None
    out = spec.resolve_table(tmp_path / "data", tmp_path / "cache")
    assert out == tmp_path / "cache" / "nasbench101" and len(spec.open_table(out)) == 30
    with pytest.raises(ConversionError, match="expected a .tfrecord"):
        nb101.convert(tmp_path / "empty", tmp_path / "x")


def test_masked_crc_framing_is_the_tfrecord_layout(tmp_path):
    path = writer.write_tfrecord(tmp_path / "one.tfrecord", [b"abc"])
    raw = path.read_bytes()
    assert struct.unpack("<Q", raw[:8])[0] == 3 and raw[12:15] == b"abc" and len(raw) == 19
    assert struct.unpack("<I", raw[15:])[0] == nb101.masked_crc32c(b"abc")
    assert list(nb101.read_tfrecord(path)) == [b"abc"]
    empty = nb101.decode_model_metrics(b"")
    assert empty.evaluation_data == () and math.isnan(empty.total_time)
