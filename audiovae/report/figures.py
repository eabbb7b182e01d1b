"""The report's images as PNG bytes: training curves, KL per latent dimension and spectrogram
thumbnails, all drawn straight onto pixels (audiovae.raster) at fixed positions. No matplotlib:
importing it and drawing the two charts with it cost about a second of the report's ~9 s.
Spectrograms and the colour scale use the colour map of audiovae.plots (magma: low mel bands at
the bottom, brighter is louder)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from audiovae.colour_maps import colour_table
from audiovae.raster import (
    INK,
    TICK,
    Canvas,
    log_ticks,
    nice_ticks,
    points,
    power_label,
    text_width,
)

SPECTROGRAM_CMAP = "magma"  # as audiovae.plots
TRAIN_COLOUR, VALID_COLOUR = "#E69F00", "#0072B2"  # Okabe-Ito orange / blue: colour-blind safe
ACTIVE_COLOUR, COLLAPSED_COLOUR = "#0072B2", "#9a9a9a"
THRESHOLD_COLOUR, HATCH_COLOUR, GRID_COLOUR = "#D55E00", "#3c3c3c", "#e4e4e4"
SUPERSAMPLE = 2  # chart data drawn at 2x and box-filtered down: antialiased lines
THUMB_MIN = (256, 128)  # thumbnails are upscaled (nearest) to at least this width x height


def _png(image: Image.Image) -> bytes:
    """A figure as a compact PNG: quantised to a 256-colour palette by the fast octree (11 ms
    for the training curves where median cut + optimize took 79 ms, for 7% more bytes)."""
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, "PNG")
    return out.getvalue()


def _limits(steps: np.ndarray, values: np.ndarray) -> tuple[float, float] | None:
    """y-limits that keep the curve readable: values of the first quarter of the steps (the
    initial transient, often 100x the final value) may fall off the top; None if none would."""
    late = values[steps >= 0.25 * steps.max()] if steps.size > 4 else values
    if late.size < 2:
        return None
    lo, hi = float(values.min()), float(late.max())
    if hi >= values.max():
        return None
    pad = 0.05 * (hi - lo or abs(hi) or 1.0)
    return lo - pad, hi + pad


def _padded(lo: float, hi: float) -> tuple[float, float]:
    """A data range widened by 5% each side (a flat range by 1 unit of its size or 1)."""
    pad = 0.05 * (hi - lo) if hi > lo else 0.5 * (abs(hi) or 1.0)
    return lo - pad, hi + pad


class _Panel:
    """One axes box on a canvas: data (x, y) -> pixels. The data are drawn on a canvas of their
    own at SUPERSAMPLE times the resolution, box-filtered down and pasted in at the end: curves
    come out antialiased and are clipped where they run off the box."""

    def __init__(
        self,
        canvas: Canvas,
        box: tuple[int, int, int, int],
        x: tuple[float, float],
        y: tuple[float, float],
        log_y: bool = False,
    ) -> None:
        self.canvas, self.box, self.x, self.log_y = canvas, box, x, log_y
        self.y = (math.log10(y[0]), math.log10(y[1])) if log_y else y
        self.s = SUPERSAMPLE
        self.inner = Canvas((box[2] - box[0]) * self.s, (box[3] - box[1]) * self.s)

    def px(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Data points -> pixel coordinates [n, 2] on the panel's own (supersampled) canvas."""
        w, h = self.inner.image.size
        ys = np.log10(np.asarray(ys, dtype=float)) if self.log_y else np.asarray(ys, dtype=float)
        px = (np.asarray(xs, dtype=float) - self.x[0]) / (self.x[1] - self.x[0]) * w
        py = (self.y[1] - ys) / (self.y[1] - self.y[0]) * h
        return np.stack([px, py], axis=-1)

    def outer_x(self, values: np.ndarray) -> np.ndarray:
        """Data x values -> x pixels on the figure's canvas."""
        return self.box[0] + self.px(values, np.full(len(values), self._y_low()))[:, 0] / self.s

    def outer_y(self, value: float) -> float:
        """A data y value -> its y pixel on the figure's canvas."""
        return self.box[1] + self.inner_y(value) / self.s

    def inner_y(self, value: float) -> float:
        return float(self.px(np.array([self.x[0]]), np.array([value]))[0, 1])

    def _y_low(self) -> float:
        return 10.0 ** self.y[0] if self.log_y else self.y[0]

    def grid(self, xs: Sequence[float] = (), ys: Sequence[float] = ()) -> None:
        """Light grid lines at data values xs (vertical) and ys (horizontal)."""
        w, h = self.inner.image.size
        for y in ys:
            y = self.inner_y(y)
            self.inner.draw.line((0, y, w, y), fill=GRID_COLOUR, width=self.s)
        for x in self.px(np.asarray(xs, dtype=float), np.full(len(xs), self._y_low()))[:, 0]:
            self.inner.draw.line((x, 0, x, h), fill=GRID_COLOUR, width=self.s)

    def legend(self, entries: list[tuple[str, str, bool]], size_px: int) -> None:
        """Top-right legend: (label, colour, dashed) per entry, a short line before each."""
        s, w = self.s, self.inner.image.size[0]
        widest = max(text_width(label, size_px * s) for label, _, _ in entries)
        x_text = w - 8 * s - widest
        for i, (label, colour, dashed) in enumerate(entries):
            y = (10 + i * (size_px + 5)) * s
            start, end = (x_text - 30 * s, y), (x_text - 8 * s, y)
            if dashed:
                self.inner.dashed_line(start, end, colour, 2 * s, dash=5 * s, gap=3 * s)
            else:
                self.inner.draw.line((*start, *end), fill=colour, width=2 * s)
            self.inner.text((x_text, y), label, size_px * s, anchor="lm")

    def finish(self) -> None:
        """Paste the data, filtered down to the box, and frame the box."""
        size = (self.box[2] - self.box[0], self.box[3] - self.box[1])
        self.canvas.image.paste(self.inner.image.resize(size, Image.Resampling.BOX), self.box[:2])
        self.canvas.frame(self.box)


