"""Benchmark: per-cell harness overhead of a sweep (scheduling, lookup, writing), measured.

    python scripts/bench_overhead.py --cells 100 --concurrency 1 2 --cells-per-trial 1 auto

Runs N near-empty cells (one-shot FreeDARTS-D on a tiny NB201 supernet, ~0.05 s of search) through
the real `harness.sweep.run` on an embedded Ray, once per concurrency level, and splits the wall
time of each run into:

* in-cell time: `finished_at - started_at` of each row (inside `run_cell`: batch, build, search,
  lookup of the final arch and of every trajectory step), of which `lookup_s` is reported apart;
* harness overhead per cell = (wall x concurrency - sum of in-cell time) / N: Tune scheduling,
  actor reuse, shipping the row back, the driver's Parquet write, progress; this includes what a
  sweep pays once (Tune's set-up, the first worker process starting and importing torch, the
  teardown), spread over the N cells;
* steady overhead per cell = (span x concurrency - sum of in-cell time) / N, where span runs from the
  first cell's start to the last cell's end: the marginal cost of one more cell in a running sweep
  (what grows with the sweep). `once s` = wall - span: the per-sweep part, like Ray's start-up.

The driver's write of one cell (two atomic Parquet part files) is also timed on its own. The share
is relative to one full-size iterative FreeDARTS-D NB201 search measured here (`--search-s` to
give it instead). Ray start-up is excluded (paid once per sweep) and reported separately.
`--cells-per-trial` runs each concurrency level once per packing setting (harness/packing.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import store  # noqa: E402
from harness.config import CellConfig, parse, resolve  # noqa: E402
from harness.runner import RunContext, run_cell  # noqa: E402


def reference_search_s(n: int = 3) -> float:
    from benchmarks import get_benchmark
    from benchmarks.paths import cache_root, data_root

    table = get_benchmark("nasbench201").resolve_table(data_root(), cache_root())
    ctx = RunContext(sweep="ref", table_dir=str(table) if table else None)
    rows = [run_cell(resolve(CellConfig(variant="D", mode="iterative", seed=s)), ctx)[0] for s in range(n)]
    return statistics.median(r["search_s"] for r in rows)


def _plain(record: dict) -> dict:
    """A pandas record back to row values (NaN -> None, as the runner writes them)."""
    return {k: (None if v is None or v != v else v) for k, v in record.items()}


def write_cost(results_dir: Path, sample: dict, trajectory: list[dict], n: int = 50) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        store.write_cell(results_dir, {**sample, "cell_id": f"w{i}"}, [{**t, "cell_id": f"w{i}"} for t in trajectory])
    return (time.perf_counter() - t0) / n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    p.add_argument("--search-s", type=float, default=None, help="reference search time (default: measure)")
    p.add_argument("--cells-per-trial", nargs="+", default=["1"], help="packing settings to compare: N or auto")
    args = p.parse_args(argv)

    from harness import packing, ray_session
    from harness import sweep as sw

    ref = args.search_s if args.search_s is not None else reference_search_s()
    t0 = time.perf_counter()
    ray_session.start_local()
    ray_init_s = time.perf_counter() - t0
    stop_ray, ray_session.shutdown = ray_session.shutdown, lambda: None  # one Ray for every run below
    cfg = parse({"name": "bench-overhead", "grid": {"seed": list(range(args.cells))},
                 "settings": {"mode": "oneshot", "variant": "D",
                              "space_options": {"channels": 4, "cells_per_stage": 1}}}, "<bench>")
    print(f"reference: one iterative FreeDARTS-D NB201 search = {ref:.2f} s; ray.init {ray_init_s:.1f} s (once per sweep)\n")
    ctx = sw.make_context(cfg)
    print("| cells per trial | concurrency | cells | wall s | cells/s | in-cell s (mean) | lookup s (mean) | write s (per cell) "
          "| overhead s per cell | share of one search | once s | steady overhead s per cell | steady share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for per_trial, conc in [(packing.parse_cli(c), n) for c in args.cells_per_trial for n in args.concurrency]:
        out = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
        t0 = time.perf_counter()
        sw.run(cfg, list(cfg.cells), out, ctx, max_concurrent=conc, cells_per_trial=per_trial)  # progress: stderr
        wall = time.perf_counter() - t0
        cells = store.read_cells(out)
        in_cell = (cells.finished_at - cells.started_at).dt.total_seconds()
        overhead = (wall * conc - in_cell.sum()) / len(cells)
        span = (cells.finished_at.max() - cells.started_at.min()).total_seconds()
        steady = (span * conc - in_cell.sum()) / len(cells)
        traj = store.read_trajectory(out)
        sample = _plain(cells.iloc[0].to_dict())
        w = write_cost(Path(tempfile.mkdtemp()), sample,
                       [_plain(t) for t in traj[traj.cell_id == sample["cell_id"]].to_dict("records")])
        print(f"| {per_trial} | {conc} | {len(cells)} | {wall:.1f} | {len(cells) / wall:.2f} | {in_cell.mean():.3f} | "
              f"{cells.lookup_s.mean():.4f} | {w:.4f} | {overhead:.3f} | {overhead / ref:.1%} | {wall - span:.1f} | "
              f"{steady:.3f} | {steady / ref:.1%} |")
    stop_ray()
    return 0


if __name__ == "__main__":
    sys.exit(main())
