"""Results on disk: one Parquet dataset per sweep, readable with plain pandas.

    results/<sweep>/
      cells/<cell_id>.parquet        one row per cell (inputs, outputs, status, provenance)
      trajectory/<cell_id>.parquet   one row per pruning step of that cell (paper Fig. 2)
      config.yaml                    the sweep file as run, plus the resolved cells
      report/                        written by `python -m harness.report`

    >>> import pandas as pd
    >>> cells = pd.read_parquet("results/table3/cells")          # no project import needed
    >>> traj = pd.read_parquet("results/table3/trajectory")

A cell's files are named by its `cell_id` and written atomically (temporary file + rename,
trajectory first, cells last), so a killed sweep leaves either a whole cell or none, and a
re-run that retries a failed cell replaces its row: never two rows for one cell. Only the driver
writes here (workers send rows back through Ray), so nodes need no shared file system.

Faults the readers survive:
* Temporary files are named `.tmp-*.partial`: they never match a part file (`*.parquet`, no leading
  dot), and `clean_temp` (run by the sweep driver while it holds the folder's lock) removes the
  ones a killed writer left.
* Part files carry Parquet page checksums (CRC-32 of every data page) and are read with checksum
  verification; a file that cannot be read or fails its checksum is moved to
  `<results>/quarantine/<cells|trajectory>/` with one warning line, its cell counts as missing
  (the next sweep runs it again) and the readers return the rest.

Statuses: `ok`, `no_data` (the cell's input data is missing, e.g. a labelled search without
training images: not an error of the harness or the method) and `failed` (an error). Rows
written before `no_data` existed hold `failed` with a `DataNotFoundError`; readers upgrade them
(`_conform`), and `upgrade` rewrites such part files once.

Column names are constants below; `CELL_SCHEMA` and `TRAJECTORY_SCHEMA` fix their types so that
every part file has the same schema (an all-null column would otherwise be typed `null`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from benchmarks import BENCHMARKS

log = logging.getLogger(__name__)

CELLS_DIR = "cells"
TRAJECTORY_DIR = "trajectory"
QUARANTINE_DIR = "quarantine"
PART_SUFFIX = ".parquet"
TMP_PREFIX = ".tmp-"            # temporary files: ".tmp-XXXX.partial", never a part file name
TMP_SUFFIX = ".partial"
STATUS_OK = "ok"
STATUS_NO_DATA = "no_data"      # input data missing (e.g. no training images): not an error
STATUS_FAILED = "failed"        # an error
STATUSES = (STATUS_OK, STATUS_NO_DATA, STATUS_FAILED)
# Written into every part file's schema metadata; files without it (or with an older value) are
# rewritten by `upgrade` (new columns, no_data statuses, page checksums).
STORE_VERSION = b"3"  # 3: lookups_json and the extra benchmarks' columns
_VERSION_KEY = b"freedarts_store"
FILE_MODE = 0o644
# The error class whose rows are `no_data` (rows from before that status said `failed`).
NO_DATA_ERROR = "DataNotFoundError"

# Metric columns: derived from what each registered benchmark declares (`BenchmarkSpec.metrics`,
# benchmarks/_columns.py), in registry order; their meanings live there. `METRICS` are the ones
# also looked up for every pruning step (NB201's test accuracies, the trajectory of paper Fig. 2).
_METRIC_FIELDS = [(c.name, pa.type_for_alias(c.dtype)) for b in BENCHMARKS.values() for c in b.metrics if c.in_store]
METRICS = tuple(c.name for b in BENCHMARKS.values() for c in b.metrics if c.in_store and c.per_step)

# Inputs of the cell (harness.config.CellConfig fields, resolved).
_INPUTS = [
    ("cell_id", pa.string()),            # stable hash of the resolved cell
    ("sweep", pa.string()),              # sweep name (results directory)
    ("space", pa.string()),
    ("dataset", pa.string()),            # the SEARCH dataset (input size and head of the supernet)
    ("variant", pa.string()),            # D | labels | random_labels
    ("mode", pa.string()),               # iterative | oneshot
    ("seed", pa.int64()),
    ("alpha_scale", pa.float64()),
    ("alpha_transform", pa.string()),
    ("abs_weights", pa.bool_()),
    ("abs_alpha", pa.bool_()),
    ("batch_size", pa.int64()),
    ("augment", pa.bool_()),
    ("normalization", pa.string()),
    ("reinit_weights_each_step", pa.bool_()),
    ("tie_break", pa.string()),
    ("prune_pool", pa.string()),
    ("bn_mode", pa.string()),
    ("dtype", pa.string()),
    ("method", pa.string()),             # search method (harness.methods): freedarts | random | zero_cost | zero_cost_pt
    ("proxy", pa.string()),              # zero-cost proxy of a proxy-based method (harness.proxies), else null
    ("n_samples", pa.int64()),           # architectures a sampling method draws (zero_cost: N), else null
    ("space_options", pa.string()),      # JSON
    ("config_json", pa.string()),        # the whole resolved cell, JSON
]
_OUTPUTS = [
    ("status", pa.string()),             # ok | no_data | failed
    ("error", pa.string()),              # one line for failed and no_data cells, else null
    ("arch", pa.string()),               # arch key (NB201: official arch string)
    ("params_m", pa.float64()),          # params (M) of the discrete network with the search dataset's head
    ("flops_m", pa.float64()),           # its FLOPs (M multiply-adds), where the space computes them
    ("n_steps", pa.int64()),             # pruning steps (0 for one-shot)
    ("score_passes", pa.int64()),        # ZEROS forward/backward passes
    ("loss", pa.float64()),              # loss of the final scoring pass
    ("method_score", pa.float64()),      # the selected architecture's score under the method's proxy (baselines)
    ("search_s", pa.float64()),          # data_s + score_s: the region the authors timed
    ("data_s", pa.float64()),            # building the input batch (incl. first image load)
    ("build_s", pa.float64()),           # supernet construction + abs pass (not in search_s)
    ("score_s", pa.float64()),           # the pruning loop: ZEROS passes + bookkeeping
    ("lookup_s", pa.float64()),
    ("data_source", pa.string()),        # where the input images came from ("all-ones" for D)
    *_METRIC_FIELDS,                     # what the benchmarks declare (see above)
    ("lookup_status", pa.string()),      # ok | no_table | not_in_table | skipped
    ("lookup_error", pa.string()),
    ("metrics_json", pa.string()),       # every value the benchmarks returned, JSON (named columns above are a subset)
    ("lookups_json", pa.string()),       # {benchmark: {status, sha256[, error]}} for the sweep's benchmark and each
                                         # of its extra_benchmarks (rows before store version 3: null)
]
_PROVENANCE = [
    ("benchmark", pa.string()),
    ("engine", pa.string()),             # ZEROS engine run option: fast | reference (rows before it: reference)
    ("benchmark_source", pa.string()),   # file the table was converted from
    ("benchmark_sha256", pa.string()),   # sha256 of the converted table
    ("git_sha", pa.string()),
    ("git_dirty", pa.bool_()),
    ("harness_version", pa.string()),
    ("python_version", pa.string()),
    ("torch_version", pa.string()),
    ("numpy_version", pa.string()),
    ("ray_version", pa.string()),
    ("device", pa.string()),             # e.g. "cpu" or "cuda:0 (NVIDIA H100)"
    ("gpu_ids", pa.string()),            # Ray GPU ids the worker held ("" on CPU-only clusters)
    ("node_id", pa.string()),            # Ray node that ran the cell
    ("num_threads", pa.int64()),
    ("host", pa.string()),
    ("pid", pa.int64()),
    ("attempt", pa.int64()),
    ("started_at", pa.timestamp("us", tz="UTC")),
    ("finished_at", pa.timestamp("us", tz="UTC")),
]
CELL_SCHEMA = pa.schema(_INPUTS + _OUTPUTS + _PROVENANCE)
CELL_COLUMNS = tuple(CELL_SCHEMA.names)

TRAJECTORY_SCHEMA = pa.schema([
    ("cell_id", pa.string()),
    ("sweep", pa.string()),
    ("space", pa.string()),
    ("dataset", pa.string()),
    ("variant", pa.string()),
    ("mode", pa.string()),
    ("seed", pa.int64()),
    ("alpha_scale", pa.float64()),
    ("step", pa.int64()),                # 0 = unpruned supernet; t = after the t-th removal
    ("group", pa.string()),              # alpha group of the removed op (null at step 0)
    ("edge", pa.int64()),                # row of the removed op in its group
    ("edge_name", pa.string()),          # e.g. NB201 "1<-0"
    ("op", pa.string()),                 # name of the removed op
    ("score", pa.float64()),             # its ZEROS score when removed
    ("alpha_arch", pa.string()),         # argmax-alpha architecture over the alive ops after the step
    *[(m, pa.float64()) for m in METRICS],
    ("metrics_json", pa.string()),       # every value the benchmark returned for alpha_arch, JSON
    ("step_s", pa.float64()),
    ("scores_json", pa.string()),        # {group: [[...]]} the scores that chose this step
    ("alive_json", pa.string()),         # {group: [[...]]} alive mask after the step
])
TRAJECTORY_COLUMNS = tuple(TRAJECTORY_SCHEMA.names)


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    unknown = sorted({k for r in rows for k in r} - set(schema.names))
    if unknown:
        raise ValueError(f"columns not in the results schema: {unknown}; add them to harness/store.py")
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` through a uniquely named temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; results are for every reader of the folder
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _VERSION_KEY: STORE_VERSION})
    try:
        pq.write_table(table, tmp, write_page_checksum=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cell(results_dir: Path, cell_row: dict[str, Any], trajectory_rows: list[dict[str, Any]]) -> None:
    """Write (or replace) one cell's rows. The trajectory goes first: a cells row means complete.

    A replaced cell loses its old row before the new trajectory is written, so a writer killed
    half-way leaves the cell without a row (it runs again), never an old row beside new steps.
    """
    cell_id = cell_row["cell_id"]
    results_dir = Path(results_dir)
    cell_path = results_dir / CELLS_DIR / f"{cell_id}{PART_SUFFIX}"
    traj_path = results_dir / TRAJECTORY_DIR / f"{cell_id}{PART_SUFFIX}"
    cell_path.unlink(missing_ok=True)
    if trajectory_rows:
        _write_atomic(_table(trajectory_rows, TRAJECTORY_SCHEMA), traj_path)
    else:
        traj_path.unlink(missing_ok=True)  # a retried cell that now fails has no trajectory
    _write_atomic(_table([cell_row], CELL_SCHEMA), cell_path)


def read_cell_row(results_dir: str | Path, cell_id: str) -> dict[str, Any] | None:
    """One cell's row as a dict (current schema), or None when it has none (or its file is unreadable)."""
    path = Path(results_dir) / CELLS_DIR / f"{cell_id}{PART_SUFFIX}"
    table = _read_part(Path(results_dir), path) if path.is_file() else None
    if table is None or table.num_rows != 1:
        return None
    return _conform(table, CELL_SCHEMA).to_pylist()[0]


