"""Shared steps of every generation: inputs to model windows, log-mels to audio in batches, and
groups of waveforms written with one gain."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.api import AudioVAE
from audiovae.audio.io import fit_length, load_audio, write_wav
from audiovae.generate.gain import shared_gain

Sound = str | Path | np.ndarray | torch.Tensor
"""One input sound: an audio file, or a mono waveform [samples] at the model's rate."""

RENDER_BATCH = 32  # the stage runs ~1.4x faster per clip at batch 32 than clip by clip


def load_sound(sound: Sound, sample_rate: int) -> torch.Tensor:
    """Mono audio [samples] at `sample_rate`: a file is loaded (mono, resampled), a waveform is
    taken as it is."""
    if isinstance(sound, (str, Path)):
        return load_audio(sound, sample_rate)
    wave = torch.as_tensor(sound).float()
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform [samples], got shape {tuple(wave.shape)}")
    return wave


def load_input(vae: AudioVAE, path: Sound) -> torch.Tensor:
    """Mono audio [samples] at the model's rate (a waveform is taken as it is)."""
    return load_sound(path, vae.sample_rate)


def first_windows(vae: AudioVAE, sounds: Sequence[Sound]) -> torch.Tensor:
    """Each sound's first model window [n, clip_samples] (cropped from the start or zero-padded,
    as in training): how morph, traverse and swap see a sound."""
    return torch.stack([fit_length(load_input(vae, s), vae.clip_samples) for s in sounds])


def encode_first_window(vae: AudioVAE, path: Sound, condition: dict | None = None) -> torch.Tensor:
    """Posterior mean [D] of a sound's first model window."""
    return vae.encode(first_windows(vae, [path]), condition=condition)[0][0]


class Renderer:
    """Log-mels -> raw waveforms through a mel -> audio stage, in batches of `batch` clips, each
    batch with the same seeded generator (so a clip's sound does not depend on its neighbours'
    count), optionally ticking a progress bar of `total` clips.

    Args:
        stage: a MelToAudio (e.g. `AudioVAE.vocoder(n_iter, phase_init)`).
        batch: clips per call of the stage.
        total: clips to be rendered in all (the bar's length); None: no bar.
        desc: the bar's label.
    """

    def __init__(self, stage, batch: int = RENDER_BATCH, total: int | None = None,
                 desc: str = "audio") -> None:  # fmt: skip
        self.stage = stage
        self.batch = int(batch)
        self.bar = tqdm(total=total, desc=desc, unit="clip", disable=total is None)

    @classmethod
    def of(cls, vae: AudioVAE, n_iter: int | None = None, phase_init: str | None = None,
           **kwargs) -> Renderer:  # fmt: skip
        """The renderer of `vae`'s own stage (what `AudioVAE.to_audio` runs)."""
        return cls(vae.vocoder(n_iter, phase_init), **kwargs)

    @torch.no_grad()
    def __call__(self, logmels: torch.Tensor, length: int) -> torch.Tensor:
        """[n, n_mels, frames] -> [n, length] float32 on the CPU (raw level: no gain)."""
        device = self.stage.window.device
        out = []
        for start in range(0, logmels.shape[0], self.batch):
            part = torch.as_tensor(logmels[start : start + self.batch], dtype=torch.float32)
            gen = torch.Generator(device=device).manual_seed(0)
            out.append(self.stage(part.to(device), length=length, generator=gen).float().cpu())
            self.bar.update(part.shape[0])
        return torch.cat(out)

    def close(self) -> None:
        self.bar.close()


def render_by_length(render: Renderer, logmels: list[torch.Tensor], lengths: list[int],
                     min_length: int) -> list[torch.Tensor]:  # fmt: skip
    """Waveforms [length] of log-mels [n_mels, frames] of different lengths: those of one length
    are rendered as one batch (at least `min_length` samples, then cropped)."""
    waves: list[torch.Tensor | None] = [None] * len(logmels)
    for n in dict.fromkeys(lengths):
        rows = [i for i, m in enumerate(lengths) if m == n]
        batch = torch.stack([logmels[i] for i in rows])
        for i, wave in zip(rows, render(batch, max(n, min_length))[..., :n], strict=True):
            waves[i] = wave
    return waves


def write_group(
    waves: torch.Tensor, paths: list[Path], sample_rate: int
) -> tuple[list[Path], float]:
    """Write waveforms [n, samples] that belong together with ONE shared gain (never clipping)."""
    scaled, gain = shared_gain(waves)
    return [write_wav(p, w, sample_rate) for p, w in zip(paths, scaled, strict=True)], gain


def crossfade_concat(waves: torch.Tensor, fade: int) -> torch.Tensor:
    """Concatenate waveforms [n, samples] with linear crossfades of `fade` samples."""
    fade = max(0, min(fade, waves.shape[-1] // 2))
    out = waves[0]
    ramp = torch.linspace(0, 1, fade) if fade else None
    for w in waves[1:]:
        if fade:
            mixed = out[-fade:] * (1 - ramp) + w[:fade] * ramp
            out = torch.cat([out[:-fade], mixed, w[fade:]])
        else:
            out = torch.cat([out, w])
    return out


def joined_morph(waves: torch.Tensor, sample_rate: int, crossfade: float = 0.05
                 ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(steps with one shared gain [steps, samples], all steps crossfaded [samples], gain-fitted):
    what morph_XX.wav and morph_all.wav hold."""
    scaled, _ = shared_gain(waves)
    joined = crossfade_concat(scaled, int(crossfade * sample_rate))
    return scaled, shared_gain(joined)[0]


def write_morph(
    waves: torch.Tensor, out: Path, sample_rate: int, crossfade: float = 0.05
) -> list[Path]:
    """morph_XX.wav per step (one shared gain) and morph_all.wav, the steps crossfaded."""
    scaled, joined = joined_morph(waves, sample_rate, crossfade)
    names = [Path(out) / f"morph_{i:02d}.wav" for i in range(waves.shape[0])]
    files = [write_wav(p, w, sample_rate) for p, w in zip(names, scaled, strict=True)]
    files.append(write_wav(Path(out) / "morph_all.wav", joined, sample_rate))
    return files
