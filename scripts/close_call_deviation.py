"""How far are a fused net's ZEROS scores from the reference net's at each close call? (not CI)

    python scripts/close_call_deviation.py --space darts --bn-mode train --seeds 0-4
    python scripts/close_call_deviation.py --space nasbench201 --dataset cifar100 --seeds 1,2,4

Runs fast-engine iterative searches (as a sweep worker does, `harness.runner.run_cell`) with the noise
rule off (`harness.engine.NOISE_DEVIATION` = inf), so that every close call is made, and prints at each
one the median and max relative deviation of the fused scores from the reference's over the candidates
(`harness.engine.score_deviation`). This is what calibrates `NOISE_DEVIATION`: scores with a signal
deviate by float rounding (~1e-4 and below), scores that are rounding noise by O(1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from harness import engine  # noqa: E402
from harness.config import CellConfig, resolve  # noqa: E402
from harness.runner import RunContext, run_cell  # noqa: E402
from scripts.check_engines import seeds  # noqa: E402
from spaces import list_spaces  # noqa: E402


def _instrument(records: list[dict]) -> None:
    """Record both deviations at every reference re-score of a close call (the first one sets the rule)."""
    original = engine.Run.reference_scores

    def reference_scores(self, batch, step=None, fused=None, candidates=None):
        scores = original(self, batch, step, fused=fused, candidates=candidates)
        if fused is not None:
            records.append({"step": step, "n": sum(int(m.sum()) for m in candidates.values()),
                            "median": engine.score_deviation(fused, scores, candidates),
                            "max": engine.score_deviation(fused, scores, candidates, q=1.0)})
        return scores

    engine.Run.reference_scores = reference_scores


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="nasbench201", choices=list_spaces())
    p.add_argument("--dataset", default=None, help="default: the space's first search dataset")
    p.add_argument("--bn-mode", default="train", choices=("train", "eval"))
    p.add_argument("--seeds", type=seeds, default=seeds("0-4"), help="'0-4' or '1,2,4'")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rule, engine.NOISE_DEVIATION = engine.NOISE_DEVIATION, float("inf")
    records: list[dict] = []
    _instrument(records)
    firsts = []
    for seed in args.seeds:
        records.clear()
        fields = {"dataset": args.dataset} if args.dataset else {}
        cell = resolve(CellConfig(space=args.space, variant="D", mode="iterative", seed=seed, bn_mode=args.bn_mode, **fields))
        row = run_cell(cell, RunContext(sweep="close-calls", table_dir=None, engine="fast"))[0]
        print(f"{args.space} {cell.dataset} bn={args.bn_mode} seed {seed}: {row['status']}, {len(records)} close calls, "
              f"{row.get('score_passes')} passes")
        for r in records:
            print(f"  step {r['step']:4d}: {r['n']:4d} candidates, median deviation {r['median']:.2e}, max {r['max']:.2e}")
        if records:
            firsts.append(records[0]["median"])
    if firsts:
        print(f"first close call's median deviation over {len(firsts)} searches: min {min(firsts):.2e}, "
              f"median {statistics.median(firsts):.2e}, max {max(firsts):.2e} (NOISE_DEVIATION is "
              f"{rule})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