def replace_cell_row(results_dir: str | Path, cell_row: dict[str, Any]) -> None:
    """Replace a cell's row and keep its trajectory (a re-lookup changes no pruning step): one atomic rename."""
    _write_atomic(_table([cell_row], CELL_SCHEMA), Path(results_dir) / CELLS_DIR / f"{cell_row['cell_id']}{PART_SUFFIX}")


def part_files(directory: Path) -> list[Path]:
    """The part files of a cells/ or trajectory/ folder: `*.parquet` without a leading '.' or '_'."""
    if not Path(directory).is_dir():
        return []
    return sorted(p for p in Path(directory).iterdir()
                  if p.name.endswith(PART_SUFFIX) and p.name[0] not in "._" and p.is_file())


def clean_temp(results_dir: str | Path) -> int:
    """Remove temporary files a killed writer left (call only while holding the folder's lock)."""
    removed = 0
    for sub in ("", CELLS_DIR, TRAJECTORY_DIR):
        directory = Path(results_dir) / sub
        for p in directory.glob(f"{TMP_PREFIX}*") if directory.is_dir() else []:
            if p.is_file():
                p.unlink(missing_ok=True)
                removed += 1
    return removed


def quarantine(results_dir: str | Path, path: Path, reason: str) -> Path | None:
    """Move an unreadable part file to `<results>/quarantine/<sub>/` with one warning line; returns
    where it went (None when it vanished or could not be moved, e.g. a read-only results folder)."""
    results_dir, path = Path(results_dir), Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target_dir = results_dir / QUARANTINE_DIR / path.parent.name
    target = target_dir / f"{path.stem}.{stamp}.corrupt"  # not *.parquet: no reader picks it up
    reason = " ".join(str(reason).split())[:200]
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("unreadable part file %s skipped (%s); could not move it to %s: %s", path, reason, target_dir, exc)
        return None
    with (results_dir / QUARANTINE_DIR / "quarantine.log").open("a") as fh:
        fh.write(f"{stamp}\t{path.parent.name}/{path.name}\t{target.name}\t{reason}\n")
    log.warning("quarantined unreadable part file %s -> %s (%s); its cell counts as missing and runs again",
                path, target, reason)
    return target


