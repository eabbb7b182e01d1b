"""The generation operations as Python functions: reconstruct, resynth, morph, traverse, sample.

Each takes a loaded `AudioVAE` (resynth: a front end is enough) and sounds (audio paths or mono
waveforms at the model's rate) and returns log-mels and raw waveforms on the CPU (no gain: see
`audiovae.generate.gain.shared_gain`). Many inputs run the front end, the model and the mel ->
audio stage as batches. `render` (a `Renderer`) sets the stage's batch and progress bar; without
it the model's own stage is used with `n_iter` and `phase_init`. `swap` lives in
`audiovae.generate.swapping`.

Example:
    >>> from audiovae.generate import morph             # doctest: +SKIP
    >>> m = morph(vae, "a.wav", "b.wav", steps=5)        # doctest: +SKIP
    >>> m.waves.shape                                   # doctest: +SKIP
    torch.Size([5, 16000])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from audiovae.api import AudioVAE
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.generate.latents import (
    COLLAPSED_KL,
    interpolate,
    kl_order,
    sample_prior,
    traversal_grid,
)
from audiovae.generate.render import (
    Renderer,
    Sound,
    first_windows,
    load_input,
    load_sound,
    render_by_length,
)
from audiovae.generate.windows import window_starts, windowed_logmels


@dataclass
class Reconstruction:
    """One input sound through the model: its log-mel, the decoded log-mel (both [n_mels,
    frames], blended over windows for long inputs) and the decoded waveform [input samples]."""

    input_logmel: torch.Tensor
    logmel: torch.Tensor
    wave: torch.Tensor


@dataclass
class Decoded:
    """Latents [n, D] with their decoded log-mels [n, n_mels, frames] and waveforms [n, samples]."""

    z: torch.Tensor
    logmels: torch.Tensor
    waves: torch.Tensor


@dataclass
class Morph(Decoded):
    """The decoded steps of a path between two sounds' latents; `fractions` along the path."""

    fractions: list[float]


@dataclass
class Traversal:
    """Rows: latent dimensions (most informative first when the KL per dimension is known),
    columns: the values each is set to around `center`; log-mels [rows, cols, n_mels, frames],
    waveforms [rows, cols, samples]."""

    dims: list[int]
    kl: list[float] | None
    collapsed: list[bool]
    values: list[float]
    center: torch.Tensor
    logmels: torch.Tensor
    waves: torch.Tensor

    @property
    def row_labels(self) -> list[str]:
        """ "z3 KL 1.20 (collapsed)" per row, as the traversal figure labels them."""
        kl = self.kl or [None] * len(self.dims)
        return [f"z{d}" + (f" KL {k:.2f}" if k is not None else "") + (" (collapsed)" if c else "")
                for d, k, c in zip(self.dims, kl, self.collapsed, strict=True)]  # fmt: skip

    @property
    def title(self) -> str:
        if self.kl is None:
            return "KL unknown: index order"
        return f"rows by KL; collapsed: KL < {COLLAPSED_KL} nats"


def _renderer(vae: AudioVAE, render: Renderer | None, n_iter: int | None,
              phase_init: str | None) -> Renderer:  # fmt: skip
    return render if render is not None else Renderer.of(vae, n_iter, phase_init)


def _per_row(condition: dict | None, counts: list[int]) -> dict | None:
    """A condition given per input (a list, one value per input) repeated for each input's rows;
    a single value applies to all and is passed through."""
    if condition is None:
        return None
    out = {}
    for name, value in condition.items():
        if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)) and len(value) == len(counts):
            value = [v for v, c in zip(list(value), counts, strict=True) for _ in range(c)]
        out[name] = value
    return out


def _decode(vae: AudioVAE, z: torch.Tensor, condition: dict | None, render: Renderer) -> Decoded:
    logmels = vae.decode(z, condition=condition).float().cpu()
    return Decoded(z.cpu(), logmels, render(logmels, vae.clip_samples))


