"""Convolutional VAE over log-mel spectrograms: strided Conv2d encoder, mirrored decoder.

GroupNorm (not BatchNorm) keeps every example's output independent of the rest of its batch, so
results do not change when a batch is split across GPUs. Inputs of any size are zero-padded up to a
multiple of 2**len(channels) and the decoder's output is cropped back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from audiovae.features.normalization import MelNormalizer
from audiovae.models.noise import standard_normal
from audiovae.models.subspaces import block_slices

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


@dataclass
class ConvVAEConfig:
    """Architecture of a ConvVAE; stored with every checkpoint."""

    n_mels: int
    frames: int
    latent_dim: int = 16
    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    kernel_size: int = 4
    groups: int = 8
    activation: str = "silu"
    conditions: dict[str, list[str]] = field(default_factory=dict)
    condition_dim: int = 16
    subspaces: dict[str, int] = field(default_factory=dict)  # name -> size; z = their concat

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2, got {self.kernel_size}")
        if not self.channels or min(self.channels) <= 0 or self.latent_dim <= 0:
            raise ValueError("channels must be a non-empty list of positive ints; latent_dim > 0")
        if self.subspaces:
            if min(self.subspaces.values()) <= 0:
                raise ValueError(f"sub-space sizes must be positive, got {self.subspaces}")
            if sum(self.subspaces.values()) != self.latent_dim:
                raise ValueError(
                    f"latent_dim {self.latent_dim} != the sum of the sub-space sizes "
                    f"{self.subspaces} ({sum(self.subspaces.values())})"
                )

    @property
    def subspace_slices(self) -> dict[str, slice]:
        """Named blocks of z (name -> slice), in order; empty for a model without sub-spaces."""
        return block_slices(self.subspaces)

    @property
    def condition_width(self) -> int:
        """Length of the concatenated condition embeddings (0 for an unconditional model)."""
        return len(self.conditions) * self.condition_dim

    @property
    def padded_shape(self) -> tuple[int, int]:
        """Input size after padding to a multiple of 2**len(channels)."""
        m = 2 ** len(self.channels)
        return math.ceil(self.n_mels / m) * m, math.ceil(self.frames / m) * m

    @property
    def bottleneck_shape(self) -> tuple[int, int, int]:
        """(channels, mels, frames) at the innermost layer."""
        m = 2 ** len(self.channels)
        h, w = self.padded_shape
        return self.channels[-1], h // m, w // m


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    g = math.gcd(channels, groups) or 1
    return nn.GroupNorm(g, channels)


class ConvEncoder(nn.Module):
    """[batch, n_mels, frames] normalised log-mel -> (mu, logvar), each [batch, latent_dim]."""

    def __init__(self, cfg: ConvVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, pad = cfg.kernel_size, (cfg.kernel_size - 1) // 2
        layers: list[nn.Module] = []
        c_in = 1
        for c in cfg.channels:
            layers += [
                nn.Conv2d(c_in, c, k, 2, pad),
                _norm(c, cfg.groups),
                ACTIVATIONS[cfg.activation](),
            ]
            c_in = c
        self.conv = nn.Sequential(*layers)
        c, h, w = cfg.bottleneck_shape
        self.head = nn.Linear(c * h * w + cfg.condition_width, 2 * cfg.latent_dim)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h_pad, w_pad = self.cfg.padded_shape
        x = nn.functional.pad(x, (0, w_pad - x.shape[-1], 0, h_pad - x.shape[-2]))
        h = self.conv(x.unsqueeze(1)).flatten(1)
        if cond is not None:
            h = torch.cat([h, cond.to(h.dtype)], dim=1)
        mu, logvar = self.head(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-30.0, 20.0)


class ConvDecoder(nn.Module):
    """[batch, latent_dim] -> [batch, n_mels, frames] normalised log-mel (the likelihood's mean)."""

    def __init__(self, cfg: ConvVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k, pad = cfg.kernel_size, (cfg.kernel_size - 1) // 2
        out_pad = k % 2  # odd kernels need one extra output sample to double exactly
        c, h, w = cfg.bottleneck_shape
        self.head = nn.Linear(cfg.latent_dim + cfg.condition_width, c * h * w)
        layers: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
        rev = list(reversed(cfg.channels))
        for c_in, c_out in zip(rev, rev[1:], strict=False):
            layers += [
                ACTIVATIONS[cfg.activation](),
                nn.ConvTranspose2d(c_in, c_out, k, 2, pad, output_padding=out_pad),
                _norm(c_out, cfg.groups),
            ]
        layers += [
            ACTIVATIONS[cfg.activation](),
            nn.ConvTranspose2d(rev[-1], 1, k, 2, pad, output_padding=out_pad),
        ]
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond.to(z.dtype)], dim=1)
        out = self.deconv(self.head(z)).squeeze(1)
        return out[..., : self.cfg.n_mels, : self.cfg.frames]