def _check_footer(table: pa.Table, path: Path) -> pa.Table:
    """Parquet checksums cover data pages, not the footer (schema): a damaged column name or type
    would read as a missing or reinterpreted column. Every file the store writes has exactly one
    of its schemas, so anything else is damage."""
    names = table.column_names
    schema = CELL_SCHEMA if path.parent.name == CELLS_DIR else TRAJECTORY_SCHEMA
    unknown = sorted(set(names) - set(schema.names))
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"columns {unknown or names} are not the results schema's")
    if (table.schema.metadata or {}).get(_VERSION_KEY) == STORE_VERSION and \
            table.schema.remove_metadata() != schema:
        raise ValueError("the schema differs from the one this store writes")
    return table


def _read_part(results_dir: Path, path: Path) -> pa.Table | None:
    """One part file, page checksums verified; None (and quarantined) if it cannot be read."""
    before = _stat(path)
    try:
        return _check_footer(pq.read_table(path, page_checksum_verification=True), path)
    except Exception as exc:  # noqa: BLE001  (truncated, bit-flipped, not Parquet: all mean unreadable)
        if before is None or _stat(path) != before:
            return None  # replaced by a writer meanwhile (or gone): not this file's fault
        quarantine(results_dir, path, f"{type(exc).__name__}: {exc}")
        return None


