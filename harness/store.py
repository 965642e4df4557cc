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

Column names are constants below; `CELL_SCHEMA` and `TRAJECTORY_SCHEMA` fix their types so that
every part file has the same schema (an all-null column would otherwise be typed `null`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

CELLS_DIR = "cells"
TRAJECTORY_DIR = "trajectory"
STATUS_OK = "ok"
STATUS_FAILED = "failed"

# Metric columns looked up for every found architecture (NB201 semantics: see benchmarks/nasbench201.py).
METRICS = ("cifar10_test_acc", "cifar100_test_acc", "imagenet16_test_acc")
VALID_METRICS = ("cifar10_valid_acc", "cifar100_valid_acc", "imagenet16_valid_acc")
# NAS-Bench-101 lookups of NB1Shot1 cells (benchmarks/nasbench101.py): CIFAR-10 accuracy in percent at
# 108 epochs. nb101_valid_acc / nb101_test_acc = mean over the repeats the table holds (3 in the full
# benchmark; a partial table may hold 1 run and no test value); _r0.._r2 = each training repeat;
# nb101_best_repeat_* = the best single repeat (paper Table 4 "Best", spec §5.2); nb101_train_time_s =
# mean training time; nb101_params = NB101's trainable_parameters; nb101_hash = the module hash looked up.
NB101_METRICS = (
    "nb101_valid_acc", "nb101_test_acc",
    "nb101_valid_acc_r0", "nb101_valid_acc_r1", "nb101_valid_acc_r2",
    "nb101_test_acc_r0", "nb101_test_acc_r1", "nb101_test_acc_r2",
    "nb101_best_repeat_valid_acc", "nb101_best_repeat_test_acc", "nb101_train_time_s",
)
# NAS-Bench-301 surrogate predictions for DARTS-space cells (benchmarks/nasbench301.py, yahpo_nb301.py):
# CIFAR-10 VALIDATION accuracy in percent after NB301's 100-epoch DARTS training pipeline, as predicted by
# the official nasbench301 0.3 ensemble (nb301_*) or by the YAHPO-Gym v2 ONNX surrogate at epoch 98
# (yahpo_nb301_*; a different surrogate, Spearman ~0.59 with the official one). *_val_err = 100 - *_val_acc,
# the "test error" of the paper's Table 5 (spec §5.3: the surrogate predicts validation accuracy).
NB301_METRICS = ("nb301_val_acc", "nb301_val_err", "yahpo_nb301_val_acc", "yahpo_nb301_val_err")

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
    ("status", pa.string()),             # ok | failed
    ("error", pa.string()),              # one line for failed cells, else null
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
    *[(m, pa.float64()) for m in METRICS],
    *[(m, pa.float64()) for m in VALID_METRICS],
    *[(m, pa.float64()) for m in NB101_METRICS],
    ("nb101_params", pa.int64()),
    ("nb101_n_repeats", pa.int64()),
    ("nb101_hash", pa.string()),
    *[(m, pa.float64()) for m in NB301_METRICS],
    ("lookup_status", pa.string()),      # ok | no_table | not_in_table | skipped
    ("lookup_error", pa.string()),
    ("metrics_json", pa.string()),       # every value the benchmark returned, JSON (named columns above are a subset)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cell(results_dir: Path, cell_row: dict[str, Any], trajectory_rows: list[dict[str, Any]]) -> None:
    """Write (or replace) one cell's rows. The trajectory goes first: a cells row means complete."""
    cell_id = cell_row["cell_id"]
    results_dir = Path(results_dir)
    traj_path = results_dir / TRAJECTORY_DIR / f"{cell_id}.parquet"
    if trajectory_rows:
        _write_atomic(_table(trajectory_rows, TRAJECTORY_SCHEMA), traj_path)
    else:
        traj_path.unlink(missing_ok=True)  # a retried cell that now fails has no trajectory
    _write_atomic(_table([cell_row], CELL_SCHEMA), results_dir / CELLS_DIR / f"{cell_id}.parquet")


def _read(directory: Path, schema: pa.Schema) -> pd.DataFrame:
    files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if not files:
        return schema.empty_table().to_pandas()
    return pa.concat_tables([_conform(pq.read_table(f), schema) for f in files]).to_pandas()


def read_cells(results_dir: str | Path) -> pd.DataFrame:
    """The cells table of a sweep (empty, with the full column set, if nothing ran yet)."""
    return _read(Path(results_dir) / CELLS_DIR, CELL_SCHEMA)


def read_trajectory(results_dir: str | Path) -> pd.DataFrame:
    return _read(Path(results_dir) / TRAJECTORY_DIR, TRAJECTORY_SCHEMA)


def cell_statuses(results_dir: str | Path) -> dict[str, str]:
    """cell_id -> status of every cell that has a row (what resume skips).

    Reads two columns of all part files as one dataset (temporary `.tmp-*` files are ignored).
    """
    directory = Path(results_dir) / CELLS_DIR
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        return {}
    t = ds.dataset(directory, format="parquet", schema=CELL_SCHEMA).to_table(columns=["cell_id", "status"])
    return dict(zip(t.column("cell_id").to_pylist(), t.column("status").to_pylist()))


# Columns added after results were first written, and the value that rows written before them
# hold implicitly (every cell before the method axis was a FreeDARTS search; every row before the
# engine option was searched by today's reference engine).
_BACKFILL = {"method": "freedarts", "engine": "reference"}


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones null (or their backfill value)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            fill = _BACKFILL.get(field.name)
            columns.append(pa.array([fill] * table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def upgrade(results_dir: str | Path) -> int:
    """Rewrite part files written under an older schema to the current one; returns how many.

    Keeps a results directory uniform as the schema grows, so `pd.read_parquet(dir)` (which takes
    its schema from one file) sees every column of every row. The sweep driver runs it first.
    """
    rewritten = 0
    for sub, schema in ((CELLS_DIR, CELL_SCHEMA), (TRAJECTORY_DIR, TRAJECTORY_SCHEMA)):
        directory = Path(results_dir) / sub
        for f in sorted(directory.glob("*.parquet")) if directory.is_dir() else []:
            if pq.read_schema(f).remove_metadata() == schema:
                continue
            _write_atomic(_conform(pq.read_table(f), schema), f)
            rewritten += 1
    return rewritten
