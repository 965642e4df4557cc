"""The `zero_cost_pt` baseline (Xiang et al., Zero-Cost-PT; FREEDARTS_SPEC §9): perturbation-based
operation scoring on the supernet with a summing-up proxy, edge by edge.

    cell fields: proxy (default synflow: the paper's "Zero-Cost-PT‡" row), n_samples = the
    candidate pool (default 1; the reference code's pool_size is 10), alpha_scale (a of the
    initial alpha, as FreeDARTS)

As the reference (`zerocostptnas/zerocost_operation_score`, nasbench201/networks_proposal.py):
the supernet's mixing weights are softmax(a * randn) per edge, fixed (no training). For each
edge, in a random order (`--edge_decision random`, from `random.Random(seed)`), every op of that
edge is masked in turn (its weight x 0, the others not renormalised) and the proxy of the whole
masked supernet is computed; the op whose removal gives the lowest score (`nanargmin`) is kept and
the edge is projected onto it (one-hot weight 1). With n_samples > 1, that many candidates are
built with different edge orders on the same weights and the one whose fully projected supernet
scores highest under the proxy is returned (the reference validates its pool with the proxy too).
The proxy runs on a copy (synflow: BN removed, float64, |W|; see harness/proxies.py).

DARTS (as DARTS-PT / Zero-Cost-PT's DARTS pipeline): `none` is never a candidate (a DARTS cell has
no `none`), so each edge decides among its other ops; once every edge holds one op, each node (in a
random order from the same RNG) decides its inputs: each incoming edge is masked in turn and the two
whose removal gives the lowest proxy scores are kept; the others are removed (mixing weight 0, all
ops dead), and the DARTS derivation then reads the two kept edges. These topology decisions are
trajectory steps too (`edge` = the node's first row, `op` = None).

Trajectory (first candidate): step 0 = the unprojected supernet (score = its proxy score), step t
= the t-th edge decision: `edge` = that edge, `op` = the op KEPT (not removed, unlike FreeDARTS),
`score` = the proxy with that op masked, `scores_json` = importance I[e][k] = score(before) -
score(op k masked) for every decided edge (NaN for undecided ones). `n_steps` = edges decided.
`method_score` = the proxy score of the returned candidate's projected supernet.
"""

from __future__ import annotations

import math
import random
import time

import torch

from harness.data import DATASETS, Batch
from harness.engine import DEFAULT_ENGINE
from harness.freedarts import SearchResult, Step
from harness.proxies import get_proxy

SUPPORTED_SPACES = ("nasbench201", "darts")


def _node_rows(space_name: str) -> list[list[int]]:
    """Rows (edges) entering each intermediate node, where the space keeps k inputs per node (DARTS: 2)."""
    if space_name != "darts":
        return []
    from spaces import darts

    return [[e for e, (node, _) in enumerate(darts.EDGES) if node == n + 2] for n in range(darts.STEPS)]


INPUTS_PER_NODE = 2  # DARTS


def _matrix(m: dict[str, torch.Tensor]) -> dict[str, list]:
    return {g: t.tolist() for g, t in m.items()}


