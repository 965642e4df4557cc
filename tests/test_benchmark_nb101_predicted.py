"""nb101_predicted: the space-3 enumeration against the space's own genotypes and the reference hash, a
conversion of real NB101 slices (written in the staged formats) restricted to a small part of space 3,
lookups (Table 4's found cells included), determinism, and every bad input as one line. The full
conversion (all 55,854 space-3 cells, the README's numbers) is the `slow` test at the end."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from archcodec import nb101
from benchmarks import _nb101_features, _nb1shot1_cells, get_benchmark
from benchmarks import nb101_predicted as npred
from benchmarks.errors import ArchNotInBenchmarkError, BenchmarkTableMissingError, ConversionError
from spaces import nasbench1shot1 as ns

REPO = Path(__file__).resolve().parents[1]
TABLE4_CELLS = REPO / "results" / "table4" / "cells"
FULL_ENV = "HARNESS_FULL_CONVERSIONS"


def table4_keys() -> list[str]:
    """The arch keys Table 4's sweep found (committed results), if present."""
    if not TABLE4_CELLS.is_dir():
        return []
    return [k for k in pq.read_table(TABLE4_CELLS, columns=["arch"]).column("arch").to_pylist() if k]


def _matrix(g: ns.Genotype) -> _nb1shot1_cells.Matrix:
    return tuple(tuple(int(v) for v in row) for row in g.nb101_cell()[0])


@pytest.fixture(scope="module")
def cells() -> dict[str, _nb1shot1_cells.Cell]:
    """A small part of space 3: every matrix of <= 5 vertices, 20 of 6, and those of Table 4's cells."""
    matrices = _nb1shot1_cells.topologies()
    chosen = [m for m in matrices if len(m) <= 5] + [m for m in matrices if len(m) == 6][:20]
    chosen += [m for m in {_matrix(ns.parse_arch_key(k)) for k in table4_keys()} if m not in chosen]
    return _nb1shot1_cells.enumerate_cells(chosen)


def _vis_subset(path: Path, keep, with_structure: bool) -> dict:
    data = json.loads(path.read_text())
    idx = [i for i, k in enumerate(data["key"]) if keep(i, k)]
    fields = [f for f in data if with_structure or f not in ("adjacency", "operations", "embedding")]
    return {f: [data[f][i] for i in idx] for f in fields}


@pytest.fixture(scope="module")
def source(data_root, cells, tmp_path_factory) -> Path:
    """Real NB101 slices in the staged formats: 150 vis-1k cells (with structure), the 10k/20k cells of
    the small space-3 part (hashes only: recovered by the enumeration), the dummy pickle, 120 NASLib records."""
    real, out = data_root / "nasbench101", tmp_path_factory.mktemp("nb101src")
    (out / "nasbench-vis_data-1k.json").write_text(json.dumps(
        _vis_subset(real / "nasbench-vis_data-1k.json", lambda i, k: i < 150, True)))
    merged: dict = {}
    for name in ("nasbench-vis_data-10k.json", "nasbench-vis_data-20k.json"):
        part = _vis_subset(real / name, lambda i, k: k in cells, False)
        for f, values in part.items():
            merged.setdefault(f, []).extend(values)
    (out / "nasbench-vis_data-20k.json").write_text(json.dumps(merged))
    (out / npred.DUMMY_FILE).write_bytes((real / npred.DUMMY_FILE).read_bytes())
    zc = json.loads((real / npred.ZC_FILE).read_text())
    records = dict(list(zc["nasbench101"]["cifar10"].items())[:120])
    (out / npred.ZC_FILE).write_text(json.dumps({"nasbench101": {"cifar10": records}}))
    return out


@pytest.fixture(scope="module")
def converted(source, cells, tmp_path_factory) -> Path:
    return npred.convert(source, tmp_path_factory.mktemp("nb101p") / npred.NAME, cells=cells)


def test_every_enumerated_cell_is_a_valid_nb101_spec_keyed_by_its_module_hash(cells):
    assert len(cells) > 1000
    for h, (matrix, ops) in cells.items():
        spec_ops = ["input", *ops, "output"]
        nb101.check_spec(np.array(matrix), spec_ops)
        assert nb101.module_hash(np.array(matrix), spec_ops) == h