def _stat(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read(results_dir: Path, sub: str, schema: pa.Schema) -> pd.DataFrame:
    tables = [t for f in part_files(results_dir / sub) if (t := _read_part(results_dir, f)) is not None]
    if not tables:
        return _conform(schema.empty_table(), schema).to_pandas()
    return _conform_all(tables, schema).to_pandas()


def _conform_all(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """`_conform` of every table, concatenated in order. Part files written by one store version share
    their columns, so runs of equal schemas are concatenated first and conformed once: one call per
    run instead of one per file (810 files: 1.7 s -> ~0.1 s)."""
    runs: list[list[pa.Table]] = []
    for table in tables:
        if runs and runs[-1][0].schema.equals(table.schema, check_metadata=False):
            runs[-1].append(table)
        else:
            runs.append([table])
    return pa.concat_tables([_conform(pa.concat_tables(run), schema) for run in runs])


def read_cells(results_dir: str | Path) -> pd.DataFrame:
    """The cells table of a sweep (empty, with the full column set, if nothing ran yet)."""
    return _read(Path(results_dir), CELLS_DIR, CELL_SCHEMA)


def read_trajectory(results_dir: str | Path) -> pd.DataFrame:
    """The trajectory table of a sweep. A cell whose trajectory file is unreadable is quarantined
    whole (its cells row too), so that it runs again."""
    results_dir = Path(results_dir)
    tables = []
    for f in part_files(results_dir / TRAJECTORY_DIR):
        table = _read_part(results_dir, f)
        if table is None:
            cell_row = results_dir / CELLS_DIR / f.name
            if cell_row.exists():
                quarantine(results_dir, cell_row, f"its trajectory file {f.name} is unreadable")
            continue
        tables.append(table)
    if not tables:
        return TRAJECTORY_SCHEMA.empty_table().to_pandas()
    return _conform_all(tables, TRAJECTORY_SCHEMA).to_pandas()


def cell_statuses(results_dir: str | Path) -> dict[str, str]:
    """cell_id -> status of every cell with a readable row (what resume skips)."""
    return statuses_of(read_cells_table(results_dir))


def statuses_of(table: pa.Table | None) -> dict[str, str]:
    """cell_id -> status of the rows `read_cells_table` returned."""
    if table is None:
        return {}
    return dict(zip(table.column("cell_id").to_pylist(), table.column("status").to_pylist()))


def read_cells_table(results_dir: str | Path) -> pa.Table | None:
    """Every readable cells row as one Arrow table (status upgraded), None when there is none.

    Reads every cells part file whole, so that every page's checksum is checked: one dataset
    scan, and file by file (quarantining the bad ones) only when that scan fails.
    """
    results_dir = Path(results_dir)
    files = part_files(results_dir / CELLS_DIR)
    if not files:
        return None
    try:
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            page_checksum_verification=True))
        table = ds.dataset([str(f) for f in files], format=fmt, schema=CELL_SCHEMA).to_table()
        if table.column("cell_id").null_count or table.column("status").null_count:
            raise ValueError("a part file lacks cell_id or status")  # a damaged footer: find it below
    except Exception:  # noqa: BLE001  (some file is unreadable: find it, quarantine it, keep the rest)
        parts = [t for f in files if (t := _read_part(results_dir, f)) is not None]
        table = _conform_all(parts, CELL_SCHEMA) if parts else None
    if table is None:
        return None
    return table.set_column(table.schema.get_field_index("status"), "status", _upgraded_status(table))


