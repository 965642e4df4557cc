"""ZEROS: the zero-cost operation sensitivity S = |alpha * dL/dalpha| of every candidate op.

One forward and one backward of the supernet (FREEDARTS_SPEC §1):

* FreeDARTS-D (`variant="D"`): `prepare(..., abs_weights=True)` has made every weight positive;
  the input is one all-ones image and the loss is the sum of the logits (SynFlow-style).
* FreeDARTS (`labels`) and FreeDARTS-L (`random_labels`): one real batch, cross-entropy with the
  true or uniformly random labels; weights keep their signs.

    >>> prepare(net, abs_weights=True, abs_alpha=True, bn_mode="train", dtype="float32")
    >>> result = score(net, batch)            # ZerosResult(scores={"cell": [6, 5] tensor}, loss=...)

Scores are float64 copies detached from the graph. Non-finite scores or loss raise
`NonFiniteScoreError` with a diagnostic; they are never turned into an architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.data import Batch
from harness.errors import NonFiniteScoreError
from spaces._supernet import Supernet

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class ZerosResult:
    scores: dict[str, torch.Tensor]  # group -> [rows, ops] float64, 0 for pruned ops
    loss: float


@torch.no_grad()
def make_positive(net: Supernet, *, weights: bool, alpha: bool) -> None:
    """abs() in place: every non-alpha `state_dict` entry (weights, biases, BN affine and running
    stats, as the authors' SynFlow notebooks do) and/or the alpha groups."""
    state = net.state_dict(keep_vars=True)
    for key, tensor in state.items():
        is_alpha = key.startswith("alphas.")
        if (weights and not is_alpha) or (alpha and is_alpha):
            if tensor.is_floating_point():
                tensor.abs_()


def prepare(net: Supernet, *, abs_weights: bool, abs_alpha: bool, bn_mode: str, dtype: str) -> None:
    """Put a freshly built supernet in the scoring state (precision, BN mode, signs)."""
    net.to(_DTYPES[dtype])
    net.train(bn_mode == "train")
    make_positive(net, weights=abs_weights, alpha=abs_alpha)


def reinit_weights(net: Supernet, *, abs_weights: bool) -> None:
    """Redraw every weight from the global (seeded) RNG, keeping alpha and the alive masks."""
    dtype = next(iter(net.alphas.values())).dtype
    for module in net.modules():
        if module is not net and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    net.to(dtype)
    make_positive(net, weights=abs_weights, alpha=False)


def _loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    if batch.labels is None:
        return logits.sum()
    return F.cross_entropy(logits, batch.labels.to(logits.device))


def score(net: Supernet, batch: Batch, *, step: int | None = None) -> ZerosResult:
    """One forward/backward; S = |alpha * grad alpha| per group. Raises on NaN/Inf."""
    net.zero_grad(set_to_none=True)
    dtype = next(iter(net.alphas.values())).dtype
    x = batch.x.to(device=next(iter(net.alphas.values())).device, dtype=dtype)
    logits = net(x)
    loss = _loss(logits, batch)
    loss.backward(retain_graph=getattr(net, "reuses_graph", False))  # the next pass may reuse part of it
    scores = {}
    for group, alpha in net.alphas.items():
        grad = alpha.grad if alpha.grad is not None else torch.zeros_like(alpha)
        scores[group] = (alpha.detach() * grad).abs().to(torch.float64).cpu()
    _check_finite(net, scores, float(loss.detach()), step)
    return ZerosResult(scores=scores, loss=float(loss.detach()))


def _check_finite(net: Supernet, scores: dict[str, torch.Tensor], loss: float, step: int | None) -> None:
    bad = {g: int((~torch.isfinite(s)).sum()) for g, s in scores.items()}
    if not any(bad.values()) and torch.isfinite(torch.tensor(loss)):
        return
    scale = max(float(a.detach().abs().max()) for a in net.alphas.values())
    where = f"at pruning step {step}" if step is not None else "at scoring"
    detail = ", ".join(f"{g}: {n}/{scores[g].numel()} non-finite" for g, n in bad.items())
    raise NonFiniteScoreError(
        f"ZEROS scores are not finite {where} (loss={loss}, {detail}, max|alpha|={scale:.3g}); "
        "the forward overflowed: lower alpha_scale (the paper uses 1e-3) or use dtype float64"
    )
