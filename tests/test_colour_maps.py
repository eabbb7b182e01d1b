"""The embedded colour tables are matplotlib's, and values land on the entries matplotlib picks."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize

from audiovae.colour_maps import NAMES, colour_indices, colour_table


@pytest.mark.parametrize("name", NAMES)
def test_tables_equal_matplotlib(name):
    reference = (colormaps[name](np.arange(256))[:, :3] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(colour_table(name), reference)


def test_indices_follow_matplotlib_normalisation():
    values = np.random.default_rng(0).normal(size=1000) * 3
    vmin, vmax = -2.0, 4.0
    # matplotlib: normalise, then index = floor(x * N), clipped to [0, N - 1]
    rgba = colormaps["magma"].resampled(256)(Normalize(vmin, vmax)(values))
    expected = (rgba[:, :3] * 255).round().astype(np.uint8)
    got = colour_table("magma")[colour_indices(values, vmin, vmax)]
    assert np.mean(np.all(got == expected, axis=1)) > 0.995  # float32 rounding at bin edges


def test_unknown_map_is_named():
    with pytest.raises(ValueError, match="viridis"):
        colour_table("viridis")
