"""Do the fast and the reference ZEROS engines find the same architectures? Many seeds (not CI).

    python scripts/check_engines.py --space nasbench201 --variant D --mode iterative oneshot \\
        --dataset cifar10 cifar100 imagenet16-120 --seeds 0-99 --jsonl out.jsonl
    python scripts/check_engines.py --variant labels --mode iterative --dataset cifar10 --seeds 0-9

Each cell (space, variant, mode, dataset, seed, default settings) is searched by both engines in
this process, exactly as a sweep worker would (seeded RNG, the variant's input batch, the method's
supernet). For every cell whose architectures differ it prints where the two searches first chose
differently (`harness.engine.first_divergence`): the step, the two candidates, their scores under
both engines, and their relative gap under the reference's scores. Issue 9's rule: a mismatch is a
defect unless that gap is < 1e-6 (a "near tie"). Each mismatch is also re-scored by the reference
supernet in float64 at the state before the diverging step (same weights, same masks), which says
which engine picked the candidate the exact arithmetic prefers.

Exit status: 0 when every cell agrees or diverges only at near ties, 1 otherwise, 2 on bad arguments.
`--jsonl` appends one JSON record per cell as it finishes (a long run can be watched or resumed by
reading it). Spaces without a fused supernet compare the generic levers (expected: bit-identical).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.paths import data_root  # noqa: E402
from harness import zeros  # noqa: E402
from harness.config import CellConfig, resolve  # noqa: E402
from harness.data import DATASETS, search_batch  # noqa: E402
from harness.engine import first_divergence  # noqa: E402
from harness.methods import freedarts as freedarts_method  # noqa: E402
from spaces import get_space, list_spaces  # noqa: E402


def seeds(text: str) -> list[int]:
    """'0-99' or '0,3,7' or '5'."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def _inputs(cell: CellConfig):
    # As harness.runner: seed everything, then the batch, then the method draws the supernet.
    random.seed(cell.seed)
    np.random.seed(cell.seed)
    torch.manual_seed(cell.seed)
    return search_batch(cell.variant, cell.dataset, seed=cell.seed, batch_size=cell.batch_size, root=data_root(),
                        augment=cell.augment, normalization=cell.normalization)


def search(cell: CellConfig, engine: str):
    space = get_space(cell.space)
    batch = _inputs(cell)
    t0 = time.perf_counter()
    result = freedarts_method.run(cell, space, batch, torch.device("cpu"), engine=engine).result
    return result, time.perf_counter() - t0


