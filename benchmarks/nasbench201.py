"""NAS-Bench-201 (= NATS-Bench topology space) as a local lookup table: convert once, look up in O(1).

Why a converted table: the official files are 2 GB torch pickles (NB201) or bz2 pickle archives
(NATS-Bench) whose APIs take seconds to minutes to load and print as they go. The harness needs
only six numbers per architecture, so each source is read ONCE through its real API and written
to `<out>/table.parquet` + `<out>/metadata.json`; every later run reads the ~1 MB table.

Accepted sources (`convert` detects the kind):

* an official NB201 file, `NAS-Bench-201-v1_1-096897.pth` (or v1_0-e61699), read by `nas_201_api`;
* NATS-Bench tss, `NATS-tss-v1_0-3ffb9-simple.pickle.pbz2` or a fast-mode directory such as
  `NATS-tss-v1_0-3ffb9-simple/` (holds `meta.pickle.pbz2`), read by `nats_bench.create(.., 'tss')`;
* `nats_bench.csv` (the 200-epoch test accuracies of all 15,625 cells; no validation columns).

Metric columns (percent, 200-epoch training, mean over seeds; see `METRICS` for the exact split):
`cifar10_test_acc`, `cifar100_test_acc`, `imagenet16_test_acc`, and, when the source has them,
`cifar10_valid_acc`, `cifar100_valid_acc`, `imagenet16_valid_acc`. Architectures are keyed by the
official string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.

Example:

    >>> from pathlib import Path
    >>> from benchmarks import nasbench201 as nb201
    >>> out = nb201.convert(Path("data/nasbench201/nats_bench.csv"), Path("/tmp/nb201"))
    >>> table = nb201.open_table(out)
    >>> table.lookup("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    {'cifar10_test_acc': 94.373..., 'cifar100_test_acc': 73.22..., 'imagenet16_test_acc': 46.71...}

`resolve_table(data_root(), cache_root())` does the same lazily: it reuses a converted table in the
cache or converts the first raw source (`RAW_SOURCES`) it finds under the data root.
Reading each kind of raw source (and the official APIs it needs) lives in `_nb201_sources.py`;
this module validates, writes and looks up the table.
Please cite NAS-Bench-201 (Dong & Yang, ICLR 2020) and NATS-Bench (Dong et al., TPAMI 2021).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks._columns import MetricColumn
from benchmarks._nb201_sources import (  # noqa: F401  (re-exported: the source kinds and metrics)
    CONVERT_COMMAND, HP, KIND_CSV, KIND_NATS_DIR, KIND_NATS_FILE, KIND_NB201_PTH, METRICS, NATS_META, READERS, Metric,
    OBTAIN_HINT, OfficialApiMissingError, _ACCEPTED, _CSV_COLUMNS, _Rows, detect_source_kind,
)
from benchmarks._table_dir import (  # noqa: F401  (has_table: public API)
    METADATA_FILE, TABLE_FILE, has_table, read_verified, require_table, resolve_cached, sha256_file, write_table,
)
from benchmarks.errors import ArchNotInBenchmarkError, ConversionError

log = logging.getLogger(__name__)

NAME = "nasbench201"
FORMAT_VERSION = 1

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
ARCH_FORMAT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
_OP = "(?:" + "|".join(OPS) + ")"
_ARCH_RE = re.compile(rf"^\|{_OP}~0\|\+\|{_OP}~0\|{_OP}~1\|\+\|{_OP}~0\|{_OP}~1\|{_OP}~2\|$")

RAW_SOURCES: tuple[str, ...] = (
    "NAS-Bench-201-v1_1-096897.pth",
    "NAS-Bench-201-v1_0-e61699.pth",
    "NATS-tss-v1_0-3ffb9-simple",
    "NATS-tss-v1_0-3ffb9-full",
    "NATS-tss-v1_0-3ffb9-simple.pickle.pbz2",
    "nasbench201/nats_bench.csv",
)

CITATION = (
    "X. Dong and Y. Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search, "
    "ICLR 2020; X. Dong, L. Liu, K. Musial and B. Gabrys, NATS-Bench: Benchmarking NAS Algorithms for "
    "Architecture Topology and Size, IEEE TPAMI 2021"
)


METRIC_NAMES: tuple[str, ...] = tuple(m.column for m in METRICS)
# Test accuracies are also looked up for every pruning step (the trajectory of paper Fig. 2).
METRIC_COLUMNS: tuple[MetricColumn, ...] = tuple(
    MetricColumn(m.column, "float64", m.semantics, per_step=m.required, headline=m.headline) for m in METRICS)


# -- validation and writing ---------------------------------------------------------------------------


def _validate(rows: _Rows, source: Path) -> dict[str, list[float]]:
    """Check keys and required metrics; return the metric columns worth writing (drop all-NaN optionals)."""
    if not rows.arch:
        raise ConversionError(f"{source} holds no evaluated architectures; fix: {OBTAIN_HINT}")
    for i, arch in enumerate(rows.arch):
        if not isinstance(arch, str) or not _ARCH_RE.match(arch):
            raise ConversionError(f"{source}: row {i} has arch {arch!r}, not the NB201 format {ARCH_FORMAT} "
                                  f"with op in {', '.join(OPS)}; fix: use the unmodified file")
    if len(set(rows.arch)) != len(rows.arch):
        raise ConversionError(f"{source} lists an architecture twice; fix: use the unmodified file")
    kept: dict[str, list[float]] = {}
    absent: list[str] = []
    for metric in METRICS:
        values = rows.metrics.get(metric.column, [])
        missing = sum(math.isnan(v) for v in values) + len(rows.arch) - len(values)
        if missing == len(rows.arch):
            if metric.required:
                raise ConversionError(f"{source} has no 200-epoch {metric.dataset} {metric.key} values "
                                      f"(column {metric.column}); accepted: {_ACCEPTED}")
            absent.append(metric.column)
            continue
        if missing:
            log.warning("%s lacks %s for %d of %d archs; lookups omit it there",
                        source, metric.column, missing, len(rows.arch))
        kept[metric.column] = values
    if absent:
        log.info("%s has no %s values; the table omits those columns", source, ", ".join(absent))
    return kept


def _table_bytes(rows: _Rows, metrics: dict[str, list[float]]) -> bytes:
    columns: dict[str, pa.Array] = {
        "arch_index": pa.array(rows.arch_index, type=pa.int64()),
        "arch": pa.array(rows.arch, type=pa.string()),
    }
    columns.update({col: pa.array(values, type=pa.float64()) for col, values in metrics.items()})
    if rows.unique_str is not None:
        columns["unique_str"] = pa.array(rows.unique_str, type=pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def _metadata(source: Path, kind: str, rows: _Rows, metrics: dict[str, list[float]], table_sha: str) -> dict:
    hashed = source / NATS_META if source.is_dir() else source
    return {
        "benchmark": NAME,
        "format_version": FORMAT_VERSION,
        "source": {"path": str(source), "name": source.name, "kind": kind,
                   "sha256": sha256_file(hashed), "sha256_of": hashed.name},
        "api": {"package": rows.api_package, "version": rows.api_version},
        "hp": HP,
        "n_archs": len(rows.arch),
        "arch_format": ARCH_FORMAT,
        "metrics": {m.column: m.semantics for m in METRICS if m.column in metrics},
        "citation": CITATION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table_file": TABLE_FILE,
        "table_sha256": table_sha,
    }


def convert(source: Path, out_dir: Path) -> Path:
    """Convert a raw NB201/NATS source into `out_dir/table.parquet` + `metadata.json`; return `out_dir`.

    Args:
        source: an official `.pth`, a NATS tss `.pickle.pbz2` or fast-mode dir, or `nats_bench.csv`.
        out_dir: created if needed; an existing table there is replaced.

    Raises:
        ConversionError: the source is missing, of an unknown kind, or malformed (message names it).
        OfficialApiMissingError: the official API for that kind is not installed.
    """
    source, out_dir = Path(source).expanduser().resolve(), Path(out_dir).expanduser()
    kind = detect_source_kind(source)
    log.info("converting %s (%s) into %s", source, kind, out_dir)
    rows = READERS[kind](source)
    metrics = _validate(rows, source)
    data = _table_bytes(rows, metrics)
    table_sha = hashlib.sha256(data).hexdigest()
    meta = _metadata(source, kind, rows, metrics, table_sha)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(out_dir, data, meta)
    log.info("wrote %d NB201 archs to %s; please cite %s", len(rows.arch), out_dir,
             "NAS-Bench-201 (Dong & Yang, ICLR 2020) and NATS-Bench (Dong et al., TPAMI 2021)")
    return out_dir


# -- lookup -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NB201Table:
    """A converted NB201 table held in memory as {arch string: {metric: value}} for O(1) lookups."""

    path: Path
    metadata: dict[str, Any]
    metrics: tuple[str, ...]
    _rows: Mapping[str, Mapping[str, float]] = field(repr=False)

    @property
    def sha256(self) -> str:
        """sha256 of `table.parquet`, the provenance value to store with results."""
        return str(self.metadata["table_sha256"])

    def lookup(self, arch_key: str) -> dict[str, float]:
        """Every metric the table has for `arch_key` (values missing in the source are left out)."""
        row = self._rows.get(arch_key)
        if row is None:
            raise ArchNotInBenchmarkError(arch_key, str(self.path), hint=self._miss_hint(arch_key))
        return dict(row)

    def _miss_hint(self, arch_key: object) -> str:
        if isinstance(arch_key, str) and _ARCH_RE.match(arch_key):
            return (f"the key is well-formed but this table holds only {len(self)} archs "
                    f"(source {self.metadata['source']['name']}); convert the full benchmark ({OBTAIN_HINT})")
        return f"keys are official NB201 strings {ARCH_FORMAT} with op in {', '.join(OPS)}"

    def __contains__(self, arch_key: object) -> bool:
        return arch_key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def arch_keys(self) -> tuple[str, ...]:
        """All arch strings, in arch-index order."""
        return tuple(self._rows)


def _missing_fix(table_dir: Path) -> str:
    return f"run `{CONVERT_COMMAND} --out {table_dir}` ({OBTAIN_HINT})"


def open_table(table_dir: Path) -> NB201Table:
    """Load a converted table, checking it against its metadata's sha256.

    Raises:
        BenchmarkTableMissingError: no finished table in `table_dir` (message gives the convert command).
        ConversionError: the files exist but are not an intact NB201 table.
    """
    table_dir = Path(table_dir).expanduser()
    meta, data = read_verified(NAME, table_dir, _missing_fix(table_dir))
    columns = pq.read_table(pa.BufferReader(data)).to_pydict()
    metrics = tuple(c for c in METRIC_NAMES if c in columns)
    rows = {
        arch: {c: v for c in metrics if (v := columns[c][i]) is not None and not math.isnan(v)}
        for i, arch in enumerate(columns["arch"])
    }
    return NB201Table(path=table_dir, metadata=meta, metrics=metrics, _rows=rows)


# -- locating a table ---------------------------------------------------------------------------------


def find_raw_source(data_root: Path) -> Path | None:
    """First `RAW_SOURCES` entry present directly under `data_root` or under `data_root/nasbench201`."""
    data_root = Path(data_root)
    for name in RAW_SOURCES:
        for base in (data_root, data_root / NAME):
            if (base / name).exists():
                return base / name
    return None


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """Directory of a usable table: `configured`, else the cached one, else one converted now; None if no data.

    Raises:
        BenchmarkTableMissingError: `configured` is given but holds no table.
    """
    fix = _missing_fix(Path(configured)) if configured is not None else ""
    return resolve_cached(NAME, data_root, cache_root, configured, fix=fix, find_source=find_raw_source, convert=convert)

