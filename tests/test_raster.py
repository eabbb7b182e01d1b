"""The pixel canvas under the figures: round ticks, their labels, shortened titles, PNG output."""

from __future__ import annotations

import numpy as np
from PIL import Image

from audiovae.colour_maps import colour_table
from audiovae.raster import Canvas, fit, nice_ticks, text_width, tick_labels


def test_nice_ticks_hand_worked():
    # (hi - lo) / 5 = 0.8 -> step 1; 25.6 -> step 50; 1.78 -> step 2; 0.2016 -> step 0.25
    np.testing.assert_allclose(nice_ticks(0, 4.0), [0, 1, 2, 3, 4])
    np.testing.assert_allclose(nice_ticks(0, 128), [0, 50, 100])
    np.testing.assert_allclose(nice_ticks(-4.3, 4.6), [-4, -2, 0, 2, 4])
    np.testing.assert_allclose(nice_ticks(0, 1.008), [0, 0.25, 0.5, 0.75, 1.0])


def test_tick_labels_use_enough_decimals_and_a_true_minus():
    assert tick_labels(np.array([-4.0, -2.0, 0.0, 2.0])) == ["\u22124", "\u22122", "0", "2"]
    assert tick_labels(np.array([0.0, 0.25, 0.5])) == ["0.00", "0.25", "0.50"]
    assert tick_labels(np.array([-1e-17, 0.5])) == ["0.0", "0.5"]


def test_fit_shortens_in_the_middle():
    name = "a_very_long_instrument_note_name_000_060_100.wav"
    short = fit(name, 120, 11)
    assert text_width(short, 11) <= 120 < text_width(name, 11)
    assert short.startswith("a_very") and short.endswith("wav") and "\u2026" in short
    assert fit("short.wav", 120, 11) == "short.wav"


def test_heat_places_rows_and_colours(tmp_path):
    data = np.zeros((4, 10), dtype=np.float32)
    data[3] = 1.0  # the last row: the top of the image when origin is lower
    canvas = Canvas(40, 40)
    canvas.heat((0, 0, 40, 40), data, 0.0, 1.0, "magma")
    path = canvas.save(tmp_path / "heat.png")
    pixels = np.asarray(Image.open(path).convert("RGB"))
    table = colour_table("magma")
    assert pixels.shape == (40, 40, 3)
    assert np.all(pixels[:10] == table[255]) and np.all(pixels[10:] == table[0])
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left nothing behind