def _curve_panel(canvas: Canvas, box: tuple[int, int, int, int], history: Sequence[dict],
                 term: str, tick_px: int, title_px: int) -> None:  # fmt: skip
    """One panel of the training curves: train and validation of `term` against the step."""
    series = []
    for split, colour in (("train", TRAIN_COLOUR), ("valid", VALID_COLOUR)):
        pts = [(r["step"], r[term]) for r in history if r.get("split") == split and term in r]
        pts = [(s, v) for s, v in pts if isinstance(v, (int, float)) and math.isfinite(v)]
        if pts:
            steps, values = (np.asarray(c, dtype=float) for c in zip(*pts, strict=True))
            series.append((split, colour, steps, values, split == "valid" and len(pts) <= 40))
    clipped = False
    if series:
        steps = np.concatenate([s[2] for s in series])
        values = np.concatenate([s[3] for s in series])
        x_range = _padded(float(steps.min()), float(steps.max()))
        limits = _limits(steps, values)
        clipped = limits is not None
        y_range = limits if clipped else _padded(float(values.min()), float(values.max()))
    else:
        x_range, y_range = (0.0, 1.0), (0.0, 1.0)
    panel = _Panel(canvas, box, x_range, y_range)
    panel.grid(nice_ticks(*x_range), nice_ticks(*y_range))
    for _, colour, steps, values, marked in series:
        xy = panel.px(steps, values)
        panel.inner.polyline(xy, colour, width=2 * panel.s)
        if marked or len(xy) == 1:
            panel.inner.dots(xy, colour, radius=2.5 * panel.s)
    if series:
        panel.legend([(split, colour, False) for split, colour, *_ in series], tick_px)
    panel.finish()
    title = term + (" (early steps off scale)" if clipped else "")
    canvas.text(((box[0] + box[2]) / 2, box[1] - 6), title, title_px, anchor="md")
    canvas.x_axis(box, *x_range, tick_px, "step")
    canvas.y_axis(box, *y_range, tick_px)


def training_curves(history: Sequence[dict], terms: Sequence[str]) -> bytes:
    """One panel per logged term (loss, recon, kl, then the objective's own), train and
    validation against the step."""
    n = max(1, len(terms))
    cols = n if n <= 4 else 3
    rows = math.ceil(n / cols)
    tick_px, title_px = points(8), points(10)
    width = round(1120 / max(cols, 3) * cols)
    left, right, top, bottom, wgap, hgap = 75, 15, 35, 50, 75, 85
    panel_w = (width - left - right - (cols - 1) * wgap) // cols
    panel_h = 260 - top - bottom + 30 // rows
    canvas = Canvas(width, top + rows * panel_h + (rows - 1) * hgap + bottom)
    for i, term in enumerate(terms):
        r, c = divmod(i, cols)
        x0, y0 = left + c * (panel_w + wgap), top + r * (panel_h + hgap)
        _curve_panel(canvas, (x0, y0, x0 + panel_w, y0 + panel_h), history, term, tick_px,
                     title_px)  # fmt: skip
    return _png(canvas.image)