def test_the_enumeration_covers_random_genotypes_of_the_space():
    matrices = set(_nb1shot1_cells.topologies())
    assert len(matrices) == 596
    rng = random.Random(0)
    parents = list(_nb1shot1_cells.genotype_parents())
    assert len(parents) == 2 * 3 * 6 * 10 * 15
    for _ in range(200):
        p, out = rng.choice(parents)
        g = ns.Genotype(tuple(rng.choice(ns.OPS) for _ in range(5)), p, out)
        matrix, ops = g.nb101_cell()
        assert _matrix(g) in matrices
        assert nb101.labelled_hash(matrix.tolist(), nb101.cell_labels(ops[1:-1])) == g.module_hash()


def test_encodings_name_every_feature_and_paths_ignore_vertex_order():
    a = (((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)), ("conv3x3-bn-relu", "maxpool3x3"))
    b = (((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)), ("maxpool3x3", "conv3x3-bn-relu"))  # isomorphic
    for name in _nb101_features.ENCODINGS:
        x = _nb101_features.encode(name, [a, b])
        assert x.shape == (2, len(_nb101_features.feature_names(name)))
    paths = _nb101_features.encode("paths+summary", [a, b])
    assert (paths[0] == paths[1]).all() and paths[0].sum() > 0
    names = _nb101_features.feature_names("paths+summary")
    assert paths[0][names.index("path:conv3x3-bn-relu")] == 1 and paths[0][names.index("n_paths")] == 2
    with pytest.raises(ValueError, match="unknown NB101 encoding 'x'; valid: adjacency"):
        _nb101_features.feature_names("x")


def test_conversion_records_labels_split_and_validation(converted, cells):
    meta = json.loads((converted / "metadata.json").read_text())
    labels = meta["labels"]
    assert labels["usable"] > 200 and 0 < labels["usable_in_space3"] < labels["usable"]
    assert set(labels["by_source"]) <= {"nasbench-vis_data-1k.json", "nasbench-vis_data-20k.json",
                                        npred.DUMMY_FILE, npred.ZC_FILE}
    assert meta["split"]["n_train"] + meta["split"]["n_holdout"] == labels["usable"]
    assert meta["encoding"]["chosen"] in _nb101_features.ENCODINGS
    for part in ("all", "space3"):
        assert set(meta["validation"]["holdout"][part]) == {"n", "spearman", "kendall", "mae"}
    assert meta["validation"]["holdout"]["all"]["spearman"] > 0.5
    assert meta["n_archs"] == len(cells) and len(meta["model"]["model_sha256"]) == 64
    rows = pq.read_table(converted / "table.parquet").to_pydict()
    assert sorted(rows["module_hash"]) == sorted(cells)
    assert set(rows["split"]) == {"train", "holdout", "unlabelled"}
    labelled = [v for v, s in zip(rows["label_val_acc"], rows["split"]) if s != "unlabelled"]
    assert all(v is not None for v in labelled)


def test_every_space3_cell_gets_a_prediction_in_its_own_column(converted, cells):
    table = get_benchmark(npred.NAME).open_table(converted)
    rows = pq.read_table(converted / "table.parquet").to_pydict()
    assert len(table) == len(cells)
    for h, value, split in list(zip(rows["module_hash"], rows["nb101_pred_val_acc"], rows["split"]))[::50]:
        out = table.lookup(h)
        assert out == {"nb101_pred_val_acc": value, "nb101_pred_in_training": split == "train"}
        assert set(out) == {c.name for c in npred.METRIC_COLUMNS} and 40 < value < 100
    assert [c.name for c in npred.METRIC_COLUMNS if c.predicted] == ["nb101_pred_val_acc"]


def test_table4_found_cells_all_get_a_prediction(converted):
    keys = table4_keys()
    if not keys:
        pytest.skip(f"no committed Table 4 results in {TABLE4_CELLS}")
    table = npred.open_table(converted)
    for key in keys:
        assert key in table and 40 < table.lookup(key)["nb101_pred_val_acc"] < 100


