"""NAS-Bench-101 as a local lookup table: our own reader of the official tfrecord, no TensorFlow.

NAS-Bench-1Shot1 (FREEDARTS_SPEC §4.2, §5.2) looks its architectures up in NAS-Bench-101
(Ying et al., ICML 2019). The official API needs TensorFlow 1 and is not installable here
(shared/BENCHMARK_APIS.md §4), so this module reads the data files itself and converts them
ONCE into `<out>/table.parquet` + `<out>/metadata.json`, keyed by the NB101 module hash.

Accepted sources (`convert` detects the kind):

* `nasbench_full.tfrecord` / `nasbench_only108.tfrecord` (official): TFRecord framing
  `uint64 len | uint32 masked_crc32c(len) | data | uint32 masked_crc32c(data)` (little-endian,
  CRC-32C), data = UTF-8 JSON `[module_hash, epochs, raw_adjacency, raw_operations,
  base64(ModelMetrics)]`, ModelMetrics a proto2 message decoded by the small wire-format reader
  below (`evaluation_data = 1` repeated {current_epoch, training_time, train_accuracy,
  validation_accuracy, test_accuracy} doubles 1..5, `trainable_parameters = 2`, `total_time = 3`).
  Every (hash, epochs) has one record per training repeat (3). The hash of every record is
  recomputed from its adjacency and operations and must match (`verify_hash`).
* the staged PARTIAL data, a directory such as `shared/data/nasbench101/` holding
  `nb101_dummy.pkl` (30 cells, 108 epochs, 3 repeats with validation AND test accuracy; NASLib's
  `get_metrics_from_hash` structure) and/or `nasbench-vis_data-{1k,10k,20k}.json` (30,001 cells,
  ONE training run each, validation accuracy at 4/12/36/108 epochs, no test accuracy). Both are
  merged into one table (the dummy file wins where both have a cell) and `metadata.json` states
  the coverage: how many of NB101's 423,624 cells are present, with and without test accuracy.

Table: one row per (`module_hash`, `epochs`) with `valid_acc_r{0,1,2}`, `test_acc_r{0,1,2}`,
`train_acc_r{0,1,2}`, `train_time_s_r{0,1,2}` (fractions / seconds, null where the source has
no value or fewer repeats), `params`, `n_repeats`, `source`, and the pruned `adjacency`/`ops`
where the source has them.

Lookup (`NB101Table.lookup(key, epochs=108)`): `key` is a 32-hex module hash or any arch key
ending in `#<hash>` (what `spaces.nasbench1shot1.arch_key` returns). It returns, in percent:

    nb101_valid_acc, nb101_test_acc                 mean over the repeats the table has
    nb101_valid_acc_r0..r2, nb101_test_acc_r0..r2   each repeat (absent where missing)
    nb101_best_repeat_valid_acc/_test_acc           best single repeat (paper Table 4 "Best", §5.2)
    nb101_params (count), nb101_train_time_s (mean), nb101_n_repeats, nb101_epochs, nb101_hash

A cell missing from a partial table raises `ArchNotInBenchmarkError` whose hint states the
table's coverage; the harness records that row as `lookup_status = not_in_table`.

    >>> from benchmarks import nasbench101 as nb101
    >>> out = nb101.convert(Path("shared/data/nasbench101"), Path("/tmp/nb101"))   # partial data
    >>> nb101.open_table(out).lookup("ff92c322c5d9d3d587d9c146a63d0807")["nb101_test_acc"]

Re-exported here: `module_hash(matrix, ops)` and `prune(matrix, ops)` (NB101's hash and `ModelSpec`
pruning, archcodec/nb101.py, shared with the space) and the file reader (`_nb101_tfrecord.py`);
the writers that build test fixtures are in tests/nb101_tfrecord_writer.py.
Please cite NAS-Bench-101 (Ying et al., ICML 2019) and NAS-Bench-1Shot1 (Zela et al., ICLR 2020).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archcodec.nb101 import (  # noqa: F401  (re-exported: the hash and pruning belong to the NB101 cell)
    INPUT, MAX_EDGES, MAX_VERTICES, OPS, OUTPUT, cell_hash, check_spec, module_hash, prune,
)
from benchmarks import _safe_pickle
from benchmarks._columns import MetricColumn
from benchmarks._nb101_tfrecord import (  # noqa: F401  (re-exported: the file reader is part of this benchmark)
    EvaluationData, ModelMetrics, crc32c, decode_model_metrics, masked_crc32c, read_tfrecord,
)
from benchmarks.errors import ArchNotInBenchmarkError, ConversionError
from benchmarks._table_dir import (  # noqa: F401  (has_table: public API)
    METADATA_FILE, TABLE_FILE, has_table, read_verified, require_table, sha256_file, write_table,
)

log = logging.getLogger(__name__)

NAME = "nasbench101"
FORMAT_VERSION = 1
N_NB101_CELLS = 423_624  # unique cells in NAS-Bench-101
REPEATS = 3
DEFAULT_EPOCHS = 108

TFRECORD_FILES = ("nasbench_full.tfrecord", "nasbench_only108.tfrecord")
PARTIAL_FILES = ("nb101_dummy.pkl", "nasbench-vis_data-1k.json", "nasbench-vis_data-10k.json",
                 "nasbench-vis_data-20k.json")
KIND_TFRECORD = "nb101_tfrecord"
KIND_PARTIAL = "nb101_partial"
CONVERT_COMMAND = "python -m benchmarks convert nasbench101 <nasbench_only108.tfrecord | staged nasbench101 dir>"
OBTAIN_HINT = (
    "get nasbench_only108.tfrecord or nasbench_full.tfrecord (links in the google-research/nasbench README) "
    f"and place it in $HARNESS_DATA/nasbench101/, or run `{CONVERT_COMMAND}`"
)
CITATION = ("C. Ying et al., NAS-Bench-101: Towards Reproducible Neural Architecture Search, ICML 2019; "
            "A. Zela, J. Siems and F. Hutter, NAS-Bench-1Shot1, ICLR 2020")
_HASH_RE = re.compile(r"(?:^|#)([0-9a-f]{32})$")

METRIC_SEMANTICS = {
    "nb101_valid_acc": "CIFAR-10 validation accuracy (%) at the epoch budget, mean over the repeats the table has",
    "nb101_test_acc": "CIFAR-10 test accuracy (%) at the epoch budget, mean over the repeats the table has",
    "nb101_valid_acc_r{i}": "validation accuracy (%) of training repeat i",
    "nb101_test_acc_r{i}": "test accuracy (%) of training repeat i",
    "nb101_best_repeat_valid_acc": "best single-repeat validation accuracy (%) (paper Table 4 'Best', spec §5.2)",
    "nb101_best_repeat_test_acc": "best single-repeat test accuracy (%) (paper Table 4 'Best', spec §5.2)",
    "nb101_params": "trainable parameters of the NB101 network",
    "nb101_train_time_s": "training time (s) at the epoch budget, mean over repeats",
    "nb101_n_repeats": "repeats with a validation accuracy in the table (3 in the full benchmark)",
}
_R = [f"nb101_{m}_r{i}" for m in ("valid_acc", "test_acc") for i in range(REPEATS)]
METRIC_COLUMNS: tuple[MetricColumn, ...] = (  # in the results table's column order
    MetricColumn("nb101_valid_acc", "float64", METRIC_SEMANTICS["nb101_valid_acc"]),
    MetricColumn("nb101_test_acc", "float64", METRIC_SEMANTICS["nb101_test_acc"], headline=("cifar10",)),
    *(MetricColumn(r, "float64", METRIC_SEMANTICS[r[:-1] + "{i}"]) for r in _R),
    *(MetricColumn(n, "float64", METRIC_SEMANTICS[n]) for n in
      ("nb101_best_repeat_valid_acc", "nb101_best_repeat_test_acc", "nb101_train_time_s")),
    MetricColumn("nb101_params", "int64", METRIC_SEMANTICS["nb101_params"]),
    MetricColumn("nb101_n_repeats", "int64", METRIC_SEMANTICS["nb101_n_repeats"]),
    MetricColumn("nb101_hash", "string", "the NB101 module hash looked up"),
    MetricColumn("nb101_epochs", "int64", "the epoch budget looked up (108 unless asked)", in_store=False),
)


# -- conversion -------------------------------------------------------------------------------------
@dataclass
class _Entry:
    params: int | None = None
    valid: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    adjacency: str | None = None
    ops: str | None = None
    source: str = ""


def _pad(values: list[float]) -> list[float | None]:
    vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values[:REPEATS]]
    return vals + [None] * (REPEATS - len(vals))


def _read_tfrecord_entries(path: Path, verify_hash: bool, verify_crc: bool) -> dict[tuple[str, int], _Entry]:
    entries: dict[tuple[str, int], _Entry] = {}
    checked: dict[str, str] = {}
    for i, payload in enumerate(read_tfrecord(path, verify_crc=verify_crc)):
        try:
            key, epochs, raw_adj, raw_ops, blob = json.loads(payload.decode("utf-8"))
            ops = raw_ops.split(",")
            n = int(round(math.sqrt(len(raw_adj))))
            matrix = np.array([int(c) for c in raw_adj], dtype=np.int64).reshape(n, n)
            metrics = decode_model_metrics(base64.b64decode(blob))
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            raise ConversionError(f"{path}: record {i} is not an NB101 record "
                                  f"([hash, epochs, adjacency, ops, base64 ModelMetrics]): {e}") from e
        if verify_hash and checked.get(key) != raw_adj + raw_ops:
            mine = module_hash(matrix, ops)
            if mine != key:
                raise ConversionError(f"{path}: record {i} is keyed {key} but its cell hashes to {mine}; "
                                      "the file is not NB101 data or is corrupted")
            checked[key] = raw_adj + raw_ops
        entry = entries.setdefault((key, int(epochs)), _Entry(source=path.name))
        entry.params = metrics.trainable_parameters
        entry.adjacency, entry.ops = raw_adj, raw_ops
        final = metrics.evaluation_data[-1] if metrics.evaluation_data else EvaluationData()
        entry.valid.append(final.validation_accuracy)
        entry.test.append(final.test_accuracy)
        entry.train.append(final.train_accuracy)
        entry.time.append(final.training_time)
    return entries


# The dummy pickle holds int64 adjacency arrays in dicts of floats; nothing else is admitted.
_DUMMY_GLOBALS = _safe_pickle.numpy_globals(array_dtypes=("<i8", "<i4", "|i1"))
_DUMMY_FORMAT = "an NB101 get_metrics_from_hash pickle ({hash: (fixed_stats, {epochs: [runs]})})"


def _read_dummy(path: Path) -> dict[tuple[str, int], _Entry]:
    data = _safe_pickle.load_file(path, _DUMMY_GLOBALS, expected=_DUMMY_FORMAT, fix=OBTAIN_HINT)
    try:
        entries = {}
        for key, (fixed, computed) in data.items():
            matrix = np.asarray(fixed["module_adjacency"]).astype(np.int64)
            ops = list(fixed["module_operations"])
            for epochs, runs in computed.items():
                entries[(str(key), int(epochs))] = _Entry(
                    params=int(fixed["trainable_parameters"]),
                    valid=[r["final_validation_accuracy"] for r in runs],
                    test=[r["final_test_accuracy"] for r in runs],
                    train=[r["final_train_accuracy"] for r in runs],
                    time=[r["final_training_time"] for r in runs],
                    adjacency="".join(str(int(v)) for v in matrix.flatten()), ops=",".join(ops), source=path.name)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConversionError(f"{path}: not {_DUMMY_FORMAT}: {type(e).__name__}: {e}") from e
    return entries


_VIS_EPOCHS = (4, 12, 36, 108)


def _vis_cell(adjacency: list, operations: list) -> tuple[str, str]:
    """(raw adjacency, raw ops) of a nasbench-vis 1k entry, with the -3 padding vertices dropped."""
    keep = [i for i, o in enumerate(operations) if o != -3]
    m = np.asarray(adjacency, dtype=float).astype(np.int64)[np.ix_(keep, keep)]
    names = {-1: INPUT, -2: OUTPUT, 0: OPS[0], 1: OPS[1], 2: OPS[2]}
    return "".join(str(int(v)) for v in m.flatten()), ",".join(names[operations[i]] for i in keep)


def _read_vis(path: Path) -> dict[tuple[str, int], _Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = data["key"]
        entries = {}
        for i, key in enumerate(keys):
            adj = ops = None
            if "adjacency" in data and "operations" in data:
                adj, ops = _vis_cell(data["adjacency"][i], data["operations"][i])
            for epochs in _VIS_EPOCHS:
                entries[(key, epochs)] = _Entry(
                    params=int(data["trainable_parameters"][i]),
                    valid=[float(data[f"{epochs}_final_validation_accuracy"][i])],
                    time=[float(data["final_training_time"][i])] if epochs == 108 else [],
                    adjacency=adj, ops=ops, source=path.name)
    except (OSError, KeyError, TypeError, ValueError, IndexError) as e:
        raise ConversionError(f"{path}: not a nasbench-vis data JSON (parallel lists key, "
                              f"<epochs>_final_validation_accuracy, ...): {type(e).__name__}: {e}") from e
    return entries


def _partial_sources(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    return [source / name for name in PARTIAL_FILES if (source / name).is_file()]


def detect_source_kind(source: Path) -> str:
    if source.is_file() and source.suffix == ".tfrecord":
        return KIND_TFRECORD
    if source.is_file() and source.name in PARTIAL_FILES:
        return KIND_PARTIAL
    if source.is_dir():
        for name in TFRECORD_FILES:
            if (source / name).is_file():
                return KIND_TFRECORD
        if _partial_sources(source):
            return KIND_PARTIAL
    raise ConversionError(f"cannot convert {source} as NAS-Bench-101: expected a .tfrecord ({', '.join(TFRECORD_FILES)}), "
                          f"one of {', '.join(PARTIAL_FILES)}, or a directory holding them; {OBTAIN_HINT}")


def _table_bytes(entries: dict[tuple[str, int], _Entry]) -> bytes:
    keys = sorted(entries)
    cols: dict[str, list] = {"module_hash": [k[0] for k in keys], "epochs": [k[1] for k in keys]}
    for name, attr in (("valid_acc", "valid"), ("test_acc", "test"), ("train_acc", "train"), ("train_time_s", "time")):
        padded = [_pad(getattr(entries[k], attr)) for k in keys]
        for r in range(REPEATS):
            cols[f"{name}_r{r}"] = [p[r] for p in padded]
    cols["n_repeats"] = [sum(v is not None for v in _pad(entries[k].valid)) for k in keys]
    cols["params"] = [entries[k].params for k in keys]
    cols["adjacency"] = [entries[k].adjacency for k in keys]
    cols["ops"] = [entries[k].ops for k in keys]
    cols["source"] = [entries[k].source for k in keys]
    types = {"module_hash": pa.string(), "epochs": pa.int64(), "n_repeats": pa.int64(), "params": pa.int64(),
             "adjacency": pa.string(), "ops": pa.string(), "source": pa.string()}
    table = pa.table({c: pa.array(v, type=types.get(c, pa.float64())) for c, v in cols.items()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def coverage(entries: dict[tuple[str, int], _Entry], kind: str) -> dict[str, Any]:
    """What the table holds at each epoch budget: cells, cells with test accuracy, repeats."""
    out: dict[str, Any] = {"kind": kind, "nb101_cells": N_NB101_CELLS, "by_epochs": {}}
    for epochs in sorted({e for _, e in entries}):
        es = [v for (h, e), v in entries.items() if e == epochs]
        with_test = sum(any(t is not None and not math.isnan(t) for t in v.test) for v in es)
        full = sum(len([x for x in v.valid if not math.isnan(x)]) >= REPEATS for v in es)
        out["by_epochs"][str(epochs)] = {"cells": len(es), "cells_with_test_acc": with_test,
                                         "cells_with_3_repeats": full,
                                         "fraction_of_nb101": round(len(es) / N_NB101_CELLS, 6)}
    cov = out["by_epochs"].get(str(DEFAULT_EPOCHS), {"cells": 0, "cells_with_test_acc": 0})
    partial = kind != KIND_TFRECORD or cov["cells"] < N_NB101_CELLS
    out["complete"] = not partial
    out["summary"] = (f"{'PARTIAL' if partial else 'complete'} NB101 table: {cov['cells']:,} of {N_NB101_CELLS:,} "
                      f"cells at {DEFAULT_EPOCHS} epochs ({100 * cov['cells'] / N_NB101_CELLS:.2f} %), "
                      f"{cov['cells_with_test_acc']:,} with test accuracy")
    return out


def convert(source: Path, out_dir: Path, *, verify_hash: bool = True, verify_crc: bool = True) -> Path:
    """Convert an NB101 tfrecord or the staged partial data into `out_dir` (table + metadata); return it.

    Raises:
        ConversionError: unknown or malformed source (the message names the file and what was expected).
    """
    source, out_dir = Path(source).expanduser().resolve(), Path(out_dir).expanduser()
    kind = detect_source_kind(source)
    if kind == KIND_TFRECORD:
        files = [source] if source.is_file() else [next(source / n for n in TFRECORD_FILES if (source / n).is_file())]
        entries = _read_tfrecord_entries(files[0], verify_hash, verify_crc)
    else:
        files = _partial_sources(source)
        entries = {}
        # vis files first, the dummy (3 repeats with test accuracy) last so that it wins.
        for path in sorted(files, key=lambda p: p.suffix == ".pkl"):
            entries.update(_read_dummy(path) if path.suffix == ".pkl" else _read_vis(path))
    if not entries:
        raise ConversionError(f"{source}: no NB101 records found; {OBTAIN_HINT}")
    data = _table_bytes(entries)
    meta = {
        "benchmark": NAME, "format_version": FORMAT_VERSION,
        "source": {"path": str(source), "name": source.name, "kind": kind,
                   "files": [{"name": p.name, "sha256": sha256_file(p)} for p in files]},
        "coverage": coverage(entries, kind),
        "n_rows": len(entries),
        "n_archs": len({h for h, _ in entries}),
        "key": "NB101 module hash of the pruned cell (graph_util.hash_module)",
        "metrics": METRIC_SEMANTICS, "citation": CITATION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table_file": TABLE_FILE, "table_sha256": hashlib.sha256(data).hexdigest(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(out_dir, data, meta)
    log.info("wrote NB101 table (%s) to %s; please cite %s", meta["coverage"]["summary"], out_dir, CITATION)
    return out_dir


# -- lookup -----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NB101Table:
    """A converted NB101 table in memory: {(hash, epochs): row} for O(1) lookups."""

    path: Path
    metadata: dict[str, Any]
    _rows: dict[tuple[str, int], dict[str, Any]] = field(repr=False)

    @property
    def sha256(self) -> str:
        return str(self.metadata["table_sha256"])

    @property
    def coverage_summary(self) -> str:
        return str(self.metadata.get("coverage", {}).get("summary", ""))

    def __len__(self) -> int:
        return len({h for h, _ in self._rows})

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (_HASH_RE.search(key) is not None) and \
            (_HASH_RE.search(key).group(1), DEFAULT_EPOCHS) in self._rows

    def row(self, module_hash_: str, epochs: int = DEFAULT_EPOCHS) -> dict[str, Any]:
        return dict(self._rows[(module_hash_, epochs)])

    def lookup(self, arch_key: str, epochs: int = DEFAULT_EPOCHS) -> dict[str, Any]:
        """Per-repeat and mean metrics (percent) of the cell keyed by `arch_key` (hash or `...#hash`)."""
        m = _HASH_RE.search(arch_key) if isinstance(arch_key, str) else None
        if m is None:
            raise ArchNotInBenchmarkError(str(arch_key), str(self.path), hint=(
                "NB101 keys are 32-hex module hashes or arch keys ending in '#<hash>' "
                "(spaces.nasbench1shot1.arch_key)"))
        h = m.group(1)
        row = self._rows.get((h, epochs))
        if row is None:
            raise ArchNotInBenchmarkError(arch_key, str(self.path), hint=(
                f"module hash {h} has no {epochs}-epoch row; the table is a {self.coverage_summary} "
                f"(convert the full benchmark: {OBTAIN_HINT})"))
        out: dict[str, Any] = {"nb101_hash": h, "nb101_epochs": epochs}
        for metric in ("valid_acc", "test_acc"):
            reps = [row[f"{metric}_r{r}"] for r in range(REPEATS)]
            vals = [100.0 * v for v in reps if v is not None and not math.isnan(v)]
            for r, v in enumerate(reps):
                if v is not None and not math.isnan(v):
                    out[f"nb101_{metric}_r{r}"] = 100.0 * v
            if vals:
                out[f"nb101_{metric}"] = sum(vals) / len(vals)
                out[f"nb101_best_repeat_{metric}"] = max(vals)
        times = [t for r in range(REPEATS) if (t := row[f"train_time_s_r{r}"]) is not None and not math.isnan(t)]
        if times:
            out["nb101_train_time_s"] = sum(times) / len(times)
        if row["params"] is not None:
            out["nb101_params"] = int(row["params"])
        out["nb101_n_repeats"] = int(row["n_repeats"])
        return out


def _missing_fix(table_dir: Path) -> str:
    return f"run `{CONVERT_COMMAND} --out {table_dir}` ({OBTAIN_HINT})"


def open_table(table_dir: Path) -> NB101Table:
    """Load a converted table, checking it against its metadata's sha256."""
    table_dir = Path(table_dir).expanduser()
    meta, data = read_verified(NAME, table_dir, _missing_fix(table_dir))
    cols = pq.read_table(pa.BufferReader(data)).to_pydict()
    names = [c for c in cols if c not in ("module_hash", "epochs")]
    rows = {(h, e): {c: cols[c][i] for c in names} for i, (h, e) in enumerate(zip(cols["module_hash"], cols["epochs"]))}
    return NB101Table(path=table_dir, metadata=meta, _rows=rows)


def find_raw_source(data_root: Path) -> Path | None:
    """The full tfrecord, else the only-108 one, else the staged partial directory, under the data root."""
    data_root = Path(data_root)
    for base in (data_root / NAME, data_root):
        for name in TFRECORD_FILES:
            if (base / name).is_file():
                return base / name
    for base in (data_root / NAME, data_root):
        if base.is_dir() and _partial_sources(base):
            return base
    return None


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """`configured`, else the cached table, else one converted now from the data root; None if no data."""
    if configured is not None:
        return require_table(NAME, configured, _missing_fix(Path(configured)))
    cached = Path(cache_root) / NAME
    source = find_raw_source(Path(data_root))
    if has_table(cached):
        meta = json.loads((cached / METADATA_FILE).read_text(encoding="utf-8"))
        # A cached partial table is replaced once a tfrecord appears.
        if not (source is not None and source.suffix == ".tfrecord"
                and meta.get("source", {}).get("kind") != KIND_TFRECORD):
            return cached
    if source is None:
        return None
    log.info("no %s table in %s yet; converting %s once (later runs reuse it)", NAME, cached, source)
    return convert(source, cached)

