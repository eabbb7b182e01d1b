"""Named latent sub-spaces tied to labels: a beta-VAE whose z is split into blocks (e.g. pitch and
timbre, `model.subspaces`), each block made to carry its label and the other blocks made to lose it.

Per supervised block b with label y_b (`supervise: {block: label}`):
- a classifier head reads the block of the posterior sample z (so the information survives the
  noise the decoder sees) and is trained with cross-entropy: the block learns to carry y_b;
- an adversary adv_b reads the posterior mean of every *other* dimension, mu_not_b, and learns to
  predict y_b from it with cross-entropy, while the encoder is pushed to strip y_b out of mu_not_b.
  `adversary_loss` chooses how the encoder is pushed:
  - `reversal`: the adversary reads mu_not_b through a gradient-reversal layer R (Ganin and
    Lempitsky 2015), so the encoder receives the adversary's CE gradient negated: it maximises the
    CE, which it can do by making the current adversary confidently wrong while y_b stays linearly
    decodable (measured: a fresh probe read pitch from the timbre block at 0.99-1.00);
  - `confusion`: the adversary's CE is taken on mu_not_b detached (it trains the adversary only),
    and the encoder minimises the "confusion loss" of Tzeng et al. 2015 ("Simultaneous deep
    transfer across domains and tasks", ICCV) as used by Alvi et al. 2018 ("Turning a blind eye:
    explicit removal of biases and variation from deep neural network embeddings", ECCV
    workshops): the cross-entropy of the adversary's prediction against the uniform distribution,
    conf(l) = -(1/K) sum_k log softmax(l)_k = logsumexp(l) - mean_k l_k = KL(U || p) + log K,
    through the adversary's weights held fixed. Its minimum is the uniform prediction, so the
    encoder gains nothing by making the adversary confidently wrong. The confusion term needs no
    label, so it is averaged over every note (with label_fraction < 1 the adversary itself still
    learns from the labelled notes only).

    reversal:  loss = recon + beta * KL + classifier_weight * sum_b CE(cls_b(z_b), y_b)
                                        + adversary_weight * sum_b CE(adv_b(R(mu_not_b)), y_b)
    confusion: loss = recon + beta * KL + classifier_weight * sum_b CE(cls_b(z_b), y_b)
                      + adversary_weight * sum_b [CE(adv_b(sg(mu_not_b)), y_b)
                                                  + s * conf(sg(adv_b)(mu_not_b))]

(sg: stop-gradient; s: the warm-up scale below). Both players step in the one optimiser step, so
resume and torchrun stay exact with no auxiliary optimiser: in `confusion` the adversary's weights
get gradient from its own CE only, the encoder from the confusion term only.

recon and KL are per-example sums (beta-VAE normalisation, beta 1 = ELBO); each CE is the mean over
the batch's *labelled* notes, in nats per note (with label_fraction < 1 only part of the notes carry
labels; the rest contribute only recon + KL). Under torchrun the labelled count is that of the
global batch, so N processes train exactly as one. The encoder's side of the adversary (the
reversal's scale, or the confusion term's weight s) ramps linearly from 0 to 1 over
`adversary_warmup_steps`, a pure function of the step (exact resume); the adversary itself trains at
full weight from step 0. The confusion term is averaged over every note of the batch.

With `pairs: true` (and `data.pairs` in the recipe) it also learns from pairs of notes; rows
(2i, 2i+1) are partners. `pair_merge` says what the partners exchange:
- `adaptive` (labels not needed): each pair's dims whose KL(q1 || q2) lies below the pair's
  midpoint take the average of the two posteriors before z is drawn, as in Ada-GVAE (Locatello et
  al. 2020; objectives/ada_gvae.py), so notes without labels still shape the blocks;
- `average`: a supervised block whose label both partners carry with the same value takes the
  average of the two posteriors on that block (the group VAE of Hosoya 2019, on a named block);
- `swap`: such a block is exchanged: each note is decoded from its partner's sample of the block
  and its own sample of every other block, and must still reconstruct itself. With pairs that
  share the instrument but not the pitch, the timbre block can then keep no pitch (it would play
  the partner's), and the decoder must read pitch from the pitch block: the swap that
  `audiovae swap --take pitch` performs at generation time is what training rewards. The
  classifiers and adversaries read each note's own posterior.
With label_fraction < 1 a hidden label still tells whether partners share it (class index
SAME_AS_PARTNER, data/pairs.py: the pair says so, the value stays hidden), so `average` and
`swap` act on every pair while the classifiers learn from the labelled notes only.

A classifier on each block was chosen over the per-label Gaussian-mixture prior of Luo et al.
(ISMIR 2019): it needs no prior re-fit when a label has many values, masks unlabelled notes with no
extra inference step, and leaves the prior N(0, I), so sampling and traversal work as for beta-VAE.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from audiovae.data.pairs import SAME_AS_PARTNER
from audiovae.models.noise import current_shard, gather_batch
from audiovae.models.subspaces import block_slices
from audiovae.objectives import register_objective
from audiovae.objectives.ada_gvae import (
    adaptive_shared_mask,
    group_average,
    pairwise_gaussian_kl,
)
from audiovae.objectives.base import ObjectiveOutput, PosteriorPass
from audiovae.objectives.beta_vae import BetaVAE, BetaVAEConfig
from audiovae.objectives.kl import gaussian_kl
from audiovae.objectives.reversal import reverse_gradient


class SubspaceVAEConfig(BetaVAEConfig):
    """Recipe section `objective` for `name: subspace_vae`."""

    name: str = "subspace_vae"
    supervise: dict[str, str] = Field(
        min_length=1, description="latent block -> the data label it carries, e.g. {pitch: pitch}"
    )
    classifier_weight: float = Field(1.0, ge=0, description="weight of each block's CE (nats)")
    adversary_weight: float = Field(1.0, ge=0, description="weight of each adversary's CE")
    adversary_loss: Literal["reversal", "confusion"] = Field(
        "reversal",
        description="how the encoder fights each adversary: reversal (maximise its CE through a "
        "gradient-reversal layer) or confusion (make its prediction uniform)",
    )
    adversary_warmup_steps: int = Field(
        0, ge=0, description="the encoder's side (reversal scale / confusion weight) ramps 0 -> 1"
    )
    label_fraction: float = Field(
        1.0, gt=0, le=1, description="share of training notes whose labels are used"
    )
    hidden: int = Field(64, ge=0, description="hidden units of each head (0: linear heads)")
    standardise_adversary: bool = Field(
        False,
        description="adversaries read the other dims standardised by the batch's mean and std "
        "(held fixed), as a standardised linear probe does, so a label kept in low-variance "
        "directions stays visible to them",
    )
    pairs: bool = Field(
        False, description="learn from data.pairs too (rows 2i, 2i+1 are partners; pair_merge)"
    )
    pair_merge: Literal["adaptive", "average", "swap"] = Field(
        "adaptive",
        description="what partners exchange: adaptive (Ada-GVAE's threshold over all dims, no "
        "labels), average (the posterior of each block whose label they share) or swap (each "
        "note decoded from its partner's sample of that block)",
    )

    @field_validator("supervise")
    @classmethod
    def _one_block_per_label(cls, supervise: dict[str, str]) -> dict[str, str]:
        labels = list(supervise.values())
        twice = sorted({v for v in labels if labels.count(v) > 1})
        if twice:
            raise ValueError(
                f"supervise ties label {twice[0]!r} to more than one block; each block's adversary "
                "removes its label from the others, so a label may carry one block only"
            )
        return supervise


def _head(n_in: int, n_out: int, hidden: int) -> nn.Module:
    if hidden == 0:
        return nn.Linear(n_in, n_out)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, n_out))


def confusion_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of softmax(logits) [batch, K] against the uniform distribution, per row:
    -(1/K) sum_k log p_k = logsumexp(l) - mean_k l_k = KL(U || p) + log K (Tzeng et al. 2015).
    Minimal (log K) exactly when the prediction is uniform; its gradient is softmax(l) - 1/K."""
    return torch.logsumexp(logits, dim=1) - logits.mean(dim=1)


