"""Check: do FreeDARTS-D's ZEROS scores carry a signal in each space, or only float rounding?

    python scripts/d_signal.py                          # every space, bn_mode train and eval, seed 0
    python scripts/d_signal.py --seeds 0 1 2 --bn-mode train

FreeDARTS-D scores the supernet on one all-ones image with loss = sum of the logits. If the logits
do not depend on alpha, dL/dalpha is 0 in exact arithmetic and every score is rounding noise: the
architecture then follows float error and tie-breaking, not the method. For each space (the sweep's
default options and cell fields, built and prepared as a sweep does: scripts/bench_fused.py `build`)
this prints the largest |logit - classifier bias| and the largest ZEROS score of the first pass.

Measured here (seed 0, float32): with train-mode BN (the code's choice) and one image, DARTS' and
NB1Shot1's cell outputs are sums of per-channel normalised maps whose spatial mean is 0, so global
pooling gives 0 and the logits are the bias; NB1Shot1 in eval mode is dead too (its alpha keep
their sign, as in the code, so negative mixtures reach a ReLU). NB201 and MobileNet carry a signal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from harness import zeros  # noqa: E402
from harness.config import CellConfig, resolve  # noqa: E402
from harness.data import DATASETS, ones_batch  # noqa: E402
from spaces import get_space  # noqa: E402

TARGETS = {  # label -> (space, dataset, space options)
    "nasbench201": ("nasbench201", "cifar10", {}),
    "darts:cifar8": ("darts", "cifar10", {"preset": "cifar8"}),
    "nasbench1shot1": ("nasbench1shot1", "cifar10", {}),
    "mobilenet": ("mobilenet", "imagenet", {}),
}


def measure(target: str, seed: int, bn_mode: str) -> dict:
    space_name, dataset, options = TARGETS[target]
    cell = resolve(CellConfig(space=space_name, dataset=dataset, variant="D", seed=seed, bn_mode=bn_mode,
                              space_options=tuple(options.items())))
    space, info = get_space(space_name), DATASETS[dataset]
    torch.manual_seed(seed)
    net = space.build_supernet(space.options(**cell.options), num_classes=info.num_classes,
                               input_size=info.input_size, alpha_transform=cell.alpha_transform,
                               alpha_scale=cell.alpha_scale)
    zeros.prepare(net, abs_weights=cell.abs_weights, abs_alpha=cell.abs_alpha, bn_mode=cell.bn_mode, dtype=cell.dtype)
    result = zeros.score(net, ones_batch(info.input_size))
    with torch.no_grad():
        logits = net(ones_batch(info.input_size).x)[0]
        head = getattr(net, "classifier", None)
        bias = head.bias if isinstance(head, torch.nn.Linear) and head.bias is not None else None
        gap = float((logits - bias).abs().max()) if bias is not None else float("nan")
    top = max(float(torch.as_tensor(s).abs().max()) for s in result.scores.values())
    return {"target": target, "seed": seed, "bn_mode": bn_mode, "abs_alpha": cell.abs_alpha,
            "gap": gap, "max_score": top, "max_logit": float(logits.abs().max())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    p.add_argument("--bn-mode", nargs="+", default=["train", "eval"], choices=("train", "eval"))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print("| space | bn_mode | abs_alpha | seed | max \\|logit - bias\\| | max \\|logit\\| | max ZEROS score |")
    print("|---|---|---|---:|---:|---:|---:|")
    for target in args.targets:
        for bn_mode in args.bn_mode:
            for seed in args.seeds:
                r = measure(target, seed, bn_mode)
                print(f"| {target} | {bn_mode} | {r['abs_alpha']} | {seed} | {r['gap']:.2e} | {r['max_logit']:.2e} | "
                      f"{r['max_score']:.2e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
