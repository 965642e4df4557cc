"""`python -m harness.sweep SWEEP.yaml`: run every cell of a sweep on Ray Tune, write Parquet.

    python -m harness.sweep sweeps/quickstart.yaml              # embedded local Ray, 1 CPU per cell
    python -m harness.sweep sweeps/table3.yaml --address auto   # an existing Ray cluster
    python -m harness.sweep sweeps/table3.yaml --dry-run        # print the cells, run nothing
    python -m harness.sweep sweeps/table3.yaml --engine reference  # the readable ZEROS engine (default: fast)

Re-running the same command resumes: cells that already have a row in `results/<name>/cells`
are skipped (failed ones too, unless `--retry-failed`); adding seeds or alpha-scales to the file
runs only the new cells. Each Tune trial is one cell; it asks for 1 GPU when the cluster has
GPUs, else 1 CPU; actors are reused so a warm worker keeps its benchmark table and images.
Workers send their rows back to the driver, which alone writes the results directory (atomic
per-cell part files), so a killed sweep never leaves half a cell or a duplicate.

This is the only module that imports Ray.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import get_benchmark
from benchmarks.paths import CACHE_ENV, DATA_ENV, cache_root, data_root
from harness import store
from harness.config import CELL_FIELDS, CellConfig, SweepConfig, load
from harness.engine import DEFAULT_ENGINE, ENGINES, check_engine
from harness.errors import BenchmarkError, ConfigError, HarnessError, UnknownNameError
from harness.runner import RunContext, failed_row, git_provenance, pack_table, run_cell

log = logging.getLogger("harness.sweep")
KILL_ENV = "FREEDARTS_KILL_CELLS"  # fault injection: 'CELL_ID[:TIMES],...' (see parse_faults)
FAULT_DIR_ENV = "FREEDARTS_FAULT_DIR"  # where injected faults count attempts (shared by the workers)


# -- planning (no Ray) ------------------------------------------------------------------------------
def select(cells: tuple[CellConfig, ...], only: list[str]) -> list[CellConfig]:
    """Cells matching every `KEY=VALUE` filter (values compared as strings; several VALUEs with ',')."""
    selected = list(cells)
    for item in only:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--only", f"expected KEY=VALUE, got {item!r}")
        if key not in CELL_FIELDS:
            raise UnknownNameError("cell field", key, CELL_FIELDS, "--only")
        wanted = set(value.split(","))
        selected = [c for c in selected if str(getattr(c, key)) in wanted]
    return selected


def pending(cells: list[CellConfig], statuses: dict[str, str], retry_failed: bool) -> list[CellConfig]:
    """Cells without a row in `statuses` (or with a failed row, when retrying failures)."""
    return [c for c in cells if c.cell_id not in statuses
            or (retry_failed and statuses[c.cell_id] == store.STATUS_FAILED)]


def resolve_table(sweep: SweepConfig) -> str | None:
    """The benchmark table directory for this sweep (converting a raw source on first use), or None."""
    if sweep.benchmark == "none":
        return None
    bench = get_benchmark(sweep.benchmark)
    configured = Path(sweep.benchmark_table) if sweep.benchmark_table else None
    table = bench.resolve_table(data_root(sweep.data_root), cache_root(), configured)
    return str(table) if table else None


def write_config(sweep: SweepConfig, results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    doc = {"sweep": sweep.raw, "source": sweep.source,
           "cells": [{"cell_id": c.cell_id, **c.to_dict()} for c in sweep.cells]}
    tmp = results_dir / ".config.yaml.tmp"
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, results_dir / "config.yaml")


# -- progress ---------------------------------------------------------------------------------------
class Progress:
    """One live line: done/total, failed, running, cells/s, ETA (rewritten in place on a terminal)."""

    def __init__(self, total: int, stream=sys.stderr, interval_s: float = 10.0) -> None:
        self.total, self.stream, self.interval_s = total, stream, interval_s
        self.done = self.failed = self.running = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._tty = stream.isatty()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_s = f"{eta:,.0f}s" if eta == eta else "?"
        return (f"cells {self.done}/{self.total} done, {self.failed} failed, {self.running} running, "
                f"{rate:.2f} cells/s, elapsed {elapsed:,.0f}s, ETA {eta_s}")

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._tty:
            self.stream.write("\r" + self.line().ljust(100))
            self.stream.flush()
        elif force or now - self._last >= self.interval_s:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last = now

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
        else:
            self.update(force=True)


# -- Ray Tune ---------------------------------------------------------------------------------------
def parse_faults(spec: str) -> tuple[tuple[str, int], ...]:
    """`$FREEDARTS_KILL_CELLS`: 'ID[:TIMES],...'; the cell's worker dies on its first TIMES attempts
    (no TIMES or 0: on every attempt, so the cell ends failed after its retries)."""
    faults = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        cell_id, _, times = item.partition(":")
        faults.append((cell_id, int(times or 0)))
    return tuple(faults)


def _inject_fault(cell_id: str, ctx: RunContext) -> None:
    """Kill this worker process (like an OOM kill or a preempted node) if the cell is marked."""
    times = dict(ctx.faults).get(cell_id)
    if times is None:
        return
    if times:
        marker_dir = Path(ctx.fault_dir or Path(tempfile.gettempdir()) / f"freedarts-faults-{ctx.sweep}") / cell_id
        marker_dir.mkdir(parents=True, exist_ok=True)
        if len(list(marker_dir.iterdir())) >= times:
            return
        (marker_dir / f"{os.getpid()}-{time.time_ns()}").touch()
    os.kill(os.getpid(), signal.SIGKILL)


def _trainable(config: dict[str, Any], ctx: RunContext) -> None:
    """The Tune function trainable: one cell; its rows go back to the driver as JSON."""
    import ray
    import torch
    from ray import tune

    cell = CellConfig.from_dict(config["cell"])
    _inject_fault(cell.cell_id, ctx)
    torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    row, trajectory = run_cell(cell, ctx)
    # Ray has set CUDA_VISIBLE_DEVICES to exactly the GPU(s) this worker holds.
    row["gpu_ids"] = ",".join(str(g) for g in ray.get_gpu_ids())
    row["node_id"] = ray.get_runtime_context().get_node_id()
    tune.report({"cell_row": json.dumps(row, default=str), "trajectory": json.dumps(trajectory, default=str)})


def _make_callback(results_dir: Path, progress: Progress, ctx: RunContext):
    from ray.tune import Callback

    class ResultWriter(Callback):
        """The driver-side, only writer of the results directory."""

        def on_step_end(self, iteration, trials, **info):
            running = sum(t.status == "RUNNING" for t in trials)
            if running != progress.running:
                progress.running = running
                progress.update()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if "cell_row" not in result:
                return
            row = json.loads(result["cell_row"])
            for key in ("started_at", "finished_at"):
                row[key] = _parse_time(row.get(key))
            row["attempt"] = trial.num_failures + 1
            store.write_cell(results_dir, row, json.loads(result.pop("trajectory")))
            # Tune keeps last_result in its experiment state: keep it small (Tune allows in-place edits).
            result.pop("cell_row")
            result["cell_status"] = row["status"]
            progress.done += 1
            progress.failed += row["status"] == store.STATUS_FAILED
            progress.update()

        def on_trial_error(self, iteration, trials, trial, **info):
            # The worker process or its node died on every attempt: record it; never lose the cell.
            cell = CellConfig.from_dict(trial.config["cell"])
            err = trial.get_error() or "worker died"
            last = [ln for ln in str(err).strip().splitlines() if ln.strip()]
            reason = last[-1] if last else str(err)
            attempts = trial.num_failures
            row = failed_row(cell, ctx, f"WorkerDied: {' '.join(reason.split())} (after {attempts} attempt(s))",
                             attempt=attempts)
            store.write_cell(results_dir, row, [])
            progress.done += 1
            progress.failed += 1
            progress.update()

    return ResultWriter()


def _parse_time(value):
    import pandas as pd

    return None if value is None else pd.Timestamp(value).to_pydatetime()


def _absolute_roots() -> None:
    """Workers start in Tune's trial directories: a relative $HARNESS_DATA / $HARNESS_CACHE (as in
    `HARNESS_DATA=../shared/data`) must be made absolute before they inherit the environment."""
    for var, resolve_root in ((DATA_ENV, data_root), (CACHE_ENV, cache_root)):
        if os.environ.get(var):
            os.environ[var] = str(resolve_root())


def _init_ray(address: str | None) -> None:
    # Our Parquet is the sweep state: Tune's per-trial loggers and frequent experiment snapshots
    # (which dominate runs of thousands of short trials) are not needed. Users may override.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", "16")
    _absolute_roots()
    import ray

    if ray.is_initialized():
        return
    kwargs = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(include_dashboard=False, **kwargs)


def make_context(sweep: SweepConfig, out=sys.stderr, engine: str = DEFAULT_ENGINE) -> RunContext:
    """Everything workers need, resolved on the driver (table converted and packed for shipping)."""
    table_dir = resolve_table(sweep)
    if sweep.benchmark != "none" and table_dir is None:
        out.write(f"note: no {sweep.benchmark} table found, searches run without lookups; "
                  f"{get_benchmark(sweep.benchmark).obtain_hint}\n")
    table_files, table_key = pack_table(table_dir)
    return RunContext(sweep=sweep.name, benchmark=sweep.benchmark, table_dir=table_dir,
                      table_files=table_files, table_key=table_key,
                      data_root=str(data_root(sweep.data_root)), images_dir=sweep.images_dir,
                      provenance=tuple(git_provenance().items()),
                      faults=parse_faults(os.environ.get(KILL_ENV, "")),
                      fault_dir=os.environ.get(FAULT_DIR_ENV), engine=check_engine(engine))


def run(sweep: SweepConfig, cells: list[CellConfig], results_dir: Path, *, address: str | None = None,
        max_concurrent: int | None = None, out=sys.stderr, engine: str = DEFAULT_ENGINE) -> dict[str, int]:
    """Run `cells` on Ray Tune and write their rows; returns counts by status of this run's cells."""
    ctx = make_context(sweep, out, engine)
    write_config(sweep, results_dir)
    store.upgrade(results_dir)  # older part files get the current columns before new ones join them
    if not cells:
        return {}

    _init_ray(address)
    import ray
    from ray import tune

    resources = sweep.resources.ray_resources(cluster_has_gpus=ray.cluster_resources().get("GPU", 0) > 0)
    progress = Progress(len(cells), stream=out)
    storage = tempfile.mkdtemp(prefix="freedarts-tune-")
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_trainable, ctx=ctx), resources),
            param_space={"cell": tune.grid_search([c.to_dict() for c in cells])},
            tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=max_concurrent,
                                        trial_name_creator=lambda t: CellConfig.from_dict(t.config["cell"]).cell_id,
                                        trial_dirname_creator=lambda t: CellConfig.from_dict(t.config["cell"]).cell_id),
            run_config=tune.RunConfig(name=sweep.name, storage_path=storage, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=sweep.max_retries),
                                      callbacks=[_make_callback(results_dir, progress, ctx)]),
        )
        tuner.fit()
    finally:
        progress.close()
        shutil.rmtree(storage, ignore_errors=True)
    statuses = store.cell_statuses(results_dir)
    counts: dict[str, int] = {}
    for c in cells:
        s = statuses.get(c.cell_id, "missing")
        counts[s] = counts.get(s, 0) + 1
    return counts


