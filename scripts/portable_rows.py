"""Rewrite results rows written before every path column was portable: no machine paths in committed rows.

    python scripts/portable_rows.py results/*/            # rewrite in place (each folder under its lock)
    python scripts/portable_rows.py results/*/ --check    # list the offending values, change nothing

Rows written today carry portable paths already (`harness.runner.PATH_COLUMNS`: `$HARNESS_DATA/...`,
`$HARNESS_CACHE/...`). Older rows may hold absolute paths in `error`, `lookup_error`, `data_source` or
`benchmark_source`: this maps this machine's data and cache roots to those names and cuts any other
absolute path to `…/<last two parts>` (as the reports display errors), and writes a legacy `failed` row
whose error is a DataNotFoundError as `no_data` (what `harness.store` reads it as). Measured values, ids and
timestamps are copied as they are. Exit 1 with --check when a path is found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.paths import CACHE_ENV, DATA_ENV, cache_root, data_root
from harness import store
from harness.lock import ResultsLock
from harness.reproduce import MACHINE_PATH, machine_paths
from harness.runner import portable


def _fix(value: object, roots: dict[str, str]) -> object:
    if not isinstance(value, str) or not MACHINE_PATH.search(value):
        return value
    text = portable(value, roots)
    return MACHINE_PATH.sub(lambda m: "…/" + "/".join(m.group(0).rstrip("/").split("/")[-2:]), text)


def rewrite(folder: Path, roots: dict[str, str]) -> int:
    changed = 0
    with ResultsLock(folder).acquire():
        for part in store.part_files(folder / store.CELLS_DIR):
            row = pq.read_table(part).to_pylist()[0]
            traj_path = folder / store.TRAJECTORY_DIR / part.name
            trajectory = pq.read_table(traj_path).to_pylist() if traj_path.is_file() else []
            new_row = {k: _fix(v, roots) for k, v in row.items()}
            if new_row.get("status") == store.STATUS_FAILED and str(new_row.get("error") or "").startswith(
                    store.NO_DATA_ERROR + ":"):
                new_row["status"] = store.STATUS_NO_DATA  # as `store.upgrade` writes legacy rows (plain readers see it)
            new_traj = [{k: _fix(v, roots) for k, v in r.items()} for r in trajectory]
            if new_row != row or new_traj != trajectory:
                store.write_cell(folder, new_row, new_traj)
                changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="results folders, e.g. results/*/")
    p.add_argument("--check", action="store_true", help="list machine paths in rows; change nothing")
    args = p.parse_args(argv)
    roots = {str(data_root()): f"${DATA_ENV}", str(cache_root()): f"${CACHE_ENV}"}
    found = 0
    for folder in map(Path, args.folders):
        if args.check:
            for column, value in machine_paths(folder):
                print(f"{folder}: {column}: {value[:160]}")
                found += 1
        else:
            print(f"{folder}: {rewrite(folder, roots)} cells rewritten")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
