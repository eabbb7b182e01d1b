"""The sounds of a report, made with the Python API: each held-out note as input, Griffin-Lim
ceiling and reconstruction; a latent traversal grid; a morph between two notes.

Every sound is made by the same functions as the generation commands (`audiovae.generate`:
`reconstruct`, `resynth`, `traverse`, `morph`), through one `Renderer` whose progress bar covers
the whole report, since Griffin-Lim on a CPU takes a few seconds. Sounds that belong together
(one note's three versions, the whole grid, the whole morph) share one gain that only ever
attenuates (`audiovae.generate.gain.shared_gain`), so loudness differences between them are
heard as they are.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from audiovae.api import AudioVAE
from audiovae.errors import DataError
from audiovae.generate import operations
from audiovae.generate.gain import shared_gain
from audiovae.generate.render import Renderer, joined_morph
from audiovae.report.heldout import Note
from audiovae.report.media import AudioEncoder, EncodedAudio

__all__ = ["Clip", "Morph", "NoteSounds", "Renderer", "Traversal", "morph", "note_sounds",
           "report_renderer", "traversal"]  # fmt: skip


@dataclass
class Clip:
    """One sound as the report shows it: a log-mel [n_mels, frames] and a waveform [samples],
    both on the CPU, the waveform with its group's gain applied; `audio`, when an encoder was
    given, the waveform's encoding under way."""

    logmel: torch.Tensor
    wave: torch.Tensor
    audio: Future[EncodedAudio] | None = field(default=None, repr=False, compare=False)


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
    joined_audio: Future[EncodedAudio] | None = field(default=None, repr=False, compare=False)


def report_renderer(vae: AudioVAE, n_iter: int | None, total: int,
                    progress: bool = True) -> Renderer:  # fmt: skip
    """The model's stage (batches as the device suits, see Renderer) with one progress bar of
    `total` clips (none if not `progress`)."""
    return Renderer(vae.vocoder(n_iter), total=total if progress else None, desc="report audio")


def note_condition(vae: AudioVAE, note: Note) -> dict | None:
    """A conditional model's condition for one note, read from its labels (None otherwise)."""
    return notes_condition(vae, [note], per_note=False)


def notes_condition(vae: AudioVAE, notes: list[Note], per_note: bool = True) -> dict | None:
    """A conditional model's condition for these notes, one value per note (None otherwise)."""
    if not vae.conditions:
        return None
    for note in notes:
        missing = [name for name in vae.conditions if name not in note.labels]
        if missing:
            raise DataError(
                f"{note.id}: the model is conditioned on {missing}, which it does not label"
            )
    if not per_note:
        return {name: notes[0].labels[name] for name in vae.conditions}
    return {name: [n.labels[name] for n in notes] for name in vae.conditions}


def _clips(logmels: torch.Tensor, waves: torch.Tensor, encoder: AudioEncoder | None) -> list[Clip]:
    """Clips of log-mels and (already gain-fitted) waveforms; their encoding starts now when an
    encoder is given, so it runs while the next sounds are rendered."""
    return [Clip(lm.float().cpu(), w, encoder.submit(w) if encoder is not None else None)
            for lm, w in zip(logmels, waves, strict=True)]  # fmt: skip


def _group(logmels: torch.Tensor, waves: torch.Tensor,
           encoder: AudioEncoder | None = None) -> list[Clip]:  # fmt: skip
    scaled, _ = shared_gain(waves)
    return _clips(logmels, scaled, encoder)


@torch.no_grad()
def note_sounds(vae: AudioVAE, notes: list[Note], render: Renderer,
                encoder: AudioEncoder | None = None) -> list[NoteSounds]:  # fmt: skip
    """Input, Griffin-Lim ceiling (`audiovae.generate.resynth`) and reconstruction
    (`audiovae.generate.reconstruct`: the decoded posterior mean) of each note; with `encoder`,
    each clip's encoding starts as soon as its note is done."""
    waves = [note.wave for note in notes]
    cond = notes_condition(vae, notes)
    ceilings = operations.resynth(vae, waves, render=render)
    recons = operations.reconstruct(vae, waves, condition=cond, render=render)
    out = []
    for note, ceiling, recon in zip(notes, ceilings, recons, strict=True):
        logmels = torch.stack([ceiling.logmel, ceiling.logmel, recon.logmel])
        group = torch.stack([note.wave.float().cpu(), ceiling.wave, recon.wave])
        out.append(NoteSounds(note, *_group(logmels, group, encoder)))
    return out


@torch.no_grad()
def traversal(
    vae: AudioVAE,
    center: Note,
    kl_per_dim: list[float] | None,
    rows: int,
    values: list[float],
    render: Renderer,
    encoder: AudioEncoder | None = None,
) -> Traversal:
    """`audiovae.generate.traverse` around the centre note's posterior mean: the `rows`
    dimensions of highest KL (index order without it), collapsed ones flagged."""
    t = operations.traverse(vae, center.wave, rows=rows, values=values, kl_per_dim=kl_per_dim,
                            condition=note_condition(vae, center), render=render)  # fmt: skip
    clips = _group(t.logmels.flatten(0, 1), t.waves.flatten(0, 1), encoder)
    cells = [clips[r * len(t.values) : (r + 1) * len(t.values)] for r in range(len(t.dims))]
    return Traversal(center.id, t.dims, t.kl, t.collapsed, t.values, cells)


@torch.no_grad()
def morph(
    vae: AudioVAE, a: Note, b: Note, steps: int, render: Renderer, crossfade: float = 0.05,
    encoder: AudioEncoder | None = None,
) -> Morph:  # fmt: skip
    """`audiovae.generate.morph` (linear) between the posterior means of a and b, joined with
    short crossfades; a conditional model decodes at a's condition."""
    both = notes_condition(vae, [a, b])
    m = operations.morph(vae, a.wave, b.wave, steps, "linear", condition=both,
                         decode_condition=note_condition(vae, a), render=render)  # fmt: skip
    scaled, joined = joined_morph(m.waves, vae.sample_rate, crossfade)
    clips = _clips(m.logmels, scaled, encoder)
    joined_audio = encoder.submit(joined) if encoder is not None else None
    return Morph(a.id, b.id, m.fractions, clips, joined, crossfade, joined_audio)
