"""`python -m harness.reproduce`: the paper in one command -- every sweep, every report, REPRODUCTION.md.

    python -m harness.reproduce --profile quick              # minutes: the cheap cells of every item
    python -m harness.reproduce --profile full               # every cell (seeds 0-9 per FreeDARTS row): hours on a CPU
    python -m harness.reproduce --profile full --dry-run     # the plan: cells per step, shared, to run, estimated time
    python -m harness.reproduce --profile full --address HOST:6379 --results results

The profiles are data (`sweeps/profiles/reproduce.yaml`): ordered steps, each a sweep file and `--only`
filters. For every step this command

1. copies into the step's results folder the rows of its pending cells that another folder under the
   same results root already holds (same cell_id and benchmark; ok or no_data rows), so a cell shared
   by two items (Table 3's iterative FreeDARTS-D is also Table 2's FreeDARTS row, Fig. 3's a = 1e-3 and
   the bias analysis's) runs once;
2. runs `python -m harness.sweep` on it (resume by cell id, the folder lock, its exit codes: the sweep
   machinery itself, in a child process) and logs the step's wall time;

then rebuilds the report of every folder it touched (`harness.report`) and writes
`<results>/REPRODUCTION.md` and `.tex` (`harness.reproduction`). A dirty git tree is announced in a
banner (the rows record `git_dirty`; REPRODUCTION.md counts them). Each run appends one JSON line
(profile, git sha, dirty flag, per-step wall time and exit code) to `<results>/reproduce_runs.jsonl`.

Exit codes: 0 every step ended 0; 1 some cell failed (the other steps still ran); 2 bad input;
3 a results folder is locked by another driver; 130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from harness import store
from harness.config import load
from harness.errors import ConfigError, HarnessError
from harness.interrupts import deferred
from harness.lock import ResultsLock, ResultsLockedError
from harness.runner import git_provenance

log = logging.getLogger("harness.reproduce")
progress = logging.getLogger("harness.reproduce.progress")  # one line per report built; main() shows them
REPO = Path(__file__).resolve().parents[1]
PROFILES_FILE = REPO / "sweeps" / "profiles" / "reproduce.yaml"
RUN_LOG = "reproduce_runs.jsonl"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SHAREABLE = (store.STATUS_OK, store.STATUS_NO_DATA)


@dataclass(frozen=True)
class Step:
    sweep: str                 # sweep name: sweeps/<sweep>.yaml
    only: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return REPO / "sweeps" / f"{self.sweep}.yaml"

    def label(self) -> str:
        return self.sweep + "".join(f" --only {o}" for o in self.only)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    steps: tuple[Step, ...]


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    profiles = {}
    for name, body in (raw.get("profiles") or {}).items():
        steps = tuple(Step(str(s["sweep"]), tuple(str(o) for o in s.get("only", ()))) for s in body.get("steps", ()))
        for step in steps:
            if not step.path.is_file():
                raise ConfigError(f"{path}:profiles.{name}", f"sweep {step.sweep!r} has no file {step.path}")
        profiles[name] = Profile(name, str(body.get("description", "")), steps)
    return profiles


# -- planning and sharing ---------------------------------------------------------------------------
def step_cells(step: Step):
    from harness.sweep import select  # the sweep CLI's own --only semantics

    sweep = load(step.path)
    return sweep, select(sweep.cells, list(step.only), sweep.source)


def _row_key(path: Path) -> tuple[str, str] | None:
    """(status, benchmark) of one cells part file, or None when unreadable (the sweep quarantines it)."""
    try:
        t = pq.read_table(path, columns=["status", "benchmark"])
    except Exception:  # noqa: BLE001
        return None
    return (t.column("status")[0].as_py(), t.column("benchmark")[0].as_py()) if t.num_rows else None


def share_index(results: Path) -> dict[str, list[Path]]:
    """cell_id -> the results folders under `results` holding a row of it."""
    index: dict[str, list[Path]] = {}
    for cells_dir in sorted(results.glob(f"*/{store.CELLS_DIR}")):
        for part in store.part_files(cells_dir):
            index.setdefault(part.name[: -len(store.PART_SUFFIX)], []).append(cells_dir.parent)
    return index


def shareable(cells, target: Path, benchmark: str, index: dict[str, list[Path]]) -> dict[str, Path]:
    """cell_id -> the folder to copy its row from, for pending cells of `target` another folder holds."""
    have = {p.name[: -len(store.PART_SUFFIX)] for p in store.part_files(target / store.CELLS_DIR)}
    found = {}
    for cell in cells:
        if cell.cell_id in have:
            continue
        for folder in index.get(cell.cell_id, ()):
            if folder.resolve() == target.resolve():
                continue
            key = _row_key(folder / store.CELLS_DIR / f"{cell.cell_id}{store.PART_SUFFIX}")
            if key and key[0] in SHAREABLE and key[1] == benchmark:
                found[cell.cell_id] = folder
                break
    return found


def copy_rows(sources: dict[str, Path], target: Path) -> int:
    """Copy each cell's row and trajectory from its source folder into `target` (through `store.write_cell`,
    under `target`'s lock). The row keeps its `sweep`: the sweep that ran it."""
    if not sources:
        return 0
    with ResultsLock(target).acquire():
        for cell_id, folder in sources.items():
            name = f"{cell_id}{store.PART_SUFFIX}"
            row = pq.read_table(folder / store.CELLS_DIR / name).to_pylist()[0]
            traj_path = folder / store.TRAJECTORY_DIR / name
            trajectory = pq.read_table(traj_path).to_pylist() if traj_path.is_file() else []
            store.write_cell(target, row, trajectory)
    return len(sources)


