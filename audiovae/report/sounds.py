"""The sounds of a report, made with the Python API: each held-out note as input, Griffin-Lim
ceiling and reconstruction; a latent traversal grid; a morph between two notes.

Every decoded sound goes through the same vocoder-free stage as the generation commands
(`AudioVAE.to_audio`), with a progress bar since Griffin-Lim on a CPU takes a few seconds. Sounds
that belong together (one note's three versions, the whole grid, the whole morph) share one gain
that only ever attenuates (`audiovae.generate.gain.shared_gain`), so loudness differences between
them are heard as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from audiovae.api import AudioVAE
from audiovae.errors import DataError
from audiovae.generate.gain import shared_gain
from audiovae.generate.latents import interpolate, kl_order, traversal_grid
from audiovae.generate.render import crossfade_concat
from audiovae.report.heldout import Note


@dataclass
class Clip:
    """One sound as the report shows it: a log-mel [n_mels, frames] and a waveform [samples],
    both on the CPU, the waveform with its group's gain applied."""

    logmel: torch.Tensor
    wave: torch.Tensor


@dataclass
class NoteSounds:
    """A note as recorded (input), through the stage alone (ceiling) and through the model."""

    note: Note
    input: Clip
    ceiling: Clip
    reconstruction: Clip


@dataclass
class Traversal:
    """Rows: latent dimensions, most informative (highest KL) first; columns: the values each is
    set to, all other dimensions kept at the centre note's posterior mean."""

    center: str
    dims: list[int]
    kl: list[float] | None
    collapsed: list[bool]
    values: list[float]
    cells: list[list[Clip]]


@dataclass
class Morph:
    """Decoded steps along the line between two notes' posterior means, and all in a row."""

    a: str
    b: str
    fractions: list[float]
    steps: list[Clip]
    joined: torch.Tensor
    crossfade_seconds: float


class Renderer:
    """Log-mels -> waveforms through the model's stage, in small batches that tick a progress bar.

    Args:
        vae: the loaded model.
        n_iter: Griffin-Lim iterations (None: the stage's default).
        total: clips to be rendered in all (the bar's length).
        progress: show the bar.
    """

    def __init__(self, vae: AudioVAE, n_iter: int | None, total: int, progress: bool = True):
        self.vae = vae
        self.n_iter = n_iter
        self.bar = tqdm(total=total, desc="report audio", unit="clip", disable=not progress)

    def __call__(self, logmels: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """[n, n_mels, frames] -> [n, clip_samples] on the CPU (raw level: no gain)."""
        out = []
        for start in range(0, logmels.shape[0], chunk):
            part = logmels[start : start + chunk]
            wave = self.vae.to_audio(part, length=self.vae.clip_samples, n_iter=self.n_iter)
            out.append(wave.float().cpu())
            self.bar.update(part.shape[0])
        return torch.cat(out)

    def close(self) -> None:
        self.bar.close()


def note_condition(vae: AudioVAE, note: Note) -> dict | None:
    """A conditional model's condition for one note, read from its labels (None otherwise)."""
    if not vae.conditions:
        return None
    missing = [name for name in vae.conditions if name not in note.labels]
    if missing:
        raise DataError(
            f"{note.id}: the model is conditioned on {missing}, which it does not label"
        )
    return {name: note.labels[name] for name in vae.conditions}


def _group(logmels: torch.Tensor, waves: torch.Tensor) -> list[Clip]:
    scaled, _ = shared_gain(waves)
    return [Clip(lm.float().cpu(), w) for lm, w in zip(logmels, scaled, strict=True)]


@torch.no_grad()
def note_sounds(vae: AudioVAE, notes: list[Note], render: Renderer) -> list[NoteSounds]:
    """Input, Griffin-Lim ceiling (the true log-mel through the stage, as `audiovae resynth`) and
    reconstruction (decoded posterior mean, as `audiovae reconstruct`) of each note."""
    out = []
    for note in notes:
        cond = note_condition(vae, note)
        logmel = vae.logmel(note.wave[None])
        mu, _ = vae.encode_logmel(logmel, condition=cond)
        recon = vae.decode(mu, condition=cond)
        both = torch.cat([logmel, recon])
        waves = torch.cat([note.wave[None].float().cpu(), render(both)])
        inp, ceiling, reconstruction = _group(torch.cat([logmel, both]), waves)
        out.append(NoteSounds(note, inp, ceiling, reconstruction))
    return out


@torch.no_grad()
def traversal(
    vae: AudioVAE,
    center: Note,
    kl_per_dim: list[float] | None,
    rows: int,
    values: list[float],
    render: Renderer,
) -> Traversal:
    """The `rows` dimensions of highest KL, each set to every value in turn around the centre
    note's posterior mean (as `audiovae traverse --input`); without KL, dimensions in index
    order. Collapsed dimensions (KL < COLLAPSED_KL nats, as `traverse` marks them) are flagged."""
    if kl_per_dim is not None and len(kl_per_dim) == vae.latent_dim:
        order, collapsed = kl_order(kl_per_dim)
    else:
        kl_per_dim = None
        order, collapsed = list(range(vae.latent_dim)), [False] * vae.latent_dim
    dims, collapsed = order[:rows], collapsed[:rows]
    cond = note_condition(vae, center)
    mu = vae.encode_logmel(vae.logmel(center.wave[None]), condition=cond)[0][0].float().cpu()
    grid = traversal_grid(mu, dims, torch.tensor(values, dtype=torch.float32))
    logmels = vae.decode(grid.flatten(0, 1), condition=cond)
    clips = _group(logmels, render(logmels))
    cells = [clips[r * len(values) : (r + 1) * len(values)] for r in range(len(dims))]
    kl = [float(kl_per_dim[d]) for d in dims] if kl_per_dim is not None else None
    return Traversal(center.id, dims, kl, collapsed, list(values), cells)


@torch.no_grad()
def morph(
    vae: AudioVAE, a: Note, b: Note, steps: int, render: Renderer, crossfade: float = 0.05
) -> Morph:
    """Linear interpolation of the posterior means of a and b (as `audiovae morph`), decoded
    step by step and joined with short crossfades; a conditional model decodes at a's condition."""
    cond_a, cond_b = note_condition(vae, a), note_condition(vae, b)
    z_a = vae.encode_logmel(vae.logmel(a.wave[None]), condition=cond_a)[0][0]
    z_b = vae.encode_logmel(vae.logmel(b.wave[None]), condition=cond_b)[0][0]
    logmels = vae.decode(interpolate(z_a, z_b, steps, "linear"), condition=cond_a)
    waves = render(logmels)
    scaled, gain = shared_gain(waves)
    joined = crossfade_concat(scaled, int(crossfade * vae.sample_rate))
    joined, _ = shared_gain(joined)
    fractions = [i / (steps - 1) for i in range(steps)]
    clips = [Clip(lm.float().cpu(), w) for lm, w in zip(logmels, scaled, strict=True)]
    return Morph(a.id, b.id, fractions, clips, joined, crossfade)
