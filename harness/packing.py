"""Packing short cells into one Tune trial (sweep key `cells_per_trial`, CLI `--cells-per-trial`).

A Tune trial costs about 0.2 s of scheduling, actor reuse and bookkeeping on this CPU; a fast
FreeDARTS-D NB201 one-shot search takes 0.3 s. A pack runs several cells of the same kind (space,
dataset, variant, method, mode, space options) one after the other in one trial. Nothing else
changes: each cell still gets its own row, sent to the driver as soon as it finishes and written
atomically there; resume still works cell by cell. When a packed trial's worker dies, Tune retries
the trial and the retry skips the cells whose rows the driver already holds (`Ledger`); a trial that
dies on every attempt leaves a `failed` row for each of its unfinished cells.

`cells_per_trial`:
    1        one cell per trial (the default: a killed worker costs one cell);
    N > 1    up to N cells of one kind per trial;
    "auto"   as many cells of one kind as take about `TARGET_TRIAL_S` seconds of search, from the
             median `search_s` of that kind's rows already in the results folder, else from
             `ESTIMATED_SEARCH_S`; never so many that a worker would sit idle while another still
             has two packs to run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from harness import store
from harness.config import CellConfig

AUTO = "auto"
TARGET_TRIAL_S = 20.0  # auto: seconds of search per trial, ~100x the per-trial overhead
MAX_PACK = 64
# Median fast-engine search seconds on one thread of this project's 2-core CPU (README, Performance),
# used by "auto" before the results folder holds any row of a kind. Kinds not listed are not packed.
ESTIMATED_SEARCH_S: Mapping[tuple[str, str, str], float] = {
    ("nasbench201", "freedarts", "oneshot"): 0.4,
    ("nasbench201", "freedarts", "iterative"): 4.0,
}
LABELLED_VARIANTS = frozenset({"labels"})  # batch of 64 real images: minutes per search, never packed by estimate


def parse_cli(value: str) -> int | str:
    """`--cells-per-trial` (argparse type): a positive integer or "auto"."""
    if value == AUTO:
        return AUTO
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a positive integer or 'auto', got {value!r}")
    return int(value)


def kind(cell: CellConfig) -> tuple:
    """Cells of one kind take about the same time and share the worker's warm tables and images."""
    return _kind(cell.space, cell.dataset, cell.variant, cell.method, cell.mode, json.dumps(cell.options, sort_keys=True))


def _kind(space, dataset, variant, method, mode, options_json: str) -> tuple:
    return (space, dataset, variant, method, mode, options_json)


def _estimate(cell: CellConfig, measured: Mapping[tuple, float]) -> float | None:
    if kind(cell) in measured:
        return measured[kind(cell)]
    if cell.variant in LABELLED_VARIANTS:
        return None
    return ESTIMATED_SEARCH_S.get((cell.space, cell.method, cell.mode))


def measured_search_s(rows: Iterable[Mapping]) -> dict[tuple, float]:
    """Median `search_s` per kind over finished rows (as `store.read_cells` gives them: the cell fields,
    `space_options` as the JSON of the resolved options, `status`, `search_s`)."""
    times: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        s = row.get("search_s")
        if row.get("status") == "ok" and s is not None and s == s:
            options = json.dumps(json.loads(row["space_options"] or "{}"), sort_keys=True)
            times[_kind(row["space"], row["dataset"], row["variant"], row.get("method") or "freedarts", row["mode"],
                        options)].append(float(s))
    return {k: statistics.median(v) for k, v in times.items()}


def plan(cells: Sequence[CellConfig], cells_per_trial: int | str, workers: int,
         measured: Mapping[tuple, float] | None = None) -> list[list[CellConfig]]:
    """Split `cells` into packs of one kind each (grid order kept within a kind)."""
    by_kind: dict[tuple, list[CellConfig]] = defaultdict(list)
    for cell in cells:
        by_kind[kind(cell)].append(cell)
    packs: list[list[CellConfig]] = []
    for group in by_kind.values():
        size = _pack_size(group, cells_per_trial, max(1, workers), measured or {})
        packs.extend(group[i:i + size] for i in range(0, len(group), size))
    return packs


def _pack_size(group: list[CellConfig], cells_per_trial: int | str, workers: int, measured: Mapping) -> int:
    if cells_per_trial != AUTO:
        return int(cells_per_trial)
    seconds = _estimate(group[0], measured)
    if not seconds or seconds <= 0:
        return 1
    size = max(1, min(MAX_PACK, round(TARGET_TRIAL_S / seconds)))
    return min(size, max(1, math.ceil(len(group) / (2 * workers))))  # at least two packs per worker


def plan_run(cells: Sequence[CellConfig], results_dir: Path, resources: Mapping, max_concurrent: int | None,
             cells_per_trial: int | str) -> list[list[CellConfig]]:
    """`plan` for a running Ray: workers = the cluster's cell slots (capped by `max_concurrent`); "auto"
    reads the search times of the rows already in `results_dir`."""
    if cells_per_trial == 1:
        return [[c] for c in cells]
    import ray

    slots = int(ray.cluster_resources().get("CPU", 1) // max(resources.get("cpu", 1), 1))
    if resources.get("gpu"):
        slots = min(slots, int(ray.cluster_resources().get("GPU", 0) // resources["gpu"]) or 1)
    workers = min(slots, max_concurrent or slots)
    measured = {}
    if cells_per_trial == AUTO:
        rows = store.read_cells(results_dir) if store.part_files(results_dir / store.CELLS_DIR) else None
        measured = measured_search_s(rows.to_dict("records")) if rows is not None else {}
    return plan(cells, cells_per_trial, workers, measured)


def trial_name(pack: Sequence) -> str:
    """A pack's trial name: its first cell's id, and how many more cells it holds."""
    return pack[0].cell_id + (f"+{len(pack) - 1}" if len(pack) > 1 else "")


def trial_config(pack: Sequence) -> dict:
    """One Tune trial's config: the pack's name (plain text, what the driver reads) and its cells as
    the typed `CellConfig`s the driver resolved (cell_id and space options object included).

    Tune hands objects in a config to the worker as they are, and shows the driver's own callbacks and
    name creators placeholders in their place (Ray 2.60, measured), so driver-side code finds a
    trial's cells by its `pack` name, never in `trial.config["trial"]["cells"]`."""
    return {"pack": trial_name(pack), "cells": list(pack)}


class Ledger:
    """Cells whose rows the driver holds, asked by a retried pack (a Ray actor; see `remote_ledger`)."""

    def __init__(self) -> None:
        self._done: set[str] = set()

    def add(self, cell_id: str) -> None:
        self._done.add(cell_id)

    def has(self, cell_id: str) -> bool:
        return cell_id in self._done


def remote_ledger():
    """A `Ledger` actor on the driver's node, costing no CPU (call after Ray is up)."""
    import ray

    return ray.remote(num_cpus=0)(Ledger).remote()