# -- per-cell time estimates ------------------------------------------------------------------------
_KIND = ("space", "method", "variant", "mode", "dataset")


def measured_seconds(roots: list[Path]):
    """Median seconds per cell (search_s + build_s + lookup_s) of the ok rows under `roots`, by kind and engine."""
    import pandas as pd

    frames = [store.read_cells(d.parent) for root in roots for d in sorted(Path(root).glob(f"*/{store.CELLS_DIR}"))]
    frames = [f for f in frames if len(f)]
    if not frames:
        return {}
    cells = pd.concat(frames, ignore_index=True)
    cells = cells[cells["status"] == store.STATUS_OK].assign(method=lambda c: c["method"].fillna("freedarts"),
                                                             engine=lambda c: c["engine"].fillna("reference"))
    total = cells[["search_s", "build_s", "lookup_s"]].fillna(0).sum(axis=1)
    return total.groupby([cells[k] for k in (*_KIND, "engine")]).median().to_dict()


def estimate(cells, seconds: dict, engine: str) -> tuple[float, int, int]:
    """(estimated seconds, cells timed on the other engine only, cells of a kind never measured) for `cells`."""
    total, other, unknown = 0.0, 0, 0
    for c in cells:
        kind = (c.space, c.method, c.variant, c.mode, c.dataset)
        s = seconds.get((*kind, engine))
        if s is None:
            s = next((v for k, v in seconds.items() if k[:-1] == kind), None)
            other += s is not None
        if s is None:
            unknown += 1
        else:
            total += s
    return total, other, unknown


# -- machine paths in rows (issue 13 item 6) ----------------------------------------------------------
# An absolute POSIX path: a '/' after no name character, '$', ':', '/' or '…' (a cut path), then at least
# one `name/` component; `$HARNESS_DATA/x`, `a/b`, `1<-0` and `https://host/x` do not match.
MACHINE_PATH = re.compile(r"(?<![\w.~$}:/…-])/(?:[\w.@+-]+/)+[\w.@+-]*")


def machine_paths(folder: Path) -> list[tuple[str, str]]:
    """(column, value) of every string value of the folder's cells and trajectory rows holding an absolute path."""
    import pandas as pd

    found = []
    for frame in (store.read_cells(folder), store.read_trajectory(folder)):
        for column in frame.columns:
            if not (pd.api.types.is_string_dtype(frame[column]) or frame[column].dtype == object):
                continue
            for value in frame[column].dropna().astype(str).unique():
                if MACHINE_PATH.search(value):
                    found.append((column, value))
    return found


