"""Swap: decode A's latent with some dimensions taken from B (A's timbre at B's pitch).

Which dimensions is a choice kept apart from the swap itself (`swap_dims`), so other ways to
choose them (named latent blocks, say) only add a branch there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audiovae.api import AudioVAE
from audiovae.errors import AudioVAEError
from audiovae.generate.latents import factor_dims
from audiovae.generate.latents import swap as swap_latents
from audiovae.generate.operations import Decoded, _decode, _renderer
from audiovae.generate.render import Renderer, Sound, first_windows


@dataclass
class Swap(Decoded):
    """Rows: A, B, and A with `dims` taken from B (latents, log-mels, waveforms). `factor` is the
    label the dimensions were chosen for, None when they were given."""

    dims: list[int]
    factor: str | None
    block: str | None = None  # the named latent sub-space taken from B, if one was

    @property
    def labels(self) -> list[str]:
        """Column labels of the swap figure."""
        if self.block is not None:
            return ["A", "B", f"A, B's {self.block} block"]
        return ["A", "B", f"A, B's dims {self.dims}"]


def block_of(vae: AudioVAE, factor: str) -> str | None:
    """The latent sub-space that carries label `factor`: the block the training objective tied
    to it (`objective.supervise`), else a block of that name; None for models without one."""
    supervise = (vae.manifest.objective.get("supervise") if vae.manifest else None) or {}
    for block, label in supervise.items():
        if label == factor and block in vae.subspaces:
            return block
    return factor if factor in vae.subspaces else None


def factor_dims_of(vae: AudioVAE, factor: str, k: int | None = None,
                   max_clips: int = 4096) -> list[int]:  # fmt: skip
    """The `k` dimensions (default: half the latent) whose posterior means best explain label
    `factor` (eta squared): as stored in the run folder when training ended (label_dims.json),
    else measured on up to `max_clips` of the model's own training notes (its cache)."""
    from audiovae.features.cache import FeatureCache

    try:  # measured when training ended, kept in the run folder: no cache needed
        stored = vae.factor_dims(factor, k or max(1, vae.latent_dim // 2))
    except ValueError as exc:
        raise AudioVAEError(str(exc)) from None
    if stored is not None:
        return stored
    cache_path = vae.manifest.data.train_cache if vae.manifest else None
    if not cache_path or not (Path(cache_path) / "meta.json").is_file():
        raise AudioVAEError(
            f"the training feature cache of this model is gone ({cache_path}); pass --dims, "
            "or rebuild it by training the same recipe"
        )
    cache = FeatureCache.open(Path(cache_path))
    if factor not in cache.labels:
        raise AudioVAEError(
            f"label {factor!r} not in the training data; have: {sorted(cache.labels)}"
        )
    idx = np.random.default_rng(0).permutation(len(cache))[:max_clips]
    from audiovae.downstream.extract import clip_condition

    cond = clip_condition(vae, cache.labels, idx, cache_path)
    mu = vae.encode_logmel(cache.batch(idx), condition=cond)[0].cpu().numpy()
    labels = np.array([str(cache.labels[factor][i]) for i in idx])
    return factor_dims(mu, labels, k or max(1, vae.latent_dim // 2))


def swap_dims(
    vae: AudioVAE,
    dims: Sequence[int] | None = None,
    factor: str = "pitch",
    k: int | None = None,
    take: str | None = None,
) -> tuple[list[int], str | None]:
    """(dimensions to take from B, the factor they were chosen for or None): the sub-space
    `take` (e.g. "pitch"), else `dims` as given, else the block that carries `factor` on a model
    with named sub-spaces (unless `k` is given), else the `k` (default half the latent) that best
    explain `factor` on the training notes."""
    if take is not None:
        if dims is not None:
            raise ValueError("give dims or a sub-space to take, not both")
        return vae.block_dims(take), None
    if dims is not None:
        bad = [d for d in dims if not 0 <= d < vae.latent_dim]
        if bad or not dims:
            raise ValueError(f"dimensions must be in 0..{vae.latent_dim - 1}, got {list(dims)}")
        return [int(d) for d in dims], None
    block = block_of(vae, factor) if k is None else None
    if block is not None:
        return vae.block_dims(block), factor
    return factor_dims_of(vae, factor, k), factor


@torch.no_grad()
def swap(
    vae: AudioVAE,
    a: Sound,
    b: Sound,
    *,
    dims: Sequence[int] | None = None,
    factor: str = "pitch",
    k: int | None = None,
    take: str | None = None,
    condition: dict | None = None,
    decode_condition: dict | None = None,
    n_iter: int | None = None,
    phase_init: str | None = None,
    render: Renderer | None = None,
) -> Swap:
    """A's posterior mean with `dims` (default: the `k` that best explain `factor`, see
    `swap_dims`) taken from B's, decoded beside A and B. `condition` encodes both (a value may be
    a pair), `decode_condition` (default: `condition`) decodes. `take` names a latent sub-space
    to take whole: `take="pitch"` is A's timbre with B's pitch block."""
    chosen, chosen_for = swap_dims(vae, dims, factor, k, take)
    block = take if take is not None else (block_of(vae, factor) if dims is None and k is None
                                           else None)  # fmt: skip
    z = vae.encode(first_windows(vae, [a, b]), condition=condition)[0]
    z = torch.stack([z[0], z[1], swap_latents(z[0], z[1], chosen)])
    decoded = _decode(vae, z, decode_condition or condition,
                      _renderer(vae, render, n_iter, phase_init))  # fmt: skip
    return Swap(decoded.z, decoded.logmels, decoded.waves, chosen, chosen_for, block)
