"""Architecture drawings with matplotlib alone (no graphviz): DARTS and NB201 cells, MobileNet networks.

    draw_darts_cell(ax, genotype.normal, "FreeDARTS seed 4: normal cell")
    draw_nb201_cell(ax, ("nor_conv_3x3",) * 6, "zero_cost pick")
    draw_mobilenet(ax, ops, width_mult=1.0, title="FreeDARTS-D seed 0")

Cells are arc diagrams: the nodes sit on one line in topological order (inputs, intermediate nodes,
output) and every edge is an arc from its source to its target, labelled at its apex by its op, in
the op's colour. Arcs of one node alternate above and below the line and grow with the distance
they span, so no two labels share a spot. Edges and nodes are data artists (lines, markers), so the
drawings pass `save_figure`'s non-blank check.
"""

from __future__ import annotations

import numpy as np

# One colour per op family, the same in every drawing.
OP_COLORS = {
    "sep_conv_3x3": "#1f4e9c", "sep_conv_5x5": "#4b83d6", "dil_conv_3x3": "#6a3d9a", "dil_conv_5x5": "#a37fd1",
    "max_pool_3x3": "#2e7d32", "avg_pool_3x3": "#66bb6a", "skip_connect": "#616161", "none": "#bdbdbd",
    "nor_conv_3x3": "#1f4e9c", "nor_conv_1x1": "#4b83d6",
}
_NODE_STYLE = {"input": "#a6d96a", "inner": "#abd9e9", "output": "#fdae61"}


def _arc(ax, x0: float, x1: float, height: float, label: str, color: str, dashed: bool = False,
         fontsize: float = 6.5) -> None:
    """A half-ellipse from (x0, 0) to (x1, 0) reaching `height` (negative: below), arrow at the end."""
    t = np.linspace(0.0, np.pi, 60)
    xs = (x0 + x1) / 2 - (x1 - x0) / 2 * np.cos(t)
    ys = height * np.sin(t)
    ax.plot(xs, ys, color=color, linewidth=1.3, linestyle="--" if dashed else "-", zorder=1)
    # Arrowhead: a triangle marker just outside the target node, turned along the arc's last segment.
    k = 52
    angle = np.degrees(np.arctan2(ys[-1] - ys[k], xs[-1] - xs[k]))
    ax.plot([xs[k + 3]], [ys[k + 3]], marker=(3, 0, angle - 90), markersize=5, color=color, zorder=2)
    if label:
        ax.text((x0 + x1) / 2, height, label, fontsize=fontsize, ha="center", va="center", color=color, zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "lw": 0.6})


def _nodes(ax, names: list[str], kinds: list[str], xs: list[float]) -> None:
    ax.plot([xs[0], xs[-1]], [0, 0], color="#eeeeee", linewidth=0.8, zorder=0)
    ax.scatter(xs, [0.0] * len(xs), s=[420 if k != "inner" else 260 for k in kinds],
               c=[_NODE_STYLE[k] for k in kinds], edgecolors="#333333", zorder=4)
    for x, name in zip(xs, names):
        ax.text(x, 0, name, ha="center", va="center", fontsize=7, zorder=5)


def _frame(ax, xs: list[float], top: float, bottom: float, title: str) -> None:
    ax.set_xlim(xs[0] - 0.6, xs[-1] + 0.6)
    ax.set_ylim(bottom - 0.35, top + 0.35)
    ax.axis("off")
    ax.set_title(title, fontsize=8.5)