# -- running ------------------------------------------------------------------------------------------
def dirty_banner(provenance: dict) -> str | None:
    if not provenance.get("git_dirty"):
        return None
    bar = "!" * 100
    return (f"{bar}\nWARNING: the git tree is DIRTY (uncommitted changes to tracked files): every row this run writes "
            f"records git_dirty=true and REPRODUCTION.md counts them. Commit first for results you publish.\n{bar}")


def run_step(step: Step, results: Path, args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "harness.sweep", str(step.path), "--results", str(results.resolve()), "--engine", args.engine]
    for item in step.only:
        cmd += ["--only", item]
    if args.address:
        cmd += ["--address", args.address]
    if args.max_concurrent:
        cmd += ["--max-concurrent", str(args.max_concurrent)]
    return subprocess.run(cmd).returncode  # same working directory and environment as this command


def rebuild_reports(results: Path, folders: list[str]) -> None:
    from harness import report
    from harness.reproduction import write_reproduction

    for name in folders:
        if any((results / name / store.CELLS_DIR).glob("*.parquet")):
            t0 = time.monotonic()
            report.report(results / name)
            progress.info("report %s/report (%.0f s)", results / name, time.monotonic() - t0)
    for path in write_reproduction(results):
        progress.info("wrote %s", path)


def plan_lines(profile: Profile, results: Path, engine: str, timings: list[Path] = ()) -> list[str]:
    index, seconds = share_index(results), measured_seconds([results, *timings])
    lines, total_s, total_other, total_unknown, total_run = [], 0.0, 0, 0, 0
    claimed: set[str] = set()
    for i, step in enumerate(profile.steps, 1):
        sweep, cells = step_cells(step)
        target = results / sweep.name
        have = set(store.cell_statuses(target))
        shared = shareable(cells, target, sweep.benchmark, index)
        todo = [c for c in cells if c.cell_id not in have and c.cell_id not in shared and c.cell_id not in claimed]
        later = sum(c.cell_id in claimed for c in cells)  # run by an earlier step, copied when this one starts
        claimed |= {c.cell_id for c in todo}
        s, other, unknown = estimate(todo, seconds, engine)
        total_s, total_other, total_unknown, total_run = total_s + s, total_other + other, total_unknown + unknown, total_run + len(todo)
        lines.append(f"[{i}/{len(profile.steps)}] {step.label()}: {len(cells)} cells, {sum(c.cell_id in have for c in cells)} "
                     f"have rows, {len(shared) + later} shared, {len(todo)} to run, ~{s / 60:,.0f} min"
                     + (f" ({other} timed on another engine only)" if other else "")
                     + (f" (+{unknown} cells of a kind never measured)" if unknown else ""))
    lines.append(f"profile {profile.name}: {total_run} cells to run, ~{total_s / 3600:,.1f} h of cell time (an estimate: the "
                 f"median seconds per cell of each kind in the rows under {', '.join(map(str, [results, *timings]))}, "
                 f"{engine} engine where measured; one cell at a time, without start-up)"
                 + (f"; {total_other} cells timed on another engine only" if total_other else "")
                 + (f"; {total_unknown} cells of kinds never measured are not in it" if total_unknown else ""))
    return lines


