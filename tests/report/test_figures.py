"""The report's charts, read back from their pixels: bar heights on the log scale against the
hand-worked ratio, collapsed bars grey and hatched, curves straight where the data are linear,
validation points marked; and the log-axis helpers they use."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from audiovae.raster import Canvas, log_ticks, power_label
from audiovae.report import figures


def _rgb(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _near(pixels: np.ndarray, colour: str, tol: int = 24) -> np.ndarray:
    """Mask of pixels within `tol` of a #RRGGBB colour in every channel."""
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return np.all(np.abs(pixels - target) <= tol, axis=-1)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def test_kl_bars_follow_the_log_scale():
    # KL 10, 1 and 0.01 with threshold 0.1: the axis starts at min(0.01, 0.1) / 2 = 0.005, so a
    # bar of value v rises log10(v / 0.005) decades: 3.301 and 2.301, ratio 1.4346.
    pixels = _rgb(figures.kl_per_dimension([1.0, 0.01, 10.0], threshold=0.1))
    blue = _near(pixels, figures.ACTIVE_COLOUR)
    grey = _near(pixels, figures.COLLAPSED_COLOUR, tol=12)
    row = np.flatnonzero(blue.any(axis=1))[-1]  # the lowest row of the bars: the axis bottom
    bars = _runs(blue[row])
    assert len(bars) == 2  # the two active bars, highest first
    heights = [row + 1 - np.flatnonzero(blue[:, (a + b) // 2])[0] for a, b in bars]
    assert heights[0] > heights[1]
    want = math.log10(10 / 0.005) / math.log10(1 / 0.005)
    assert heights[0] / heights[1] == pytest.approx(want, rel=0.02)
    dark = np.all(pixels < 110, axis=-1)  # hatch lines (and the axes' frame)
    collapsed = [(a, b) for a, b in _runs(grey[row] | dark[row]) if b - a > 5]
    assert len(collapsed) == 1 and collapsed[0][0] > bars[1][1]  # sorted last, to the right
    a, b = collapsed[0]
    assert dark[: row + 1, a:b].any() and grey[: row + 1, a:b].any()  # grey, hatched
    assert not blue[:, a:b].any()
    inked = np.any(pixels[: row + 1, (a + b) // 2] < 200, axis=-1)  # bar and hatch, not grid
    hatch_h = row + 1 - (np.flatnonzero(~inked)[-1] + 1)  # the run of ink up from the bottom
    want = math.log10(0.01 / 0.005) / math.log10(1 / 0.005)
    assert hatch_h / heights[1] == pytest.approx(want, rel=0.05)


def test_kl_threshold_is_a_dashed_line_at_its_value():
    pixels = _rgb(figures.kl_per_dimension([10.0, 1.0], threshold=0.1))
    red = _near(pixels, figures.THRESHOLD_COLOUR, tol=30)
    rows = np.flatnonzero(red.sum(axis=1) > 0.25 * pixels.shape[1])
    assert rows.size  # one line across most of the figure
    line_row = rows.mean()
    blue = _near(pixels, figures.ACTIVE_COLOUR)
    col = _runs(blue[np.flatnonzero(blue.any(axis=1))[-1]])[1][0] + 2
    top, bottom = np.flatnonzero(blue[:, col])[[0, -1]]  # the bar of KL 1 spans 0.05 .. 1
    # lo = 0.05 (min(1, 0.1) / 2): 0.1 sits log10(2) / log10(20) of the way up the bar of 1
    frac = (bottom - line_row) / (bottom - top)
    assert frac == pytest.approx(math.log10(2) / math.log10(20), abs=0.03)
    gaps = _runs(~red[int(round(line_row))])
    assert len(gaps) > 10  # dashed: many gaps along the line


def test_curves_are_straight_for_linear_data_and_mark_validation():
    history = [{"split": "train", "step": s, "loss": 2.0 * s + 1.0} for s in range(0, 101, 5)]
    history += [{"split": "valid", "step": s, "loss": 100.0} for s in range(10, 101, 30)]
    pixels = _rgb(figures.training_curves(history, ["loss"]))
    orange = _near(pixels, figures.TRAIN_COLOUR, tol=40)
    ys, xs = np.nonzero(orange)
    left = xs < xs.min() + 0.6 * (xs.max() - xs.min())  # the legend sits in the right quarter
    slope, intercept = np.polyfit(xs[left], ys[left], 1)
    residual = ys[left] - (slope * xs[left] + intercept)
    assert slope < 0 and np.abs(residual).max() <= 2.0  # rising data: y pixels fall, in a line
    blue = _near(pixels, figures.VALID_COLOUR, tol=40)
    rows = np.flatnonzero(blue.sum(axis=1) > 20)
    assert rows.size  # the flat validation line
    thick = blue.sum(axis=0)
    dots = _runs(thick >= 4)  # four marked points: columns where the dots make the line thicker
    assert len(dots) >= 4


def test_log_ticks_and_power_labels():
    np.testing.assert_allclose(log_ticks(0.005, 16.0), [0.01, 0.1, 1.0, 10.0])
    np.testing.assert_allclose(log_ticks(1.0, 1000.0), [1.0, 10.0, 100.0, 1000.0])
    assert [power_label(v) for v in (0.001, 1.0, 10.0)] == [
        "10\u207b\u00b3",
        "10\u2070",
        "10\u00b9",
    ]
    with pytest.raises(ValueError):
        log_ticks(0.0, 1.0)


def test_hatched_and_dashed_primitives():
    canvas = Canvas(40, 20)
    canvas.hatched((0, 0, 40, 20), "#9a9a9a", (0, 0, 0), spacing=8)
    pixels = np.asarray(canvas.image).astype(int)
    black = np.all(pixels == 0, axis=-1)
    assert 0.08 < black.mean() < 0.3  # one 1-px line per 8 px
    canvas = Canvas(50, 5)
    canvas.dashed_line((0, 2), (50, 2), (255, 0, 0), dash=6, gap=4)
    red = np.all(np.asarray(canvas.image)[2] == (255, 0, 0), axis=-1)
    assert [b - a for a, b in _runs(red)][:4] == [7, 7, 7, 7]  # 6-px dashes, both ends drawn
