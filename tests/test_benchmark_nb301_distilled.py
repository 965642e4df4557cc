"""nb301_distilled: the restricted readers on the real official pickles, a conversion of a 300-row slice
written back in the official pickle formats, lookups, determinism, and every bad input as one line.
The full conversion (10,000 rows, the README's validation numbers) is the `slow` test at the end."""

from __future__ import annotations

import collections
import json
import os
import pickle
import random
import sys
import types
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from archcodec import darts as darts_key
from benchmarks import _darts_features, _nb301_validation, get_benchmark
from benchmarks import nb301_distilled as nd
from benchmarks.__main__ import main as cli
from benchmarks.errors import ArchNotInBenchmarkError, BenchmarkTableMissingError, ConversionError
from spaces import darts

N_SLICE = 300
FULL_ENV = "HARNESS_FULL_CONVERSIONS"
DARTS_V2 = darts.Genotype.parse(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])").arch_str()


@pytest.fixture(scope="module")
def real(data_root):
    """The real 10,000 genotypes and official predictions, read by the module's restricted readers."""
    folder = data_root / "nasbench301"
    genotypes = nd.read_genotypes(folder / nd.GENOTYPE_FILE)
    return folder, genotypes, nd.read_accuracies(folder / nd.ACCURACY_FILE, len(genotypes))


def write_official(folder: Path, genotypes: list[dict], values) -> Path:
    """Write genotypes/values exactly as the staged files are: the Genotype class under the module path
    `nasbench.sample_model` (which exists nowhere, so it is faked while pickling), inputs as numpy int64."""
    folder.mkdir(parents=True, exist_ok=True)
    module, package = types.ModuleType("nasbench.sample_model"), types.ModuleType("nasbench")
    genotype_cls = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    genotype_cls.__module__ = "nasbench.sample_model"
    module.Genotype, package.sample_model = genotype_cls, module
    rows = [genotype_cls([(op, np.int64(src)) for op, src in g["normal"]], [2, 3, 4, 5],
                         [(op, np.int64(src)) for op, src in g["reduce"]], [2, 3, 4, 5]) for g in genotypes]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "nasbench", package)
        mp.setitem(sys.modules, "nasbench.sample_model", module)
        (folder / nd.GENOTYPE_FILE).write_bytes(pickle.dumps(rows, protocol=4))
    (folder / nd.ACCURACY_FILE).write_bytes(pickle.dumps([np.float64(v) for v in values], protocol=4))
    return folder


@pytest.fixture(scope="module")
def source(real, tmp_path_factory):
    """300 real rows in the official formats, plus the first 60 NASLib records."""
    folder, genotypes, values = real
    out = write_official(tmp_path_factory.mktemp("nb301src"), genotypes[:N_SLICE], values[:N_SLICE])
    naslib = json.loads((folder / _nb301_validation.NASLIB_FILE).read_text())
    subset = dict(list(naslib["cifar10"].items())[:60])
    (out / _nb301_validation.NASLIB_FILE).write_text(json.dumps({"cifar10": subset}))
    return out


@pytest.fixture(scope="module")
def converted(source, data_root, tmp_path_factory):
    yahpo = data_root / "nasbench301" / "yahpo_nb301_v2"
    return nd.convert(source, tmp_path_factory.mktemp("nb301d") / nd.NAME, yahpo_dir=yahpo)


def test_the_real_pickles_load_restricted_as_10000_distinct_darts_genotypes(real):
    _, genotypes, values = real
    keys = {darts_key.format_key(g) for g in genotypes}
    assert len(genotypes) == len(values) == len(keys) == 10_000
    assert 90.0 < values.min() and values.max() < 95.0  # data README: 90.20-94.57
    assert all(isinstance(src, int) and not isinstance(src, np.integer) for g in genotypes[:50] for _, src in g["normal"])


def test_format_key_is_spaces_darts_arch_str_whatever_the_pair_order():
    rng = random.Random(0)
    for _ in range(200):
        g = darts.sample_genotype(rng)
        cells = [[list(p) for p in g.normal], [list(p) for p in g.reduce]]
        for cell in cells:  # swap some nodes' two pairs: the key must not change
            for node in range(4):
                if rng.random() < 0.5:
                    cell[2 * node], cell[2 * node + 1] = cell[2 * node + 1], cell[2 * node]
        assert darts_key.format_key(darts_key.from_cells(*cells)) == g.arch_str()
        assert darts_key.format_key(darts_key.parse(g.arch_str())) == g.arch_str()


def test_naslib_compact_keys_become_arch_keys():
    compact = ("[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], "
               "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]")
    key = darts_key.format_key(_nb301_validation.naslib_genotype(compact))
    g = darts.Genotype.parse(key)
    assert g.normal[:2] == (("max_pool_3x3", 0), ("dil_conv_3x3", 1)) and g.arch_str() == key
    assert g.reduce[6:] == (("max_pool_3x3", 2), ("dil_conv_5x5", 3))
    with pytest.raises(ValueError, match="op 9 is outside"):
        _nb301_validation.naslib_genotype(compact.replace("(3, 6)", "(3, 9)"))


