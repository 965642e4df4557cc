"""Benchmark: wall time of searches on this machine (not a test; numbers, not asserts).

    python scripts/bench_search.py                                  # iterative + one-shot D, NB201 CIFAR-10, 5 seeds
    python scripts/bench_search.py --variant labels --mode oneshot --seeds 3 --threads 2
    python scripts/bench_search.py --compare --space nasbench201 --variant D --mode iterative \\
        --dataset cifar10 --seeds 5 --threads 1 --json out.json     # fast vs reference engine
    python scripts/bench_search.py --compare --method zero_cost --n-samples 1000 --seeds 3

Runs `harness.runner.run_cell` in this process (no Ray, no benchmark lookups) for each seed and
reports, per (space, method, variant, mode, dataset): median / min / max of `search_s` (the region
the authors timed: input batch + search; the fast engine's fusing is inside it), `score_s`,
`build_s` (supernet construction + abs pass, excluded from search_s, as in the paper) and the
number of scoring passes. One warm-up cell per engine runs first, so that import and first-call
costs are not in the figures. The device is CUDA when one is visible, else the CPU with
`--threads` intra-op threads.

`--compare` runs both ZEROS engines (harness/engine.py) on the same seeds, interleaved in one
process (seed by seed, alternating which engine goes first), and reports
speedup = reference median / fast median of `search_s` and `same_arch` = how many seeds found the
identical architecture. It also records the CPU time of the search call itself (`time.thread_time`
around `harness.freedarts.search`, or the method's run for the other methods): on a shared machine
other processes stretch wall times unevenly, CPU time much less (`cpu_speedup`). `--json` writes a list of records (space, dataset, variant, mode, method, threads, n,
reference_median_s, fast_median_s, speedup, same_arch, ...). Any registered space works; spaces
without a fused supernet are compared with the generic levers only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from harness import freedarts  # noqa: E402
from harness.config import CellConfig, resolve  # noqa: E402
from harness.engine import DEFAULT_ENGINE, ENGINES  # noqa: E402
from harness.methods import METHODS, list_methods  # noqa: E402
from harness.runner import RunContext, run_cell  # noqa: E402
from spaces import get_space, list_spaces  # noqa: E402


def _cell(args, space: str, method: str, variant: str, mode: str, dataset: str, seed: int) -> CellConfig:
    takes = METHODS[method].settings()  # a setting the method does not take fails at load (harness.cell.resolve)
    reads = METHODS[method].reads
    search = {k: v for k, v in (("mode", mode), ("bn_mode", args.bn_mode)) if reads is None or k in reads}
    return resolve(CellConfig(space=space, method=method, variant=variant, dataset=dataset, seed=seed,
                              n_samples=args.n_samples if "n_samples" in takes else None,
                              proxy=args.proxy if "proxy" in takes else None, **search,
                              space_options=tuple(sorted(args.space_options.items()))))


def _stats(rows: list[dict], key: str) -> dict:
    values = [r[key] for r in rows]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _settings(args):
    for space in args.space:
        datasets = args.dataset or [get_space(space).datasets[0]]
        for method in args.method:
            for variant in args.variant:
                for mode in args.mode:
                    for dataset in datasets:
                        yield space, method, variant, mode, dataset


class _CpuClock:
    """Thread CPU seconds spent in the search call of each run (patched in this process only)."""

    def __init__(self) -> None:
        self.last = 0.0

    def wrap(self, fn):
        def timed(*a, **kw):
            t0 = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                self.last = time.thread_time() - t0
        return timed


def _install_cpu_clock() -> _CpuClock:
    clock = _CpuClock()
    freedarts.search = clock.wrap(freedarts.search)  # FreeDARTS: the search, not the supernet build
    for name, spec in METHODS.items():
        if name != "freedarts":
            METHODS[name] = dataclasses.replace(spec, run=clock.wrap(spec.run))
    return clock


def compare(args, device: str) -> list[dict]:
    clock = _install_cpu_clock()
    print("| space | method | variant | mode | dataset | n | reference median s | fast median s | speedup | "
          "CPU-time speedup | same arch | passes ref/fast | status |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    out = []
    for space, method, variant, mode, dataset in _settings(args):
        ctx = {e: RunContext(sweep="bench", table_dir=None, engine=e) for e in ENGINES}
        warm = argparse.Namespace(**{**vars(args), "n_samples": min(args.n_samples or 1000, 20)})
        for e in ENGINES:  # warm-up: imports, first calls, image loading (zero_cost: 20 networks)
            run_cell(_cell(warm, space, method, variant, mode, dataset, 0), ctx[e])
        rows: dict[str, list[dict]] = {e: [] for e in ENGINES}
        for seed in range(args.seeds):
            order = ("reference", "fast") if seed % 2 == 0 else ("fast", "reference")
            for e in order:
                row = run_cell(_cell(args, space, method, variant, mode, dataset, seed), ctx[e])[0]
                rows[e].append({**row, "cpu_s": clock.last})
        failed = [r for e in ENGINES for r in rows[e] if r["status"] != "ok"]
        label = f"| {space} | {method} | {variant} | {mode} | {dataset} |"
        if failed:
            print(f"{label} | | | | | | | failed: {failed[0]['error'][:100]} |")
            continue
        ref, fast = _stats(rows["reference"], "search_s"), _stats(rows["fast"], "search_s")
        ref_cpu, fast_cpu = _stats(rows["reference"], "cpu_s"), _stats(rows["fast"], "cpu_s")
        same = sum(a["arch"] == b["arch"] for a, b in zip(rows["reference"], rows["fast"]))
        passes = (rows["reference"][0]["score_passes"], rows["fast"][0]["score_passes"])
        rec = {"space": space, "dataset": dataset, "variant": variant, "mode": mode, "method": method,
               "space_options": args.space_options, "n_samples": rows["fast"][0]["n_samples"],
               "threads": args.threads, "device": device, "torch": torch.__version__, "n": args.seeds,
               "metric": "search_s", "reference_median_s": ref["median"], "fast_median_s": fast["median"],
               "speedup": ref["median"] / fast["median"], "same_arch": same,
               "reference_cpu_median_s": ref_cpu["median"], "fast_cpu_median_s": fast_cpu["median"],
               "cpu_speedup": ref_cpu["median"] / fast_cpu["median"],
               "reference_min_s": ref["min"], "reference_max_s": ref["max"],
               "fast_min_s": fast["min"], "fast_max_s": fast["max"],
               "reference_build_median_s": _stats(rows["reference"], "build_s")["median"],
               "fast_build_median_s": _stats(rows["fast"], "build_s")["median"],
               "reference_passes": passes[0], "fast_passes": passes[1],
               "archs": [r["arch"] for r in rows["reference"]],
               "command": " ".join(["python", "scripts/bench_search.py", *sys.argv[1:]])}
        out.append(rec)
        print(f"{label} {args.seeds} | {ref['median']:.2f} | {fast['median']:.2f} | {rec['speedup']:.2f}x | "
              f"{rec['cpu_speedup']:.2f}x | {same}/{args.seeds} | {passes[0]}/{passes[1]} | ok |", flush=True)
    return out


def single(args, device: str) -> list[dict]:
    ctx = RunContext(sweep="bench", table_dir=None, engine=args.engine)
    print("| space | method | variant | mode | dataset | search_s median | min | max | score_s median | "
          "build_s median | passes | status |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    out = []
    for space, method, variant, mode, dataset in _settings(args):
        run_cell(_cell(args, space, method, variant, mode, dataset, 0), ctx)  # warm-up
        rows = [run_cell(_cell(args, space, method, variant, mode, dataset, s), ctx)[0] for s in range(args.seeds)]
        ok = [r for r in rows if r["status"] == "ok"]
        label = f"| {space} | {method} | {variant} | {mode} | {dataset} |"
        if not ok:
            print(f"{label} | | | | | | failed: {rows[0]['error'][:80]} |")
            continue
        search = _stats(ok, "search_s")
        rec = {"space": space, "method": method, "variant": variant, "mode": mode, "dataset": dataset,
               "engine": args.engine, "device": device, "n": len(ok), "search_s_median": search["median"],
               "search_s_min": search["min"], "search_s_max": search["max"],
               "score_s_median": _stats(ok, "score_s")["median"], "build_s_median": _stats(ok, "build_s")["median"],
               "passes": ok[0]["score_passes"]}
        out.append(rec)
        print(f"{label} {rec['search_s_median']:.2f} | {rec['search_s_min']:.2f} | {rec['search_s_max']:.2f} | "
              f"{rec['score_s_median']:.2f} | {rec['build_s_median']:.2f} | {rec['passes']} | {len(ok)}/{len(rows)} ok |")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compare", action="store_true", help="time both engines interleaved on the same seeds")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE, help="engine of a single (non --compare) run")
    p.add_argument("--space", nargs="+", default=["nasbench201"], choices=list_spaces())
    p.add_argument("--space-options", type=json.loads, default={}, metavar="JSON",
                   help='space options as JSON, e.g. \'{"preset": "cifar8"}\' (default: the paper\'s supernet)')
    p.add_argument("--method", nargs="+", default=["freedarts"], choices=list_methods())
    p.add_argument("--n-samples", type=int, default=None, help="zero_cost: networks sampled per cell (default 1000)")
    p.add_argument("--proxy", default=None, help="zero_cost / zero_cost_pt proxy (default synflow)")
    p.add_argument("--variant", nargs="+", default=["D"])
    p.add_argument("--bn-mode", default="train", choices=("train", "eval"), help="cell field bn_mode (default train)")
    p.add_argument("--mode", nargs="+", default=["iterative", "oneshot"])
    p.add_argument("--dataset", nargs="+", default=None, help="default: the space's first search dataset")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU (a sweep worker uses 1)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device = ("cuda " + torch.cuda.get_device_name(0)) if cuda else \
        f"cpu ({platform.processor() or platform.machine()}, {args.threads} thread(s))"
    print(f"device: {device}; torch {torch.__version__}; {args.seeds} seeds per setting\n")
    out = compare(args, device) if args.compare else single(args, device)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