def run(cell, space, batch: Batch, device: torch.device, *, engine: str = DEFAULT_ENGINE):
    """`engine` is accepted and ignored: this method has one (the reference) implementation."""
    from harness.methods import MethodOutcome

    if space.name not in SUPPORTED_SPACES:
        raise ValueError(f"method 'zero_cost_pt' supports spaces {', '.join(SUPPORTED_SPACES)}, not {space.name!r}; "
                         "use method freedarts or zero_cost there")
    proxy = get_proxy(cell.proxy)
    if proxy.needs_labels and batch.labels is None:
        raise ValueError(f"proxy {proxy.name!r} needs a labelled batch but the cell's variant {cell.variant!r} "
                         "gives none; set variant: labels (synflow works with D)")
    info = DATASETS[cell.dataset]
    t0 = time.perf_counter()
    net = space.build_supernet(cell.typed_options, num_classes=info.num_classes,
                               input_size=info.input_size, alpha_transform="raw", alpha_scale=cell.alpha_scale)
    with torch.no_grad():
        for alpha in net.alphas.values():
            alpha.copy_(torch.softmax(alpha, dim=-1))
            alpha.requires_grad_(False)
    net.to(device)
    build_s = time.perf_counter() - t0
    start_alpha = {g: a.detach().clone() for g, a in net.alphas.items()}
    rng = random.Random(cell.seed)
    rows = [(g, r) for g in net.groups for r in range(net.alive(g).shape[0])]
    never = {k for k, name in enumerate(next(iter(space.op_names.values()))) if name == "none"} if space.name == "darts" else set()
    node_rows = _node_rows(space.name)

    candidates, passes = [], 0
    for c in range(cell.n_samples):
        with torch.no_grad():  # every candidate starts from the unprojected supernet
            for g, a in net.alphas.items():
                a.copy_(start_alpha[g])
                net.set_alive(g, torch.ones_like(net.alive(g)))
        order = rows[:]
        rng.shuffle(order)
        importance = {g: torch.full(tuple(net.alive(g).shape), math.nan, dtype=torch.float64) for g in net.groups}
        t1 = time.perf_counter()
        before = proxy.score(net, batch)
        passes += 1
        steps = [Step(0, None, None, None, before, _matrix(importance), _matrix(net.alive_masks()),
                      space.arch_key(space.derive(dict(net.alphas), net.alive_masks())), time.perf_counter() - t1)]
        for group, row in order:
            t1 = time.perf_counter()
            crit = []
            for op in range(net.alive(group).shape[1]):
                if op in never:  # e.g. DARTS `none`: not a candidate
                    crit.append(math.nan)
                    continue
                mask = net.alive(group).clone()
                mask[row, op] = False
                net.set_alive(group, mask)
                crit.append(proxy.score(net, batch))
                passes += 1
                mask[row, op] = True
                net.set_alive(group, mask)
            values = torch.tensor(crit, dtype=torch.float64)
            keep = int(torch.argmin(torch.nan_to_num(values, nan=math.inf)))
            importance[group][row] = before - values
            with torch.no_grad():
                net.alphas[group][row] = 0.0
                net.alphas[group][row, keep] = 1.0
            mask = net.alive(group).clone()
            mask[row] = False
            mask[row, keep] = True
            net.set_alive(group, mask)
            before = proxy.score(net, batch)
            passes += 1
            steps.append(Step(len(steps), group, row, keep, float(values[keep]), _matrix(importance),
                              _matrix(net.alive_masks()),
                              space.arch_key(space.derive(dict(net.alphas), net.alive_masks())),
                              time.perf_counter() - t1))
        nodes = [(g, rows_in) for g in net.groups for rows_in in node_rows]
        rng.shuffle(nodes)
        for group, rows_in in nodes:  # topology: keep INPUTS_PER_NODE inputs per node
            t1 = time.perf_counter()
            crit = []
            for r in rows_in:
                mask = net.alive(group).clone()
                saved = mask[r].clone()
                mask[r] = False
                net.set_alive(group, mask)
                crit.append(proxy.score(net, batch))
                passes += 1
                mask[r] = saved
                net.set_alive(group, mask)
            values = torch.tensor(crit, dtype=torch.float64)
            order_in = sorted(range(len(rows_in)), key=lambda i: (math.inf if math.isnan(crit[i]) else crit[i], i))
            dropped = [rows_in[i] for i in order_in[INPUTS_PER_NODE:]]
            mask = net.alive(group).clone()
            with torch.no_grad():
                for r in dropped:
                    net.alphas[group][r] = 0.0
                    mask[r] = False
            net.set_alive(group, mask)
            before = proxy.score(net, batch)
            passes += 1
            steps.append(Step(len(steps), group, rows_in[0], None, float(values[order_in[0]]), _matrix(importance),
                              _matrix(net.alive_masks()),
                              space.arch_key(space.derive(dict(net.alphas), net.alive_masks())),
                              time.perf_counter() - t1))
        alive = net.alive_masks()
        genotype = space.derive({g: a.detach() for g, a in net.alphas.items()}, alive)
        candidates.append((before, genotype, alive, importance, steps))

    best = max(range(len(candidates)), key=lambda i: (candidates[i][0], -i))
    score, genotype, alive, importance, _ = candidates[best]
    result = SearchResult(genotype, space.arch_key(genotype), importance, alive, candidates[0][4], passes)
    return MethodOutcome(result, build_s=build_s, extra={"method_score": score})