def test_encodings_ignore_pair_order_and_name_every_feature():
    g = darts_key.parse(darts.sample_genotype(random.Random(1)).arch_str())
    swapped = {**g, "normal": [g["normal"][1], g["normal"][0], *g["normal"][2:]]}
    for name in _darts_features.ENCODINGS:
        x = _darts_features.encode(name, [g, swapped])
        assert x.shape == (2, len(_darts_features.feature_names(name))) and (x[0] == x[1]).all()
    edge_op = _darts_features.encode("edge_op", [g])[0]
    assert edge_op.sum() == 16  # one op on each of the 2 x 8 used edges
    with pytest.raises(ValueError, match="unknown DARTS encoding 'x'; valid: edge_op"):
        _darts_features.feature_names("x")


def test_conversion_writes_model_features_table_and_validation(converted, source):
    meta = json.loads((converted / "metadata.json").read_text())
    assert meta["split"] == {"seed": 0, "holdout_fraction": 0.2, "n_train": 240, "n_holdout": 60}
    assert meta["encoding"]["chosen"] in _darts_features.ENCODINGS
    assert set(meta["encoding"]["cv_spearman_on_train"]) == set(_darts_features.ENCODINGS)
    assert [f["name"] for f in meta["source_files"]] == [nd.GENOTYPE_FILE, nd.ACCURACY_FILE]
    assert all(len(f["sha256"]) == 64 for f in meta["source_files"])
    assert (converted / "model.txt").read_text().startswith("tree")  # LightGBM's text format, not a pickle
    v = meta["validation"]
    for block in (v["holdout"]["nb301_distilled"], v["holdout"]["yahpo_nb301"], v["naslib"]["nb301_distilled"],
                  v["naslib"]["yahpo_nb301"]):
        assert set(block) == {"n", "spearman", "kendall", "mae"} and -1 <= block["spearman"] <= 1
    assert v["holdout"]["nb301_distilled"]["n"] == 60 and v["naslib"]["nb301_distilled"]["n"] == 60
    assert v["holdout"]["nb301_distilled"]["spearman"] > 0.3  # 240 rows already rank the hold-out
    rows = pq.read_table(converted / "table.parquet").to_pydict()
    assert len(rows["arch"]) == N_SLICE and rows["split"].count("holdout") == 60


def test_lookup_answers_any_darts_genotype_with_the_converted_predictions(converted):
    table = get_benchmark(nd.NAME).open_table(converted)
    rows = pq.read_table(converted / "table.parquet").to_pydict()
    assert np.allclose(table.predict(rows["arch"]), rows["nb301d_val_acc"])
    key = darts.Genotype.parse(darts.PAPER_GENOTYPES["FreeDARTS"]).arch_str()
    out = table.lookup(key)
    assert set(out) == {c.name for c in nd.METRIC_COLUMNS} and all(c.predicted for c in nd.METRIC_COLUMNS)
    assert 85 < out["nb301d_val_acc"] < 96 and out["nb301d_val_err"] == pytest.approx(100 - out["nb301d_val_acc"])
    assert table.lookup(key) == out and key in table._cache and key in table and len(table) == N_SLICE
    assert len(table.sha256) == 64 and table.validation["holdout"]["nb301_distilled"]["n"] == 60


