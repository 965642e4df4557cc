"""NB101 predicted: a LightGBM predictor of NAS-Bench-101 validation accuracy for every NB1Shot1 space-3 cell.

Why: the staged NB101 data (`benchmarks.nasbench101`, partial) holds 30,031 of NB101's 423,624
cells, so most cells a NAS-Bench-1Shot1 search finds have no looked-up value. This benchmark
answers every space-3 cell with a PREDICTED value, in its own column (`nb101_pred_val_acc`),
never mixed with the table's looked-up ones (those stay in `nasbench101`).

    python -m benchmarks convert nb101_predicted $HARNESS_DATA/nasbench101   # -> $HARNESS_CACHE/nb101_predicted

Training data (the staged sources, `shared/data/README.md`): CIFAR-10 validation accuracy at 108
epochs, keyed by NB101 module hash: `nb101_dummy.pkl` (30 cells, mean of 3 runs; read with the
restricted unpickler), `nasbench-vis_data-{1k,10k,20k}.json` (30,001 cells, ONE run each) and
NASLib's `zc_nasbench101.json` (292 distinct cells, `val_accuracy` of one run per record; records
of the same cell are averaged; used only for cells the other files lack). A label needs the cell's
structure for features; the vis 10k/20k files give hashes only, so their cells are recovered by
enumerating space 3 (`_nb1shot1_cells`: 55,854 cells) and matching hashes. Labelled cells outside
space 3 without a stored structure cannot be used (counted in metadata.json).

Conversion (deterministic; seed `SEED`): a fixed 80/20 split of the usable labelled cells, the
feature encoding (`_nb101_features.ENCODINGS`) picked by 5-fold Spearman on the 80 % only,
LightGBM fitted on the 80 %, Spearman / Kendall tau / MAE on the 20 % hold-out (all of it and its
space-3 part), then a prediction for every space-3 cell. The table folder holds `model.txt`
(LightGBM text format), `features.json`, `table.parquet` (one row per space-3 cell: module_hash,
nb101_pred_val_acc, split, the staged label and its source, adjacency, ops) and `metadata.json`
(sha256 of every source file and of the files above, params, validation).

Lookup: an NB1Shot1 arch key (`<genotype>#<module hash>`, `spaces.nasbench1shot1.arch_key`) or a
bare 32-hex hash -> `nb101_pred_val_acc` and `nb101_pred_in_training` (True when that cell's own
staged value was in the training split, i.e. the prediction is an in-sample fit). A hash that is
not a space-3 cell raises `ArchNotInBenchmarkError` saying so.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import _nb101_features, _nb1shot1_cells, _predictor, nasbench101
from benchmarks._columns import MetricColumn
from benchmarks._table_dir import resolve_cached, sha256_file, write_table
from benchmarks.errors import ArchNotInBenchmarkError, ConversionError

log = logging.getLogger(__name__)

NAME = "nb101_predicted"
FORMAT_VERSION = 1
VERSION = "LightGBM on the staged NB101 108-epoch validation accuracies, every NB1Shot1 space-3 cell"
ZC_FILE = "zc_nasbench101.json"
ZC_OPS = ("input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")  # NASLib's all_ops order
VIS_FILES = tuple(n for n in nasbench101.PARTIAL_FILES if n.endswith(".json"))
DUMMY_FILE = "nb101_dummy.pkl"
EPOCHS = 108
SEED = 0
HOLDOUT_FRACTION = 0.2
CV_FOLDS = 5
ROUNDS = 500
PARAMS: dict[str, Any] = {"num_leaves": 15, "learning_rate": 0.03, "min_data_in_leaf": 20, "feature_fraction": 0.5,
                          "bagging_fraction": 0.8, "bagging_freq": 1, "seed": SEED}
CONVERT_COMMAND = f"python -m benchmarks convert {NAME} $HARNESS_DATA/nasbench101"
OBTAIN_HINT = (f"put the staged NB101 files ({', '.join(nasbench101.PARTIAL_FILES)}, {ZC_FILE}) in "
               f"$HARNESS_DATA/nasbench101/ and run `{CONVERT_COMMAND}`")
METRIC_COLUMNS: tuple[MetricColumn, ...] = (
    MetricColumn("nb101_pred_val_acc", "float64",
                 "PREDICTED (nb101_predicted LightGBM, not a training run) CIFAR-10 validation accuracy (%) of the "
                 "NB101 cell at 108 epochs; hold-out agreement in metadata.json; never mix with nb101_valid_acc",
                 predicted=True),
    MetricColumn("nb101_pred_in_training", "bool",
                 "the cell's own staged validation accuracy was in the predictor's training split (in-sample fit)"),
)
_UNLABELLED, _TRAIN, _HOLDOUT = "unlabelled", "train", "holdout"


@dataclass
class Label:
    """One cell's staged validation accuracy (percent), where it came from, and its structure if known."""

    value: float
    source: str
    cell: _nb1shot1_cells.Cell | None
    in_nasbench101_table: bool