# -- CLI --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.sweep",
        description="Run a FreeDARTS sweep: one search per cell of the sweep file's grid, on Ray Tune, "
                    "with results as Parquet under RESULTS/<name>/ (cells/ and trajectory/).",
        epilog="Environment: HARNESS_DATA (raw data root: benchmark sources, CIFAR images), HARNESS_CACHE "
               "(converted tables, default ~/.cache/freedarts). Re-running resumes; see README.md.",
    )
    p.add_argument("sweep", help="sweep YAML file, e.g. sweeps/quickstart.yaml")
    p.add_argument("--address", default=None,
                   help="Ray cluster address ('auto' for the local cluster started with `ray start`); "
                        "default: start an embedded local Ray on this machine's CPUs")
    p.add_argument("--results", default="results", help="results root (default: results/)")
    p.add_argument("--dry-run", action="store_true", help="print the cells (id, status, fields) and exit")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help="run only cells whose field KEY equals VALUE (comma-separated alternatives); repeatable")
    p.add_argument("--retry-failed", action="store_true", help="also re-run cells whose row is 'failed'")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many cells at once")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help="ZEROS engine: fast (default; same architectures, fewer seconds) or reference (the "
                        "readable oracle); recorded in each row, not part of the cell id (harness/engine.py)")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sweep = load(args.sweep)
        results_dir = Path(args.results) / sweep.name
        cells = select(sweep.cells, args.only)
        statuses = store.cell_statuses(results_dir)  # read once: thousands of part files on a big sweep
        todo = pending(cells, statuses, args.retry_failed)
        if args.dry_run:
            for c in cells:
                fields = " ".join(f"{k}={v}" for k, v in c.to_dict().items() if k not in ("space_options",))
                print(f"{c.cell_id}  {statuses.get(c.cell_id, 'todo'):7s} {fields}")
            print(f"{len(cells)} cells, {len(todo)} to run -> {results_dir}")
            return 0
        print(f"sweep {sweep.name}: {len(cells)} cells, {len(cells) - len(todo)} already have rows, "
              f"{len(todo)} to run -> {results_dir}", file=sys.stderr)
        counts = run(sweep, todo, results_dir, address=args.address, max_concurrent=args.max_concurrent,
                     engine=args.engine)
    except (HarnessError, BenchmarkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to run"
    print(f"done: {summary}; results in {results_dir} "
          f"(pd.read_parquet('{results_dir}/cells'); report: python -m harness.report {results_dir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
