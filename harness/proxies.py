"""Architecture-level zero-cost proxies ("summing-up" scores), behind one registry.

    >>> from harness.proxies import get_proxy, list_proxies
    >>> list_proxies()
    ['grad_norm', 'snip', 'synflow']
    >>> score = get_proxy("synflow").score(net, batch)   # one float for the whole network
    >>> score = get_proxy("synflow").score(net, batch, copy=False)   # consumes `net` (no deep copy)

A proxy scores a whole network at initialisation by a sum over its parameters, as in the
zero-cost predictors of Abdelfattah et al. (the Samsung `zero-cost-nas` / `foresight` package)
that the `zero_cost` and `zero_cost_pt` methods (harness/methods/) use. Every proxy works on a
deep copy of the network, so the caller's network keeps its weights, signs, dtype and BN;
`copy=False` (the fast engine of `zero_cost`, which builds each network only to score it) works on
the network itself instead: the same arithmetic, so the same score, without the deep copy.
`synflow_from_outputs` is SynFlow computed from layer outputs instead of weight gradients
(Euler's identity, below): the zero_cost fast engine's NB201 path (spaces/_fast/nasbench201.py).

* `synflow` (Tanaka et al.; `foresight/pruners/measures/synflow.py`): the copy has every
  BatchNorm replaced by identity (`bn=False`), is cast to float64, every `state_dict` tensor is
  made positive (`linearize`; the reference restores the signs afterwards, which our copy makes
  moot), the input is one all-ones image of the batch's shape, R = sum of the logits, and the
  score is sum over Conv2d/Linear *weights* (no biases, no BN) of |w * dR/dw|. Labels are not used.
* `snip` (Lee et al.): the copy keeps BN (train mode, batch statistics), float32 signed weights,
  cross-entropy on the real labelled batch; score = sum over Conv2d/Linear weights of |w * dL/dw|.
* `grad_norm`: same pass as snip; score = sum over Conv2d/Linear layers of ||dL/dw||_2.

How this differs from ZEROS (harness/zeros.py, FreeDARTS-D): ZEROS scores *operations*, by
|alpha * dR/dalpha| on the supernet, and -- as the authors' notebooks do -- keeps BN in train mode
(batch statistics of the single all-ones image), stays in float32, takes abs of every state_dict
entry in place (BN running stats included) and never restores the signs. The summing-up SynFlow
here removes BN, runs in float64 and sums over all conv/linear weights, so an architecture's score
grows with its number of parameters: the parameter-intensive bias of paper §3.1 (Remarks 1-2),
measured by `harness/report/bias.py`.

Add a proxy: write `(net, batch, copy=True) -> float` and register it with `register(Proxy(...))`; a name
registered twice raises.
"""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from archcodec import registry
from harness.data import Batch
from harness.errors import NonFiniteScoreError


@dataclass(frozen=True)
class Proxy:
    """A registered proxy. `needs_labels`: it needs a labelled batch (sweep `variant: labels`)."""

    name: str
    score: Callable[..., float]  # (net, batch, copy=True) -> float
    description: str
    needs_labels: bool = False


PROXIES: dict[str, Proxy] = {}


def register(proxy: Proxy) -> Proxy:
    """Add `proxy` to `PROXIES` (the decorator form suits many small functions); a duplicate name fails."""
    PROXIES.update(registry.build([*PROXIES.values(), proxy], "proxy"))
    return proxy


def list_proxies() -> list[str]:
    """Registered proxy names, sorted."""
    return sorted(PROXIES)


