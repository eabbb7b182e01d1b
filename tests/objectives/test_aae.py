"""Adversarial autoencoder: the losses by hand, their directions, a toy aggregate posterior pulled
to N(0, I), the discriminator kept out of the main optimiser, and training through the Trainer."""

from __future__ import annotations

import json
import math

import pytest
import torch
from support import REPO, tiny_tree

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import available_objectives, get_objective
from audiovae.recipe import load_recipe, recipe_from_dict
from audiovae.train.trainer import Trainer


@pytest.fixture
def one_thread():
    """Tiny MLP steps run fastest on one thread (and much faster than two on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class _ShiftScale(torch.nn.Module):
    """A learnable per-dimension shift/scale 'encoder' z = a x + b with a near-point posterior,
    and its exact inverse as 'decoder', so reconstruction does not care where the codes sit."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.log_a = torch.nn.Parameter(torch.zeros(dims))
        self.b = torch.nn.Parameter(torch.zeros(dims))

    def encode(self, x):
        x = x.flatten(1)
        return x * self.log_a.exp() + self.b, torch.full_like(x, -12.0)

    reparameterize = staticmethod(ConvVAE.reparameterize)

    def decode(self, z):
        return ((z - self.b) / self.log_a.exp())[:, :, None]


def _objective(latent_dim: int = 2, n_mels: int = 2, **config):
    cls = get_objective("aae")
    return cls(cls.Config(**config), n_mels=n_mels, dataset_size=10, latent_dim=latent_dim)


def test_registered_and_needs_latent_dim():
    assert "aae" in available_objectives()
    cls = get_objective("aae")
    with pytest.raises(ValueError, match="latent_dim"):
        cls(cls.Config(), n_mels=4, dataset_size=10)


