"""Figures drawn straight onto pixels with Pillow: colour-mapped images, frames, ticks, text and
colour bars at fixed positions. No layout engine runs per file, so a spectrogram PNG costs a few
milliseconds where matplotlib's constrained layout cost ~0.9 s (it measured tight bounding boxes
of every tick label on every save)."""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from audiovae.colour_maps import colour_indices, colour_table

DPI = 100  # pixels per inch, as the matplotlib figures were saved
INK = (0, 0, 0)
TICK = 3  # tick length in pixels


def points(size: float) -> int:
    """A font size in points as pixels at DPI (matplotlib's fontsize=8 is 11 px)."""
    return max(1, round(size * DPI / 72))


@functools.cache
def _font_file() -> str | None:
    """DejaVu Sans as shipped with matplotlib (found without importing matplotlib), if there."""
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.is_file():
            return str(path)
    return None


@functools.cache
def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at `size_px` pixels (Pillow's own scalable font where DejaVu is missing)."""
    path = _font_file()
    if path is not None:
        return ImageFont.truetype(path, size_px)
    return ImageFont.load_default(size_px)


def text_width(text: str, size_px: int) -> int:
    """Width in pixels of one line of `text` at `size_px`."""
    return math.ceil(font(size_px).getlength(text))


def nice_ticks(lo: float, hi: float, most: int = 6) -> np.ndarray:
    """At most `most` round tick values (1, 2, 2.5 or 5 times a power of ten apart) in [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.asarray([lo], dtype=np.float64)
    raw = (hi - lo) / max(1, most - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-6, step)
    return ticks[(ticks >= lo - step * 1e-6) & (ticks <= hi + step * 1e-6)]


def tick_labels(ticks: np.ndarray) -> list[str]:
    """Tick values as text with just enough decimals to tell them apart, a true minus sign and
    no "-0"."""
    decimals = 0
    if len(ticks) >= 2:
        step = float(np.min(np.diff(ticks)))
        while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, abs(step)):
            decimals += 1
    labels = []
    for value in ticks:
        text = f"{value:.{decimals}f}"
        labels.append(f"{0:.{decimals}f}" if float(text) == 0 else text.replace("-", "\u2212"))
    return labels


def log_ticks(lo: float, hi: float) -> np.ndarray:
    """The powers of ten in [lo, hi] (0 < lo < hi): the ticks of a log-scale axis."""
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"a log axis needs 0 < lo < hi, got {lo}, {hi}")
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    return 10.0 ** np.arange(first, last + 1, dtype=np.float64)


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def power_label(value: float) -> str:
    """10 ** k as "10" with k in superscript digits (10\u207b\u00b3), as a log axis labels it."""
    return "10" + str(round(math.log10(value))).translate(_SUPERSCRIPT)


def fit(text: str, width: int, size_px: int) -> str:
    """`text` shortened in the middle (with an ellipsis) to at most `width` pixels."""
    if text_width(text, size_px) <= width:
        return text
    keep = len(text)
    while keep > 1:
        keep -= 1
        short = text[: (keep + 1) // 2] + "\u2026" + text[len(text) - keep // 2 :]
        if text_width(short, size_px) <= width:
            return short
    return "\u2026"


class Canvas:
    """A white RGB image to draw a figure on, in pixel coordinates (x right, y down)."""

    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (int(width), int(height)), (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)

    # ------------------------------------------------------------------ primitives

    def text(self, xy: tuple[float, float], text: str, size_px: int, anchor: str = "mm") -> None:
        """One line of text; `anchor` as Pillow's (e.g. "mm" centre, "rm" right-middle)."""
        self.draw.text(xy, text, fill=INK, font=font(size_px), anchor=anchor)

    def vertical_text(self, xy: tuple[float, float], text: str, size_px: int) -> None:
        """One line of text turned 90 degrees (read bottom to top), centred on `xy`."""
        f = font(size_px)
        left, top, right, bottom = f.getbbox(text)
        mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
        ImageDraw.Draw(mask).text((1 - left, 1 - top), text, fill=255, font=f)
        mask = mask.transpose(Image.Transpose.ROTATE_90)
        x = round(xy[0] - mask.width / 2)
        y = round(xy[1] - mask.height / 2)
        self.image.paste(INK, (x, y, x + mask.width, y + mask.height), mask)

    def polyline(self, points: np.ndarray, colour: str | tuple, width: int = 1) -> None:
        """Straight segments through points [n, 2] (x, y pixels); pixels outside the canvas
        are dropped, so a curve running off a panel drawn on its own canvas is clipped."""
        coords = [tuple(p) for p in np.asarray(points, dtype=np.float64).tolist()]
        if len(coords) >= 2:
            self.draw.line(coords, fill=colour, width=width, joint="curve")

    def dashed_line(
        self,
        start: tuple[float, float],
        end: tuple[float, float],
        colour: str | tuple,
        width: int = 1,
        dash: int = 6,
        gap: int = 4,
    ) -> None:
        """A straight dashed line from `start` to `end`."""
        (x0, y0), (x1, y1) = start, end
        length = math.hypot(x1 - x0, y1 - y0)
        if length == 0:
            return
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        at = 0.0
        while at < length:
            stop = min(at + dash, length)
            self.draw.line((x0 + ux * at, y0 + uy * at, x0 + ux * stop, y0 + uy * stop),
                           fill=colour, width=width)  # fmt: skip
            at = stop + gap

    def dots(self, points: np.ndarray, colour: str | tuple, radius: float = 2.5) -> None:
        """A filled circle of `radius` pixels at each point [n, 2]."""
        for x, y in np.asarray(points, dtype=np.float64).tolist():
            self.draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)

    def hatched(
        self,
        box: tuple[float, float, float, float],
        fill: str | tuple,
        hatch: str | tuple = INK,
        spacing: int = 8,
        width: int = 1,
    ) -> None:
        """A filled rectangle crossed by "//" hatching: lines rising to the right, `spacing`
        pixels apart along x, `width` pixels wide."""
        x0, y0, x1, y1 = (round(v) for v in box)
        if x1 <= x0 or y1 <= y0:
            return
        tile = Image.new("RGB", (x1 - x0, y1 - y0), fill)
        draw = ImageDraw.Draw(tile)
        w, h = tile.size
        for offset in range(-h, w + h, spacing):  # each line from (offset, h) up to (offset + h, 0)
            draw.line((offset, h, offset + h, 0), fill=hatch, width=width)
        self.image.paste(tile, (x0, y0))

    def frame(self, box: tuple[int, int, int, int]) -> None:
        """A one-pixel black rectangle just outside `box` (left, top, right, bottom)."""
        x0, y0, x1, y1 = box
        self.draw.rectangle((x0 - 1, y0 - 1, x1, y1), outline=INK, width=1)

    def heat(
        self,
        box: tuple[int, int, int, int],
        data: np.ndarray,
        vmin: float,
        vmax: float,
        cmap: str = "magma",
        origin_lower: bool = True,
    ) -> None:
        """A 2-D array [rows, cols] resampled onto `box` and coloured through `cmap` on the
        scale vmin..vmax; row 0 at the bottom when `origin_lower` (spectrograms), else top."""
        x0, y0, x1, y1 = box
        values = np.asarray(data, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"expected a 2-D array to draw, got shape {values.shape}")
        if origin_lower:
            values = values[::-1]
        resized = Image.fromarray(np.ascontiguousarray(values), mode="F").resize(
            (x1 - x0, y1 - y0), Image.Resampling.BOX
        )
        rgb = colour_table(cmap)[colour_indices(np.asarray(resized), vmin, vmax)]
        self.image.paste(Image.fromarray(rgb, mode="RGB"), (x0, y0))

    # ------------------------------------------------------------------ axes furniture

    def x_axis(
        self, box: tuple[int, int, int, int], lo: float, hi: float, size_px: int, label: str = ""
    ) -> None:
        """Ticks and labels under `box` for the data range lo..hi, and an axis label below."""
        x0, _, x1, y1 = box
        for value, text in zip(ticks := nice_ticks(lo, hi), tick_labels(ticks), strict=True):
            x = x0 + (value - lo) / (hi - lo) * (x1 - x0) if hi > lo else x0
            self.draw.line((x, y1, x, y1 + TICK), fill=INK)
            self.text((x, y1 + TICK + 1), text, size_px, anchor="mt")
        if label:
            self.text(((x0 + x1) / 2, y1 + TICK + size_px + 3), label, size_px + 1, anchor="mt")

    def y_axis(
        self, box: tuple[int, int, int, int], lo: float, hi: float, size_px: int, label: str = ""
    ) -> None:
        """Ticks and labels left of `box` for the data range lo..hi (bottom to top), and an axis
        label turned 90 degrees left of them."""
        x0, y0, _, y1 = box
        ticks = nice_ticks(lo, hi)
        labels = tick_labels(ticks)
        for value, text in zip(ticks, labels, strict=True):
            y = y1 - (value - lo) / (hi - lo) * (y1 - y0) if hi > lo else y1
            self.draw.line((x0 - TICK - 1, y, x0 - 1, y), fill=INK)
            self.text((x0 - TICK - 3, y), text, size_px, anchor="rm")
        if label:
            widest = max(text_width(t, size_px) for t in labels)
            x = x0 - TICK - 4 - widest - size_px
            self.vertical_text((x, (y0 + y1) / 2), label, size_px + 1)

    def colour_bar(
        self,
        box: tuple[int, int, int, int],
        vmin: float,
        vmax: float,
        label: str,
        cmap: str = "magma",
        size_px: int = 11,
    ) -> None:
        """A vertical colour bar in `box` (vmin at the bottom), ticks and values on its right,
        and `label` turned 90 degrees beside them."""
        x0, y0, x1, y1 = box
        gradient = np.linspace(vmin, vmax, max(2, y1 - y0), dtype=np.float32)[:, None]
        self.heat(box, np.repeat(gradient, x1 - x0, axis=1), vmin, vmax, cmap)
        self.frame(box)
        ticks = nice_ticks(vmin, vmax)
        labels = tick_labels(ticks)
        for value, text in zip(ticks, labels, strict=True):
            y = y1 - (value - vmin) / (vmax - vmin) * (y1 - y0) if vmax > vmin else y1
            self.draw.line((x1, y, x1 + TICK, y), fill=INK)
            self.text((x1 + TICK + 2, y), text, size_px, anchor="lm")
        widest = max((text_width(t, size_px) for t in labels), default=0)
        self.vertical_text((x1 + TICK + 6 + widest + size_px, (y0 + y1) / 2), label, size_px + 1)

    @staticmethod
    def colour_bar_width(vmin: float, vmax: float, size_px: int = 11) -> int:
        """Pixels a colour bar of `colour_bar` needs right of its box, labels included."""
        labels = tick_labels(nice_ticks(vmin, vmax))
        widest = max((text_width(t, size_px) for t in labels), default=0)
        return TICK + 6 + widest + 2 * size_px + 6

    # ------------------------------------------------------------------ output

    def save(self, path: str | Path) -> Path:
        """Write the PNG atomically (a temporary file beside it, then renamed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                self.image.save(stream, format="PNG", compress_level=3)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