def _cell(matrix: np.ndarray, ops: list[str]) -> tuple[str, _nb1shot1_cells.Cell]:
    """(module hash, pruned cell) of an NB101 spec; ValueError for an invalid one."""
    h, pm, pops = nasbench101.cell_hash(np.asarray(matrix), ops)
    return h, (tuple(tuple(int(v) for v in row) for row in pm), tuple(pops[1:-1]))


def _entry_cell(entry: Any, key: str) -> _nb1shot1_cells.Cell | None:
    """The pruned cell a nasbench101 reader entry stores (None if it has none); its hash must be `key`."""
    if not entry.adjacency or not entry.ops:
        return None
    n = math.isqrt(len(entry.adjacency))
    h, cell = _cell(np.array([int(c) for c in entry.adjacency]).reshape(n, n), entry.ops.split(","))
    if h != key:
        raise ValueError(f"its stored cell hashes to {h}")
    return cell


def _read_zc(path: Path) -> dict[str, tuple[float, _nb1shot1_cells.Cell]]:
    """hash -> (mean val_accuracy percent over its records, pruned cell) of NASLib's zc_nasbench101.json."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["nasbench101"]["cifar10"]
        grouped: dict[str, list] = {}
        for key, rec in records.items():
            spec = ast.literal_eval(key)
            n = math.isqrt(len(spec) + 1)  # n*n + n entries: flattened matrix, then op indices
            if n * n + n != len(spec):
                raise ValueError(f"key of {len(spec)} numbers is not an n*n matrix plus n ops")
            h, cell = _cell(np.array(spec[: n * n]).reshape(n, n), [ZC_OPS[i] for i in spec[n * n:]])
            grouped.setdefault(h, [cell, []])[1].append(float(rec["val_accuracy"]))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError,
            SyntaxError) as exc:
        raise ConversionError(f"{path}: not NASLib's zc_nasbench101.json ({{\"nasbench101\": {{\"cifar10\": "
                              f"{{spec tuple: {{\"val_accuracy\": ...}}}}}}}}) ({type(exc).__name__}: {exc}); "
                              f"fix: {OBTAIN_HINT}") from None
    return {h: (float(np.mean(vals)), cell) for h, (cell, vals) in grouped.items()}


def read_labels(source: Path) -> dict[str, Label]:
    """hash -> Label from the staged files in `source` (the nasbench101 readers, then NASLib's file)."""
    present = [source / n for n in (*VIS_FILES, DUMMY_FILE, ZC_FILE) if (source / n).is_file()]
    if not present:
        raise ConversionError(f"cannot convert {source} as {NAME}: none of {', '.join((*VIS_FILES, DUMMY_FILE, ZC_FILE))} "
                              f"is there; {OBTAIN_HINT}")
    labels: dict[str, Label] = {}
    # vis files, then the dummy (mean of 3 runs) wins, as in the nasbench101 table.
    for path in present:
        if path.name == ZC_FILE:
            continue
        entries = nasbench101._read_dummy(path) if path.suffix == ".pkl" else nasbench101._read_vis(path)
        for (h, epochs), entry in entries.items():
            valid = [v for v in entry.valid if v is not None and math.isfinite(v)]
            if epochs != EPOCHS or not valid:
                continue
            try:
                cell = _entry_cell(entry, h)
            except ValueError as exc:
                raise ConversionError(f"{path}: cell {h} is not a valid NB101 cell ({exc}); fix: {OBTAIN_HINT}") from None
            known = labels.get(h)
            labels[h] = Label(100.0 * float(np.mean(valid)), path.name, cell or (known.cell if known else None), True)
    if (source / ZC_FILE).is_file():
        for h, (value, cell) in _read_zc(source / ZC_FILE).items():
            if h not in labels:
                labels[h] = Label(value, ZC_FILE, cell, False)
            elif labels[h].cell is None:
                labels[h].cell = cell
    bad = [h for h, lab in labels.items() if not 0.0 < lab.value <= 100.0]
    if bad:
        raise ConversionError(f"{source}: cell {bad[0]} has validation accuracy {labels[bad[0]].value}, not a "
                              f"percentage in (0, 100]; fix: {OBTAIN_HINT}")
    return labels


def convert(source: Path, out_dir: Path, *, encoding: str | None = None,
            cells: dict[str, _nb1shot1_cells.Cell] | None = None) -> Path:
    """Fit, validate and write the predictor from the staged NB101 folder `source`.

    Args:
        encoding: a key of `_nb101_features.ENCODINGS`; None (default) picks by k-fold CV on the training split.
        cells: the space-3 cells to answer (hash -> cell); None (default) enumerates all of them (~1 min).
    """
    source, out_dir = Path(source).expanduser().resolve(), Path(out_dir).expanduser()
    if not source.is_dir():
        raise ConversionError(f"cannot convert {source} as {NAME}: expected the staged nasbench101 folder; {OBTAIN_HINT}")
    labels = read_labels(source)
    if cells is None:
        log.info("enumerating NB1Shot1 space-3 cells (once per conversion, ~1 min)")
        cells = _nb1shot1_cells.enumerate_cells(_nb1shot1_cells.topologies())
    usable = sorted(h for h, lab in labels.items() if h in cells or lab.cell is not None)
    if len(usable) < 2 * CV_FOLDS * 10:
        raise ConversionError(f"{source}: only {len(usable)} labelled cells with a known structure; too few to fit "
                              f"and validate a predictor; fix: {OBTAIN_HINT}")
    example_cells = [cells.get(h) or labels[h].cell for h in usable]
    y = np.array([labels[h].value for h in usable])
    train, holdout = _predictor.holdout_split(len(usable), SEED, HOLDOUT_FRACTION)
    if encoding is None:
        encoding, cv = _predictor.select_encoding(
            {name: (lambda name=name: _nb101_features.encode(name, [example_cells[i] for i in train]))
             for name in _nb101_features.ENCODINGS}, y[train], PARAMS, ROUNDS, folds=CV_FOLDS, seed=SEED)
    else:
        _nb101_features.feature_names(encoding)  # unknown names fail here, listing the valid ones
        cv = {}
    x = _nb101_features.encode(encoding, example_cells)
    booster = _predictor.fit(x[train], y[train], PARAMS, ROUNDS)
    predicted = booster.predict(x[holdout])
    in_space = np.array([usable[i] in cells for i in holdout])
    validation = {"holdout": {"all": _predictor.agreement(predicted, y[holdout]),
                              "space3": _predictor.agreement(predicted[in_space], y[holdout][in_space])}}
    for part, m in validation["holdout"].items():
        log.info("%s validation: 20%% hold-out (%s): n=%d Spearman %.4f Kendall %.4f MAE %.3f pp",
                 NAME, part, m["n"], m["spearman"], m["kendall"], m["mae"])

    hashes = sorted(cells)
    split = {usable[i]: _TRAIN for i in train} | {usable[i]: _HOLDOUT for i in holdout}
    prediction = booster.predict(_nb101_features.encode(encoding, [cells[h] for h in hashes]))
    table = pa.table({
        "module_hash": pa.array(hashes, pa.string()),
        "nb101_pred_val_acc": pa.array(prediction, pa.float64()),
        "split": pa.array([split.get(h, _UNLABELLED) for h in hashes], pa.string()),
        "label_val_acc": pa.array([labels[h].value if h in labels else None for h in hashes], pa.float64()),
        "label_source": pa.array([labels[h].source if h in labels else None for h in hashes], pa.string()),
        "in_nasbench101_table": pa.array([h in labels and labels[h].in_nasbench101_table for h in hashes], pa.bool_()),
        "adjacency": pa.array(["".join(str(v) for row in cells[h][0] for v in row) for h in hashes], pa.string()),
        "ops": pa.array([",".join(cells[h][1]) for h in hashes], pa.string()),
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    model_meta = _predictor.write_model(out_dir, booster, {
        "encoding": encoding, "definition": _nb101_features.ENCODINGS[encoding], "ops": list(nasbench101.OPS),
        "feature_names": _nb101_features.feature_names(encoding)})
    sources = sorted({lab.source for lab in labels.values()})
    meta = {
        "benchmark": NAME, "format_version": FORMAT_VERSION, "version": VERSION, "source": f"{VERSION}: {source}",
        "source_files": [{"name": n, "sha256": sha256_file(source / n)} for n in sources],
        "epochs": EPOCHS, "n_archs": len(hashes),
        "labels": {"cells": len(labels), "usable": len(usable), "usable_in_space3": int(sum(h in cells for h in usable)),
                   "without_structure": len(labels) - len(usable),
                   "by_source": {n: sum(lab.source == n for lab in labels.values()) for n in sources}},
        "split": {"seed": SEED, "holdout_fraction": HOLDOUT_FRACTION, "n_train": len(train), "n_holdout": len(holdout)},
        "model": {**model_meta, "library": f"lightgbm {_predictor.lightgbm_version()}", "params": PARAMS,
                  "rounds": ROUNDS, "fitted_on": "train split only"},
        "encoding": {"chosen": encoding, "cv_folds": CV_FOLDS, "cv_spearman_on_train": cv,
                     "chosen_by": "k-fold Spearman on the training split" if cv else "given"},
        "validation": validation, "metrics": {c.name: c.meaning for c in METRIC_COLUMNS},
        "citation": nasbench101.CITATION, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table_file": "table.parquet", "table_sha256": _predictor.sha256_bytes(data),
    }
    write_table(out_dir, data, meta)
    log.info("wrote %s (%s, %d space-3 cells, %d labelled for training/hold-out) to %s", NAME, encoding,
             len(hashes), len(usable), out_dir)
    return out_dir


@dataclass(frozen=True, eq=False)
class NB101PredictedTable(_predictor.FittedModelTable):
    """Predicted validation accuracy of every space-3 cell, keyed by module hash."""

    path: Path
    metadata: dict[str, Any]
    _rows: dict[str, tuple[float, bool]] = field(repr=False)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        m = nasbench101._HASH_RE.search(key) if isinstance(key, str) else None
        return m is not None and m.group(1) in self._rows

    def lookup(self, arch_key: str) -> dict[str, Any]:
        m = nasbench101._HASH_RE.search(arch_key) if isinstance(arch_key, str) else None
        if m is None:
            raise ArchNotInBenchmarkError(str(arch_key), str(self.path), hint=(
                "keys are 32-hex NB101 module hashes or NB1Shot1 arch keys ending in '#<hash>' "
                "(spaces.nasbench1shot1.arch_key)"))
        row = self._rows.get(m.group(1))
        if row is None:
            raise ArchNotInBenchmarkError(arch_key, str(self.path), hint=(
                f"module hash {m.group(1)} is not a NAS-Bench-1Shot1 search-space-3 cell; this predictor answers "
                f"exactly the {len(self._rows):,} cells of that space"))
        return {"nb101_pred_val_acc": row[0], "nb101_pred_in_training": row[1]}


def _fix(table_dir: Path) -> str:
    return _predictor.rebuild_hint(CONVERT_COMMAND, table_dir)


def open_table(table_dir: Path) -> NB101PredictedTable:
    """Load a converted table; the table, model and features files are checked against metadata.json."""
    table_dir = Path(table_dir).expanduser()
    meta, data, _, _ = _predictor.open_verified(NAME, table_dir, FORMAT_VERSION, CONVERT_COMMAND)
    cols = pq.read_table(pa.BufferReader(data), columns=["module_hash", "nb101_pred_val_acc", "split"]).to_pydict()
    rows = {h: (float(v), s == _TRAIN) for h, v, s in zip(cols["module_hash"], cols["nb101_pred_val_acc"], cols["split"])}
    return NB101PredictedTable(path=table_dir, metadata=meta, _rows=rows)


def find_source(data_root: Path) -> Path | None:
    for base in (Path(data_root) / "nasbench101", Path(data_root)):
        if any((base / n).is_file() for n in (*VIS_FILES, DUMMY_FILE, ZC_FILE)):
            return base
    return None


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """`configured`, else the cached table, else one converted now from the data root; None without data."""
    fix = _fix(Path(configured)) if configured is not None else ""
    return resolve_cached(NAME, data_root, cache_root, configured, fix=fix, find_source=find_source,
                          convert=convert, note="~2 min; ")
