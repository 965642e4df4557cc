"""Report figures that cannot be blank: one way to make a figure, one way to save it.

    fig, axes = new_figure(n_panels=3, panel_width=4.2, height=3.8)
    axes[0].plot(steps, accuracy, label="FreeDARTS-D")
    ...
    save_figure(fig, out_dir / "fig2_trajectory.png")   # BlankFigureError if a panel shows nothing

`save_figure` checks a figure before it writes it, so a report can never again ship empty axes:

* every axes must hold at least one *data artist with a finite point*: a line or markers, a
  scatter, a bar or histogram patch, a filled band, an image -- drawn in data coordinates.
  Reference lines in axes coordinates (`axhline`, `axvline`), text, annotations and legends do
  not count, nor do points that are all NaN/inf;
* an axes whose axis is shown (not a drawing with `ax.axis("off")`) needs an x and a y label;
* a legend placed inside an axes must not cover any of that axes' data points or bars (put it
  outside, e.g. `legend_outside(ax)`, when the panel is full).

Each check raises `BlankFigureError` (a ValueError) naming the file, the panel (by its title) and
what is missing. Figures are matplotlib `Figure` objects with an Agg canvas (no pyplot state).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

DPI = 130


class BlankFigureError(ValueError):
    """A report figure would be saved with a panel that shows no data, lacks axis labels, or hides data."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = problems
        super().__init__(f"refusing to save {self.path.name}: " + "; ".join(problems)
                         + " (a report figure must show data with labelled axes; skip the figure and say why instead)")


def new_figure(n_panels: int = 1, panel_width: float = 4.5, height: float = 3.8, *, ncols: int | None = None,
               min_width: float = 6.0, drawing: bool = False):
    """A Figure with an Agg canvas and its axes as a flat list (row-major). Plots use constrained layout;
    `drawing=True` (axes without ticks or labels: cell diagrams) uses fixed margins, much cheaper to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(1, n_panels)
    cols = min(n, ncols or n)
    rows = -(-n // cols)
    fig = Figure(figsize=(max(min_width, panel_width * cols), height * rows),
                 layout=None if drawing else "constrained")
    if drawing:
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.35 / (height * rows), wspace=0.04,
                            hspace=0.3)
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig, axes[:n]


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes (it can cover nothing)."""
    kwargs.setdefault("fontsize", "x-small")
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


# -- what counts as plotted data ----------------------------------------------------------------------
def figure_legend(fig, axes, *, max_cols: int | None = None, **kwargs):
    """One legend below every panel: each distinct label of `axes` once, in first-seen order."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    ncols = len(labels) if max_cols is None else min(max_cols, len(labels))
    return fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small", **kwargs)


def _in_data_coords(artist, ax) -> bool:
    transform = artist.get_transform()  # `is`: a blended (axhline) transform compares == to transData
    return transform is ax.transData or transform.contains_branch(ax.transData)


def _finite(points) -> np.ndarray:
    pts = np.asarray(points, dtype=float).reshape(-1, 2) if np.size(points) else np.empty((0, 2))
    return pts[np.isfinite(pts).all(axis=1)]


def data_points(ax) -> np.ndarray:
    """Finite (x, y) points of the axes' data artists, in data coordinates (bars: their four corners)."""
    parts = []
    for line in ax.lines:
        if _in_data_coords(line, ax):
            parts.append(_finite(line.get_xydata()))
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if len(offsets) and coll.get_offset_transform().contains_branch(ax.transData):
            parts.append(_finite(offsets))
        elif _in_data_coords(coll, ax):
            parts += [_finite(p.vertices) for p in coll.get_paths()]
    for patch in ax.patches:
        if _in_data_coords(patch, ax):
            parts.append(_finite(patch.get_patch_transform().transform(patch.get_path().vertices)))
    for image in ax.images:
        array = np.asarray(image.get_array(), dtype=float)
        if array.size and np.isfinite(array).any():
            x0, x1, y0, y1 = image.get_extent()
            parts.append(_finite([[x0, y0], [x1, y1]]))
    return np.concatenate(parts) if parts else np.empty((0, 2))


def _name(ax, index: int) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    return f"panel {index + 1} ({title!r})" if title else f"panel {index + 1}"


def _legend_covers(ax, points: np.ndarray) -> int:
    """How many data points and bars of `ax` lie under a legend drawn inside the axes (0 without one)."""
    legend = ax.get_legend()
    if legend is None or not len(points):
        return 0
    renderer = ax.figure.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    if not box.overlaps(axes_box):
        return 0
    shown = ax.transData.transform(points)
    inside = ((shown[:, 0] > box.x0) & (shown[:, 0] < box.x1) & (shown[:, 1] > box.y0) & (shown[:, 1] < box.y1))
    within_axes = ((shown[:, 0] >= axes_box.x0) & (shown[:, 0] <= axes_box.x1)
                   & (shown[:, 1] >= axes_box.y0) & (shown[:, 1] <= axes_box.y1))
    bars = sum(1 for patch in ax.patches if _in_data_coords(patch, ax)
               and patch.get_window_extent(renderer).overlaps(box))  # a bar can pass under it corner-free
    return int((inside & within_axes).sum()) + bars


def figure_problems(fig, draw: bool = True) -> list[str]:
    """Every reason `save_figure` would refuse `fig` (empty: it may be saved). `draw=False` when the figure
    was just drawn (saved to a buffer): legend and axes positions are known only after a draw."""
    if draw:
        fig.canvas.draw()
    problems = []
    axes = [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]
    if not axes:
        return ["the figure has no axes"]
    for i, ax in enumerate(axes):
        points = data_points(ax)
        if not len(points):
            problems.append(f"{_name(ax, i)} has no plotted data (no data artist with a finite point)")
            continue
        if ax.axison and not (ax.get_xlabel() and ax.get_ylabel()):
            problems.append(f"{_name(ax, i)} lacks {'an x' if not ax.get_xlabel() else 'a y'} axis label")
        covered = _legend_covers(ax, points)
        if covered:
            problems.append(f"the legend of {_name(ax, i)} covers {covered} data point(s) or bar(s); place it outside")
    return problems


def save_figure(fig, path: Path, dpi: int = DPI) -> Path:
    """Write `fig` as PNG after `figure_problems` finds nothing; raises BlankFigureError otherwise."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})  # the one draw; no version string
    problems = figure_problems(fig, draw=False)
    if problems:
        raise BlankFigureError(path, problems)
    path.write_bytes(buffer.getvalue())
    return path
