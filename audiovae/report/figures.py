"""The report's images as PNG bytes: training curves, KL per latent dimension and spectrogram
thumbnails. Line and bar plots are matplotlib figures with a fixed layout (margins in inches, no
layout engine: constrained layout cost about half of each figure's time); spectrograms and the
colour scale are drawn on pixels (audiovae.raster) in the colour map of audiovae.plots (magma:
low mel bands at the bottom, brighter is louder)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from audiovae.colour_maps import colour_table
from audiovae.raster import Canvas, points

SPECTROGRAM_CMAP = "magma"  # as audiovae.plots
TRAIN_COLOUR, VALID_COLOUR = "#E69F00", "#0072B2"  # Okabe-Ito orange / blue: colour-blind safe
ACTIVE_COLOUR, COLLAPSED_COLOUR = "#0072B2", "#9a9a9a"
THUMB_MIN = (256, 128)  # thumbnails are upscaled (nearest) to at least this width x height


def _figure(width: float, height: float, rows: int, cols: int, margins: dict[str, float]):
    """A Figure (no pyplot) of width x height inches with a rows x cols grid of axes placed by
    fixed margins in inches: left, right, top, bottom and the gaps wgap, hgap between axes."""
    fig = Figure(figsize=(width, height), dpi=100)
    m = margins
    axis_w = (width - m["left"] - m["right"] - (cols - 1) * m.get("wgap", 0)) / cols
    axis_h = (height - m["top"] - m["bottom"] - (rows - 1) * m.get("hgap", 0)) / rows
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(
        left=m["left"] / width, right=1 - m["right"] / width, bottom=m["bottom"] / height,
        top=1 - m["top"] / height, wspace=m.get("wgap", 0) / axis_w,
        hspace=m.get("hgap", 0) / axis_h,
    )  # fmt: skip
    return fig, axes


def _png(fig) -> bytes:
    """Save a figure as a compact PNG (quantised to a 256-colour palette)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
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


def training_curves(history: Sequence[dict], terms: Sequence[str]) -> bytes:
    """One panel per logged term (loss, recon, kl, then the objective's own), train and
    validation against the step."""
    n = len(terms)
    cols = n if n <= 4 else 3
    rows = math.ceil(n / cols)
    margins = {"left": 0.75, "right": 0.15, "top": 0.35, "bottom": 0.5, "wgap": 0.75,
               "hgap": 0.85}  # fmt: skip
    fig, axes = _figure(11.2 / max(cols, 3) * cols, 2.6 * rows + 0.3, rows, cols, margins)
    for ax, term in zip(axes.flat, terms, strict=False):
        clipped = False
        every: list[np.ndarray] = []
        for split, colour in (("train", TRAIN_COLOUR), ("valid", VALID_COLOUR)):
            pts = [(r["step"], r[term]) for r in history if r.get("split") == split and term in r]
            pts = [(s, v) for s, v in pts if isinstance(v, (int, float)) and math.isfinite(v)]
            if not pts:
                continue
            steps, values = (np.asarray(c, dtype=float) for c in zip(*pts, strict=True))
            every.append(np.stack([steps, values]))
            marker = "o" if split == "valid" and len(pts) <= 40 else None  # few points: show them
            ax.plot(steps, values, color=colour, marker=marker, lw=1.5, ms=3.5, label=split)
        if every:
            both = np.concatenate(every, axis=1)
            limits = _limits(both[0], both[1])
            if limits is not None:
                ax.set_ylim(*limits)
                clipped = True
        ax.set_title(term + (" (early steps off scale)" if clipped else ""), fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    for ax in list(axes.flat)[n:]:
        ax.remove()
    return _png(fig)


def kl_per_dimension(kl: Sequence[float], threshold: float) -> bytes:
    """Bars of KL per latent dimension, sorted (highest first), collapsed ones (KL < threshold)
    grey and hatched, with the threshold as a dashed line; log scale so both ends show."""
    kl = np.asarray(kl, dtype=float)
    order = np.argsort(-kl, kind="stable")
    values = np.maximum(kl[order], 1e-4)
    collapsed = kl[order] < threshold
    rotated = 24 < kl.size <= 64  # tick labels turned 90 degrees need a taller bottom margin
    margins = {"left": 0.75, "right": 0.15, "top": 0.12, "bottom": 0.85 if rotated else 0.6}
    fig, axes = _figure(min(11.0, 2.0 + 0.32 * kl.size), 3.0, 1, 1, margins)
    ax = axes[0][0]
    x = np.arange(kl.size)
    colours = [COLLAPSED_COLOUR if c else ACTIVE_COLOUR for c in collapsed]
    bars = ax.bar(x, values, color=colours, width=0.8)
    for bar, c in zip(bars, collapsed, strict=True):
        if c:
            bar.set_hatch("//")
    ax.axhline(
        threshold, color="#D55E00", ls="--", lw=1.2, label=f"collapsed below {threshold} nats"
    )
    ax.set_yscale("log")
    ax.set_ylim(min(values.min(), threshold) / 2, values.max() * 1.6)
    ax.set_ylabel("KL (nats)", fontsize=9)
    ax.set_xlabel("latent dimension (sorted by KL)", fontsize=9)
    if kl.size <= 64:
        ax.set_xticks(x, [f"z{d}" for d in order], fontsize=7, rotation=90 if kl.size > 24 else 0)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    return _png(fig)


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
    out = io.BytesIO()
    canvas.image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        out, "PNG", optimize=True
    )
    return out.getvalue()
