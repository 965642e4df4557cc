"""`python -m harness.sweep SWEEP.yaml`: run every cell of a sweep on Ray Tune, write Parquet.

    python -m harness.sweep sweeps/quickstart.yaml              # embedded local Ray, 1 CPU per cell
    python -m harness.sweep sweeps/table3.yaml --address HOST:6379   # an existing Ray cluster
    python -m harness.sweep sweeps/table3.yaml --dry-run        # print the cells, run nothing
    python -m harness.sweep sweeps/table3.yaml --engine reference  # the readable ZEROS engine (default: fast)

Re-running the same command resumes: cells that already have a row in `results/<name>/cells`
are skipped (failed ones too, unless `--retry-failed`; `no_data` ones unless `--retry-no-data`);
adding seeds or alpha-scales to the file runs only the new cells. Each Tune trial is one cell; it
asks for 1 GPU when the cluster has GPUs, else 1 CPU; actors are reused so a warm worker keeps
its benchmark table and images. Workers send their rows back to the driver, which alone writes
the results directory (atomic per-cell part files), so a killed sweep never leaves half a cell or
a duplicate.

Exit codes (for scripts: `sweep && report`):
    0    every selected cell has an `ok` or `no_data` row
    1    some selected cell is `failed` (or has no row)
    2    bad input: sweep file, --only filter, benchmark table, Ray address (one `error:` line)
    3    the results folder is locked by another driver (`--wait` queues instead)
    130  interrupted (SIGINT / SIGTERM): "interrupted: N of M cells have rows; re-run ..."

Ray is imported only here, in `harness.trials` (the trial and its callback) and in `harness.ray_session`.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import hashlib
import logging
import operator
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from benchmarks import get_benchmark
from benchmarks.paths import CACHE_ENV, DATA_ENV, cache_root, data_root
from harness import packing, ray_session, store, trials
from harness.fault_injection import FAULT_DIR_ENV, KILL_ENV, parse_faults, tune_gives_up
from harness.config import CELL_FIELDS, CellConfig, SweepConfig, field_value, load
from harness.engine import DEFAULT_ENGINE, ENGINES, check_engine
from harness.errors import BenchmarkError, ConfigError, HarnessError
from harness.interrupts import EXIT_INTERRUPTED, NullSignals, Signals
from harness.lock import ResultsLock, ResultsLockedError, describe
from harness.progress import Progress
from harness.runner import RunContext, git_provenance
from harness.relookup import relookup, stale_rows
from harness.tables import extra_table_refs, pack_table, resolve_table

log = logging.getLogger("harness.sweep")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_LOCKED = 0, 1, 2, 3
_TUNE_PREFIX = "freedarts-tune-"


# -- planning (no Ray) ------------------------------------------------------------------------------
def select(cells: tuple[CellConfig, ...], only: list[str], source: str = "the sweep") -> list[CellConfig]:
    """Cells matching every `KEY=VALUE` filter (several VALUEs with ','), values typed as the field is
    (`alpha_scale=1e-3` matches 0.001, `augment=true` matches True). A filter that leaves no cell is
    a `ConfigError` naming it and the values present."""
    selected = list(cells)
    for item in only:
        key, sep, text = item.partition("=")
        where = f"--only {item}"
        if not sep:
            raise ConfigError("--only", f"expected KEY=VALUE, got {item!r}")
        wanted = [field_value(key, v.strip(), where) for v in text.split(",")]
        kept = [c for c in selected if any(getattr(c, key) == w for w in wanted)]
        if not kept:
            present = sorted({getattr(c, key) for c in selected}, key=str)
            shown = ", ".join(map(str, present[:20])) + (f", ... ({len(present)} values)" if len(present) > 20 else "")
            before = "" if selected == list(cells) else f" among the {len(selected)} cells the filters before it keep"
            raise ConfigError(where, f"matches no cell of {source}{before}; {key} values there: {shown}")
        selected = kept
    return selected


def pending(cells: list[CellConfig], statuses: dict[str, str], retry_failed: bool,
            retry_no_data: bool = False) -> list[CellConfig]:
    """Cells without a row in `statuses`, plus failed / no_data ones when retrying those."""
    retry = {s for s, on in ((store.STATUS_FAILED, retry_failed), (store.STATUS_NO_DATA, retry_no_data)) if on}
    return [c for c in cells if statuses.get(c.cell_id, "missing") in retry or c.cell_id not in statuses]


def write_config(sweep: SweepConfig, results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    doc = {"sweep": sweep.raw, "source": sweep.source,
           "cells": [{"cell_id": c.cell_id, **c.to_dict()} for c in sweep.cells]}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: big sweeps write in seconds
    fd, tmp = tempfile.mkstemp(prefix=store.TMP_PREFIX + "config-", suffix=store.TMP_SUFFIX, dir=results_dir)
    try:
        os.chmod(tmp, store.FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            yaml.dump(doc, fh, Dumper=dumper, sort_keys=False)
        os.replace(tmp, results_dir / "config.yaml")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- Ray Tune ---------------------------------------------------------------------------------------
def _absolute_roots() -> None:
    """Workers start in Tune's trial directories: a relative $HARNESS_DATA / $HARNESS_CACHE (as in
    `HARNESS_DATA=../shared/data`) must be made absolute before they inherit the environment."""
    for var, resolve_root in ((DATA_ENV, data_root), (CACHE_ENV, cache_root)):
        if os.environ.get(var):
            os.environ[var] = str(resolve_root())


def _tune_env() -> None:
    # Our Parquet is the sweep state: Tune's per-trial loggers and frequent experiment snapshots
    # (which dominate runs of thousands of short trials) are not needed. Users may override.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", "16")
    # Our SIGINT/SIGTERM handling (Signals) ends the run; Tune's own would swallow Ctrl-C and return.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    _absolute_roots()


def _tune_dir_prefix(results_dir: Path) -> str:
    """Tune's scratch folders of one results folder share this prefix, so the next driver (holding
    the lock) removes the ones a killed driver left."""
    return _TUNE_PREFIX + hashlib.sha256(str(results_dir.resolve()).encode()).hexdigest()[:12] + "-"


def clean_tune_dirs(results_dir: Path) -> int:
    prefix = _tune_dir_prefix(results_dir)
    stale = list(Path(tempfile.gettempdir()).glob(prefix + "*"))
    for d in stale:
        shutil.rmtree(d, ignore_errors=True)
    return len(stale)


def make_context(sweep: SweepConfig, out=sys.stderr, engine: str = DEFAULT_ENGINE) -> RunContext:
    """Everything workers need, resolved on the driver (table verified, converted and packed)."""
    table_dir = resolve_table(sweep, out)
    if sweep.benchmark != "none" and table_dir is None:
        out.write(f"note: no {sweep.benchmark} table found, searches run without lookups; "
                  f"{get_benchmark(sweep.benchmark).obtain_hint}\n")
    table_files, table_key = pack_table(table_dir)
    return RunContext(sweep=sweep.name, benchmark=sweep.benchmark, table_dir=table_dir,
                      table_files=table_files, table_key=table_key, extra_tables=extra_table_refs(sweep, out),
                      data_root=str(data_root(sweep.data_root)), images_dir=sweep.images_dir,
                      provenance=tuple(git_provenance().items()),
                      faults=parse_faults(os.environ.get(KILL_ENV, "")),
                      fault_dir=os.environ.get(FAULT_DIR_ENV), engine=check_engine(engine))


def run(sweep: SweepConfig, cells: list[CellConfig], results_dir: Path, ctx: RunContext, *,
        address: str | None = None, max_concurrent: int | None = None, out=sys.stderr,
        written: set[str] | None = None, signals=None, cells_per_trial: int | str | None = None) -> None:
    """Run `cells` on Ray Tune (embedded Ray, or the cluster at `address`) and write their rows.

    `cells_per_trial` (default: the sweep's) packs cells of one kind into a trial (harness/packing.py).
    """
    if not cells:
        return
    written = set() if written is None else written
    signals = signals or NullSignals()
    _tune_env()
    progress = None
    storage = tempfile.mkdtemp(prefix=_tune_dir_prefix(results_dir))
    try:
        # Ray's start-up and the imports of Ray's libraries (tune, and what `with_parameters` imports:
        # pyarrow, pydantic) must not stop half-way: an interrupt there is delivered when they are done.
        with signals.deferred():
            if address:
                ray_session.join(address)
            else:
                ray_session.start_local()
            import ray
            from ray import tune

            if not log.isEnabledFor(logging.INFO):
                # A worker that dies is a failed row with its reason; Tune's ERROR traceback adds nothing (-v shows it).
                logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
            progress = Progress(len(cells), stream=out)
            resources = sweep.resources.ray_resources(cluster_has_gpus=ray.cluster_resources().get("GPU", 0) > 0)
            packs = packing.plan_run(cells, results_dir, resources, max_concurrent,
                                     sweep.cells_per_trial if cells_per_trial is None else cells_per_trial)
            ledger = packing.remote_ledger() if any(len(p) > 1 for p in packs) else None
            if ledger is not None:
                log.info("%d cells in %d trials (cells_per_trial=%s)", len(cells), len(packs), cells_per_trial)
            trainable = tune.with_resources(tune.with_parameters(trials.trainable, ctx=ctx, ledger=ledger), resources)
        by_name = {packing.trial_name(p): p for p in packs}
        configs = [packing.trial_config(p) for p in packs]
        prior: dict[str, int] = {}
        while configs:  # a round per batch of packs Tune gave up on with retries left (harness/trials.py)
            requeue: dict[str, int] = {}
            budget = 0 if tune_gives_up() else sweep.max_retries - max(prior.values(), default=0)
            tuner = tune.Tuner(
                trainable,
                param_space={"trial": tune.grid_search(configs)},
                tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=max_concurrent,
                                            trial_name_creator=lambda t: t.config["trial"]["pack"],
                                            trial_dirname_creator=lambda t: t.config["trial"]["pack"]),
                run_config=tune.RunConfig(
                    name=sweep.name, storage_path=storage, verbose=0,
                    failure_config=tune.FailureConfig(max_failures=budget),
                    callbacks=[trials.make_callback(results_dir, progress, ctx, written, signals, by_name, ledger,
                                                    max_retries=sweep.max_retries, prior=prior, requeue=requeue)]),
            )
            tuner.fit()
            configs = [c for c in configs if c["pack"] in requeue]
            prior = requeue
    finally:
        if progress is not None:
            progress.close()
        ray_session.shutdown()
        shutil.rmtree(storage, ignore_errors=True)


# -- CLI --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.sweep",
        description="Run a FreeDARTS sweep: one search per cell of the sweep file's grid, on Ray Tune, "
                    "with results as Parquet under RESULTS/<name>/ (cells/ and trajectory/).",
        epilog="Environment: HARNESS_DATA (raw data root: benchmark sources, CIFAR images), HARNESS_CACHE "
               "(converted tables, default ~/.cache/freedarts). Exit codes: 0 all cells ok or no_data, 1 some "
               "failed, 2 bad input, 3 results folder locked, 130 interrupted. Re-running resumes; see README.md.",
    )
    p.add_argument("sweep", help="sweep YAML file, e.g. sweeps/quickstart.yaml")
    p.add_argument("--address", default=None,
                   help="join the Ray cluster at HOST:PORT ('auto': the one `ray start` recorded on this machine); "
                        "default: start an embedded Ray of this command's own (127.0.0.1 only)")
    p.add_argument("--results", default="results", help="results root (default: results/)")
    p.add_argument("--dry-run", action="store_true", help="print the cells (id, status, fields) and exit")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE",
                   help="run only cells whose field KEY equals VALUE, typed as in the sweep file "
                        "(comma-separated alternatives); repeatable")
    p.add_argument("--relookup", action="store_true",
                   help="run no search: look the ok rows' architectures up again in the sweep file's benchmark and "
                        "extra_benchmarks (after changing them) and replace those rows' lookup columns")
    p.add_argument("--retry-failed", action="store_true", help="also re-run cells whose row is 'failed'")
    p.add_argument("--retry-no-data", action="store_true",
                   help="also re-run cells whose row is 'no_data' (e.g. after adding images to the data root)")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many cells at once")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                   help="ZEROS engine: fast (default; same architectures, fewer seconds) or reference (the "
                        "readable oracle); recorded in each row, not part of the cell id (harness/engine.py)")
    p.add_argument("--wait", action="store_true",
                   help="if another driver holds the results folder, wait for it instead of exiting with 3")
    p.add_argument("--cells-per-trial", type=packing.parse_cli, default=None, metavar="N|auto",
                   help="cells of one kind per Tune trial (default: the sweep's cells_per_trial, else 1); 'auto' "
                        "packs short searches (harness/packing.py); not part of any cell id")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    return p


class _Run:
    """What the interrupted line reports: the selected cells and which of them have rows."""

    def __init__(self) -> None:
        self.selected: list[str] | None = None
        self.had_rows: set[str] = set()
        self.written: set[str] = set()

    def interrupted_line(self) -> str:
        if self.selected is None:
            return "interrupted before any cell ran; re-run the same command to finish"
        have = len(self.had_rows | (self.written & set(self.selected)))
        return f"interrupted: {have} of {len(self.selected)} cells have rows; re-run the same command to finish"


def dry_run(cells: list[CellConfig], statuses: dict[str, str], todo: int, results_dir: Path, stream=sys.stdout) -> None:
    """One line per cell (id, status, the fields that differ between cells), then the fixed fields."""
    varying = [k for k in CELL_FIELDS
               if k != "space_options" and len(set(map(operator.attrgetter(k), cells))) > 1]
    fixed = [k for k in CELL_FIELDS if k not in varying]
    line = "{}  {:7s} " + " ".join(f"{k}={{}}" for k in varying) + "\n"
    values = operator.attrgetter(*varying) if len(varying) > 1 else (
        (lambda c, k=varying[0]: (getattr(c, k),)) if varying else (lambda c: ()))
    chunk: list[str] = []
    for c in cells:
        chunk.append(line.format(c.cell_id, statuses.get(c.cell_id, "todo"), *values(c)))
        if len(chunk) >= 10_000:
            stream.write("".join(chunk))
            chunk.clear()
    stream.write("".join(chunk))
    if cells:
        first = cells[0].to_dict()
        stream.write("same in every cell: " + " ".join(f"{k}={first[k]}" for k in fixed) + "\n")
    stream.write(f"{len(cells)} cells, {todo} to run -> {results_dir}\n")


def _execute(args: argparse.Namespace, state: _Run, signals: Signals) -> int:
    sweep = load(args.sweep)
    gc.freeze()  # the cells live as long as the command: keep the collector from rescanning a million of them
    results_dir = Path(args.results) / sweep.name
    cells = select(sweep.cells, args.only, sweep.source)
    state.selected = [c.cell_id for c in cells]
    if args.address and not args.dry_run:
        ray_session.check_reachable(args.address)  # a wrong address: one line now, not after the plan
    if args.dry_run:
        statuses = store.cell_statuses(results_dir)  # read once: thousands of part files on a big sweep
        dry_run(cells, statuses, len(pending(cells, statuses, args.retry_failed, args.retry_no_data)), results_dir)
        return EXIT_OK

    def waiting(holder: dict) -> None:
        print(f"waiting: {results_dir} is in use by another sweep driver ({describe(holder)})", file=sys.stderr)

    with ResultsLock(results_dir).acquire(wait=args.wait, on_wait=waiting):
        store.clean_temp(results_dir)  # leftovers of a killed driver: ours to remove while we hold the lock
        clean_tune_dirs(results_dir)
        ctx = make_context(sweep, engine=args.engine)
        write_config(sweep, results_dir)
        store.upgrade(results_dir)  # older part files get the current columns before new ones join them
        if args.relookup:
            print(f"relookup {sweep.name}: {relookup(cells, results_dir, ctx).line()} -> {results_dir}",
                  file=sys.stderr)
            return EXIT_OK
        statuses = store.cell_statuses(results_dir)
        state.had_rows = {i for i in state.selected if i in statuses}
        todo = pending(cells, statuses, args.retry_failed, args.retry_no_data)
        print(f"sweep {sweep.name}: {len(cells)} cells, {len(cells) - len(todo)} already have rows, "
              f"{len(todo)} to run -> {results_dir}", file=sys.stderr)
        run(sweep, todo, results_dir, ctx, address=args.address, max_concurrent=args.max_concurrent,
            written=state.written, signals=signals, cells_per_trial=args.cells_per_trial)
        table = store.read_cells_table(results_dir)  # one read for the summary and the stale-lookup note
        statuses = store.statuses_of(table)
    counts: dict[str, int] = {}
    for cell_id in state.selected:
        s = statuses.get(cell_id, "missing")
        counts[s] = counts.get(s, 0) + 1
    stale = stale_rows(cells, table, sweep.benchmark, sweep.extra_benchmarks)
    if stale:
        print(f"note: {stale} ok rows were looked up in other benchmarks than {sweep.source} names; "
              "--relookup updates them without searching", file=sys.stderr)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"done: {summary}; results in {results_dir} "
          f"(pd.read_parquet('{results_dir}/cells'); report: python -m harness.report {results_dir})", file=sys.stderr)
    if counts.get(store.STATUS_FAILED) or counts.get("missing"):
        return EXIT_FAILED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    faulthandler.enable(sys.__stderr__)  # a crash of the driver prints its Python stack (harness/ray_session.py)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    state = _Run()
    with Signals() as signals:
        try:
            return _execute(args, state, signals)
        except KeyboardInterrupt:
            print(state.interrupted_line(), file=sys.stderr)
            return EXIT_INTERRUPTED
        except ResultsLockedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_LOCKED
        except (HarnessError, BenchmarkError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except PermissionError as exc:  # e.g. a results folder in a read-only checkout
            print(f"error: {exc.strerror or exc}: {exc.filename}; pass --results with a writable folder",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        except BrokenPipeError:  # `--dry-run | head`: the reader has gone; no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