def kl_per_dimension(kl: Sequence[float], threshold: float) -> bytes:
    """Bars of KL per latent dimension, sorted (highest first), collapsed ones (KL < threshold)
    grey and hatched, with the threshold as a dashed line; log scale so both ends show."""
    kl = np.asarray(kl, dtype=float)
    order = np.argsort(-kl, kind="stable")
    values = np.maximum(kl[order], 1e-4)
    collapsed = kl[order] < threshold
    rotated = 24 < kl.size <= 64  # tick labels turned 90 degrees need a taller bottom margin
    tick_px, label_px = points(7), points(9)
    width = round(100 * min(11.0, 2.0 + 0.32 * kl.size))
    left, right, top = 75, 15, 12
    bottom = 85 if rotated else 60
    canvas = Canvas(width, 300)
    box = (left, top, width - right, 300 - bottom)
    y_range = (min(values.min(), threshold) / 2, values.max() * 1.6)
    x_range = (-0.6, kl.size - 0.4)
    panel = _Panel(canvas, box, x_range, y_range, log_y=True)
    decades = log_ticks(*y_range)
    panel.grid(ys=decades)
    slots = np.arange(kl.size, dtype=float)
    left_px = panel.px(slots - 0.4, values)
    right_px = panel.px(slots + 0.4, np.full(kl.size, y_range[0]))
    for (x0, y0), (x1, y1), grey in zip(left_px, right_px, collapsed, strict=True):
        bar = (round(x0), round(y0), round(x1), round(y1))
        if grey:
            panel.inner.hatched(bar, COLLAPSED_COLOUR, HATCH_COLOUR, 8 * panel.s, panel.s)
        else:
            panel.inner.draw.rectangle(bar, fill=ACTIVE_COLOUR)
    y, s = panel.inner_y(threshold), panel.s
    panel.inner.dashed_line((0, y), (panel.inner.image.size[0], y), THRESHOLD_COLOUR, 2 * s,
                            dash=6 * s, gap=4 * s)  # fmt: skip
    panel.legend([(f"collapsed below {threshold} nats", THRESHOLD_COLOUR, True)], points(8))
    panel.finish()
    for value in decades:
        y = panel.outer_y(value)
        canvas.draw.line((box[0] - TICK - 1, y, box[0] - 1, y), fill=INK)
        canvas.text((box[0] - TICK - 3, y), power_label(value), points(8), anchor="rm")
    widest = max(text_width(power_label(v), points(8)) for v in decades)
    canvas.vertical_text((box[0] - TICK - 6 - widest - label_px, (box[1] + box[3]) / 2),
                         "KL (nats)", label_px)  # fmt: skip
    label_y = box[3] + TICK + 2
    if kl.size <= 64:
        centres = panel.outer_x(slots)
        for x, d in zip(centres, order, strict=True):
            canvas.draw.line((x, box[3], x, box[3] + TICK), fill=INK)
            if rotated:
                name_w = text_width(f"z{d}", tick_px)
                canvas.vertical_text((x, label_y + name_w / 2 + 1), f"z{d}", tick_px)
            else:
                canvas.text((x, label_y), f"z{d}", tick_px, anchor="mt")
        label_y += (max(text_width(f"z{d}", tick_px) for d in order) if rotated else tick_px) + 6
    else:
        label_y += 4
    canvas.text(((box[0] + box[2]) / 2, label_y), "latent dimension (sorted by KL)", label_px,
                anchor="mt")  # fmt: skip
    return _png(canvas.image)


def spectrogram_thumbnail(logmel: torch.Tensor, vmin: float, vmax: float) -> bytes:
    """A log-mel [n_mels, frames] as a palette PNG without axes (time to the right, low bands at
    the bottom), coloured on the scale vmin..vmax so a group of thumbnails compares."""
    data = logmel.detach().float().cpu().numpy()
    if data.ndim != 2:
        raise ValueError(f"expected a log-mel [n_mels, frames], got shape {data.shape}")
    span = max(vmax - vmin, 1e-6)
    index = np.clip((data - vmin) / span * 255.0, 0, 255).round().astype(np.uint8)[::-1]
    ry = max(1, math.ceil(THUMB_MIN[1] / index.shape[0]))
    rx = max(1, math.ceil(THUMB_MIN[0] / index.shape[1]))
    index = np.repeat(np.repeat(index, ry, axis=0), rx, axis=1)
    image = Image.fromarray(index)  # 8-bit grey; putpalette makes it a palette image
    image.putpalette(colour_table(SPECTROGRAM_CMAP).reshape(-1).tolist())
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def colour_scale(vmin: float, vmax: float) -> bytes:
    """A horizontal colour bar (log mel power vmin..vmax) to read a group of thumbnails by."""
    tick_px, label_px = points(7), points(8)
    canvas = Canvas(320, 8 + 14 + 4 + tick_px + 4 + label_px + 6)
    box = (14, 8, 306, 22)
    gradient = np.linspace(vmin, vmax, box[2] - box[0], dtype=np.float32)[None, :]
    canvas.heat(box, np.repeat(gradient, 2, axis=0), vmin, vmax, SPECTROGRAM_CMAP)
    canvas.frame(box)
    canvas.x_axis(box, vmin, vmax, tick_px)
    canvas.text((160, box[3] + 4 + tick_px + 4), "log mel power", label_px, anchor="mt")
    out = io.BytesIO()  # median cut: the octree bands a smooth gradient visibly
    canvas.image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG")
    return out.getvalue()