def explain_in_float64(cell: CellConfig, ref_result, div) -> dict | None:
    """The reference supernet's float64 scores of the two candidates at the state before `div`."""
    if div.reference is None:
        return None
    space = get_space(cell.space)
    batch = _inputs(cell)
    info = DATASETS[cell.dataset]
    net = space.build_supernet(space.options(**cell.options), num_classes=info.num_classes, input_size=info.input_size,
                               alpha_transform=cell.alpha_transform, alpha_scale=cell.alpha_scale)
    zeros.prepare(net, abs_weights=cell.abs_weights, abs_alpha=cell.abs_alpha, bn_mode=cell.bn_mode, dtype="float64")
    if div.step > 0:  # the alive masks after step - 1, as both searches had them
        for g, mask in ref_result.steps[div.step - 1].alive.items():
            net.set_alive(g, torch.tensor(mask))
    elif div.step < 0:
        for g, mask in ref_result.alive.items():
            net.set_alive(g, mask)
    scores = zeros.score(net, batch).scores
    (g1, r1, k1), (g2, r2, k2) = div.reference, div.fast
    a, b = float(scores[g1][r1, k1]), float(scores[g2][r2, k2])
    lower_is_pruned = div.step > 0
    picks_ref = (a <= b) if lower_is_pruned else (a >= b)
    return {"float64_scores": (a, b), "float64_agrees_with": "reference" if picks_ref else "fast"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", default="nasbench201", choices=list_spaces())
    p.add_argument("--space-options", type=json.loads, default={}, metavar="JSON")
    p.add_argument("--variant", nargs="+", default=["D"])
    p.add_argument("--mode", nargs="+", default=["iterative", "oneshot"])
    p.add_argument("--dataset", nargs="+", default=None, help="default: every search dataset of the space")
    p.add_argument("--seeds", type=seeds, default=seeds("0-9"), help="e.g. 0-99 or 0,5,9 (default 0-9)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--alpha-scale", type=float, default=None, help="cell field alpha_scale (default: the space's)")
    p.add_argument("--bn-mode", default="train", choices=("train", "eval"),
                   help="cell field bn_mode (default train, as the code). DARTS / NB1Shot1 -D: train-mode scores "
                        "are rounding noise (one all-ones image), so only eval mode compares real decisions")
    p.add_argument("--jsonl", type=Path, help="append one JSON record per cell here")
    p.add_argument("--no-explain", action="store_true", help="skip the float64 re-score of mismatches")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    datasets = args.dataset or list(space.datasets)

    summary: dict[tuple, dict] = {}
    defects = 0
    for variant in args.variant:
        for mode in args.mode:
            for dataset in datasets:
                key = (variant, mode, dataset)
                s = summary.setdefault(key, {"n": 0, "same": 0, "near_tie": 0, "defect": 0, "failed": 0,
                                             "reference_s": 0.0, "fast_s": 0.0})
                for seed in args.seeds:
                    cell = resolve(CellConfig(space=args.space, variant=variant, mode=mode, dataset=dataset, seed=seed,
                                              bn_mode=args.bn_mode, alpha_scale=args.alpha_scale,
                                              space_options=tuple(sorted(args.space_options.items()))))
                    rec = {"space": args.space, "bn_mode": args.bn_mode, "variant": variant, "mode": mode, "dataset": dataset,
                           "seed": seed, "alpha_scale": cell.alpha_scale}
                    try:
                        ref, t_ref = search(cell, "reference")
                        fast, t_fast = search(cell, "fast")
                    except Exception as exc:  # e.g. no training images for a labelled variant
                        s["failed"] += 1
                        rec["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
                        print(f"{variant} {mode} {dataset} seed {seed}: failed: {rec['error']}", flush=True)
                        _append(args.jsonl, rec)
                        continue
                    div = first_divergence(ref, fast)
                    s["n"] += 1
                    s["reference_s"] += t_ref
                    s["fast_s"] += t_fast
                    rec.update(same_arch=ref.arch_key == fast.arch_key, reference_arch=ref.arch_key,
                               fast_arch=fast.arch_key, reference_s=t_ref, fast_s=t_fast,
                               passes=(ref.score_passes, fast.score_passes))
                    if div is None:
                        s["same"] += 1
                    else:
                        kind = "near_tie" if div.near_tie else "defect"
                        s[kind] += 1
                        defects += kind == "defect"
                        rec.update(divergence=div.describe(), step=div.step, gap=div.gap, kind=kind,
                                   reference_pick=div.reference, fast_pick=div.fast, scores=div.scores)
                        if not args.no_explain:
                            rec["explain"] = explain_in_float64(cell, ref, div)
                        print(f"MISMATCH {variant} {mode} {dataset} seed {seed} ({kind}): {div.describe()}; "
                              f"float64 reference: {rec.get('explain')}", flush=True)
                    _append(args.jsonl, rec)
                print(f"{variant} {mode} {dataset}: {s['same']}/{s['n']} same architecture, {s['near_tie']} near "
                      f"ties, {s['defect']} mismatches beyond 1e-6, {s['failed']} failed; search time reference "
                      f"{s['reference_s']:.0f} s, fast {s['fast_s']:.0f} s", flush=True)

    print("\n| variant | mode | dataset | seeds | same arch | near ties (<1e-6) | other mismatches | failed |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for (variant, mode, dataset), s in summary.items():
        print(f"| {variant} | {mode} | {dataset} | {s['n'] + s['failed']} | {s['same']} | {s['near_tie']} | "
              f"{s['defect']} | {s['failed']} |")
    return 1 if defects else 0


def _append(path: Path | None, rec: dict) -> None:
    if path is not None:
        with path.open("a") as f:
            f.write(json.dumps(rec, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
