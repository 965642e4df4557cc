"""Check: the fused supernets derive the reference's architectures at the real default options.

    python scripts/check_fused_defaults.py                    # DARTS cifar8 0-4, NB1Shot1 0-4, MobileNet 0
    python scripts/check_fused_defaults.py --bn-mode train eval --targets nasbench1shot1 --mode oneshot iterative

For each target and seed, a FreeDARTS-D cell's reference supernet is built and prepared exactly as a
sweep does (scripts/bench_fused.py `build`), the fused net is made from it, and both run
`harness.freedarts.search` on the all-ones image. A row gives whether the architecture strings are
identical, the largest score difference relative to the group's largest score on the first pass,
and the largest score itself, with the largest |logit - classifier bias| of the reference: where that
is ~0 (train-mode BN, one image: DARTS, NB1Shot1), the logits do not depend on alpha and the scores
are rounding noise (tests/test_fast_spaces.py), so architectures can only agree by chance; eval-mode
BN (`--bn-mode eval`) gives both nets real gradients to agree on. The last column is each search's
CPU time (the two searches run one after the other, not interleaved: scripts/bench_fused.py measures
speed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench_fused import TARGETS, build  # noqa: E402
from harness import freedarts  # noqa: E402

DEFAULT_SEEDS = {"darts:cifar8": 5, "nasbench1shot1": 5, "mobilenet": 1}


def check(target: str, seed: int, mode: str, bn_mode: str) -> dict:
    out = {}
    for engine in ("reference", "fast"):
        space, ref, fast, batch = build(target, seed, bn_mode)
        net = ref if engine == "reference" else fast
        if engine == "reference":
            with torch.no_grad():
                logits = ref(batch.x.to(next(iter(ref.alphas.values())).dtype))
            out["bias_gap"] = float((logits[0] - ref.classifier.bias.detach()).abs().max())
        t0 = time.thread_time()
        out[engine] = freedarts.search(net, batch, space, freedarts.SearchSettings(mode=mode, seed=seed),
                                       engine="reference")  # `net` is already the fused one or the reference
        out[f"{engine}_s"] = time.thread_time() - t0
    a, b = out["reference"].steps[0].scores, out["fast"].steps[0].scores
    rel = max(float((torch.tensor(b[g]) - torch.tensor(a[g])).abs().max() / max(torch.tensor(a[g]).abs().max(), 1e-300))
              for g in a)
    top = max(float(torch.tensor(a[g]).abs().max()) for g in a)
    return {"same": out["reference"].arch_key == out["fast"].arch_key, "rel_diff": rel, "max_score": top,
            "bias_gap": out["bias_gap"], "passes": out["reference"].score_passes,
            "seconds": (out["reference_s"], out["fast_s"])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", default=list(DEFAULT_SEEDS), choices=list(TARGETS))
    p.add_argument("--seeds", type=int, help="seeds 0..n-1 (default: 5, 5, 1 as above)")
    p.add_argument("--mode", nargs="+", default=["oneshot"], choices=["oneshot", "iterative"])
    p.add_argument("--bn-mode", nargs="+", default=["train"], choices=["train", "eval"])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| target | mode | bn_mode | seed | passes | same arch | max rel. score diff (pass 1) | max score | "
          "max \\|logit - bias\\| | search CPU s (reference / fused) |")
    print("|---|---|---|---:|---:|---|---:|---:|---:|---|")
    same = total = 0
    for target in args.targets:
        for mode in args.mode:
            for bn_mode in args.bn_mode:
                for seed in range(args.seeds or DEFAULT_SEEDS.get(target, 1)):
                    r = check(target, seed, mode, bn_mode)
                    same, total = same + r["same"], total + 1
                    print(f"| {target} | {mode} | {bn_mode} | {seed} | {r['passes']} | {'yes' if r['same'] else 'NO'} | "
                          f"{r['rel_diff']:.1e} | {r['max_score']:.1e} | {r['bias_gap']:.1e} | "
                          f"{r['seconds'][0]:.1f} / {r['seconds'][1]:.1f} |", flush=True)
    print(f"\n{same}/{total} identical architectures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
