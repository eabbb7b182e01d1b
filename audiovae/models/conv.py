"""Convolutional VAE over log-mel spectrograms: strided Conv2d encoder, mirrored decoder.

GroupNorm (not BatchNorm) keeps every example's output independent of the rest of its batch, so
results do not change when a batch is split across GPUs. Inputs of any size are zero-padded up to a
multiple of 2**len(channels) and the decoder's output is cropped back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from audiovae.features.normalization import MelNormalizer

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

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2, got {self.kernel_size}")
        if not self.channels or min(self.channels) <= 0 or self.latent_dim <= 0:
            raise ValueError("channels must be a non-empty list of positive ints; latent_dim > 0")

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
        self.head = nn.Linear(c * h * w, 2 * cfg.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h_pad, w_pad = self.cfg.padded_shape
        x = nn.functional.pad(x, (0, w_pad - x.shape[-1], 0, h_pad - x.shape[-2]))
        h = self.conv(x.unsqueeze(1)).flatten(1)
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
        self.head = nn.Linear(cfg.latent_dim, c * h * w)
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

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.deconv(self.head(z)).squeeze(1)
        return out[..., : self.cfg.n_mels, : self.cfg.frames]


class ConvVAE(nn.Module):
    """Encoder, decoder and the per-band normaliser fitted on the training set."""

    def __init__(self, cfg: ConvVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.normalizer = MelNormalizer(cfg.n_mels)
        self.encoder = ConvEncoder(cfg)
        self.decoder = ConvDecoder(cfg)

    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised log-mel -> posterior mean and log-variance."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> normalised log-mel."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) drawn from `generator` (for exact resume)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def config_dict(self) -> dict:
        return asdict(self.cfg)