def _execute(args: argparse.Namespace) -> int:
    profiles = load_profiles(PROFILES_FILE)
    if args.profile not in profiles:
        raise ConfigError("--profile", f"unknown profile {args.profile!r}; choose one of {sorted(profiles)}")
    profile, results = profiles[args.profile], Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    if args.dry_run:
        print("\n".join(plan_lines(profile, results, args.engine, [Path(t) for t in args.timings])))
        return EXIT_OK
    provenance = git_provenance()
    banner = dirty_banner(provenance)
    if banner:
        print(banner, file=sys.stderr)
    record = {"profile": profile.name, "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              **provenance, "engine": args.engine, "steps": []}
    worst, t_start = EXIT_OK, time.monotonic()
    touched: list[str] = []
    try:
        for i, step in enumerate(profile.steps, 1):
            sweep, cells = step_cells(step)
            target = results / sweep.name
            copied = copy_rows(shareable(cells, target, sweep.benchmark, share_index(results)), target)
            print(f"[{i}/{len(profile.steps)}] {step.label()}: {len(cells)} cells, {copied} copied from other "
                  f"folders (shared cells)", file=sys.stderr)
            t0 = time.monotonic()
            statuses = store.cell_statuses(target)
            if all(c.cell_id in statuses for c in cells):  # resume: every cell has a row; no driver, no Ray
                failed = any(statuses[c.cell_id] == store.STATUS_FAILED for c in cells)
                code = EXIT_FAILED if failed else EXIT_OK  # what `harness.sweep` would answer
                print(f"[{i}/{len(profile.steps)}] {sweep.name}: every cell has a row", file=sys.stderr)
            else:
                if not args.address and not args.ray_per_sweep:
                    # One embedded Ray for every step (started when a step first needs it): each sweep driver
                    # joins it instead of starting its own. Two quick runs here (not interleaved, load differed):
                    # steps took 45-138 s with a Ray per sweep, 19-79 s with one.
                    from harness import ray_session

                    record["ray"] = "one embedded instance for all steps"  # `finally` shuts it down
                    with deferred():  # Ctrl-C waits until Ray is up (harness/interrupts.py)
                        args.address = ray_session.start_local_head()
                code = run_step(step, results, args)
            wall = time.monotonic() - t0
            print(f"[{i}/{len(profile.steps)}] {sweep.name}: exit {code}, wall {wall:,.0f} s "
                  f"(total {time.monotonic() - t_start:,.0f} s)", file=sys.stderr)
            record["steps"].append({"step": step.label(), "cells": len(cells), "copied": copied, "exit": code,
                                    "wall_s": round(wall, 1)})
            if sweep.name not in touched:
                touched.append(sweep.name)
            if code in (EXIT_BAD_INPUT, EXIT_LOCKED, EXIT_INTERRUPTED):
                return code
            worst = max(worst, code)
        t0 = time.monotonic()
        rebuild_reports(results, touched)
        record["reports_s"] = round(time.monotonic() - t0, 1)
    finally:
        if record.get("ray"):
            from harness import ray_session

            ray_session.shutdown()
        record["wall_s"] = round(time.monotonic() - t_start, 1)
        with open(results / RUN_LOG, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(f"reproduce {profile.name}: wall {record['wall_s']:,.0f} s; log {results / RUN_LOG}", file=sys.stderr)
        if banner:
            print(banner, file=sys.stderr)
    return worst


def build_parser() -> argparse.ArgumentParser:
    from harness.engine import DEFAULT_ENGINE, ENGINES

    p = argparse.ArgumentParser(prog="python -m harness.reproduce", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", help="quick (default) or full; sweeps/profiles/reproduce.yaml")
    p.add_argument("--results", default="results", help="results root (default: results/)")
    p.add_argument("--address", default=None, help="Ray cluster HOST:PORT for every sweep (default: embedded Ray)")
    p.add_argument("--ray-per-sweep", action="store_true",
                   help="let every sweep start its own embedded Ray (default without --address: one for all steps)")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many cells at once")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE, help="ZEROS engine (harness/engine.py)")
    p.add_argument("--dry-run", action="store_true",
                   help="print each step's cells, shared cells, cells to run and an estimate from measured rows; run nothing")
    p.add_argument("--timings", action="append", default=[], metavar="DIR",
                   help="with --dry-run: also take seconds per cell from the rows under this results root (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


class _ToStderr(logging.Handler):
    """The CLI's view of `progress`: the message alone, on the current sys.stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(record.getMessage(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    faulthandler.enable(sys.__stderr__)  # a crash of the driver prints its Python stack (harness/ray_session.py)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not any(isinstance(h, _ToStderr) for h in progress.handlers):  # progress lines, whatever the verbosity
        progress.addHandler(_ToStderr())
    progress.setLevel(logging.INFO)
    progress.propagate = False
    try:
        return _execute(args)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ResultsLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
