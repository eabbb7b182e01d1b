"""Shared steps of every generation command: load inputs, decode latents to audio, write files."""

from __future__ import annotations

from pathlib import Path

import torch

from audiovae.api import AudioVAE
from audiovae.audio.io import load_audio, write_wav
from audiovae.generate.gain import shared_gain
from audiovae.generate.windows import windowed_logmel


def load_input(vae: AudioVAE, path: str | Path) -> torch.Tensor:
    """Mono audio [samples] at the model's rate."""
    return load_audio(path, vae.sample_rate)


def reconstruct_logmel(
    vae: AudioVAE,
    audio: torch.Tensor,
    condition: dict | None = None,
    decode_condition: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, reconstruction) log-mels [n_mels, frames] of audio of any length (windowed). A
    conditional model encodes with `condition` and decodes with `decode_condition` (default: the
    same)."""
    identity = windowed_logmel(audio, vae.clip_samples, vae.frontend, lambda lm: lm)
    decode_condition = decode_condition or condition

    def through_model(lm: torch.Tensor) -> torch.Tensor:
        mu = vae.encode_logmel(lm, condition=condition)[0]
        return vae.decode(mu, condition=decode_condition)

    return identity, windowed_logmel(audio, vae.clip_samples, vae.frontend, through_model)


def encode_first_window(
    vae: AudioVAE, path: str | Path, condition: dict | None = None
) -> torch.Tensor:
    """Posterior mean [D] of a file's first model window (how morph/traverse/swap see a sound)."""
    return vae.encode([path], condition=condition)[0][0]


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


def morph(
    vae: AudioVAE,
    a: str | Path,
    b: str | Path,
    steps: int = 7,
    path_kind: str = "linear",
    condition: dict | None = None,
    decode_condition: dict | None = None,
    **to_audio: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-mels [steps, n_mels, frames], waveforms [steps, clip_samples]) of the path from A's
    latent to B's (first model windows), decoded and rendered by the mel -> audio stage;
    `to_audio` goes to AudioVAE.to_audio (n_iter, phase_init)."""
    from audiovae.generate.latents import interpolate

    z_a = encode_first_window(vae, a, condition)
    z_b = encode_first_window(vae, b, condition)
    logmels = vae.decode(interpolate(z_a, z_b, steps, path_kind), condition=decode_condition)
    waves = vae.to_audio(logmels, length=vae.clip_samples, **to_audio).cpu()
    return logmels, waves


def write_morph(
    waves: torch.Tensor, out: Path, sample_rate: int, crossfade: float = 0.05
) -> list[Path]:
    """morph_XX.wav per step (one shared gain) and morph_all.wav, the steps crossfaded."""
    names = [Path(out) / f"morph_{i:02d}.wav" for i in range(waves.shape[0])]
    files, gain = write_group(waves, names, sample_rate)
    joined = crossfade_concat(waves * gain, int(crossfade * sample_rate))
    files.append(write_wav(Path(out) / "morph_all.wav", shared_gain(joined)[0], sample_rate))
    return files