@pytest.mark.parametrize("mutate, defect", [
    (lambda k: k.replace("('sep_conv_3x3', 1)", "('none', 1)", 1), "op 'none' is outside the NB301 DARTS space"),
    (lambda k: k.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 3)", 1), "normal\\[1\\] input 3 is invalid for node 2"),
    (lambda k: k.replace("('sep_conv_3x3', 0), ", "", 1), "has 7 pairs, needs 8"),
    (lambda k: k.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"), "normal_concat is"),
    (lambda k: "resnet18", "not a DARTS genotype string"),
])
def test_a_key_outside_the_space_is_one_line_naming_the_defect(converted, mutate, defect):
    table = nd.open_table(converted)
    key = mutate(DARTS_V2)
    with pytest.raises(ArchNotInBenchmarkError, match=defect) as err:
        table.lookup(key)
    assert "\n" not in str(err.value) and key not in table


def test_conversion_is_deterministic(source, tmp_path):
    a = nd.convert(source, tmp_path / "a", encoding="edge_op", yahpo_dir=None)
    b = nd.convert(source, tmp_path / "b", encoding="edge_op", yahpo_dir=None)
    meta_a, meta_b = (json.loads((d / "metadata.json").read_text()) for d in (a, b))
    assert meta_a["model"]["model_sha256"] == meta_b["model"]["model_sha256"]
    assert meta_a["table_sha256"] == meta_b["table_sha256"] and meta_a["encoding"]["chosen_by"] == "given"


def _copy(converted: Path, to: Path) -> Path:
    to.mkdir()
    for f in converted.iterdir():
        (to / f.name).write_bytes(f.read_bytes())
    return to


def test_damaged_tables_fail_in_one_line_with_the_convert_command(converted, tmp_path):
    cases = {
        "model_changed": (lambda d: (d / "model.txt").write_text("tree\nversion=v4\n"), ConversionError,
                          "model.txt does not match its model_sha256"),
        "model_missing": (lambda d: (d / "model.txt").unlink(), BenchmarkTableMissingError, "model.txt is missing"),
        "features_changed": (lambda d: (d / "features.json").write_text("{}"), ConversionError,
                             "features.json does not match its features_sha256"),
        "table_changed": (lambda d: (d / "table.parquet").write_bytes(b"x"), ConversionError, "not an intact"),
        "metadata_missing": (lambda d: (d / "metadata.json").unlink(), BenchmarkTableMissingError, "no nb301_distilled"),
    }
    for name, (damage, error, message) in cases.items():
        table_dir = _copy(converted, tmp_path / name)
        damage(table_dir)
        with pytest.raises(error, match=message) as err:
            nd.open_table(table_dir)
        assert "\n" not in str(err.value) and "python -m benchmarks convert nb301_distilled" in str(err.value), name


def test_bad_source_files_fail_in_one_line_each(real, tmp_path):
    _, genotypes, values = real
    good = write_official(tmp_path / "good", genotypes[:20], values[:20])
    with pytest.raises(ConversionError, match=f"expected a folder holding {nd.GENOTYPE_FILE}"):
        nd.convert(good / nd.GENOTYPE_FILE, tmp_path / "out")
    missing = write_official(tmp_path / "missing", genotypes[:20], values[:20])
    (missing / nd.ACCURACY_FILE).unlink()
    with pytest.raises(ConversionError, match=f"{nd.ACCURACY_FILE}: no such file"):
        nd.convert(missing, tmp_path / "out")
    cut = write_official(tmp_path / "cut", genotypes[:20], values[:20])
    blob = (cut / nd.GENOTYPE_FILE).read_bytes()
    (cut / nd.GENOTYPE_FILE).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ConversionError, match=f"{nd.GENOTYPE_FILE}: not a list of nasbench.sample_model.Genotype"):
        nd.convert(cut, tmp_path / "out")
    short = write_official(tmp_path / "short", genotypes[:20], values[:19])
    with pytest.raises(ConversionError, match="19 values, expected a list of 20"):
        nd.convert(short, tmp_path / "out")
    with_none = [dict(g) for g in genotypes[:20]]
    with_none[3] = {**with_none[3], "normal": [["none", 0], *with_none[3]["normal"][1:]]}
    outside = write_official(tmp_path / "none", with_none, values[:20])
    with pytest.raises(ConversionError, match="genotype 3 is outside the DARTS space .*op 'none'"):
        nd.convert(outside, tmp_path / "out")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / nd.GENOTYPE_FILE).write_bytes(pickle.dumps([print], protocol=4))
    (tmp_path / "evil" / nd.ACCURACY_FILE).write_bytes((good / nd.ACCURACY_FILE).read_bytes())
    with pytest.raises(ConversionError, match="refusing to unpickle builtins.print"):
        nd.convert(tmp_path / "evil", tmp_path / "out")


def test_cli_reports_a_bad_source_in_one_line(tmp_path, capsys):
    assert cli(["convert", nd.NAME, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and f"{nd.GENOTYPE_FILE}: no such file" in err


def test_resolve_table_converts_once_and_is_none_without_data(source, tmp_path, monkeypatch):
    assert nd.resolve_table(tmp_path / "empty", tmp_path / "cache") is None
    calls = []
    monkeypatch.setattr(nd, "convert", lambda s, o: calls.append(s) or o)
    assert nd.resolve_table(source, tmp_path / "cache") == tmp_path / "cache" / nd.NAME and calls == [source]
    with pytest.raises(BenchmarkTableMissingError, match="python -m benchmarks convert nb301_distilled"):
        nd.resolve_table(source, tmp_path / "cache", configured=tmp_path / "nowhere")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get(FULL_ENV), reason=f"the full conversion takes 1-2 min; set {FULL_ENV}=1")
def test_full_conversion_agrees_with_the_official_surrogate(data_root, tmp_path):
    """The README's numbers: Spearman >= 0.9 on the 2,000 hold-out and on NASLib's 725 values."""
    out = nd.convert(data_root / "nasbench301", tmp_path / nd.NAME)
    v = json.loads((out / "metadata.json").read_text())["validation"]
    assert v["holdout"]["nb301_distilled"]["n"] == 2000 and v["naslib"]["nb301_distilled"]["n"] == 725
    assert v["holdout"]["nb301_distilled"]["spearman"] >= 0.9 and v["naslib"]["nb301_distilled"]["spearman"] >= 0.9
