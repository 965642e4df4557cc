"""When the fast engine stops re-deciding removals on the reference net: scores that are rounding noise.

A close call (harness/engine.py) re-decides a fused net's removal on the reference net's scores, which
helps only while the fused scores approximate the reference's. FreeDARTS-D on DARTS with train-mode BN
and one image has logits equal to the classifier bias whatever alpha is, so both nets' scores are
rounding noise: the first close call measures that (`score_deviation`) and the search makes no more.
tests/test_engines.py::test_close_calls_are_decided_on_the_reference_nets_scores covers the rule itself.
"""

from __future__ import annotations

import logging

import pytest
import torch

from harness import engine as engine_
from tests.test_engines import search


def test_score_deviation_is_the_median_relative_difference_over_the_masked_entries():
    a = {"g": torch.tensor([[1.0, 2.0, 0.0], [4.0, -1.0, 3.0]]), "h": torch.tensor([[5.0]])}
    b = {"g": torch.tensor([[1.0, 1.0, 0.0], [2.0, -1.0, 6.0]]), "h": torch.tensor([[-5.0]])}
    # g: 0, 0.5, (0 vs 0 skipped), 0.5, 0, 0.5; h: 2 -> median of [0, 0, 0.5, 0.5, 0.5, 2] (lower middle) = 0.5
    assert engine_.score_deviation(a, b) == 0.5
    only = {"g": torch.tensor([[True, False, True], [False, True, False]])}  # h not compared
    assert engine_.score_deviation(a, b, only) == 0.0
    assert engine_.score_deviation(a, b, q=1.0) == 2.0
    assert engine_.score_deviation({"g": torch.zeros(2, 2)}, {"g": torch.zeros(2, 2)}) == 0.0


def test_a_search_whose_scores_are_noise_stops_making_close_calls(monkeypatch, caplog):
    """DARTS, train-mode BN, one all-ones image: with every removal a close call, the first one finds the
    fused scores no approximation of the reference's and is the only one; without the noise rule every
    re-scored removal is one."""
    monkeypatch.setattr(engine_, "CLOSE_CALL_GAP", float("inf"))
    with caplog.at_level(logging.INFO, logger="harness.engine"):
        fast = search("darts", "fast")
    assert fast.close_calls == 1
    assert "rounding noise" in caplog.text
    monkeypatch.setattr(engine_, "NOISE_DEVIATION", float("inf"))
    assert search("darts", "fast").close_calls > 1  # 5: every re-scored removal of this short search


@pytest.mark.parametrize("name, bn", [("nasbench201", {}), ("darts", {"bn_mode": "eval"}),
                                      ("nasbench1shot1", {})])
def test_scores_with_a_signal_keep_every_close_call(monkeypatch, name, bn):
    """NB201 and eval-mode DARTS carry a signal, and NB1Shot1's fused net reproduces its train-mode noise
    closely: their fused scores deviate from the reference's far below `NOISE_DEVIATION`, so every
    re-scored removal stays a close call."""
    monkeypatch.setattr(engine_, "CLOSE_CALL_GAP", float("inf"))
    with_rule = search(name, "fast", **bn)
    monkeypatch.setattr(engine_, "NOISE_DEVIATION", float("inf"))
    without = search(name, "fast", **bn)
    assert with_rule.close_calls == without.close_calls > 0
    assert with_rule.arch_key == without.arch_key