def draw_darts_cell(ax, pairs, title: str) -> None:
    """A DARTS cell: inputs c_{k-2}, c_{k-1}, nodes 0-3 (two (op, input) pairs each), output c_k (concat)."""
    xs = [0.0, 1.0, 2.2, 3.4, 4.6, 5.8, 7.0]
    heights = []
    for i, (op, src) in enumerate(pairs):
        dst = i // 2 + 2
        span = xs[dst] - xs[src]
        h = (0.35 + 0.28 * span) * (1 if i % 2 == 0 else -1)
        heights.append(h)
        _arc(ax, xs[src], xs[dst], h, op, OP_COLORS.get(op, "#333333"))
    for node in range(2, 6):  # concatenation into the output: short grey arcs, no label
        _arc(ax, xs[node], xs[6], 0.18 + 0.06 * (6 - node), "", "#bbbbbb", dashed=True)
    _nodes(ax, ["$c_{k-2}$", "$c_{k-1}$", "0", "1", "2", "3", "$c_k$"],
           ["input", "input", "inner", "inner", "inner", "inner", "output"], xs)
    _frame(ax, xs, max(heights + [0.6]), min(heights + [-0.6]), title)


def draw_nb201_cell(ax, ops, title: str) -> None:
    """An NB201 cell: nodes 0-3, one op on each edge j -> i (j < i); `none` edges dashed grey."""
    from spaces.nasbench201 import EDGES

    xs = [0.0, 1.6, 3.2, 4.8]
    heights = []
    for k, ((dst, src), op) in enumerate(zip(EDGES, ops)):
        span = dst - src
        side = 1 if span == 1 or k % 2 == 0 else -1
        h = (0.3 + 0.35 * span) * side if span > 1 else 0.3
        heights.append(h)
        _arc(ax, xs[src], xs[dst], h, op, OP_COLORS.get(op, "#333333"), dashed=op == "none")
    _nodes(ax, ["0", "1", "2", "3"], ["input", "inner", "inner", "output"], xs)
    _frame(ax, xs, max(heights), min(heights + [-0.4]), title)


def draw_mobilenet(ax, ops, width_mult: float, title: str) -> None:
    """The MobileNet network: stem, 21 searched blocks as boxes (width ~ kernel, height ~ expansion,
    skip = a grey dot), stage boundaries with output channels and stride, then the head."""
    from spaces import mobilenet as mb

    lay = mb.layout(width_mult)
    kernel_w = {3: 0.45, 5: 0.65, 7: 0.85}
    x, xs, ws, hs, colors = 1.4, [], [], [], []
    for b, op in enumerate(ops):
        c_in, c_out, stride = lay.blocks[b]
        if b and (stride == 2 or c_in != c_out):
            ax.axvline(x - 0.15, color="#dddddd", linewidth=0.8, zorder=0)
        if op == mb.SKIP:
            ax.scatter([x + 0.25], [0.3], s=30, color="#9e9e9e", zorder=3)
            ax.text(x + 0.25, -0.25, "skip", rotation=90, fontsize=6, ha="center", va="top")
        else:
            expand, kernel = int(op[3]), int(op.split("K")[1])
            xs.append(x + 0.25)
            ws.append(kernel_w[kernel])
            hs.append(0.5 if expand == 3 else 1.0)
            colors.append("#4b83d6" if expand == 6 else "#a6cee3")
            ax.text(x + 0.25, -0.25, f"E{expand} K{kernel}", rotation=90, fontsize=6, ha="center", va="top")
        if b == 0 or stride == 2 or c_in != c_out:
            ax.text(x - 0.1, 1.35, f"{c_out}" + (f", s{stride}" if stride == 2 else ""), fontsize=6, ha="left")
        x += 1.0
    ax.bar(xs, hs, width=ws, bottom=0.0, color=colors, edgecolor="#333333", linewidth=0.6, zorder=2)
    ax.bar([0.3, x + 0.3], [0.6, 0.6], width=[0.6, 0.6], color="#fdae61", edgecolor="#333333", linewidth=0.6)
    ax.text(0.3, -0.25, "stem + MB1", rotation=90, fontsize=6, ha="center", va="top")
    ax.text(x + 0.3, -0.25, "1x1 + pool + FC", rotation=90, fontsize=6, ha="center", va="top")
    ax.set_xlim(-0.3, x + 0.9)
    ax.set_ylim(-1.35, 1.55)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
