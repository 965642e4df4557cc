"""harness/report/_figures.py: a report figure with a panel that shows no data is never written."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness import store
from harness.report import build_report
from harness.report import fig3 as fig3_mod
from harness.report._base import ReportOptions
from harness.report._figures import BlankFigureError, figure_problems, legend_outside, new_figure, save_figure


def _labelled(n: int = 1):
    fig, axes = new_figure(n)
    for ax in axes:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    return fig, axes


def test_a_blank_panel_is_refused_and_nothing_is_written(tmp_path):
    fig, axes = _labelled(2)
    axes[0].plot([1, 2], [3, 4])
    axes[1].set_title("empty")
    with pytest.raises(BlankFigureError, match=r"refusing to save blank\.png: panel 2 \('empty'\) has no plotted data"):
        save_figure(fig, tmp_path / "blank.png")
    assert not (tmp_path / "blank.png").exists()


@pytest.mark.parametrize("draw", [
    lambda ax: ax.plot([math.nan], [math.nan]),                 # only NaN points
    lambda ax: ax.scatter([np.inf], [1.0]),
    lambda ax: ax.bar([0], [math.nan]),
    lambda ax: ax.axhline(0.2),                                 # a reference line is not data
    lambda ax: ax.text(0.5, 0.5, "no data"),
], ids=["nan-line", "inf-scatter", "nan-bar", "axhline-only", "text-only"])
def test_no_finite_data_artist_is_blank(draw):
    fig, axes = _labelled()
    draw(axes[0])
    assert figure_problems(fig) == ["panel 1 has no plotted data (no data artist with a finite point)"]


@pytest.mark.parametrize("draw", [
    lambda ax: ax.plot([1, 2], [3, 4]),
    lambda ax: ax.scatter([1], [2]),
    lambda ax: ax.hist([1, 2, 2, 3]),
    lambda ax: ax.fill_between([0, 1], [0, 1], [1, 2]),
    lambda ax: ax.errorbar([1, 2], [1, 2], yerr=[0.1, 0.1]),
    lambda ax: ax.imshow(np.ones((2, 2))),
], ids=["line", "scatter", "hist", "band", "errorbar", "image"])
def test_data_artists_pass(draw, tmp_path):
    fig, axes = _labelled()
    draw(axes[0])
    assert save_figure(fig, tmp_path / "ok.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_axis_labels_are_required_except_on_drawings():
    fig, axes = new_figure(2)
    axes[0].plot([1, 2], [1, 2])
    axes[0].set_xlabel("step")
    axes[1].scatter([0, 1], [0, 1])
    axes[1].axis("off")  # a drawing (cell diagram): no axes to label
    assert figure_problems(fig) == ["panel 1 lacks a y axis label"]


def test_a_legend_must_not_hide_data():
    fig, axes = _labelled()
    x = np.linspace(0, 1, 40)
    axes[0].scatter(x, 1 - x, label="points")
    axes[0].legend(loc="upper left")
    assert "the legend of panel 1 covers" in figure_problems(fig)[0]
    legend_outside(axes[0])
    assert figure_problems(fig) == []
    fig, axes = _labelled()
    axes[0].hist(np.random.default_rng(0).normal(size=500), bins=20, label="cells")
    axes[0].legend(loc="center")  # a bar can pass under the legend with no corner inside it
    assert "covers" in figure_problems(fig)[0]


def test_a_report_section_with_a_blank_figure_fails(tmp_path, monkeypatch):
    rows = [{"cell_id": f"c{a}", "sweep": "t", "space": "nasbench201", "dataset": "cifar10", "variant": "D",
             "mode": "iterative", "seed": 0, "alpha_scale": a, "status": "ok", "method": "freedarts",
             "space_options": "{}", "device": "cpu", "search_s": 1.0, "cifar10_test_acc": 93.0} for a in (1e-3, 1e-2)]
    cells = store._table(rows, store.CELL_SCHEMA).to_pandas()
    traj = store._table([], store.TRAJECTORY_SCHEMA).to_pandas()

    def blank(stats: pd.DataFrame):
        fig, axes = new_figure(1)
        axes[0].set_xlabel("a")
        axes[0].set_ylabel("accuracy")
        return fig

    monkeypatch.setattr(fig3_mod, "fig3_figure", blank)
    with pytest.raises(BlankFigureError, match="fig3_alpha_scale.png"):
        build_report(cells, traj, tmp_path, ReportOptions(), "t")
    assert not (tmp_path / "fig3_alpha_scale.png").exists()
