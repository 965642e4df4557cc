"""Benchmark: one ZEROS scoring pass of each fused supernet against its reference (numbers, not asserts).

    python scripts/bench_fused.py --threads 1                       # DARTS cifar8, NB1Shot1, MobileNet
    python scripts/bench_fused.py --targets darts:cifar20 darts:imagenet --passes 3 --masks 2

For every target the reference supernet is built from the seeded RNG and prepared as a FreeDARTS-D
cell would be (`harness.config.resolve` defaults: |W|, the space's `abs_alpha`, alpha scale, train-mode
BN, float32, the dataset's input size and classes); the fused net is made from it. For the full
supernet and a few random alive masks (pruned as iterative FreeDARTS prunes: only the prunable
groups, at least `row_keep` ops per row, the last mask one op per row), `harness.zeros.score` runs
on both nets interleaved `--passes` times in this process, and the table gives per-pass medians and
reference / fused ratios, in wall time and in this thread's CPU time (`time.thread_time`: on a shared
machine it leaves out the time other processes hold the core; with 1 thread all the work runs on it).
`all masks` is the sum of the reference medians over the sum of the fused
ones: the masks span the alive fractions an iterative search passes through, so it approximates the
search's per-pass speedup (the one-shot speedup is the `full` row). `max|dlogit|` checks the nets
agree on each mask (ZEROS scores themselves are compared by tests/test_fast_spaces.py).

`levers ms/pass` times the reference net with the fast engine's levers 1 and 4 (alpha-only gradients,
channels-last pooling: `harness.engine.Run` without fusing), which is what the fast engine runs when a
space registers no fused net; `fused vs levers` (that time over the fused one) is what fusing itself
adds, and decides whether a space registers its fused net (MobileNet does not: ~1.0x here).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from harness import zeros  # noqa: E402
from harness.config import CellConfig, resolve  # noqa: E402
from harness.data import DATASETS, ones_batch  # noqa: E402
from harness.engine import Run  # noqa: E402
from spaces import get_space  # noqa: E402
from spaces._fast import darts as fast_darts, mobilenet as fast_mobilenet, nasbench1shot1 as fast_nb1shot1  # noqa: E402

FAST = {"darts": fast_darts.fast_supernet, "nasbench1shot1": fast_nb1shot1.fast_supernet,
        "mobilenet": fast_mobilenet.fast_supernet}
TARGETS = {  # name -> (space, dataset, space options)
    "darts:cifar8": ("darts", "cifar10", {"preset": "cifar8"}),
    "darts:cifar20": ("darts", "cifar10", {"preset": "cifar20"}),
    "darts:imagenet": ("darts", "imagenet", {"preset": "imagenet"}),
    "nasbench1shot1": ("nasbench1shot1", "cifar10", {}),
    "mobilenet": ("mobilenet", "imagenet", {}),
}
KEEP = (0.75, 0.5, 0.25)  # keep probabilities of the random masks before the one-op-per-row mask


def build(target: str, seed: int, bn_mode: str = "train"):
    """The prepared reference net of a FreeDARTS-D cell of `target`, its fused net and the input."""
    space_name, dataset, options = TARGETS[target]
    cell = resolve(CellConfig(space=space_name, dataset=dataset, variant="D", seed=seed, bn_mode=bn_mode,
                              space_options=tuple(options.items())))
    space, info = get_space(space_name), DATASETS[dataset]
    torch.manual_seed(seed)
    ref = space.build_supernet(space.options(**cell.options), num_classes=info.num_classes, input_size=info.input_size,
                               alpha_transform=cell.alpha_transform, alpha_scale=cell.alpha_scale)
    zeros.prepare(ref, abs_weights=cell.abs_weights, abs_alpha=cell.abs_alpha, bn_mode=cell.bn_mode, dtype=cell.dtype)
    return space, ref, FAST[space_name](ref), ones_batch(info.input_size)


def masks(ref, space, n: int, seed: int) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """[(label, masks)]: the full supernet, n-1 random prunings (KEEP order), one op per row."""
    gen = torch.Generator().manual_seed(seed)
    start = ref.alive_masks()
    prunable = getattr(ref, "prunable_groups", None) or space.prunable_groups or tuple(start)
    keep_rows = getattr(ref, "row_keep", None) or {}
    out = [("full", start)]
    for p in list(KEEP[: max(0, n - 1)]) + [0.0]:
        cur = {}
        for g, alive in start.items():
            if g not in prunable:
                cur[g] = alive.clone()
                continue
            mask = alive & (torch.rand(alive.shape, generator=gen) < p)
            for r in range(alive.shape[0]):
                k = int(keep_rows[g][r]) if g in keep_rows else 1
                cols = torch.nonzero(alive[r]).flatten()
                missing = k - int(mask[r].sum())
                if missing > 0:
                    free = [int(c) for c in cols[torch.randperm(len(cols), generator=gen)] if not mask[r, c]]
                    mask[r, free[:missing]] = True
            cur[g] = mask
        alive_n = sum(int(m.sum()) for g, m in cur.items() if g in prunable)
        out.append((f"{alive_n}/{sum(int(start[g].sum()) for g in prunable)} alive", cur))
    return out


@contextmanager
def _levers(ref, space):
    """`ref` with levers 1 and 4 while inside (the unfused fast engine); plain again after, for its own timing."""
    with Run("fast", ref, space, reinit_each_step=False, fuse=False) as run:
        yield run.net


def bench(target: str, passes: int, n_masks: int, seed: int) -> list[dict]:
    space, ref, fast, batch = build(target, seed)
    rows = []
    for label, mask in masks(ref, space, n_masks, seed):
        for g, m in mask.items():
            ref.set_alive(g, m)
            fast.set_alive(g, m)
        with torch.no_grad():
            x = batch.x.to(dtype=next(iter(ref.alphas.values())).dtype)
            dlogit = float((ref(x) - fast(x)).abs().max())
        nets = {"reference": lambda: nullcontext(ref), "levers": lambda: _levers(ref, space),
                "fast": lambda: nullcontext(fast)}
        times = {k: [] for name in nets for k in (name, f"{name}_cpu")}
        for enter in nets.values():  # warm-up (and the fused rebuild)
            with enter() as net:
                zeros.score(net, batch)
        for _ in range(passes):
            for name, enter in nets.items():
                with enter() as net:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    zeros.score(net, batch)
                    times[name].append(time.perf_counter() - t0)
                    times[f"{name}_cpu"].append(time.thread_time() - c0)
        row = {"target": target, "mask": label, "passes": passes, "max_dlogit": dlogit}
        row.update({f"{k}_ms": 1e3 * statistics.median(v) for k, v in times.items()})
        rows.append(row)
        _print(row)
    total = {"target": target, "mask": "**all masks**", "passes": passes, "max_dlogit": None}
    total.update({k: sum(x[k] for x in rows) for k in rows[0] if k.endswith("_ms")})
    _print(total)
    return rows + [total]


def _print(row: dict) -> None:
    row["speedup"] = row["reference_ms"] / row["fast_ms"]
    row["fused_vs_levers"] = row["levers_ms"] / row["fast_ms"]
    row["speedup_cpu"] = row["reference_cpu_ms"] / row["fast_cpu_ms"]
    d = "" if row["max_dlogit"] is None else f"{row['max_dlogit']:.1e}"
    print(f"| {row['target']} | {row['mask']} | {row['reference_ms']:.1f} | {row['fast_ms']:.1f} | {row['speedup']:.2f} | "
          f"{row['levers_ms']:.1f} | {row['fused_vs_levers']:.2f} | "
          f"{row['reference_cpu_ms']:.1f} | {row['fast_cpu_ms']:.1f} | {row['speedup_cpu']:.2f} | {d} |", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", default=["darts:cifar8", "nasbench1shot1", "mobilenet"], choices=list(TARGETS))
    p.add_argument("--passes", type=int, default=5, help="timed passes per net and mask (medians)")
    p.add_argument("--masks", type=int, default=4, help="alive masks besides the full supernet (the last: one op per row)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (a sweep worker uses 1)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    print(f"cpu ({platform.processor() or platform.machine()}), {args.threads} thread(s); torch {torch.__version__}; "
          f"{args.passes} interleaved passes per mask, seed {args.seed}\n")
    print("| target | mask | reference ms/pass | fused ms/pass | speedup | levers ms/pass | fused vs levers | "
          "reference CPU ms | fused CPU ms | speedup (CPU) | max\\|dlogit\\| |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out = []
    for target in args.targets:
        out += bench(target, args.passes, args.masks, args.seed)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