@torch.no_grad()
def reconstruct(
    vae: AudioVAE,
    sounds: Sequence[Sound],
    *,
    condition: dict | None = None,
    decode_condition: dict | None = None,
    n_iter: int | None = None,
    phase_init: str | None = None,
    render: Renderer | None = None,
) -> list[Reconstruction]:
    """Encode, decode (posterior mean) and re-synthesise each sound, at its own length (longer
    than the model's window: half-overlapping windows, blended). A conditional model encodes at
    `condition` and decodes at `decode_condition` (default: the same); a value may be one per
    sound."""
    waves = [load_input(vae, s) for s in sounds]
    decode_condition = decode_condition or condition
    hop = vae.frontend.hop_length
    counts = [len(window_starts(w.shape[-1], vae.clip_samples, hop)) for w in waves]

    def through_model(lm: torch.Tensor) -> torch.Tensor:
        mu = vae.encode_logmel(lm, condition=_per_row(condition, counts))[0]
        return vae.decode(mu, condition=_per_row(decode_condition, counts))

    inputs, outputs = windowed_logmels(waves, vae.clip_samples, vae.frontend,
                                       [lambda lm: lm, through_model])  # fmt: skip
    outputs = [o.float().cpu() for o in outputs]
    lengths = [w.shape[-1] for w in waves]
    rendered = render_by_length(_renderer(vae, render, n_iter, phase_init), outputs, lengths,
                                vae.clip_samples)  # fmt: skip
    return [Reconstruction(i.float().cpu(), o, w)
            for i, o, w in zip(inputs, outputs, rendered, strict=True)]  # fmt: skip


@torch.no_grad()
def resynth(
    frontend: LogMelFrontEnd | AudioVAE,
    sounds: Sequence[Sound],
    *,
    clip_samples: int | None = None,
    n_iter: int | None = None,
    phase_init: str | None = None,
    render: Renderer | None = None,
) -> list[Reconstruction]:
    """Front end + mel -> audio stage with no model in between: the ceiling of the vocoder-free
    stage. `frontend` is a LogMelFrontEnd (then give `clip_samples`, the window long inputs are
    cut into) or an AudioVAE (its front end and window). Each result's `logmel` is the input's
    log-mel (what was inverted), the same as its `input_logmel`."""
    if isinstance(frontend, AudioVAE):
        clip_samples = frontend.clip_samples if clip_samples is None else clip_samples
        frontend = frontend.frontend
    if clip_samples is None:
        raise ValueError("resynth with a bare front end needs clip_samples")
    if render is None:
        from audiovae.phase.stage import MelToAudio

        kwargs = {k: v for k, v in (("n_iter", n_iter), ("phase_init", phase_init))
                  if v is not None}  # fmt: skip
        render = Renderer(MelToAudio(frontend, **kwargs).to(frontend.window.device))
    waves = [load_sound(s, frontend.sample_rate) for s in sounds]
    (logmels,) = windowed_logmels(waves, clip_samples, frontend, [lambda lm: lm])
    logmels = [lm.float().cpu() for lm in logmels]
    rendered = render_by_length(render, logmels, [w.shape[-1] for w in waves], clip_samples)
    return [Reconstruction(lm, lm, w) for lm, w in zip(logmels, rendered, strict=True)]


@torch.no_grad()
def morph(
    vae: AudioVAE,
    a: Sound,
    b: Sound,
    steps: int = 7,
    path: Literal["linear", "slerp"] = "linear",
    *,
    subspace: str | None = None,
    condition: dict | None = None,
    decode_condition: dict | None = None,
    n_iter: int | None = None,
    phase_init: str | None = None,
    render: Renderer | None = None,
) -> Morph:
    """The path from A's latent to B's (posterior means of their first model windows), `steps`
    latents inclusive, decoded. `condition` encodes both (a value may be a pair: A's, B's);
    `decode_condition` (default: `condition`) decodes every step. With `subspace` (a named latent
    block, e.g. "timbre") only that block moves from A's to B's; the rest of z stays A's."""
    if subspace is not None:
        vae.block_dims(subspace)  # a ValueError naming the model's blocks, before any work
    z = vae.encode(first_windows(vae, [a, b]), condition=condition)[0]
    if subspace is None:
        z_path = interpolate(z[0], z[1], steps, path)
    else:
        block = vae.get_block(z, subspace)
        z_path = vae.set_block(z[0].expand(steps, -1), subspace,
                               interpolate(block[0], block[1], steps, path))  # fmt: skip
    decoded = _decode(vae, z_path, decode_condition or condition,
                      _renderer(vae, render, n_iter, phase_init))  # fmt: skip
    fractions = [i / (steps - 1) for i in range(steps)]
    return Morph(decoded.z, decoded.logmels, decoded.waves, fractions)


