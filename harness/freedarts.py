"""FreeDARTS (Algorithm 1): prune a supernet at initialisation by ZEROS scores.

* `oneshot` (spec §3.1, the authors' released code): score once, then the space's derivation rule
  (NB201: per-edge argmax of S).
* `iterative` (spec §3.2, the paper's default): repeatedly score the masked supernet and remove
  the single weakest eligible op -- an alive op on a row (edge) that still has more than one
  alive op -- over one global pool of all groups, until every row has one op. NB201: 30 -> 6 ops,
  24 steps; steps 1-6 remove the zero-score `none` ops (exact ties, broken by index).

    >>> net = space.build_supernet(...); zeros.prepare(net, ...)
    >>> result = search(net, batch, space, SearchSettings(mode="iterative"))
    >>> result.arch_key, result.n_steps, result.steps[0].pruned_op

`search(..., engine="fast")` (the default; harness/engine.py) finds the same architecture with fewer
passes and a fused supernet; `engine="reference"` is the readable oracle.

The trajectory (paper Fig. 2, spec §6) is recorded on the way: step 0 is the unpruned supernet,
step t the state after the t-th removal, each with the argmax-alpha architecture over the alive
ops, the removed (group, row, op, score) and the full score matrices.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from harness import engine as engine_
from harness import zeros
from harness.data import Batch
from harness.engine import DEFAULT_ENGINE
from spaces import SpaceSpec
from spaces._supernet import Supernet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchSettings:
    mode: str = "iterative"
    tie_break: str = "first"  # "first": row-major first minimum; "random": seeded choice among ties
    prune_pool: str = "global"  # "global" or "per_group"
    reinit_weights_each_step: bool = False
    abs_weights: bool = True  # re-applied after a re-initialisation
    seed: int = 0
    # The cell's alpha_scale over the space's default: the fast engine fuses only within
    # `harness.engine.FUSE_ALPHA_RANGE` of it (elsewhere float32 rounding decides; see there).
    alpha_scale_ratio: float = 1.0


@dataclass(frozen=True)
class Step:
    """State after `step` removals (step 0: unpruned). `pruned_*` is None at step 0."""

    step: int
    pruned_group: str | None
    pruned_row: int | None
    pruned_op: int | None
    pruned_score: float | None
    scores: dict[str, list]  # group -> [rows][ops] ZEROS scores that chose this removal
    alive: dict[str, list]  # group -> [rows][ops] bools after the removal
    alpha_arch: str  # arch key of the argmax-alpha architecture over the alive ops
    seconds: float  # wall time of this step's scoring pass


@dataclass(frozen=True)
class SearchResult:
    genotype: object
    arch_key: str
    final_scores: dict[str, torch.Tensor]
    alive: dict[str, torch.Tensor]
    steps: list[Step] = field(default_factory=list)
    score_passes: int = 0  # every ZEROS pass, the close-call passes included
    loss: float = float("nan")
    close_calls: int = 0  # removals the fast engine re-decided on the reference net's scores (harness/engine.py)

    @property
    def n_steps(self) -> int:
        return max(0, len(self.steps) - 1)


def _as_lists(tensors: dict[str, torch.Tensor]) -> dict[str, list]:
    return {g: t.tolist() for g, t in tensors.items()}


def _alpha_arch(net: Supernet, space: SpaceSpec) -> str:
    alphas = {g: a.detach() for g, a in net.alphas.items()}
    return space.arch_key(space.derive(alphas, net.alive_masks()))


def eligible(alive: dict[str, torch.Tensor], groups: tuple[str, ...] | None = None,
             keep: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Alive ops on rows that still have more than one alive op (Algorithm 1 line 9), in `groups`.

    `keep` (a supernet's `row_keep`, e.g. NB1Shot1 edge pruning) gives per group the number of
    ops each row keeps instead of 1.
    """
    keep = keep or {}

    def more(g: str, a: torch.Tensor) -> torch.Tensor:
        k = keep[g].view(-1, 1).to(a.device) if g in keep else 1
        return a.sum(dim=1, keepdim=True) > k

    return {g: a & more(g, a) for g, a in alive.items() if groups is None or g in groups}


def _pick(scores: torch.Tensor, candidates: torch.Tensor, tie_break: str, gen: torch.Generator) -> tuple[int, int]:
    """Row-major index (row, op) of the lowest candidate score."""
    s = scores.masked_fill(~candidates, float("inf")).flatten()
    lowest = torch.nonzero(s == s.min()).flatten()
    k = int(lowest[0]) if tie_break == "first" else int(lowest[torch.randint(len(lowest), (1,), generator=gen)])
    return divmod(k, scores.shape[1])