Condition = dict[str, torch.Tensor]


class ConvVAE(nn.Module):
    """Encoder, decoder and the per-band normaliser fitted on the training set.

    A conditional model (`cfg.conditions`: label name -> its values, Sohn et al. 2015) learns one
    embedding per label value and feeds it to the encoder's head and the decoder's input, so the
    latent is freed of that label; `encode` and `decode` then need `condition`: label name ->
    LongTensor [batch] of value indices (see `condition_indices`).
    """

    def __init__(self, cfg: ConvVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.normalizer = MelNormalizer(cfg.n_mels)
        self.encoder = ConvEncoder(cfg)
        self.decoder = ConvDecoder(cfg)
        self.embeddings = nn.ModuleDict(
            {
                name: nn.Embedding(len(values), cfg.condition_dim)
                for name, values in cfg.conditions.items()
            }
        )

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    @property
    def is_conditional(self) -> bool:
        return bool(self.cfg.conditions)

    @property
    def subspaces(self) -> dict[str, slice]:
        """Named latent blocks (name -> slice of z); empty for a model without sub-spaces."""
        return self.cfg.subspace_slices

    def condition_indices(self, values: dict, batch: int) -> Condition:
        """Raw label values (a scalar or one per example, for every condition label) -> index
        tensors [batch]; ValueError naming the label and its known values otherwise."""
        out: Condition = {}
        for name, vocab in self.cfg.conditions.items():
            if name not in values:
                raise ValueError(f"this model is conditioned on {sorted(self.cfg.conditions)}; "
                                 f"give condition={{{name!r}: ...}}")  # fmt: skip
            raw = values[name]
            items = list(raw) if isinstance(raw, (list, tuple, np.ndarray, torch.Tensor)) else [raw]
            items = items * batch if len(items) == 1 else items
            if len(items) != batch:
                raise ValueError(f"condition {name!r}: {len(items)} values for a batch of {batch}")
            index = {v: i for i, v in enumerate(vocab)}
            try:
                codes = [index[_label_key(v)] for v in items]
            except KeyError as exc:
                raise ValueError(
                    f"condition {name!r}: value {exc.args[0]!r} was not in the training data; "
                    f"known: {', '.join(vocab[:30])}{' ...' if len(vocab) > 30 else ''}"
                ) from None
            out[name] = torch.tensor(codes, dtype=torch.long, device=self.normalizer.mean.device)
        return out

    def _condition_vector(self, condition: Condition | None, batch: int) -> torch.Tensor | None:
        if not self.is_conditional:
            return None
        if condition is None:
            raise ValueError(
                f"this model is conditioned on {sorted(self.cfg.conditions)}: pass condition"
            )
        parts = [self.embeddings[name](condition[name]) for name in self.cfg.conditions]
        vec = torch.cat(parts, dim=1)
        if vec.shape[0] != batch:
            raise ValueError(f"condition has {vec.shape[0]} rows for a batch of {batch}")
        return vec

    def encode(
        self, x: torch.Tensor, condition: Condition | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised log-mel -> posterior mean and log-variance."""
        return self.encoder(x, self._condition_vector(condition, x.shape[0]))

    def decode(self, z: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        """Latent -> normalised log-mel."""
        return self.decoder(z, self._condition_vector(condition, z.shape[0]))

    def bind(self, condition: Condition | None) -> nn.Module:
        """This model with `condition` fixed, so objectives call encode(x) / decode(z) as for an
        unconditional model (every objective is then conditional for free)."""
        return self if condition is None else ConditionedVAE(self, condition)

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) drawn from `generator` (for exact resume)."""
        eps = standard_normal(mu.shape, generator, mu.device, mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def config_dict(self) -> dict:
        return asdict(self.cfg)


class ConditionedVAE(nn.Module):
    """A view of a conditional ConvVAE with its condition bound (see ConvVAE.bind)."""

    def __init__(self, model: ConvVAE, condition: Condition) -> None:
        super().__init__()
        self.model = model
        self.condition = condition
        self.reparameterize = model.reparameterize

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def normalizer(self) -> MelNormalizer:
        return self.model.normalizer

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(x, self.condition)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z, self.condition)


def _label_key(value) -> str:
    """Label values are matched as strings, so 60, 60.0 from JSON and "60" agree."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def condition_vocabulary(labels: list) -> list[str]:
    """Sorted distinct values of a label, as strings (numbers in numeric order)."""
    keys = {_label_key(v) for v in labels}
    try:
        return sorted(keys, key=float)
    except ValueError:
        return sorted(keys)
