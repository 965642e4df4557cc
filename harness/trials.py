"""One Tune trial of a sweep: what the worker runs (`trainable`) and the driver-side callback that
writes its rows (`make_callback`), the only writer of the results directory.

A trial runs one pack of cells (harness/packing.py) and sends each cell's row and trajectory back
as JSON as soon as the cell finishes; the driver makes their paths portable and writes them
atomically (harness/store.py). A trial whose worker died on every attempt gets a `failed` row per
unfinished cell, naming the attempts; one Tune gave up on with retries left goes back to
`harness.sweep.run` for a further round.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.paths import CACHE_ENV, DATA_ENV, cache_root
from harness import store
from harness.config import CellConfig
from harness.fault_injection import inject_fault
from harness.progress import Progress
from harness.runner import PATH_COLUMNS, RunContext, failed_row, portable, run_cell

log = logging.getLogger("harness.sweep")


def trainable(config: dict[str, Any], ctx: RunContext, ledger=None) -> None:
    """The Tune function trainable: the cells of one pack, one after the other; each cell's rows go
    back to the driver as JSON as soon as it finishes. A retried pack skips the cells whose rows the
    driver already holds (`ledger`, harness/packing.py)."""
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
    for cell in config["trial"]["cells"]:  # the driver's resolved CellConfigs, as they are (packing.trial_config)
        if ledger is not None and ray.get(ledger.has.remote(cell.cell_id)):
            continue
        inject_fault(cell.cell_id, ctx)
        row, trajectory = run_cell(cell, ctx)
        # Ray has set CUDA_VISIBLE_DEVICES to exactly the GPU(s) this worker holds.
        row["gpu_ids"] = ",".join(str(g) for g in ray.get_gpu_ids())
        row["node_id"] = ray.get_runtime_context().get_node_id()
        tune.report({"cell_row": json.dumps(row, default=str), "trajectory": json.dumps(trajectory, default=str)})


def make_callback(results_dir: Path, progress: Progress, ctx: RunContext, written: set[str], signals,
                  packs: Mapping[str, Sequence[CellConfig]], ledger=None, *, max_retries: int = 0,
                  prior: Mapping[str, int] | None = None, requeue: dict | None = None):
    """`packs`: each trial's cells by its pack name (what a trial that died gets failed rows for).
    `prior`: failures a pack already had in earlier rounds (by trial name). A pack that Tune gives
    up on with retries left (a retry that fails while still starting, e.g. placed on a node that has
    just left: Tune recovers only RUNNING trials) goes to `requeue` (pack -> failures so far) for
    the next round instead of getting failed rows."""
    from ray.tune import Callback

    prior = prior or {}
    roots = _driver_roots(ctx)

    def write(row: dict[str, Any], trajectory: list[dict[str, Any]]) -> None:
        for key in PATH_COLUMNS:
            if row.get(key):
                row[key] = portable(row[key], roots)
        with signals.critical():  # an interrupt waits until the cell's files are whole
            store.write_cell(results_dir, row, trajectory)
            written.add(row["cell_id"])
            progress.count(row["status"])
        if ledger is not None:
            ledger.add.remote(row["cell_id"])

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
            row["attempt"] = prior.get(trial.config["trial"]["pack"], 0) + trial.num_failures + 1
            write(row, json.loads(result.pop("trajectory")))
            # Tune keeps last_result in its experiment state: keep it small (Tune allows in-place edits).
            result.pop("cell_row")
            result["cell_status"] = row["status"]

        def on_trial_error(self, iteration, trials, trial, **info):
            # The worker process or its node died on every attempt: record it; never lose a cell.
            err = trial.get_error() or "worker died"
            last = [ln for ln in str(err).strip().splitlines() if ln.strip()]
            reason = last[-1] if last else str(err)
            name = trial.config["trial"]["pack"]
            attempts = prior.get(name, 0) + max(1, trial.num_failures)  # a preempted actor is not counted by Tune
            if requeue is not None and attempts <= max_retries:
                log.info("trial %s failed while starting after %d attempt(s); it runs again", name, attempts)
                requeue[name] = attempts
                return
            for cell in packs[name]:  # a pack's finished cells keep their rows
                if cell.cell_id not in written:
                    write(failed_row(cell, ctx, f"WorkerDied: {' '.join(reason.split())} "
                                                f"(after {attempts} attempt(s))", attempt=attempts), [])

    return ResultWriter()


def _driver_roots(ctx: RunContext) -> dict[str, str]:
    """Machine paths -> portable names for the rows this driver writes."""
    roots = {str(cache_root()): f"${CACHE_ENV}"}
    if ctx.data_root:
        roots[ctx.data_root] = f"${DATA_ENV}"
    return roots


def _parse_time(value):
    import pandas as pd

    return None if value is None else pd.Timestamp(value).to_pydatetime()