def _choose(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor], settings: SearchSettings,
            gen: torch.Generator, prunable: tuple[str, ...] | None = None,
            keep: dict[str, torch.Tensor] | None = None) -> list[tuple[str, int, int]]:
    """The removals of one step: one over the global pool, or one per group with candidates."""
    cands = eligible(alive, prunable, keep)
    groups = [g for g in scores if g in cands and bool(cands[g].any())]
    if settings.prune_pool == "per_group":
        return [(g, *_pick(scores[g], cands[g], settings.tie_break, gen)) for g in groups]
    # Global pool: concatenate groups row-wise so that "first" means (group order, row, op).
    # Groups of different widths (NB1Shot1 edge pruning) are padded with non-candidates.
    width = max(scores[g].shape[1] for g in groups)
    stacked = torch.cat([torch.nn.functional.pad(scores[g], (0, width - scores[g].shape[1])) for g in groups])
    mask = torch.cat([torch.nn.functional.pad(cands[g], (0, width - cands[g].shape[1])) for g in groups])
    row, op = _pick(stacked, mask, settings.tie_break, gen)
    for g in groups:
        n = scores[g].shape[0]
        if row < n:
            return [(g, row, op)]
        row -= n
    raise AssertionError("unreachable: a candidate exists")  # pragma: no cover


def search(net: Supernet, batch: Batch, space: SpaceSpec, settings: SearchSettings, *,
           engine: str = DEFAULT_ENGINE) -> SearchResult:
    """Run FreeDARTS on a prepared supernet (see `zeros.prepare`) with a fixed input batch.

    `engine` (harness/engine.py): "reference" scores `net` itself after every removal; "fast" runs
    the same loop with exact levers (alpha-only gradients, no re-score after removing a `none` op
    under raw alpha, the space's fused supernet except for labelled float32 batches, MobileNet's prefix
    reuse) and finds the same architecture. A fused net computes the same sums in another order, with
    other intermediate magnitudes: where it overflows and the reference net does not (measured: NB201
    at alpha_scale 1, whose activations grow ~16x a cell, overflows float32 in the fused BN's
    variance), the search runs again on the reference net with the generic levers, from the same
    masks and RNG state.
    """
    masks, rng = net.alive_masks(), torch.get_rng_state()
    with engine_.start(engine, net, space, settings, batch) as run:
        try:
            return _search(run, batch, space, settings)
        except zeros.NonFiniteScoreError as exc:
            if not run.fused:
                raise
            log.warning("fused supernet overflowed (%s); searching again on the reference supernet", exc)
    for g, mask in masks.items():
        net.set_alive(g, mask)
    torch.set_rng_state(rng)
    with engine_.start(engine, net, space, settings, batch, fuse=False) as run:
        return _search(run, batch, space, settings)


def _search(run: engine_.Run, batch: Batch, space: SpaceSpec, settings: SearchSettings) -> SearchResult:
    net = run.net
    gen = torch.Generator().manual_seed(settings.seed)
    t0 = time.perf_counter()
    result = zeros.score(net, batch, step=0)
    passes, close_calls = 1, 0
    steps = [Step(0, None, None, None, None, _as_lists(result.scores), _as_lists(net.alive_masks()),
                  _alpha_arch(net, space), time.perf_counter() - t0)]
    if settings.mode == "oneshot":
        alive = net.alive_masks()
        genotype = space.derive(result.scores, alive)
        return SearchResult(genotype, space.arch_key(genotype), result.scores, alive, steps, passes, result.loss)

    # A supernet may narrow the space's pruning per its options (NB1Shot1 edge_selection="iterative").
    prunable = getattr(net, "prunable_groups", space.prunable_groups)
    keep = getattr(net, "row_keep", None)

    def pruning_left() -> bool:
        return any(bool(c.any()) for c in eligible(net.alive_masks(), prunable, keep).values())

    while pruning_left():
        alive = net.alive_masks()
        gen_state = gen.get_state() if run.fused else None  # a close call draws the choice again from here
        removals = _choose(result.scores, alive, settings, gen, prunable, keep)
        scores_used = result.scores
        candidates = eligible(alive, prunable, keep) if run.fused else None
        if run.fused and run.close_call(result.scores, removals, candidates, settings.prune_pool):
            # Fast engine, fused net: too close to call on its scores; decide on the reference net's.
            scores_used = run.reference_scores(batch, step=len(steps), fused=result.scores, candidates=candidates)
            passes, close_calls = passes + 1, close_calls + 1
            gen.set_state(gen_state)
            removals = _choose(scores_used, alive, settings, gen, prunable, keep)
        for group, row, op in removals:
            mask = net.alive(group).clone()
            mask[row, op] = False
            net.set_alive(group, mask)
        t0 = time.perf_counter()
        if pruning_left() or space.final_rescore:
            if not run.needs_rescore(removals):
                # Fast engine: only `none` ops went, under raw alpha: the forward cannot have changed.
                result = zeros.ZerosResult(run.carried_scores(result.scores, removals), result.loss)
            else:
                if settings.reinit_weights_each_step:
                    run.reinit_weights(abs_weights=settings.abs_weights)
                    net = run.net  # the fast engine re-fuses the re-initialised weights
                result = zeros.score(net, batch, step=len(steps))  # re-evaluate the pruned supernet
                passes += 1
        for group, row, op in removals:
            steps.append(Step(len(steps), group, row, op, float(scores_used[group][row, op]),
                              _as_lists(scores_used), _as_lists(net.alive_masks()), _alpha_arch(net, space),
                              time.perf_counter() - t0))
    alive = net.alive_masks()
    genotype = space.derive(result.scores, alive)
    return SearchResult(genotype, space.arch_key(genotype), result.scores, alive, steps, passes, result.loss, close_calls)