def standardise(t: torch.Tensor) -> torch.Tensor:
    """t [batch, dims] minus the batch mean, over the batch std, both taken over the global batch
    under torchrun and held fixed (no gradient through them): what a standardised probe sees."""
    with torch.no_grad():
        full = gather_batch(t.detach())
        mean, std = full.mean(dim=0), full.std(dim=0).clamp_min(1e-4)
    return (t - mean) / std


def frozen_call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """module(x) with its parameters detached: the gradient reaches x but not the module."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return torch.func.functional_call(module, params, (x,))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values [batch] over rows where mask is True (0 when none), counted over the global
    batch under torchrun (see models/noise.py), so gradient averaging over ranks gives the mean of
    the whole batch's labelled rows."""
    mask = mask.to(values.dtype)
    shard = current_shard()
    if shard is None:
        return (values * mask).sum() / mask.sum().clamp_min(1.0)
    total = gather_batch(mask[:, None]).sum()
    return (values * mask).sum() * shard[1] / total.clamp_min(1.0)


@register_objective("subspace_vae")
class SubspaceVAE(BetaVAE):
    """beta-VAE + per-block classifiers + adversaries fought by gradient reversal or confusion
    (module docstring)."""

    Config = SubspaceVAEConfig

    @classmethod
    def is_paired(cls, config: SubspaceVAEConfig) -> bool:
        return config.pairs

    @classmethod
    def labels_needed(cls, config: SubspaceVAEConfig) -> list[str]:
        return list(config.supervise.values())

    @classmethod
    def check_model(cls, config: SubspaceVAEConfig, subspaces: dict[str, int]) -> None:
        if not subspaces:
            raise ValueError("subspace_vae needs model.subspaces, e.g. {pitch: 8, timbre: 24}")
        missing = [b for b in config.supervise if b not in subspaces]
        if missing:
            raise ValueError(
                f"supervise names block {missing[0]!r}, which is not in model.subspaces "
                f"({', '.join(subspaces)})"
            )

    def __init__(
        self,
        config: SubspaceVAEConfig,
        *,
        n_mels: int,
        dataset_size: int,
        latent_dim: int | None = None,
        subspaces: dict[str, int] | None = None,
        label_vocab: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(config, n_mels=n_mels, dataset_size=dataset_size, latent_dim=latent_dim)
        subspaces = dict(subspaces or {})
        self.check_model(config, subspaces)
        label_vocab = label_vocab or {}
        lost = [v for v in config.supervise.values() if v not in label_vocab]
        if lost:
            raise ValueError(f"subspace_vae: no vocabulary for label {lost[0]!r}")
        self.slices = block_slices(subspaces)
        width = sum(subspaces.values())
        self.classifiers = nn.ModuleDict()
        self.adversaries = nn.ModuleDict()
        for block, label in config.supervise.items():
            n_classes = len(label_vocab[label])
            size = subspaces[block]
            self.classifiers[block] = _head(size, n_classes, config.hidden)
            if width > size:  # a lone block has nothing to strip its label from
                self.adversaries[block] = _head(width - size, n_classes, config.hidden)

    def reversal_scale(self, step: int) -> float:
        """Scale of the encoder's side of the adversaries at `step` (the gradient reversal's scale,
        or the confusion term's weight): 0 -> 1 over adversary_warmup_steps."""
        warm = self.config.adversary_warmup_steps
        return 1.0 if warm == 0 else min(1.0, step / warm)

    def _rest(self, t: torch.Tensor, block: str) -> torch.Tensor:
        sl = self.slices[block]
        return torch.cat([t[:, : sl.start], t[:, sl.stop :]], dim=1)

    def label_shared_mask(
        self, labels: dict[str, torch.Tensor], n_pairs: int, width: int, device: torch.device
    ) -> torch.Tensor:
        """[pairs, latent_dim]: True on each supervised block whose label both partners carry
        with the same value (both known and equal, or one marked SAME_AS_PARTNER)."""
        shared = torch.zeros(n_pairs, width, dtype=torch.bool, device=device)
        for block, label in self.config.supervise.items():
            y = labels.get(label)
            if y is None:
                continue
            y1, y2 = y[0::2], y[1::2]
            same = ((y1 == y2) & (y1 >= 0)) | (y1 == SAME_AS_PARTNER) | (y2 == SAME_AS_PARTNER)
            shared[:, self.slices[block]] = same[:, None]
        return shared

    def _paired_pass(
        self,
        model: nn.Module,
        x: torch.Tensor,
        generator: torch.Generator | None,
        labels: dict[str, torch.Tensor],
    ) -> tuple[PosteriorPass, torch.Tensor]:
        """Rows (2i, 2i+1) are partners; merge them as `pair_merge` says (module docstring).
        Returns the pass (its mu, logvar: the posteriors the KL is taken on; z: each note's own
        sample) and the shared mask [pairs, latent_dim]."""
        mu, logvar = model.encode(x)
        mu, logvar = mu.float(), logvar.float()
        if mu.shape[0] % 2:
            raise ValueError(f"subspace_vae with pairs needs whole pairs; got {mu.shape[0]} rows")
        mu1, mu2, lv1, lv2 = mu[0::2], mu[1::2], logvar[0::2], logvar[1::2]
        merge = self.config.pair_merge
        if merge == "adaptive":
            shared = adaptive_shared_mask(pairwise_gaussian_kl(mu1, lv1, mu2, lv2).detach())
        else:
            shared = self.label_shared_mask(labels, mu1.shape[0], mu.shape[1], mu.device)
        if merge == "swap":
            z = model.reparameterize(mu, logvar, generator)
            z1, z2 = z[0::2], z[1::2]
            swapped = torch.stack(
                [torch.where(shared, z2, z1), torch.where(shared, z1, z2)], 1
            ).flatten(0, 1)
            x_hat = model.decode(swapped).float()
        else:
            agg_mu, agg_lv = group_average(mu1, lv1, mu2, lv2)
            mu = torch.stack([torch.where(shared, agg_mu, m) for m in (mu1, mu2)], 1).flatten(0, 1)
            logvar = torch.stack([torch.where(shared, agg_lv, v) for v in (lv1, lv2)], 1)
            logvar = logvar.flatten(0, 1)
            z = model.reparameterize(mu, logvar, generator)
            x_hat = model.decode(z).float()
        return PosteriorPass(mu, logvar, z, x_hat, self.likelihood.nll(x_hat, x).mean()), shared

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        step: int,
        generator: torch.Generator | None = None,
        labels: dict[str, torch.Tensor] | None = None,
    ) -> ObjectiveOutput:
        """Evaluate on normalised log-mels x; `labels`: label -> class index [batch], -1 where
        hidden (no labels at all: every note counts as unlabelled)."""
        cfg = self.config
        if cfg.pairs:
            p, shared = self._paired_pass(model, x, generator, labels or {})
        else:
            p, shared = self.posterior_pass(model, x, generator), None
        kl_dims = gaussian_kl(p.mu.float(), p.logvar.float())
        kl = kl_dims.sum(dim=1).mean()
        loss = p.recon + cfg.beta * kl
        terms = {"recon": p.recon, "kl": kl, "mse": (p.x_hat - x).pow(2).mean()}
        if shared is not None:
            terms["shared_dims"] = shared.sum(dim=1).float().mean()
        scale = self.reversal_scale(step)
        labels = labels or {}
        everyone = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        for block, label in cfg.supervise.items():
            y = labels.get(label)
            if y is None:
                y = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
            known = y >= 0
            target = y.clamp_min(0)
            logits = self.classifiers[block](p.z[:, self.slices[block]].float())
            ce = nn.functional.cross_entropy(logits, target, reduction="none")
            terms[f"cls_{block}"] = masked_mean(ce, known)
            terms[f"acc_{block}"] = masked_mean((logits.argmax(1) == y).float(), known).detach()
            loss = loss + cfg.classifier_weight * terms[f"cls_{block}"]
            if block in self.adversaries:
                adversary = self.adversaries[block]
                rest = self._rest(p.mu.float(), block)
                if cfg.standardise_adversary:
                    rest = standardise(rest)
                if cfg.adversary_loss == "reversal":
                    adv_logits = adversary(reverse_gradient(rest, scale))
                else:  # the adversary learns on detached inputs; the encoder is confused
                    adv_logits = adversary(rest.detach())
                    # needs no label: every note's prediction is made uniform
                    conf = masked_mean(confusion_loss(frozen_call(adversary, rest)), everyone)
                    terms[f"conf_{block}"] = conf
                    loss = loss + cfg.adversary_weight * scale * conf
                adv_ce = nn.functional.cross_entropy(adv_logits, target, reduction="none")
                terms[f"adv_{block}"] = masked_mean(adv_ce, known)
                terms[f"adv_acc_{block}"] = masked_mean(
                    (adv_logits.argmax(1) == y).float(), known
                ).detach()
                loss = loss + cfg.adversary_weight * terms[f"adv_{block}"]
        terms["loss"] = loss
        return ObjectiveOutput(loss, terms, kl_dims.mean(dim=0))
