"""PNG figures people would rather look at than numbers: spectrogram grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_reconstructions(
    inputs: torch.Tensor,
    reconstructions: torch.Tensor,
    path: str | Path,
    titles: Sequence[str] | None = None,
    frontend=None,
) -> Path:
    """Write a 2-row PNG: input log-mels on top, reconstructions below, on one colour scale."""
    path = Path(path)
    n = inputs.shape[0]
    vmin = float(torch.minimum(inputs.min(), reconstructions.min()))
    vmax = float(torch.maximum(inputs.max(), reconstructions.max()))
    extent = None
    if frontend is not None:
        seconds = inputs.shape[-1] * frontend.hop_length / frontend.sample_rate
        extent = (0, seconds, 0, inputs.shape[-2])
    size = (3 * n + 1.5, 5.5)
    fig, axes = plt.subplots(2, n, figsize=size, squeeze=False, constrained_layout=True)
    image = None
    for col in range(n):
        for row, (data, label) in enumerate(
            ((inputs, "input"), (reconstructions, "reconstruction"))
        ):
            ax = axes[row][col]
            image = ax.imshow(
                data[col].numpy(), origin="lower", aspect="auto", vmin=vmin, vmax=vmax,
                cmap="magma", extent=extent,
            )  # fmt: skip
            name = titles[col] if titles else f"clip {col}"
            ax.set_title(f"{label}\n{name}", fontsize=8)
            ax.set_xlabel("seconds" if extent else "frame", fontsize=7)
            ax.set_ylabel("mel band", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.colorbar(image, ax=axes, shrink=0.8, label="log mel power")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_spectrogram_grid(
    logmels: torch.Tensor,
    path: str | Path,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG grid of log-mels [rows, cols, n_mels, frames] on one colour scale."""
    path = Path(path)
    rows, cols = logmels.shape[:2]
    vmin, vmax = float(logmels.min()), float(logmels.max())
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(1.6 * cols + 1, 1.4 * rows + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    image = None
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            image = ax.imshow(logmels[r, c].cpu().numpy(), origin="lower", aspect="auto",
                              vmin=vmin, vmax=vmax, cmap="magma")  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if row_labels is not None and c == 0:
                ax.set_ylabel(row_labels[r], fontsize=7)
            if col_labels is not None and r == 0:
                ax.set_title(col_labels[c], fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8, label="log mel power")
    if title:
        fig.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