def get_proxy(name: str) -> Proxy:
    """The proxy registered as `name`; an unknown name raises `archcodec.registry.UnknownNameError`."""
    return registry.lookup(PROXIES, "proxy", name)


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def remove_bn(net: nn.Module) -> nn.Module:
    """Replace every BatchNorm module by identity, in place (foresight's `bn=False` copy)."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            remove_bn(child)
    return net


def _logits(out):
    return out[1] if isinstance(out, tuple) else out  # NB201-style (features, logits)


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise NonFiniteScoreError(f"{name} proxy score is not finite ({value}); the forward overflowed even "
                                  "in float64: use a smaller network (space_options) or another proxy")
    return value


def synflow(net: nn.Module, batch: Batch, copy: bool = True) -> float:
    """Sum over conv/linear weights of |w * dR/dw|; BN removed, float64, |state|, ones input."""
    work = remove_bn(_copy.deepcopy(net) if copy else net).double()
    with torch.no_grad():
        for tensor in work.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    work.zero_grad(set_to_none=True)
    x = torch.ones((1, *batch.x.shape[1:]), dtype=torch.float64, device=batch.x.device)
    _logits(work(x)).sum().backward()
    total = torch.zeros((), dtype=torch.float64)
    for layer in _weighted_layers(work):
        if layer.weight.grad is not None:
            total += (layer.weight.detach() * layer.weight.grad).abs().sum().cpu()
    return _finite("synflow", float(total))


def _ce_pass(name: str, net: nn.Module, batch: Batch, copy: bool) -> nn.Module:
    if batch.labels is None:
        raise ValueError(f"proxy {name!r} needs a labelled batch but got {batch.source!r}; "
                         "set `variant: labels` for its cells (synflow needs no labels)")
    work = (_copy.deepcopy(net) if copy else net).float().train()
    work.zero_grad(set_to_none=True)
    x = batch.x.to(torch.float32)
    F.cross_entropy(_logits(work(x)), batch.labels.to(x.device)).backward()
    return work


def snip(net: nn.Module, batch: Batch, copy: bool = True) -> float:
    """Sum over conv/linear weights of |w * dL/dw|, cross-entropy on the labelled batch."""
    work = _ce_pass("snip", net, batch, copy)
    total = sum(float((m.weight.detach() * m.weight.grad).abs().sum())
                for m in _weighted_layers(work) if m.weight.grad is not None)
    return _finite("snip", total)


def grad_norm(net: nn.Module, batch: Batch, copy: bool = True) -> float:
    """Sum over conv/linear layers of the L2 norm of dL/dw, cross-entropy on the labelled batch."""
    work = _ce_pass("grad_norm", net, batch, copy)
    total = sum(float(m.weight.grad.norm()) for m in _weighted_layers(work) if m.weight.grad is not None)
    return _finite("grad_norm", total)


def synflow_from_outputs(forward: Callable, batch: Batch) -> float:
    """SynFlow of a BN-free network with non-negative weights, from layer outputs, no weight gradients.

    `forward(x, outputs)` returns the logits and appends the output y = W * x (without bias) of every
    conv and linear layer to `outputs`. With every weight and the input non-negative, every
    activation and every dR/dy is non-negative, so |w * dR/dw| = w * dR/dw, and for a layer linear in
    its weights (Euler's identity) sum_w w * dR/dw = sum_y y * dR/dy. The score is then one forward
    and one input-gradient backward; it equals `synflow`'s up to float summation order (float64:
    ~1e-15 relative; tests compare both). Float64, all-ones input of the batch's shape, as `synflow`.
    """
    x = torch.ones((1, *batch.x.shape[1:]), dtype=torch.float64, device=batch.x.device, requires_grad=True)
    outputs: list[torch.Tensor] = []
    logits = forward(x, outputs)
    # An output outside the graph is computed from constants only (a node every `none` edge feeds:
    # exactly 0, so y = 0 and its weights score 0, as in `synflow`).
    outputs = [y for y in outputs if y.requires_grad]
    if not logits.requires_grad:  # every path through a cell is `none`: R is constant, every term 0
        return 0.0
    # An output the logits do not depend on (it only feeds `none` edges) has no gradient: scores 0.
    grads = torch.autograd.grad(logits.sum(), outputs, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for y, g in zip(outputs, grads):
        if g is not None:
            total += (y.detach() * g).sum()
    return _finite("synflow", float(total))


register(Proxy("synflow", synflow, "SynFlow: sum |w * dR/dw|, float64, BN removed, |W|, all-ones input"))
register(Proxy("snip", snip, "SNIP: sum |w * dL/dw| with cross-entropy on a labelled batch", needs_labels=True))
register(Proxy("grad_norm", grad_norm, "grad_norm: sum of per-layer ||dL/dw||_2, cross-entropy", needs_labels=True))
