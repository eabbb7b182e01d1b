"""What a run logs as it trains (rank 0 only): TensorBoard scalars and images under RUN/logs, the
same terms as one JSON row per log in RUN/metrics.jsonl, and the reconstruction plot at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from audiovae.features.logmel import LogMelFrontEnd
from audiovae.train.run_folder import METRICS


class RunLog:
    """TensorBoard event files plus metrics.jsonl; `purge_step` (on resume) drops the events a
    resumed run will log again (run_folder.drop_rows_after does the same for metrics.jsonl)."""

    def __init__(self, run_dir: str | Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        run_dir = Path(run_dir)
        self.writer = SummaryWriter(str(run_dir / "logs"), purge_step=purge_step)
        self.history = open(run_dir / METRICS, "a")

    def write(
        self,
        split: str,
        step: int,
        values: dict[str, float],
        kl_dims: torch.Tensor | None = None,
    ) -> None:
        """Log the terms of `split` ("train" or "valid") at `step`, and the KL of each latent
        dimension if given; the metrics.jsonl row is flushed at once."""
        for k, v in values.items():
            self.writer.add_scalar(f"{split}/{k}", v, step)
        record: dict[str, Any] = {"split": split, "step": step, **values}
        if kl_dims is not None:
            kl = [round(float(v), 5) for v in kl_dims.float().cpu()]
            record["kl_per_dim"] = kl
            for i, v in enumerate(kl):
                self.writer.add_scalar(f"{split}_kl_per_dim/{i:02d}", v, step)
        self.history.write(json.dumps(record) + "\n")
        self.history.flush()

    def reconstructions(self, step: int, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        """Inputs (top row) and their reconstructions (bottom row) as one grey-scale image."""
        pair = torch.cat([torch.cat(list(x), dim=1), torch.cat(list(x_hat), dim=1)], dim=0)
        pair = (pair - pair.min()) / (pair.max() - pair.min() + 1e-8)
        self.writer.add_image(
            "valid/input_top_reconstruction_bottom", pair.flip(0), step, dataformats="HW"
        )

    def close(self) -> None:
        self.writer.close()
        self.history.close()


def plot_reconstruction_figure(
    run_dir: str | Path,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    ids: list[str],
    frontend: LogMelFrontEnd,
) -> Path:
    """RUN/reconstructions.png: validation log-mels beside their reconstructions."""
    from audiovae.plots import plot_reconstructions

    return plot_reconstructions(
        x, x_hat, Path(run_dir) / "reconstructions.png", titles=ids, frontend=frontend
    )
