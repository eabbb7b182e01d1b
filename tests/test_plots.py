"""Spectrogram figures: the PNGs decode, have the size their layout asks for, and show the data
(where it is, which way up, on which colour scale)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from audiovae.colour_maps import colour_table
from audiovae.plots import plot_reconstructions, plot_spectrogram_grid

LOW, HIGH = (tuple(colour_table("magma")[i]) for i in (0, 255))


class FrontEnd:
    hop_length, sample_rate = 256, 16000


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def _where(pixels: np.ndarray, colour) -> np.ndarray:
    return np.argwhere(np.all(pixels == np.asarray(colour, dtype=np.uint8), axis=-1))


def _runs(indices: np.ndarray) -> np.ndarray:
    """The first run of consecutive integers in sorted `indices`."""
    breaks = np.flatnonzero(np.diff(indices) > 1)
    return indices[: breaks[0] + 1] if breaks.size else indices


def _first_panel(pixels: np.ndarray) -> np.ndarray:
    """The top-left image panel: the first run of rows, then of columns, holding colour."""
    coloured = np.ptp(pixels.astype(int), axis=-1) > 8  # grey text and frames: no spread
    coloured[:, int(0.6 * pixels.shape[1]) :] = False  # not the colour bar
    rows = _runs(np.flatnonzero(coloured.sum(axis=1) > 50))
    cols = _runs(np.flatnonzero(coloured[rows].sum(axis=0) > 20))
    return pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _top_half_loud(n: int, n_mels: int = 64, frames: int = 100) -> torch.Tensor:
    x = torch.zeros(n, n_mels, frames)
    x[:, n_mels // 2 :] = 1.0  # high mel bands loud: they belong at the top of each panel
    return x


def test_reconstructions_png_shows_inputs_the_right_way_up(tmp_path):
    x = _top_half_loud(1)
    path = plot_reconstructions(x, x, tmp_path / "r.png", titles=["note.wav"], frontend=FrontEnd())
    pixels = _pixels(path)
    panels = pixels[:, : int(pixels.shape[1] * 0.6)]  # left of the colour bar
    loud, quiet = _where(panels, HIGH), _where(panels, LOW)
    assert len(loud) > 1000 and len(quiet) > 1000
    # each panel: loud rows above quiet rows; two panels stacked -> compare within the top half
    half = pixels.shape[0] // 2
    top_loud, top_quiet = loud[loud[:, 0] < half], quiet[quiet[:, 0] < half]
    assert top_loud[:, 0].max() < top_quiet[:, 0].min()


def test_reconstructions_size_grows_by_one_column_per_clip(tmp_path):
    sizes = []
    for n in (1, 2, 3):
        x = torch.randn(n, 32, 40)
        with Image.open(plot_reconstructions(x, x, tmp_path / f"{n}.png")) as image:
            sizes.append(image.size)
    (w1, h1), (w2, h2), (w3, h3) = sizes
    assert h1 == h2 == h3 and 300 <= h1 <= 700  # two rows of panels, a few inches at 100 dpi
    assert w2 - w1 == w3 - w2 and 200 <= w2 - w1 <= 400  # one panel column per clip
    assert 300 <= w1 <= 700


def test_reconstructions_differ_for_different_data(tmp_path):
    rng = np.random.default_rng(0)
    quiet = torch.from_numpy(rng.normal(size=(1, 32, 40)).astype(np.float32))
    loud = quiet.clone()
    loud[:, 16:] += 6.0  # same scale range, much more of it bright
    contrasts = []
    for name, x in (("quiet", quiet), ("loud", loud)):
        pixels = _pixels(plot_reconstructions(x, x, tmp_path / f"{name}.png")).astype(float)
        panel = _first_panel(pixels).sum(axis=-1)  # magma: a larger R+G+B is louder
        upper, lower = np.array_split(panel, 2, axis=0)
        contrasts.append(upper.mean() - lower.mean())
    assert abs(contrasts[0]) < 30 < contrasts[1]  # only the loud one is bright in its high bands


def test_reconstructions_reject_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError, match="one n and n_mels"):
        plot_reconstructions(torch.zeros(1, 8, 10), torch.zeros(2, 8, 10), tmp_path / "x.png")
    # resynth: the input padded to the model's clip, the output cut to the file: frames differ
    path = plot_reconstructions(torch.zeros(1, 8, 20), torch.ones(1, 8, 5), tmp_path / "y.png")
    assert _pixels(path).size


def test_grid_png_has_every_cell_and_one_scale(tmp_path):
    rows, cols = 3, 4
    grid = torch.zeros(rows, cols, 16, 20)
    grid[2, 3] = 1.0  # one loud cell: bottom right
    path = plot_spectrogram_grid(grid, tmp_path / "g.png", [f"z{r}" for r in range(rows)],
                                 [f"{c:+.1f}" for c in range(cols)], title="traverse")  # fmt: skip
    pixels = _pixels(path)
    loud, quiet = _where(pixels, HIGH), _where(pixels, LOW)  # (the colour bar adds a few rows)
    # the loud cell lies right of and below the quiet cells' centre of mass
    assert loud[:, 0].mean() > quiet[:, 0].mean() and loud[:, 1].mean() > quiet[:, 1].mean()
    assert 10.5 * len(loud) < len(quiet) < 11.5 * len(loud)  # 11 quiet cells for 1 loud one


def test_grid_size_follows_rows_and_columns(tmp_path):
    small = Image.open(plot_spectrogram_grid(torch.randn(1, 3, 8, 8), tmp_path / "s.png"))
    wide = Image.open(plot_spectrogram_grid(torch.randn(1, 6, 8, 8), tmp_path / "w.png"))
    tall = Image.open(plot_spectrogram_grid(torch.randn(4, 3, 8, 8), tmp_path / "t.png"))
    assert wide.size[1] == small.size[1] and wide.size[0] > small.size[0] + 300
    assert tall.size[0] == small.size[0] and tall.size[1] > small.size[1] + 300


def test_non_finite_values_do_not_break_the_scale(tmp_path):
    x = torch.randn(1, 2, 8, 8)
    x[0, 0, 0, 0] = float("-inf")
    assert _pixels(plot_spectrogram_grid(x, tmp_path / "n.png")).size > 0


def test_confusion_png_puts_true_classes_down_and_predictions_across(tmp_path):
    from audiovae.plots import plot_confusion

    k = 6
    matrix = np.zeros((k, k))
    matrix[np.arange(k), (np.arange(k) + 1) % k] = 1.0  # each class predicted as the next one
    path = plot_confusion(matrix, [f"c{i}" for i in range(k)], tmp_path / "c.png", "t")
    pixels = _pixels(path)
    full = _where(pixels, colour_table("Blues")[255])
    full = full[full[:, 1] < pixels.shape[1] * 0.7]  # not the colour bar
    rows = np.unique(full[:, 0] // 10)
    assert len(full) > 0 and len(rows) > 5
    # the off-diagonal: moving down one class moves right one class, except the last row (wraps)
    order = np.argsort(full[:, 0])
    top_row, bottom_row = full[order[: len(full) // k]], full[order[-(len(full) // k) :]]
    assert top_row[:, 1].mean() > full[:, 1].min()  # row 0's cell is not in column 0
    assert bottom_row[:, 1].mean() < top_row[:, 1].mean()  # the last row wrapped to column 0
    with pytest.raises(ValueError, match="6 x 6"):
        plot_confusion(np.zeros((5, 5)), [f"c{i}" for i in range(k)], tmp_path / "x.png", "t")


def test_pyplot_still_reachable_for_line_plots():
    from audiovae.plots import plt  # sweep's plots import it from here

    assert plt.get_backend().lower() == "agg"
