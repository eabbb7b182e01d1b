"""One gain for outputs that belong together, so their loudness differences survive."""

from __future__ import annotations

import torch

DEFAULT_PEAK = 0.9


def shared_gain(waves: torch.Tensor, peak: float = DEFAULT_PEAK) -> tuple[torch.Tensor, float]:
    """Scale a group of waveforms [..., samples] by ONE gain, only ever down: if the group's loudest
    sample exceeds `peak` it is brought to `peak`, else the level is kept (the stage recovers
    absolute mel power, so levels are meaningful). NaN/Inf become 0. Returns (scaled, gain)."""
    if not 0 < peak <= 1:
        raise ValueError(f"peak must be in (0, 1], got {peak}")
    waves = torch.nan_to_num(waves.float(), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(waves.abs().max()) if waves.numel() else 0.0
    gain = min(1.0, peak / top) if top > 0 else 1.0
    return waves * gain, gain
