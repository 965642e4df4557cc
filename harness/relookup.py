"""Look existing rows up again, without searching: `python -m harness.sweep FILE --relookup`.

A cell's id does not include the benchmark (the search does not depend on it), so a sweep file that
now names another benchmark, or adds `extra_benchmarks:`, keeps its rows. `--relookup` recomputes
every lookup column of the selected cells' `ok` rows from their `arch` in the sweep's benchmarks
(the primary and each extra one) and replaces each row atomically; the search columns, the
trajectory and the search's provenance (git_sha, engine, timings) are kept. It runs in the driver
(lookups take milliseconds), holding the results folder's lock like any sweep.

    HARNESS_DATA=../shared/data python -m harness.sweep sweeps/table5.yaml --relookup
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from harness import store
from harness.cell import CellConfig
from harness.runner import RunContext, relookup_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelookupCounts:
    """What `relookup` did: rows looked up again, and cells it left alone (no row, or not `ok`)."""

    updated: int = 0
    no_row: int = 0
    not_ok: int = 0

    def line(self) -> str:
        return (f"{self.updated} rows looked up again; {self.no_row} cells without a row and "
                f"{self.not_ok} rows not ok left alone")


def stale_rows(cells: list[CellConfig], table: pa.Table | None, benchmark: str, extra: tuple[str, ...]) -> int:
    """How many `ok` rows of `cells` were not looked up in exactly these benchmarks (another primary, or an
    extra benchmark missing from their `lookups_json`): the rows `--relookup` would change.

    `table`: the results folder's cells rows, as `store.read_cells_table` returns them."""
    if table is None:
        return 0
    wanted = {c.cell_id for c in cells}
    columns = ["cell_id", "status", "benchmark", "lookups_json"]
    stale = 0
    for cell_id, status, bench, lookups in zip(*(table.column(c).to_pylist() for c in columns)):
        if cell_id not in wanted or status != store.STATUS_OK:
            continue
        have = set(json.loads(lookups)) if lookups else {bench}
        stale += bench != benchmark or not set(extra) <= have
    return stale


def relookup(cells: list[CellConfig], results_dir: Path, ctx: RunContext) -> RelookupCounts:
    """Re-run the lookups of the `ok` rows of `cells` in `ctx`'s benchmarks; returns the counts."""
    updated = no_row = not_ok = 0
    for cell in cells:
        row = store.read_cell_row(results_dir, cell.cell_id)
        if row is None:
            no_row += 1
            continue
        if row["status"] != store.STATUS_OK or not row.get("arch"):
            not_ok += 1
            continue
        store.replace_cell_row(results_dir, relookup_row(row, ctx))
        updated += 1
    log.info("relookup of %s: %d updated, %d without a row, %d not ok", results_dir, updated, no_row, not_ok)
    return RelookupCounts(updated, no_row, not_ok)