def test_losses_by_hand_and_kl_is_reported_not_optimised():
    obj = _objective(adv_weight=2.5, scale=1.0)
    model = _ShiftScale(2)
    x = torch.tensor([[[1.0], [2.0]], [[-1.0], [0.5]], [[0.0], [-2.0]]])
    out = obj(model, x, step=0, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    mu, logvar = x.flatten(1), torch.full((3, 2), -12.0)
    z = mu + math.exp(-6.0) * torch.randn(mu.shape, generator=g)
    recon = (0.5 * (x - z[:, :, None]).pow(2) + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    with torch.no_grad():
        adv = -torch.log(torch.sigmoid(obj.discriminator(z))).mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    torch.testing.assert_close(out.terms["recon"].detach(), recon.mean())
    torch.testing.assert_close(out.terms["adv"].detach(), adv)
    torch.testing.assert_close(out.loss.detach(), recon.mean() + 2.5 * adv)  # no KL in the loss
    torch.testing.assert_close(out.terms["kl"], kl.sum(1).mean())
    torch.testing.assert_close(out.kl_per_dim, kl.mean(0))

    # discriminator: codes drawn first, then the prior samples, both from the generator
    aux = obj.auxiliary_loss(model, x, step=0, generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    z_q = mu + math.exp(-6.0) * torch.randn(mu.shape, generator=g)
    z_p = torch.randn(mu.shape, generator=g)
    with torch.no_grad():
        d_p, d_q = torch.sigmoid(obj.discriminator(z_p)), torch.sigmoid(obj.discriminator(z_q))
    d_loss = 0.5 * (-torch.log(d_p).mean() - torch.log(1 - d_q).mean())
    torch.testing.assert_close(aux.terms["d_loss"].detach(), d_loss)
    torch.testing.assert_close(aux.terms["d_real"], d_p.mean())
    torch.testing.assert_close(aux.terms["d_fake"], d_q.mean())


def test_discriminator_and_generator_losses_point_the_right_way(one_thread):
    torch.manual_seed(0)
    obj = _objective(disc_hidden=32, disc_layers=2, disc_lr=1e-2)
    optim = obj.make_auxiliary_optimizer()
    g = torch.Generator().manual_seed(1)
    encoder = _ShiftScale(2)

    def codes_at(shift: float) -> torch.Tensor:  # data whose codes sit at N(shift, 0.5^2)
        return (shift + 0.5 * torch.randn(512, 2, 1, generator=g)).detach()

    first = obj.auxiliary_loss(encoder, codes_at(3.0), step=0, generator=g).terms
    for step in range(150):  # D alone learns to tell the prior from codes at 3
        out = obj.auxiliary_loss(encoder, codes_at(3.0), step=step, generator=g)
        optim.zero_grad()
        out.loss.backward()
        optim.step()
    last = obj.auxiliary_loss(encoder, codes_at(3.0), step=150, generator=g).terms
    assert last["d_loss"] < first["d_loss"] - 0.4 and last["d_loss"] < math.log(2) - 0.4
    assert last["d_real"] > 0.8 and last["d_fake"] < 0.2
    with torch.no_grad():  # the generator loss is lower the closer q sits to the prior
        adv = [obj(encoder, codes_at(s), step=0, generator=g).terms["adv"] for s in (3, 1.5, 0)]
    assert adv[0] > adv[1] > adv[2]
    assert adv[2] < math.log(2) < adv[0]


def test_alternating_steps_pull_the_aggregate_posterior_to_the_prior(one_thread):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = 3.0 + 0.5 * torch.randn(1024, 2, 1, generator=g)  # codes start at N(3, 0.5^2)
    obj = _objective(adv_weight=1.0, disc_hidden=64, disc_layers=2, disc_lr=1e-2, scale=1.0)
    encoder = _ShiftScale(2)
    optim = torch.optim.Adam(list(encoder.parameters()), lr=1e-2, betas=(0.5, 0.9))
    aux_optim = obj.make_auxiliary_optimizer()
    for step in range(1000):
        x = data[torch.randint(0, len(data), (256,), generator=g)]
        out = obj(encoder, x, step=step, generator=g)
        optim.zero_grad()
        out.loss.backward()
        optim.step()
        aux = obj.auxiliary_loss(encoder, x, step=step, generator=g)
        aux_optim.zero_grad()
        aux.loss.backward()
        aux_optim.step()
    with torch.no_grad():
        z = encoder.encode(data)[0]
    assert z.mean(0).abs().max() < 0.5, z.mean(0)  # from 3
    assert (z.std(0) - 1).abs().max() < 0.25, z.std(0)  # from 0.5
    assert abs(float(aux.terms["d_loss"].detach()) - math.log(2)) < 0.1  # D can no longer tell


def test_main_optimiser_never_moves_the_discriminator():
    model = ConvVAE(ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8]))
    obj = _objective(latent_dim=3, n_mels=16, likelihood="gaussian_learned")
    aux_ids = {id(p) for p in obj.auxiliary_parameters()}
    assert aux_ids and not aux_ids & {id(p) for p in obj.main_parameters()}
    before = [p.detach().clone() for p in obj.auxiliary_parameters()]
    optim = torch.optim.AdamW(list(model.parameters()) + obj.main_parameters(), weight_decay=0.1)
    out = obj(model, torch.randn(4, 16, 13), step=0, generator=torch.Generator().manual_seed(0))
    optim.zero_grad()
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.auxiliary_parameters())
    optim.step()
    for old, new in zip(before, obj.auxiliary_parameters(), strict=True):
        assert torch.equal(old, new)
    assert obj.make_auxiliary_optimizer().defaults["betas"] == (0.5, 0.9)


def test_trains_through_the_trainer_and_logs_its_terms(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=5)
    tree["objective"] = {"name": "aae", "scale": 0.3, "disc_hidden": 32}
    summary = Trainer(recipe_from_dict(tree), tmp_path / "a").fit()
    assert summary["steps"] == 5
    history = [json.loads(line) for line in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    train = [h for h in history if h["split"] == "train"][-1]
    for key in ("loss", "recon", "adv", "kl", "aux_d_loss", "aux_d_real", "aux_d_fake"):
        assert math.isfinite(train[key]), key
    assert len(train["kl_per_dim"]) == 16


def test_recipe_validates():
    config = load_recipe(REPO / "recipes/aae.yaml").objective_config()
    assert config.name == "aae" and config.adv_weight == 1000.0