def traversal_dims(
    latent_dim: int,
    kl_per_dim: Sequence[float] | None = None,
    dims: Sequence[int] | None = None,
    rows: int | None = None,
) -> tuple[list[int], list[bool], list[float] | None]:
    """(dimensions, collapsed flags, their KL or None) a traversal shows: ordered by KL, most
    informative first (index order when the KL is unknown or of the wrong length), restricted to
    `dims` when given, the first `rows` when given."""
    if kl_per_dim is not None and len(kl_per_dim) == latent_dim:
        order, collapsed = kl_order(kl_per_dim)
    else:
        kl_per_dim = None
        order, collapsed = list(range(latent_dim)), [False] * latent_dim
    if dims is not None:
        bad = [d for d in dims if not 0 <= d < latent_dim]
        if bad:
            raise ValueError(f"dimensions must be in 0..{latent_dim - 1}, got {bad}")
        keep = set(dims)
        pairs = [(d, c) for d, c in zip(order, collapsed, strict=True) if d in keep]
        order, collapsed = [d for d, _ in pairs], [c for _, c in pairs]
    if rows is not None:
        order, collapsed = order[:rows], collapsed[:rows]
    kl = [float(kl_per_dim[d]) for d in order] if kl_per_dim is not None else None
    return order, collapsed, kl


@torch.no_grad()
def traverse(
    vae: AudioVAE,
    center: Sound | None = None,
    *,
    dims: Sequence[int] | None = None,
    subspace: str | None = None,
    rows: int | None = None,
    values: Sequence[float] = tuple(np.linspace(-3.0, 3.0, 7)),
    kl_per_dim: Sequence[float] | None = None,
    condition: dict | None = None,
    decode_condition: dict | None = None,
    n_iter: int | None = None,
    phase_init: str | None = None,
    render: Renderer | None = None,
) -> Traversal:
    """Vary one latent dimension at a time around `center`'s posterior mean (None: the prior
    mean, 0), each set to every value in turn. Dimensions are ordered by `kl_per_dim` (default:
    the validation KL the checkpoint recorded), restricted to `dims`, the first `rows`; those with
    KL < COLLAPSED_KL nats are flagged collapsed. `condition` encodes the centre,
    `decode_condition` (default: `condition`) decodes. `subspace` restricts the rows to the
    dimensions of that named latent block."""
    if subspace is not None:
        if dims is not None:
            raise ValueError("give dims or a sub-space, not both")
        dims = vae.block_dims(subspace)
    if kl_per_dim is None:
        kl_per_dim = vae.meta.get("valid_kl_per_dim") or None
    order, collapsed, kl = traversal_dims(vae.latent_dim, kl_per_dim, dims, rows)
    if center is None:
        mu = torch.zeros(vae.latent_dim)
    else:
        mu = vae.encode(first_windows(vae, [center]), condition=condition)[0][0].float().cpu()
    values_t = torch.as_tensor(list(values), dtype=torch.float32)
    grid = traversal_grid(mu, order, values_t)
    decoded = _decode(vae, grid.flatten(0, 1), decode_condition or condition,
                      _renderer(vae, render, n_iter, phase_init))  # fmt: skip
    shape = (len(order), len(values_t))
    return Traversal(order, kl, collapsed, values_t.tolist(), mu,
                     decoded.logmels.view(*shape, *decoded.logmels.shape[1:]),
                     decoded.waves.view(*shape, -1))  # fmt: skip


@torch.no_grad()
def sample(
    vae: AudioVAE,
    n: int = 8,
    *,
    temperature: float = 1.0,
    seed: int = 0,
    condition: dict | None = None,
    n_iter: int | None = None,
    phase_init: str | None = None,
    render: Renderer | None = None,
) -> Decoded:
    """`n` draws from the prior N(0, temperature^2 I) (seeded), decoded; a conditional model
    decodes at `condition`."""
    z = sample_prior(n, vae.latent_dim, temperature, seed)
    return _decode(vae, z, condition, _renderer(vae, render, n_iter, phase_init))
