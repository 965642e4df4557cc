"""Benchmark: wall time of FreeDARTS searches on this machine (not a test; numbers, not asserts).

    python scripts/bench_search.py                                  # iterative + one-shot D, NB201 CIFAR-10, 5 seeds
    python scripts/bench_search.py --variant labels --mode oneshot --seeds 3 --threads 2

Runs `harness.runner.run_cell` in this process (no Ray) for each seed and reports, per
(variant, mode, dataset): median / min / max of `search_s` (the region the authors timed: input
batch + pruning loop), `score_s` (pruning loop only), `build_s` (supernet construction + abs pass,
excluded from search_s, as in the paper) and the number of ZEROS passes. One warm-up cell runs
first so that import and first-call costs are not in the figures. The device is CUDA when one is
visible, else the CPU with `--threads` intra-op threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks import get_benchmark  # noqa: E402
from benchmarks.paths import cache_root, data_root  # noqa: E402
from harness.config import CellConfig, resolve  # noqa: E402
from harness.runner import RunContext, run_cell  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", nargs="+", default=["D"])
    p.add_argument("--mode", nargs="+", default=["iterative", "oneshot"])
    p.add_argument("--dataset", nargs="+", default=["cifar10"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU (a sweep worker uses 1)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    table = get_benchmark("nasbench201").resolve_table(data_root(), cache_root())
    ctx = RunContext(sweep="bench", table_dir=str(table) if table else None)
    run_cell(resolve(CellConfig(variant="D", mode="oneshot")), ctx)  # warm-up

    device = "cuda " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()}, {args.threads} thread(s))"
    print(f"device: {device}; torch {torch.__version__}; {args.seeds} seeds per setting\n")
    print("| variant | mode | dataset | search_s median | min | max | score_s median | build_s median | passes | status |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    out = []
    for variant in args.variant:
        for mode in args.mode:
            for dataset in args.dataset:
                rows = [run_cell(resolve(CellConfig(variant=variant, mode=mode, dataset=dataset, seed=s)), ctx)[0]
                        for s in range(args.seeds)]
                ok = [r for r in rows if r["status"] == "ok"]
                if not ok:
                    print(f"| {variant} | {mode} | {dataset} | | | | | | | failed: {rows[0]['error'][:80]} |")
                    continue
                search = [r["search_s"] for r in ok]
                rec = {"variant": variant, "mode": mode, "dataset": dataset, "device": device, "n": len(ok),
                       "search_s_median": statistics.median(search), "search_s_min": min(search),
                       "search_s_max": max(search), "score_s_median": statistics.median(r["score_s"] for r in ok),
                       "build_s_median": statistics.median(r["build_s"] for r in ok), "passes": ok[0]["score_passes"]}
                out.append(rec)
                print(f"| {variant} | {mode} | {dataset} | {rec['search_s_median']:.2f} | {rec['search_s_min']:.2f} | "
                      f"{rec['search_s_max']:.2f} | {rec['score_s_median']:.2f} | {rec['build_s_median']:.2f} | "
                      f"{rec['passes']} | {len(ok)}/{len(rows)} ok |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
