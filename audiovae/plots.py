"""PNG figures people would rather look at than numbers: spectrogram grids, confusion matrices.

Drawn with `audiovae.raster` at fixed positions (no matplotlib, no layout engine): a figure costs
milliseconds, so commands can write one per file. The look is matplotlib's: magma colour map,
low mel bands at the bottom, one colour scale per figure with its colour bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.raster import TICK, Canvas, fit, nice_ticks, points, text_width, tick_labels

CMAP = "magma"
SCALE_LABEL = "log mel power"


def _array(x: Any) -> np.ndarray:
    """A tensor or array as a float32 numpy array (tensors detached and moved to the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _limits(*arrays: np.ndarray) -> tuple[float, float]:
    """The common colour scale of `arrays`, ignoring non-finite values."""
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    lo = min(float(a.min()) for a in finite)
    hi = max(float(a.max()) for a in finite)
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def plot_reconstructions(
    inputs: Any,
    reconstructions: Any,
    path: str | Path,
    titles: Sequence[str] | None = None,
    frontend: Any = None,
) -> Path:
    """Write a 2-row PNG: input log-mels [n, n_mels, frames] on top, reconstructions below (their
    frame counts may differ), on one colour scale; time in seconds when `frontend` (hop_length,
    sample_rate) is given, else in frames."""
    top, bottom = _array(inputs), _array(reconstructions)
    if top.ndim != 3 or bottom.ndim != 3 or bottom.shape[:2] != top.shape[:2]:
        raise ValueError(
            f"expected inputs and reconstructions [n, n_mels, frames] of one n and n_mels, got "
            f"{tuple(top.shape)} and {tuple(bottom.shape)}"
        )
    n, n_mels = top.shape[:2]
    vmin, vmax = _limits(top, bottom)
    x_label = "frame" if frontend is None else "seconds"

    def x_range(frames: int) -> float:
        return frames * frontend.hop_length / frontend.sample_rate if frontend else float(frames)

    tick_px, label_px, title_px, bar_px = points(6), points(7), points(8), points(8)
    width, height = 250, 170  # one panel
    y_labels = tick_labels(nice_ticks(0, n_mels))
    left = TICK + 6 + max(text_width(t, tick_px) for t in y_labels) + label_px + 8
    gap = left + 14
    above = 2 * (title_px + 3) + 6
    below = TICK + tick_px + label_px + 14
    row_height = above + height + below
    bar_x = left + n * width + (n - 1) * gap + 22
    canvas = Canvas(
        bar_x + 14 + Canvas.colour_bar_width(vmin, vmax, bar_px) + 4, 2 * row_height + 6
    )
    for col in range(n):
        name = fit(titles[col] if titles else f"clip {col}", width + gap - 8, title_px)
        x0 = left + col * (width + gap)
        for row, (data, label) in enumerate(((top, "input"), (bottom, "reconstruction"))):
            y0 = row * row_height + above
            box = (x0, y0, x0 + width, y0 + height)
            canvas.heat(box, data[col], vmin, vmax, CMAP)
            canvas.frame(box)
            canvas.text((x0 + width / 2, y0 - 4 - title_px - 3), label, title_px, anchor="md")
            canvas.text((x0 + width / 2, y0 - 4), name, title_px, anchor="md")
            canvas.x_axis(box, 0.0, x_range(data.shape[-1]), tick_px, x_label)
            canvas.y_axis(box, 0.0, float(n_mels), tick_px, "mel band")
    span = 2 * row_height - above - below
    bar_top = above + round(0.1 * span)
    canvas.colour_bar(
        (bar_x, bar_top, bar_x + 14, bar_top + round(0.8 * span)), vmin, vmax, SCALE_LABEL,
        CMAP, bar_px,
    )  # fmt: skip
    return canvas.save(path)


def plot_spectrogram_grid(
    logmels: Any,
    path: str | Path,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG grid of log-mels [rows, cols, n_mels, frames] on one colour scale, with row
    labels on the left, column labels on top, a title and a colour bar."""
    grid = _array(logmels)
    if grid.ndim != 4:
        raise ValueError(f"expected log-mels [rows, cols, n_mels, frames], got {grid.shape}")
    rows, cols = grid.shape[:2]
    vmin, vmax = _limits(grid)
    label_px, title_px, bar_px = points(7), points(9), points(8)
    width = max([140] + [text_width(c, label_px) + 8 for c in col_labels or []])
    height, gap = 110, 6
    left = 8 + (max(text_width(r, label_px) for r in row_labels) + 8 if row_labels else 0)
    top = 6 + (title_px + 8 if title else 0) + (label_px + 6 if col_labels else 0)
    grid_w, grid_h = cols * width + (cols - 1) * gap, rows * height + (rows - 1) * gap
    bar_x = left + grid_w + 18
    canvas = Canvas(bar_x + 14 + Canvas.colour_bar_width(vmin, vmax, bar_px) + 4, top + grid_h + 8)
    if title:
        canvas.text((left + grid_w / 2, 6), title, title_px, anchor="mt")
    for r in range(rows):
        y0 = top + r * (height + gap)
        if row_labels is not None:
            canvas.text((left - 8, y0 + height / 2), row_labels[r], label_px, anchor="rm")
        for c in range(cols):
            x0 = left + c * (width + gap)
            box = (x0, y0, x0 + width, y0 + height)
            canvas.heat(box, grid[r, c], vmin, vmax, CMAP)
            canvas.frame(box)
            if col_labels is not None and r == 0:
                canvas.text((x0 + width / 2, y0 - 4), col_labels[c], label_px, anchor="md")
    bar_h = max(60, round(0.8 * grid_h))
    bar_top = top + (grid_h - bar_h) // 2
    canvas.colour_bar(
        (bar_x, bar_top, bar_x + 14, bar_top + bar_h), vmin, vmax, SCALE_LABEL, CMAP, bar_px
    )
    return canvas.save(path)


def plot_confusion(
    matrix: Any, names: Sequence[str], path: str | Path, title: str,
    scale_label: str = "share of the true class",
) -> Path:  # fmt: skip
    """Write a PNG of a row-normalised confusion matrix [k, k] (true classes down, predicted
    across, Blues on 0..1), every class labelled up to 30 of them (else every k // 30-th)."""
    values = _array(matrix)
    k = len(names)
    if values.shape != (k, k):
        raise ValueError(f"expected a {k} x {k} matrix for {k} class names, got {values.shape}")
    tick_px, label_px, title_px, bar_px = points(7), points(10), points(9), points(8)
    cell = max(4, min(40, 480 // max(k, 1)))
    side = k * cell
    shown = list(range(0, k, max(1, k // 30)))
    labels = [str(names[i]) for i in shown]
    widest = max((text_width(t, tick_px) for t in labels), default=0)
    left = 10 + label_px + 6 + widest + TICK + 4
    top = 10 + title_px + 10
    bottom = TICK + 4 + widest + 6 + label_px + 10
    bar_x = left + side + 20
    width = max(bar_x + 14 + Canvas.colour_bar_width(0.0, 1.0, bar_px) + 4,
                text_width(title, title_px) + 20)  # fmt: skip
    canvas = Canvas(width, top + side + bottom)
    box = (left, top, left + side, top + side)
    canvas.heat(box, values, 0.0, 1.0, "Blues", origin_lower=False)
    canvas.frame(box)
    for i, text in zip(shown, labels, strict=True):
        centre = (i + 0.5) * cell
        canvas.draw.line((left + centre, top + side, left + centre, top + side + TICK), fill=0)
        canvas.vertical_text(
            (left + centre, top + side + TICK + 3 + text_width(text, tick_px) / 2), text, tick_px
        )
        canvas.draw.line((left - TICK - 1, top + centre, left - 1, top + centre), fill=0)
        canvas.text((left - TICK - 3, top + centre), text, tick_px, anchor="rm")
    canvas.text((left + side / 2, top + side + TICK + 6 + widest), "predicted", label_px, "mt")
    canvas.vertical_text((10 + label_px / 2, top + side / 2), "true", label_px)
    canvas.text((width / 2, 10), title, title_px, anchor="mt")
    bar_h = max(60, round(0.8 * side))
    bar_top = top + (side - bar_h) // 2
    canvas.colour_bar(
        (bar_x, bar_top, bar_x + 14, bar_top + bar_h), 0.0, 1.0, scale_label, "Blues", bar_px
    )
    return canvas.save(path)


def __getattr__(name: str) -> Any:
    # `from audiovae.plots import plt` (sweep's line plots) still gets pyplot on the Agg backend
    if name == "plt":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt
    raise AttributeError(name)
