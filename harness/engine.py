"""The ZEROS engines: `reference` (the oracle) and `fast` (same architectures, fewer seconds).

A run option (`python -m harness.sweep ... --engine fast|reference`, `RunContext.engine`, the
`engine` column of every cells row), never part of a cell's id: both engines search the same cell
and must find the same architecture (tests/test_engines.py on every space; scripts/check_engines.py
on many seeds).

* `reference`: `harness.freedarts.search` on the space's readable supernet, every op on its own,
  one scoring pass after every removal. Kept unchanged as the oracle.
* `fast`: the same search loop, the same supernet built from the same seeded RNG, with exact levers:
  1. alpha-only gradients: every non-alpha parameter of the supernet has `requires_grad` off during
     the search (restored after; a fused net holds detached weights), so a backward computes
     dL/dalpha and no weight gradient. The alpha gradients are bit-identical (tested); hooks on
     alpha still fire (MobileNet code mode).
  2. no re-score after removing ops whose output is identically zero (`none`, by op name) under
     raw alpha: the forward is unchanged, so the next step's scores are the ones that chose this
     removal, with the removed entries 0 (what a re-score returns for a pruned op). The step is
     still recorded in the trajectory (Fig. 2 step indices count it); `score_passes` counts the
     passes run (NB201 iterative: 18 instead of 24). Not under softmax (removing `none` changes
     the normalisation) nor with `reinit_weights_each_step` (the weights change every step).
  3. the space's fused supernet, where `SpaceSpec.fast_supernet` is set (spaces/_fast/): built
     from the prepared reference net, scored instead of it, rebuilt from it after a weight
     re-initialisation. Spaces without one (or a configuration their factory does not fuse) run
     the reference supernet with levers 1, 2 and 4, whose scores are bit-identical to the reference's.
     Not for a labelled batch (cross-entropy) in float32: those scores are so ill-conditioned in
     float32 that any re-association moves them far more than the gaps that decide a removal
     (measured on NB201, batch 64, seed 0: the reference's own float32 scores differ from its
     float64 ones by a median 36 %, max 390 %; a fused net agreed on 0 of 3 iterative searches),
     so there the fast engine keeps the reference supernet and levers 1, 2 and 4 (same architecture, by
     construction). FreeDARTS-D in float32 (|W|, all-ones input: reference float32 vs float64
     1e-4 to 1e-2 relative) and every float64 search are fused, but only for alpha scales within
     `FUSE_ALPHA_RANGE` of the space's default (NB201: 1e-4 .. 1e-1): at 1e-5 and 1 the float32
     scores are decided by rounding and a fused net chose differently on 5 of 5 seeds.
  4. wherever the reference net is scored (not fused), with levers 1-2: every `nn.AvgPool2d` runs in channels-last
     memory order (spaces/_fast/_pool.py): bit-identical forward and backward, 2.4-4.4x faster at
     NB201's batch-64 shapes, where NCHW pooling was 37 % of a labelled scoring pass.
  5. prefix reuse, where the space sets `SpaceSpec.prefix_reuse_supernet` and no fused net is used
     (MobileNet, spaces/_fast/mobilenet_prefix.py): a net over the reference net's own modules whose
     forward starts again at the first block whose alpha row changed, reusing the earlier blocks'
     outputs and their retained autograd graph; the backward still runs through every block.
     Bit-identical scores (no sum is re-associated), so no close calls. Iterative searches only (a
     one-shot search has one pass: retaining its graph would only hold memory), not with
     `reinit_weights_each_step`.

Close calls: an iterative removal chosen on a fused net's scores is re-decided on the reference net's
scores (`Run.close_call` / `Run.reference_scores`, one extra pass with levers 1 and 4, bit-identical to
the reference engine's scores at that state) when the removed op and the next candidate are within
`CLOSE_CALL_GAP` of each other: a fused net's float re-association can reorder two such scores. One-shot
and final derivations are not re-decided (NB201 one-shot: 300 of 300 seeds agree without). The first close
call also measures how far the fused scores are from the reference's at that state (`score_deviation`):
where they are not an approximation at all (median relative deviation >= `NOISE_DEVIATION`: the scores
are rounding noise, as FreeDARTS-D's on DARTS with train-mode BN, whose loss does not depend on alpha),
no re-decision can make the two engines agree, and the search makes no more close calls.

    >>> with start("fast", net, space, settings, batch) as run:
    ...     result = zeros.score(run.net, batch)
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

import torch

from harness import zeros
from spaces._fast._pool import channels_last_pooling
from spaces._supernet import Supernet

log = logging.getLogger(__name__)

ENGINES = ("fast", "reference")
DEFAULT_ENGINE = "fast"
ZERO_OP = "none"  # the op name every DARTS-style space gives its Zero op (output x * 0)


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)} "
                         "(fast: same architectures, fewer seconds; reference: the readable oracle)")
    return engine


def zero_ops(space, net: Supernet) -> dict[str, list[int]]:
    """Per alpha group, the columns of ops whose output is identically zero (named `none`)."""
    return {g: [k for k, name in enumerate(space.op_names[g]) if name == ZERO_OP] for g in net.groups}


class Run(AbstractContextManager):
    """One search's engine state: the net the passes run on, and when a pass may be skipped.

    `reference` is the identity: `net` is the reference supernet, every removal is re-scored and a
    re-initialisation redraws its weights in place. Use as a context manager (the fast engine
    freezes the weights' `requires_grad` and gives the final alive masks back to the reference net).
    """

    def __init__(self, engine: str, ref: Supernet, space, *, reinit_each_step: bool, fuse: bool = True,
                 reuse: bool = True) -> None:
        self.engine = check_engine(engine)
        self.ref, self.space = ref, space
        self.fast = engine == "fast"
        self._fuse_allowed = fuse
        self._frozen: list[torch.nn.Parameter] = []
        self._levers = ExitStack()
        self._ref_ready = False
        self.net: Supernet = ref
        self.fused = False
        # Median relative deviation of the fused scores from the reference's, measured at the first close call.
        self.deviation: float | None = None
        # Lever 2 holds only while the forward of the remaining ops cannot change.
        skip = self.fast and ref.alpha_transform == "raw" and not reinit_each_step
        self._zero = {g: set(cols) for g, cols in zero_ops(space, ref).items()} if skip else {}
        # Lever 5 only where a later pass can reuse: not one-shot (one pass; `reuse=False`), not when every
        # step re-initialises the weights.
        self._reuse_allowed = reuse and not reinit_each_step

    def __enter__(self) -> Run:
        if self.fast:
            self.net = self._fuse()
            if self.net is self.ref:
                self._ref_levers()
                self.net = self._prefix_reuse()
        return self

    def _prefix_reuse(self) -> Supernet:
        """Lever 5: the space's exact net over the reference net's own modules (`SpaceSpec.prefix_reuse_supernet`),
        which runs again only the part of the forward a removal changed; else the reference net."""
        factory = getattr(self.space, "prefix_reuse_supernet", None)
        net = factory(self.ref) if factory is not None and self._reuse_allowed else None
        return self.ref if net is None else net

    def _ref_levers(self) -> None:
        """Levers 1 and 4 on the reference net, once: when it is scored unfused, or at the first close
        call of a fused search (`reference_scores`); a fused search without one never pays for them
        (a walk over every parameter and module: measurable against a 50 ms one-shot search)."""
        if self._ref_ready:
            return
        self._ref_ready = True
        alpha_ids = {id(a) for a in self.ref.alphas.values()}
        self._frozen = [p for p in self.ref.parameters() if id(p) not in alpha_ids and p.requires_grad]
        for p in self._frozen:
            p.requires_grad_(False)
        self._levers.enter_context(channels_last_pooling(self.ref))

    def __exit__(self, *exc) -> None:
        if self.net is not self.ref:
            for g in self.ref.groups:
                self.ref.set_alive(g, self.net.alive(g))
        for p in self._frozen:
            p.requires_grad_(True)
        self._frozen = []
        self._levers.close()
        self._ref_ready = False
        self.net = self.ref

    def _fuse(self) -> Supernet:
        factory = getattr(self.space, "fast_supernet", None)
        if factory is None or not self._fuse_allowed:
            return self.ref
        device = next(iter(self.ref.alphas.values())).device
        # A factory must draw nothing from the RNG; guard it so reinit draws match the reference.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            fused = factory(self.ref)
        if fused is None:
            log.info("space %s: no fused supernet for this configuration; reference supernet with the "
                     "generic levers", self.space.name)
            return self.ref
        self.fused = True
        return fused

    def needs_rescore(self, removals: list[tuple[str, int, int]]) -> bool:
        """False when every removal is a zero-output op and the forward therefore cannot change."""
        return not self._zero or not all(op in self._zero.get(g, ()) for g, _, op in removals)

    def carried_scores(self, scores: dict[str, torch.Tensor], removals) -> dict[str, torch.Tensor]:
        """What a re-score after `removals` returns when `needs_rescore` is False: the same scores
        with the removed entries 0 (they already are: a zero output has a zero gradient)."""
        out = {g: s.clone() for g, s in scores.items()}
        for g, row, op in removals:
            out[g][row, op] = 0.0
        return out

    def close_call(self, scores: dict[str, torch.Tensor], removals: list[tuple[str, int, int]],
                   candidates: dict[str, torch.Tensor], prune_pool: str) -> bool:
        """Whether a fused net's choice of `removals` may differ from the reference net's: some removed
        op's score is within `CLOSE_CALL_GAP` (relative) of the lowest other candidate of its pool (every
        group for the global pool, its own group per group). Never for an unfused net (its scores are
        the reference's), nor between two exact zeros (`none` ops: 0 in both nets, same tie rule), nor once
        the scores have shown to be rounding noise (`scores_are_noise`)."""
        if not self.fused or self.scores_are_noise:
            return False
        for group, row, op in removals:
            pool = candidates if prune_pool == "global" else {group: candidates[group]}
            chosen = float(scores[group][row, op])
            others = []
            for g, mask in pool.items():
                m = mask.clone()
                if g == group:
                    m[row, op] = False
                if bool(m.any()):
                    others.append(float(scores[g][m].min()))
            if not others:
                continue
            other = min(others)
            scale = max(abs(chosen), abs(other))
            if scale and (other - chosen) / scale < CLOSE_CALL_GAP:
                return True
        return False

    @property
    def scores_are_noise(self) -> bool:
        """Whether the first close call found the fused scores no approximation of the reference's."""
        return self.deviation is not None and self.deviation >= NOISE_DEVIATION

    def reference_scores(self, batch, step: int | None = None, fused: dict[str, torch.Tensor] | None = None,
                         candidates: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """ZEROS scores of the reference net at the fused net's current masks: one pass with levers 1 and
        4, which give the reference engine's scores bit for bit (tests/test_engines.py). The first call
        given the fused net's `fused` scores of this state measures their deviation over `candidates`."""
        self._ref_levers()
        for g in self.ref.groups:
            self.ref.set_alive(g, self.net.alive(g))
        scores = zeros.score(self.ref, batch, step=step).scores
        if fused is not None and self.deviation is None:
            self.deviation = score_deviation(fused, scores, candidates)
            if self.scores_are_noise:
                log.info("fused and reference ZEROS scores differ by a median %.2g (relative) at step %s: the "
                         "scores are rounding noise, so no close call can make the engines agree; no more "
                         "close calls in this search", self.deviation, step)
        return scores

    def reinit_weights(self, *, abs_weights: bool) -> None:
        """Redraw the reference net's weights (same RNG draws as the reference engine), re-fuse."""
        if self.net is not self.ref:
            for g in self.ref.groups:
                self.ref.set_alive(g, self.net.alive(g))
        zeros.reinit_weights(self.ref, abs_weights=abs_weights)
        if self.fused:
            self.net = self._fuse()


# Lever 3 only for alpha scales within this range of the space's default (cell alpha_scale / default).
# Measured on NB201 FreeDARTS-D in float32 (step-0 scores, fused vs reference, max |diff| / max |score|
# per group, seeds 0-2, CIFAR-10 and ImageNet16-120): a = 1e-4 .. 1e-1: 2e-7 to 1.6e-4;
# a = 1e-5: 0.5 to 1.0 (scores ~1e-15, decided by rounding); a = 1 on ImageNet16-120: 6e-3 to 0.79.
# At a = 1e-5 (CIFAR-10) and a = 1 (ImageNet16-120) the two engines then chose differently on 5 of 5
# seeds, and the float64 re-score sided with either engine (`scripts/check_engines.py --alpha-scale`).
# Outside the range the fast engine runs the reference net with levers 1, 2 and 4: the reference's result.
FUSE_ALPHA_RANGE = (0.1, 100.0)

# A fused net's removal is re-decided on the reference net's scores (one extra pass) when the removed op
# and the next candidate are closer than this, relative. Measured on NB201 FreeDARTS-D (float32, default
# alpha scale, `scripts/check_engines.py` seeds 0-99 per dataset, without this rule): the engines chose
# differently on 7 of 300 iterative searches (CIFAR-10 1, CIFAR-100 6, ImageNet16-120 0), where the fused
# net's two deciding scores were 3e-4 to 3.9e-2 apart (the reference's 3.4e-4 to 1.1e-2; float64 sided
# with the reference in 5, with the fused net in 2). 6.6 % of iterative steps have their two lowest
# candidates within 5e-2 (20 searches, CIFAR-10 and CIFAR-100): ~1.2 extra passes per 18-pass search.
# With the rule: 100/100 seeds agree on CIFAR-10 and on CIFAR-100.
CLOSE_CALL_GAP = 5e-2

# The first close call's median relative deviation (fused vs reference scores, same state) at or above which
# the scores are rounding noise and the search makes no more close calls. Measured at close calls
# (float32, default alpha scale): NB201 FreeDARTS-D CIFAR-100 seeds 1, 2, 4: 6e-6 to 1e-4 (max over entries
# 3e-5 to 7e-3), CIFAR-10 seeds 0-4: 2e-6 and 2e-5; NB1Shot1 FreeDARTS-D (train-mode BN: noise, but the
# fused net reproduces it closely), seeds 3-9: 0 to 9e-5; DARTS 8-cell FreeDARTS-D, eval-mode BN, seed 0: 0
# at each of its 64 close calls (max 2e-7). DARTS 8-cell FreeDARTS-D, train-mode BN (logits = classifier
# bias, so the scores are noise), seeds 0-4: 0.37 to 0.74 at the first close call, 0.09 to 0.82 over all
# 52 (`python scripts/close_call_deviation.py --space darts --seeds 0-4`, 2026-12-01).
NOISE_DEVIATION = 0.1


def score_deviation(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor],
                    where: dict[str, torch.Tensor] | None = None, q: float = 0.5) -> float:
    """The `q` quantile (default the median, 1: the max; the lower value between two) over the entries of
    `where` (group -> mask; default every entry of every group of `a`) of |a - b| / max(|a|, |b|); pairs of
    zeros are skipped."""
    where = {g: torch.ones_like(x, dtype=torch.bool) for g, x in a.items()} if where is None else where
    devs = []
    for g, m in where.items():
        x, y = a[g][m].double(), b[g][m].double()
        scale = torch.maximum(x.abs(), y.abs())
        devs.append(((x - y).abs() / scale)[scale > 0])
    d = torch.cat(devs) if devs else torch.zeros(0, dtype=torch.float64)
    return float(torch.quantile(d, q, interpolation="lower")) if d.numel() else 0.0


def fusion_is_exact_enough(ref: Supernet, batch, alpha_scale_ratio: float = 1.0) -> bool:
    """Whether a fused supernet may score this search (lever 3): not a labelled batch in float32, and
    an alpha scale within `FUSE_ALPHA_RANGE` of the space's default."""
    lo, hi = FUSE_ALPHA_RANGE
    if not lo <= alpha_scale_ratio <= hi:
        return False
    return batch.labels is None or next(iter(ref.alphas.values())).dtype == torch.float64


def start(engine: str, ref: Supernet, space, settings, batch, *, fuse: bool = True) -> Run:
    """The engine state for one `harness.freedarts.search` (use with `with`); `fuse=False`: never fuse."""
    return Run(engine, ref, space, reinit_each_step=settings.reinit_weights_each_step,
               fuse=fuse and fusion_is_exact_enough(ref, batch, settings.alpha_scale_ratio),
               reuse=settings.mode != "oneshot")


# -- comparing the two engines (tests/test_engines.py, scripts/check_engines.py) --------------------
NEAR_TIE = 1e-6  # issue 9: a mismatch is a defect unless the two deciding scores differ by less than this


@dataclass(frozen=True)
class Divergence:
    """Where two searches of the same cell first chose differently, and the scores that decided it.

    `step`: trajectory step of the first differing removal, or -1 when every removal agreed and the
    final derivation (one-shot, DARTS edges, NB1Shot1 parents) differed. `reference` / `fast`: the
    (group, row, op) each engine chose there. `scores`: for each engine, its scores of both
    candidates (reference's pick, fast's pick). `gap`: |a - b| / max(|a|, |b|) of the two candidates
    under the reference engine's scores (nan when the rule is not a per-row argmax/argmin).
    """

    step: int
    reference: tuple | None
    fast: tuple | None
    scores: dict
    gap: float

    @property
    def near_tie(self) -> bool:
        return self.gap < NEAR_TIE

    def describe(self) -> str:
        where = f"step {self.step}" if self.step >= 0 else "final derivation"
        r, f = self.scores.get("reference", ()), self.scores.get("fast", ())
        return (f"{where}: reference chose {self.reference}, fast chose {self.fast}; scores (ref pick, fast pick) "
                f"under reference {tuple(f'{v:.9g}' for v in r)}, under fast {tuple(f'{v:.9g}' for v in f)}; "
                f"relative gap {self.gap:.3g}" + (" (near tie)" if self.near_tie else ""))


def _gap(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def first_divergence(ref, fast) -> Divergence | None:
    """None if both `freedarts.SearchResult`s made the same removals and derived the same architecture."""
    for a, b in zip(ref.steps[1:], fast.steps[1:]):
        pa, pb = (a.pruned_group, a.pruned_row, a.pruned_op), (b.pruned_group, b.pruned_row, b.pruned_op)
        if pa != pb:
            pick = {"reference": a.scores, "fast": b.scores}
            scores = {k: (s[pa[0]][pa[1]][pa[2]], s[pb[0]][pb[1]][pb[2]]) for k, s in pick.items()}
            return Divergence(a.step, pa, pb, scores, _gap(*scores["reference"]))
    if ref.arch_key == fast.arch_key:
        return None
    # Same removals, different derivation: the first row whose best alive op differs (NB201, MobileNet).
    for g, s_ref in ref.final_scores.items():
        s_fast, alive = fast.final_scores[g], ref.alive[g]
        best_ref = s_ref.masked_fill(~alive, float("-inf")).argmax(dim=1)
        best_fast = s_fast.masked_fill(~alive, float("-inf")).argmax(dim=1)
        for row in torch.nonzero(best_ref != best_fast).flatten().tolist():
            kr, kf = int(best_ref[row]), int(best_fast[row])
            scores = {"reference": (float(s_ref[row, kr]), float(s_ref[row, kf])),
                      "fast": (float(s_fast[row, kr]), float(s_fast[row, kf]))}
            return Divergence(-1, (g, row, kr), (g, row, kf), scores, _gap(*scores["reference"]))
    return Divergence(-1, None, None, {}, float("nan"))  # a derivation rule over rows (DARTS edges)
