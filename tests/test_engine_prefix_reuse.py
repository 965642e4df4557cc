"""The fast engine's lever 5 (harness/engine.py): MobileNet's prefix reuse (spaces/_fast/mobilenet_prefix.py).

An iterative re-score reruns only the blocks from the one whose alpha row changed, on the reference
net's own modules, and backpropagates through the kept graph of the earlier ones: the scores must be the
reference engine's bit for bit at every step, and the blocks run must be exactly those (in float64 too,
where each pass casts the batch to a new tensor: equal values, so the prefix is still reused). The net starts
again from the stem when anything but the mask changed, and the engine does not use it where a pass
changes more than the mask (code mode's sampled paths, re-initialised weights) or there is one pass.
"""

from __future__ import annotations

import pytest
import torch

from harness import engine as engine_
from harness import freedarts
from spaces import get_space, mobilenet
from spaces._fast import mobilenet_prefix
from test_engines import build


def _open_rows(net, rows) -> None:
    """One alive op per block, three in `rows`: a short iterative search whose removals are in those blocks."""
    mask = net.alive(mobilenet.GROUP).clone()
    for r in range(mask.shape[0]):
        keep = torch.nonzero(mask[r]).flatten()[: 3 if r in rows else 1]
        mask[r] = False
        mask[r, keep] = True
    net.set_alive(mobilenet.GROUP, mask)


@pytest.mark.parametrize("kw", [{}, {"transform": "softmax"}, {"bn_mode": "eval"}, {"dtype": "float64"}])
def test_mobilenet_prefix_reuse_reruns_only_the_changed_blocks_bit_for_bit(monkeypatch, kw):
    calls = []
    block = mobilenet.MobileNetSupernet.block
    monkeypatch.setattr(mobilenet.MobileNetSupernet, "block", lambda self, b, *a: calls.append(b) or block(self, b, *a))
    runs = {}
    for engine in ("reference", "fast"):
        calls.clear()
        net, batch = build("mobilenet", **kw)
        _open_rows(net, (4, 11, 20))
        result = freedarts.search(net, batch, get_space("mobilenet"), freedarts.SearchSettings(), engine=engine)
        runs[engine] = result, list(calls)
    (ref, ref_calls), (fast, fast_calls) = runs["reference"], runs["fast"]
    assert fast.arch_key == ref.arch_key and [s.scores for s in fast.steps] == [s.scores for s in ref.steps]
    assert ref_calls == list(range(mobilenet.N_BLOCKS)) * ref.score_passes == list(range(mobilenet.N_BLOCKS)) * 6
    # The first pass runs every block; each re-score starts at the block of the op just removed.
    rescored = [s.pruned_row for s in fast.steps[1:fast.score_passes]]
    assert fast_calls == [b for start in [0, *rescored] for b in range(start, mobilenet.N_BLOCKS)]
    assert len(fast_calls) < len(ref_calls)


def test_mobilenet_prefix_reuse_starts_again_when_the_input_alpha_or_weights_change():
    net, batch = build("mobilenet")
    fast = mobilenet_prefix.prefix_reuse_supernet(net)
    x = batch.x

    def runs(inputs) -> int:
        before = fast.blocks_run
        assert torch.equal(fast(inputs), net(inputs))
        return fast.blocks_run - before

    assert runs(x) == mobilenet.N_BLOCKS
    assert runs(x) == 0 and runs(x.clone()) == 0  # same values: only the head runs
    assert runs(2 * x) == mobilenet.N_BLOCKS
    with torch.no_grad():
        net.alphas[mobilenet.GROUP][5, 0] *= 2
    assert runs(2 * x) == mobilenet.N_BLOCKS
    with torch.no_grad():
        net.blocks[7][0][0].weight.mul_(2)
    assert runs(2 * x) == mobilenet.N_BLOCKS
    net.eval()
    assert runs(2 * x) == mobilenet.N_BLOCKS


def test_prefix_reuse_is_not_used_where_a_pass_changes_more_than_the_mask():
    space = get_space("mobilenet")
    net, _ = build("mobilenet")
    with engine_.Run("fast", net, space, reinit_each_step=False) as run:
        assert isinstance(run.net, mobilenet_prefix.PrefixReuseMobileNet) and not run.fused
    with engine_.Run("fast", net, space, reinit_each_step=True) as run:  # new weights every step
        assert run.net is net
    _, batch = build("mobilenet")
    with engine_.start("fast", net, space, freedarts.SearchSettings(mode="oneshot"), batch) as run:  # one pass
        assert run.net is net
    code, _ = build("mobilenet", code_mode=True)  # a path per block drawn from the RNG every pass
    assert mobilenet_prefix.prefix_reuse_supernet(code) is None
    with engine_.Run("fast", code, space, reinit_each_step=False) as run:
        assert run.net is code
