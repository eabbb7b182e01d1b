"""Shared steps of every generation: inputs to model windows, log-mels to audio in batches, and
groups of waveforms written with one gain."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from audiovae.api import AudioVAE
from audiovae.audio.io import fit_length, load_audio, write_wav
from audiovae.generate.gain import shared_gain

Sound = str | Path | np.ndarray | torch.Tensor
"""One input sound: an audio file, or a mono waveform [samples] at the model's rate."""

RENDER_BATCH = 32  # on a GPU: the stage ran ~1.4x faster per clip at batch 32 than clip by clip
CPU_BATCH_CELLS = 2**18  # on a CPU: STFT cells (frames x bins) per batch. 16 4-s clips (251 x
# 513 each) cost 1.7 s of CPU at batch 2, 1.9 s at 4 and 2.3 s at 16 (1 thread: larger batches
# leave the cache); 7 1-s clips cost about the same at batch 4 and 7. Same output bits.


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

    On a CPU the batches are small (`cpu_batch`: at most CPU_BATCH_CELLS STFT cells, shared
    evenly between the workers) and run on `workers` threads at once, torch at one thread
    each (torch releases the GIL, and one thread per batch wastes no time synchronising: 16 4-s
    clips took 1.8 s of CPU this way against 2.8 s as one batch on two threads). The output is
    the same to the bit whatever the batch and the number of workers.

    Args:
        stage: a MelToAudio (e.g. `AudioVAE.vocoder(n_iter, phase_init)`).
        batch: clips per call of the stage (default: `cpu_batch` on a CPU, else RENDER_BATCH).
        total: clips to be rendered in all (the bar's length); None: no bar.
        desc: the bar's label.
        workers: CPU threads rendering batches at once (default: torch's thread count).
    """

    def __init__(self, stage, batch: int | None = None, total: int | None = None,
                 desc: str = "audio", workers: int | None = None) -> None:  # fmt: skip
        self.stage = stage
        on_cpu = stage.window.device.type == "cpu"
        self.batch = int(batch) if batch else (None if on_cpu else RENDER_BATCH)
        self.workers = max(1, int(workers or torch.get_num_threads())) if on_cpu else 1
        self.bar = tqdm(total=total, desc=desc, unit="clip", disable=total is None)

    @classmethod
    def of(cls, vae: AudioVAE, n_iter: int | None = None, phase_init: str | None = None,
           **kwargs) -> Renderer:  # fmt: skip
        """The renderer of `vae`'s own stage (what `AudioVAE.to_audio` runs)."""
        return cls(vae.vocoder(n_iter, phase_init), **kwargs)

    @torch.no_grad()
    def _part(self, part: torch.Tensor, length: int) -> torch.Tensor:
        device = self.stage.window.device
        gen = torch.Generator(device=device).manual_seed(0)
        out = self.stage(part.to(device), length=length, generator=gen).float().cpu()
        self.bar.update(part.shape[0])
        return out

    @torch.no_grad()
    def __call__(self, logmels: torch.Tensor, length: int) -> torch.Tensor:
        """[n, n_mels, frames] -> [n, length] float32 on the CPU (raw level: no gain)."""
        n = logmels.shape[0]
        size = self.batch or cpu_batch(n, logmels.shape[-1], self.stage.n_fft, self.workers)
        parts = [torch.as_tensor(logmels[s : s + size], dtype=torch.float32)
                 for s in range(0, n, size)]  # fmt: skip
        if self.workers < 2 or len(parts) < 2:
            return torch.cat([self._part(p, length) for p in parts])
        with one_torch_thread(), ThreadPoolExecutor(min(self.workers, len(parts))) as pool:
            return torch.cat(list(pool.map(self._part, parts, [length] * len(parts))))

    def close(self) -> None:
        self.bar.close()


def cpu_batch(clips: int, frames: int, n_fft: int, workers: int = 1) -> int:
    """Clips per batch on a CPU: at most CPU_BATCH_CELLS STFT cells a batch (at least one clip),
    in a number of batches that is a multiple of `workers`, as even as can be, so no worker
    idles at the end (20 clips of 1 s on 2 workers: 4 batches of 5, not 7 + 7 + 6)."""
    workers = max(1, workers)
    by_cache = max(1, CPU_BATCH_CELLS // max(1, frames * (n_fft // 2 + 1)))
    batches = math.ceil(math.ceil(clips / by_cache) / workers) * workers
    return max(1, math.ceil(clips / batches))


@contextmanager
def one_torch_thread():
    """torch at one intra-op thread inside the block (threads started in it keep that), the
    previous count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def render_writing_behind(items: Sequence, chunk: int, make: Callable[[Sequence], Sequence],
                          write: Callable[[Any, Any], list[Path]]) -> list[Path]:  # fmt: skip
    """`make` the results of `items` a chunk at a time and `write(item, result)` each one on a
    worker thread while the next chunk is made, so that PNGs and WAVs (~35 ms a file) cost no
    wall time but the last chunk's. Returns the written paths in the items' order; an error in
    a write is raised here, after the chunks already under way."""
    pending = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as writer:
        for start in range(0, len(items), max(1, chunk)):
            part = list(items[start : start + max(1, chunk)])
            results = make(part)
            pending += [
                writer.submit(write, item, r) for item, r in zip(part, results, strict=True)
            ]
    return [path for future in pending for path in future.result()]


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