def test_keys_outside_the_space_or_format_are_one_line(converted):
    table = npred.open_table(converted)
    outside = "ff92c322c5d9d3d587d9c146a63d0807"  # an NB101 cell of the dummy pickle, not in this space-3 part
    for key, message in ((outside, "is not a NAS-Bench-1Shot1 search-space-3 cell"),
                         ("1:conv3x3-bn-relu<0|out<0,1", "keys are 32-hex NB101 module hashes")):
        with pytest.raises(ArchNotInBenchmarkError, match=message) as err:
            table.lookup(key)
        assert "\n" not in str(err.value) and key not in table


def test_conversion_is_deterministic(source, cells, tmp_path):
    a = npred.convert(source, tmp_path / "a", encoding="adjacency+ops", cells=cells)
    b = npred.convert(source, tmp_path / "b", encoding="adjacency+ops", cells=cells)
    meta_a, meta_b = (json.loads((d / "metadata.json").read_text()) for d in (a, b))
    assert meta_a["model"]["model_sha256"] == meta_b["model"]["model_sha256"]
    assert meta_a["table_sha256"] == meta_b["table_sha256"]


def test_bad_sources_fail_in_one_line_each(source, cells, tmp_path):
    with pytest.raises(ConversionError, match="none of nasbench-vis_data-1k.json.*is there"):
        npred.convert(tmp_path, tmp_path / "out", cells=cells)
    with pytest.raises(ConversionError, match="expected the staged nasbench101 folder"):
        npred.convert(source / npred.DUMMY_FILE, tmp_path / "out", cells=cells)
    cases = {
        npred.DUMMY_FILE: (b"\x80\x04junk", "nb101_dummy.pkl: not an NB101 get_metrics_from_hash pickle"),
        npred.ZC_FILE: (b'{"nasbench101": {"cifar10": {"(0, 1)": {}}}}', "zc_nasbench101.json: not NASLib's"),
        "nasbench-vis_data-1k.json": (b'{"key": ["a"]}', "not a nasbench-vis data JSON"),
    }
    for name, (blob, message) in cases.items():
        broken = tmp_path / name.replace(".", "_")
        broken.mkdir()
        for f in source.iterdir():
            (broken / f.name).write_bytes(blob if f.name == name else f.read_bytes())
        with pytest.raises(ConversionError, match=message) as err:
            npred.convert(broken, tmp_path / "out", cells=cells)
        assert "\n" not in str(err.value), name
    few = tmp_path / "few"
    few.mkdir()
    (few / npred.DUMMY_FILE).write_bytes((source / npred.DUMMY_FILE).read_bytes())
    with pytest.raises(ConversionError, match="only 30 labelled cells with a known structure"):
        npred.convert(few, tmp_path / "out", cells=cells)


def test_damaged_tables_fail_in_one_line_with_the_convert_command(converted, tmp_path):
    cases = {
        "model_changed": (lambda d: (d / "model.txt").write_text("tree\n"), ConversionError, "does not match its model_sha256"),
        "features_missing": (lambda d: (d / "features.json").unlink(), BenchmarkTableMissingError, "features.json is missing"),
        "table_changed": (lambda d: (d / "table.parquet").write_bytes(b"x"), ConversionError, "not an intact"),
    }
    for name, (damage, error, message) in cases.items():
        table_dir = tmp_path / name
        table_dir.mkdir()
        for f in converted.iterdir():
            (table_dir / f.name).write_bytes(f.read_bytes())
        damage(table_dir)
        with pytest.raises(error, match=message) as err:
            npred.open_table(table_dir)
        assert "\n" not in str(err.value) and "python -m benchmarks convert nb101_predicted" in str(err.value), name


def test_resolve_table_converts_once_and_is_none_without_data(source, tmp_path, monkeypatch):
    assert npred.resolve_table(tmp_path / "empty", tmp_path / "cache") is None
    calls = []
    monkeypatch.setattr(npred, "convert", lambda s, o: calls.append(s) or o)
    assert npred.resolve_table(source, tmp_path / "cache") == tmp_path / "cache" / npred.NAME and calls == [source]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get(FULL_ENV), reason=f"the full conversion takes 2-3 min; set {FULL_ENV}=1")
def test_full_conversion_answers_all_of_space3_and_table4(data_root, tmp_path):
    out = npred.convert(data_root / "nasbench101", tmp_path / npred.NAME)
    table = npred.open_table(out)
    assert len(table) == 55_854
    assert table.validation["holdout"]["space3"]["spearman"] >= 0.9
    assert all(key in table for key in table4_keys())
