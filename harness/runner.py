"""One cell, start to finish, in the current process (no Ray): what a sweep worker runs.

    >>> ctx = RunContext(sweep="demo", benchmark="nasbench201", table_dir="/path/to/table")
    >>> row, trajectory = run_cell(resolve(CellConfig(variant="D", mode="iterative")), ctx)

Per cell: seed -> input batch -> supernet (+ abs pass) -> FreeDARTS search -> arch key ->
parameter count of the discrete network -> benchmark lookup of the final architecture and of
every trajectory step. Missing input data (`DataNotFoundError`, e.g. a labelled search without
training images) becomes a `no_data` row; any other exception a `failed` row. Either way `error`
is one line whose paths are written relative to the data root (`$HARNESS_DATA/...`) and the cache
(`$HARNESS_CACHE/...`); a cell never aborts the sweep and never yields an architecture from
non-finite scores.

Benchmark tables and image sets are opened once per process (`_open_table` is cached, and
`harness.data` caches image sets), so a warm worker pays for them once.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import logging
import os
import platform
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import BENCHMARKS, get_benchmark
from benchmarks.errors import ArchNotInBenchmarkError
from benchmarks.paths import CACHE_ENV, DATA_ENV, cache_root, data_root
from harness import __version__, freedarts
from harness.config import CellConfig
from harness.data import DATASETS, search_batch
from harness.engine import DEFAULT_ENGINE
from harness.errors import DataNotFoundError
from harness.methods import get_method
from harness.store import CELL_COLUMNS, STATUS_FAILED, STATUS_NO_DATA, STATUS_OK, TRAJECTORY_COLUMNS
from harness.tables import TableRef, local_table_dir, pack_table  # noqa: F401  (pack_table: re-exported)

# Columns a benchmark's lookup must never overwrite.
_NOT_METRICS = {"cell_id", "sweep", "space", "dataset", "variant", "mode", "seed", "alpha_scale", "status", "error",
                "arch"}
from spaces import get_space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """Sweep-level settings a worker needs; plain values so Ray can ship it.

    Attributes:
        sweep: sweep name (the results directory).
        benchmark: benchmark name, or "none".
        table_dir: converted benchmark table, or None (then lookups are recorded as `no_table`).
        data_root: raw data root (images), or None for `benchmarks.paths.data_root()`.
        images_dir: per-dataset image directory overrides, as (dataset, path) pairs.
        table_files: the table directory's files as (relative name, bytes), shipped by the driver
            through Ray's object store so that workers on nodes without a shared file system
            (or with a stale copy) use exactly the driver's table; empty = use `table_dir` as is.
        table_key: content hash of `table_files` (names the worker's local copy).
        provenance: driver-side facts copied into every row (git sha, dirty flag).
        faults: fault injection (tests, acceptance runs): (cell_id, times) pairs whose worker
            process kills itself on its first `times` attempts (times 0 = every attempt).
        fault_dir: where attempts are counted for `faults` (must be shared by the workers).
        engine: the ZEROS engine, "fast" or "reference" (harness/engine.py); recorded in each
            row's `engine` column, not part of the cell id (both find the same architecture).
        extra_tables: the sweep's `extra_benchmarks`, each a `TableRef` shipped like the primary
            table; the final architecture is looked up in each (not the trajectory's steps).
    """

    sweep: str
    benchmark: str = "nasbench201"
    table_dir: str | None = None
    data_root: str | None = None
    images_dir: tuple = ()
    table_files: tuple = ()
    table_key: str = ""
    provenance: tuple = ()
    faults: tuple = ()
    fault_dir: str | None = None
    engine: str = DEFAULT_ENGINE
    extra_tables: tuple[TableRef, ...] = ()


def git_provenance(repo: Path | None = None) -> dict[str, Any]:
    """git sha and dirty flag of the harness checkout (None when not a git checkout).

    Dirty = a tracked file outside `results/` differs from the commit: the code that ran is not the
    commit's. Result files a sweep is writing (committed results live in the repository) do not count.
    """
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)results"], cwd=repo, capture_output=True, text=True,
                                    check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"git_sha": None, "git_dirty": None}
    return {"git_sha": sha, "git_dirty": dirty}


@functools.lru_cache(maxsize=8)
def _open_table(benchmark: str, table_dir: str, table_key: str):
    # Keyed by content hash too: a table rebuilt at the same path is a different table.
    return get_benchmark(benchmark).open_table(Path(table_dir))


# Row columns that may name a file or folder: written with `portable` paths (no machine paths in results).
PATH_COLUMNS = ("error", "lookup_error", "data_source", "benchmark_source", "lookups_json")
METRIC_NAMES = frozenset(c.name for b in BENCHMARKS.values() for c in b.metrics)
# The columns a lookup writes: what `relookup_row` clears and recomputes.
LOOKUP_COLUMNS = (*(c for c in CELL_COLUMNS if c in METRIC_NAMES), "lookup_status", "lookup_error", "metrics_json",
                  "lookups_json", "benchmark_sha256", "benchmark_source")


def portable(text: str, roots: dict[str, str]) -> str:
    """`text` with machine paths replaced by portable names, longest path first, e.g.
    /home/me/data/cifar100/x -> $HARNESS_DATA/cifar100/x: a row's error reads the same on any machine."""
    for path in sorted((p for p in roots if p and p != "/"), key=len, reverse=True):
        text = text.replace(path.rstrip("/"), roots[path])
    return text


def _worker_roots(ctx: RunContext, table_dir: str | None) -> dict[str, str]:
    roots = {str(cache_root()): f"${CACHE_ENV}", ctx.data_root or str(data_root()): f"${DATA_ENV}"}
    if table_dir and ctx.table_dir and table_dir != ctx.table_dir:
        roots[table_dir] = ctx.table_dir  # this worker's copy: name the driver's table instead
    return roots


def _device() -> tuple[torch.device, str]:
    if torch.cuda.is_available():  # a worker sees only the GPU Ray assigned (CUDA_VISIBLE_DEVICES)
        return torch.device("cuda:0"), f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return torch.device("cpu"), "cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _versions() -> dict[str, Any]:
    try:
        import ray

        ray_version = ray.__version__
    except ImportError:  # runner works without Ray (tests, notebooks)
        ray_version = None
    return {"harness_version": __version__, "python_version": platform.python_version(),
            "torch_version": torch.__version__, "numpy_version": np.__version__, "ray_version": ray_version}


def _lookup(table, arch: str) -> dict[str, Any]:
    """Named metric columns the schema knows, plus every returned value as JSON."""
    values = table.lookup(arch)
    named = {k: v for k, v in values.items() if k in CELL_COLUMNS and k not in _NOT_METRICS}
    return {**named, "metrics_json": json.dumps(values, sort_keys=True, default=float)}


def base_row(cell: CellConfig, ctx: RunContext, attempt: int = 1) -> dict[str, Any]:
    """The input and provenance columns of a cell's row (outputs are added by the run)."""
    return {
        **{k: v for k, v in cell.to_dict().items() if k != "space_options"},
        "cell_id": cell.cell_id, "sweep": ctx.sweep,
        "space_options": json.dumps(cell.options, sort_keys=True),
        "config_json": json.dumps(cell.to_dict(), sort_keys=True),
        "benchmark": ctx.benchmark, "engine": ctx.engine, **_versions(), **dict(ctx.provenance),
        "host": socket.gethostname(), "attempt": attempt, "started_at": datetime.now(timezone.utc),
    }


def failed_row(cell: CellConfig, ctx: RunContext, error: str, attempt: int = 1) -> dict[str, Any]:
    """A `failed` row for a cell that never reported (e.g. its worker process died)."""
    return {**base_row(cell, ctx, attempt), "status": STATUS_FAILED, "error": error,
            "finished_at": datetime.now(timezone.utc)}


def run_cell(cell: CellConfig, ctx: RunContext, attempt: int = 1) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one resolved cell; returns (cells row, trajectory rows). Never raises for a cell's own failure."""
    device, device_name = _device()
    row = {**base_row(cell, ctx, attempt), "device": device_name, "num_threads": torch.get_num_threads(),
           "pid": os.getpid()}
    trajectory: list[dict[str, Any]] = []
    try:
        trajectory = _search_and_lookup(cell, ctx, device, row)
        row["status"] = STATUS_OK
    except DataNotFoundError as exc:  # the input data is missing: not an error of the search
        row.update(status=STATUS_NO_DATA, error=_one_line(exc))
        trajectory = []
    except Exception as exc:  # a cell's failure is data, not a crash of the sweep
        log.debug("cell %s failed", cell.cell_id, exc_info=True)
        row.update(status=STATUS_FAILED, error=_one_line(exc))
        trajectory = []
    roots = _worker_roots(ctx, row.pop("_table_dir", None))
    for key in PATH_COLUMNS:
        if row.get(key):
            row[key] = portable(row[key], roots)
    row["finished_at"] = datetime.now(timezone.utc)
    _release_memory()
    return row, trajectory


def _release_memory() -> None:
    """Hand the cell's freed activations back to the OS: a warm worker runs many cells, and glibc
    otherwise keeps the peak of a batch-64 supernet pass (several GB) as fragmented free heap.

    Only when the worker's resident memory grew by `TRIM_GROWTH_BYTES` since the last trim: a trim
    also unmaps the pages a small search reuses, and the next search then page-faults them in again
    inside its timed region (measured, fast engine, NB201 one-shot -D on CIFAR-100: ~7.8K minor faults
    and a 36 ms forward after a trim, 21 ms without). A FreeDARTS-D search leaves ~35 MB of free heap
    here, a labelled batch-64 NB201 pass ~2.5 GB.

    What survives the collection (torch, modules, tables, caches) lives as long as the worker, so it
    is frozen: the next cell's collection scans only that cell's objects (measured: a full collection
    cost ~1 s of a 4-6 s NB201 search in a warm worker on this loaded CPU; scripts/bench_overhead.py).
    """
    global _resident_after_trim
    gc.collect()
    gc.freeze()
    libc = _glibc()
    if libc is None or _resident_bytes() - _resident_after_trim < TRIM_GROWTH_BYTES:
        return
    libc.malloc_trim(0)
    _resident_after_trim = _resident_bytes()


TRIM_GROWTH_BYTES = 256 * 2**20  # resident growth since the last trim above which a cell's memory is given back
_resident_after_trim = 0


@functools.lru_cache(maxsize=1)
def _glibc():
    """glibc, or None (not Linux, or another libc such as musl: nothing to trim)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (musl has no malloc_trim)
    except (OSError, AttributeError):
        return None
    return libc


def _resident_bytes() -> int:
    """This process's resident set size (Linux /proc/self/statm)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _search_and_lookup(cell: CellConfig, ctx: RunContext, device: torch.device, row: dict[str, Any]) -> list[dict]:
    space = get_space(cell.space)
    info = DATASETS[cell.dataset]
    _seed_everything(cell.seed)

    t0 = time.perf_counter()
    images_dir = dict(ctx.images_dir).get(cell.dataset)
    batch = search_batch(cell.variant, cell.dataset, seed=cell.seed, batch_size=cell.batch_size,
                         root=Path(ctx.data_root) if ctx.data_root else data_root(),
                         images_dir=Path(images_dir) if images_dir else None,
                         augment=cell.augment, normalization=cell.normalization)
    row["data_s"] = time.perf_counter() - t0
    row["data_source"] = batch.source

    batch = type(batch)(x=batch.x.to(device), labels=None if batch.labels is None else batch.labels.to(device),
                        source=batch.source)
    method = get_method(cell.method)
    t0 = time.perf_counter()
    outcome = method.run(cell, space, batch, device, engine=ctx.engine)
    _sync(device)
    result = outcome.result
    row["build_s"] = outcome.build_s
    row.update(outcome.extra)
    row["score_s"] = time.perf_counter() - t0 - outcome.build_s
    row["search_s"] = row["data_s"] + row["score_s"]
    options = cell.typed_options
    row.update(arch=result.arch_key, n_steps=result.n_steps, score_passes=result.score_passes, loss=result.loss,
               params_m=space.param_count(result.genotype, info.num_classes, options) / 1e6)
    if space.flops is not None:
        row["flops_m"] = space.flops(result.genotype, info.num_classes, options) / 1e6

    t0 = time.perf_counter()
    lookup = _lookup_fn(ctx, row)
    row.update(lookup(result.arch_key))
    _extra_lookups(ctx, result.arch_key, row)
    trajectory = [_trajectory_row(cell, row, space, step, lookup) for step in result.steps]
    row["lookup_s"] = time.perf_counter() - t0
    return trajectory


def _extra_lookups(ctx: RunContext, arch: str, row: dict[str, Any]) -> None:
    """Look `arch` up in each extra benchmark too: its named columns join the row, its values the row's
    `metrics_json`, and what happened in every benchmark (status, table sha256) goes to `lookups_json`."""
    primary = {k: row[c] for k, c in (("status", "lookup_status"), ("sha256", "benchmark_sha256"),
                                      ("error", "lookup_error")) if row.get(c)}
    if row.get("_table_dir"):
        primary.update(_validation(_open_table(ctx.benchmark, row["_table_dir"], ctx.table_key)))
    record = {ctx.benchmark: primary}
    values = json.loads(row["metrics_json"]) if row.get("metrics_json") else {}
    for ref in ctx.extra_tables:
        table_dir = local_table_dir(ref)
        if table_dir is None:
            record[ref.benchmark] = {"status": "no_table"}
            continue
        table = _open_table(ref.benchmark, table_dir, ref.table_key)
        entry = record[ref.benchmark] = {"status": "ok", "sha256": table.sha256, **_validation(table)}
        try:
            got = table.lookup(arch)
        except ArchNotInBenchmarkError as exc:
            entry.update(status="not_in_table", error=_one_line(exc))
            continue
        row.update({k: v for k, v in got.items() if k in CELL_COLUMNS and k not in _NOT_METRICS})
        values.update(got)
    if values:
        row["metrics_json"] = json.dumps(values, sort_keys=True, default=float)
    row["lookups_json"] = json.dumps(record, sort_keys=True)


def _validation(table) -> dict[str, Any]:
    """A predicted table's agreement figures (Spearman, Kendall, MAE, n per reference set), numbers only,
    so that the reports' captions can quote them from the rows; {} for a table that has none."""
    def numbers(v: Any) -> Any:
        if isinstance(v, dict):
            kept = {k: numbers(x) for k, x in v.items()}
            return {k: x for k, x in kept.items() if x not in (None, {})}
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    found = numbers(getattr(table, "validation", None) or {})
    return {"validation": found} if found else {}


def relookup_row(row: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """An `ok` cell row with every lookup column recomputed from its `arch` in the context's benchmarks.

    No search runs: the benchmark is not part of a cell's id, so a sweep that names another benchmark
    (or adds `extra_benchmarks`) keeps its rows and only their lookups change (`harness.sweep --relookup`).
    The search columns and provenance (git_sha, engine, timings) stay those of the search.
    """
    new = {k: v for k, v in row.items() if k not in LOOKUP_COLUMNS}
    new["benchmark"] = ctx.benchmark
    t0 = time.perf_counter()
    new.update(_lookup_fn(ctx, new)(row["arch"]))
    _extra_lookups(ctx, row["arch"], new)
    new["lookup_s"] = time.perf_counter() - t0
    roots = _worker_roots(ctx, new.pop("_table_dir", None))
    for key in PATH_COLUMNS:
        if new.get(key):
            new[key] = portable(new[key], roots)
    return new


def _lookup_fn(ctx: RunContext, row: dict[str, Any]):
    """A function arch -> metric columns + lookup_status, recording the table's provenance in `row`."""
    if ctx.benchmark == "none":
        row["lookup_status"] = "skipped"
        return lambda arch: {}
    table_dir = local_table_dir(ctx)
    if table_dir is None:
        row["lookup_status"] = "no_table"
        return lambda arch: {}
    row["_table_dir"] = table_dir  # popped by run_cell: names this worker's copy in error texts
    table = _open_table(ctx.benchmark, table_dir, ctx.table_key)
    row["benchmark_sha256"] = table.sha256
    row["benchmark_source"] = str(table.metadata.get("source", ""))

    def lookup(arch: str) -> dict[str, Any]:
        try:
            return {**_lookup(table, arch), "lookup_status": "ok"}
        except ArchNotInBenchmarkError as exc:
            return {"lookup_status": "not_in_table", "lookup_error": _one_line(exc)}

    return lookup


def _trajectory_row(cell: CellConfig, row: dict, space, step: freedarts.Step, lookup) -> dict[str, Any]:
    # The named metric columns the trajectory table has, and the JSON of every looked-up value.
    metrics = {m: v for m, v in lookup(step.alpha_arch).items() if m in TRAJECTORY_COLUMNS}
    group = step.pruned_group
    return {
        "cell_id": row["cell_id"], "sweep": row["sweep"], "space": cell.space, "dataset": cell.dataset,
        "variant": cell.variant, "mode": cell.mode, "seed": cell.seed, "alpha_scale": cell.alpha_scale,
        "step": step.step, "group": group, "edge": step.pruned_row,
        "edge_name": space.row_names[group][step.pruned_row] if group else None,
        "op": space.op_names[group][step.pruned_op] if group and step.pruned_op is not None else None,
        "score": step.pruned_score, "alpha_arch": step.alpha_arch, **metrics, "step_s": step.seconds,
        "scores_json": json.dumps(step.scores), "alive_json": json.dumps(step.alive),
    }