# Columns added after results were first written, and the value that rows written before them
# hold implicitly (every cell before the method axis was a FreeDARTS search; every row before the
# engine option was searched by today's reference engine).
_BACKFILL = {"method": "freedarts", "engine": "reference"}


def _upgraded_status(table: pa.Table) -> pa.ChunkedArray:
    """The status column with legacy rows upgraded: `failed` + DataNotFoundError -> `no_data`."""
    status = table.column("status")
    if "error" not in table.column_names:
        return status
    legacy = pc.and_(pc.equal(status, STATUS_FAILED),
                     pc.starts_with(table.column("error").cast(pa.string()), NO_DATA_ERROR + ":"))
    return pc.if_else(pc.fill_null(legacy, False), STATUS_NO_DATA, status)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones null (or their backfill value), and
    legacy statuses upgraded."""
    columns = []
    for field in schema:
        if field.name == "status" and "status" in table.column_names:
            columns.append(_upgraded_status(table).cast(field.type))
        elif field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            fill = _BACKFILL.get(field.name)
            columns.append(pa.array([fill] * table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _current(path: Path, schema: pa.Schema) -> bool:
    written = pq.read_schema(path)
    return (written.metadata or {}).get(_VERSION_KEY) == STORE_VERSION and written.remove_metadata() == schema


def upgrade(results_dir: str | Path) -> int:
    """Rewrite part files written by an older store to the current one; returns how many.

    Keeps a results directory uniform as the schema grows, so `pd.read_parquet(dir)` (which takes
    its schema from one file) sees every column of every row; rewritten files also get page
    checksums and the `no_data` status. Unreadable files are quarantined. The sweep driver runs it
    first, holding the folder's lock.
    """
    results_dir = Path(results_dir)
    rewritten = 0
    for sub, schema in ((CELLS_DIR, CELL_SCHEMA), (TRAJECTORY_DIR, TRAJECTORY_SCHEMA)):
        for f in part_files(results_dir / sub):
            try:
                if _current(f, schema):
                    continue
            except Exception:  # noqa: BLE001  (unreadable footer: _read_part quarantines it)
                pass
            table = _read_part(results_dir, f)
            if table is not None:
                _write_atomic(_conform(table, schema), f)
                rewritten += 1
    return rewritten
