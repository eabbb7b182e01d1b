"""FactorVAE: permute_dims, the discriminator's TC estimate, the loss by hand, the auxiliary player
kept out of the main optimiser, and training / exact resume through the Trainer."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open
from support import REPO, tiny_tree

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import available_objectives, get_objective
from audiovae.objectives.factor_vae import permute_dims
from audiovae.recipe import load_recipe, recipe_from_dict
from audiovae.train.trainer import Trainer


class _Codes(torch.nn.Module):
    """A 'model' whose posterior is (almost) a point mass at its input: z = x[:, :, 0]."""

    def encode(self, x):
        return x.flatten(1), torch.full(x.shape[:2], -30.0)

    reparameterize = staticmethod(ConvVAE.reparameterize)

    def decode(self, z):
        return z[:, :, None]


@pytest.fixture
def one_thread():
    """Tiny MLP steps run fastest on one thread (and much faster than two on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _objective(latent_dim: int = 2, n_mels: int = 2, **config):
    cls = get_objective("factor_vae")
    return cls(cls.Config(**config), n_mels=n_mels, dataset_size=10, latent_dim=latent_dim)


def test_registered_and_needs_latent_dim():
    assert "factor_vae" in available_objectives()
    cls = get_objective("factor_vae")
    with pytest.raises(ValueError, match="latent_dim"):
        cls(cls.Config(), n_mels=4, dataset_size=10)


def test_permute_dims_keeps_each_marginal_and_breaks_the_dependence():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20_000, generator=g)
    z = torch.stack([a, a, torch.randn(20_000, generator=g)], dim=1)
    p = permute_dims(z, torch.Generator().manual_seed(1))
    assert p.shape == z.shape
    assert torch.equal(p.sort(dim=0).values, z.sort(dim=0).values)  # same values per column
    assert torch.corrcoef(z[:, :2].T)[0, 1] > 0.999
    assert abs(torch.corrcoef(p[:, :2].T)[0, 1]) < 0.03  # ~ N(0, 1/20000): 4 sigma
    again = permute_dims(z, torch.Generator().manual_seed(1))
    assert torch.equal(p, again)  # a pure function of (z, generator state)
    with pytest.raises(ValueError, match="batch, dims"):
        permute_dims(torch.zeros(4))


def _train_discriminator(correlated: bool, seed: int = 0, steps: int = 300) -> float:
    """Train only D (aux optimiser) on 2-d codes; return its TC estimate on fresh codes."""
    torch.manual_seed(seed)
    obj = _objective(disc_hidden=32, disc_layers=2, disc_lr=3e-3)
    optim = obj.make_auxiliary_optimizer()
    g = torch.Generator().manual_seed(seed + 1)

    def codes(n: int) -> torch.Tensor:
        z1 = torch.randn(n, generator=g)
        other = torch.randn(n, generator=g)
        z2 = z1 + 0.1 * other if correlated else other
        return torch.stack([z1, z2], dim=1)[:, :, None]

    for step in range(steps):
        out = obj.auxiliary_loss(_Codes(), codes(256), step=step, generator=g)
        optim.zero_grad()
        out.loss.backward()
        optim.step()
    with torch.no_grad():
        return float(obj(_Codes(), codes(4096), step=steps, generator=g).terms["tc"])


def test_discriminator_estimates_total_correlation(one_thread):
    # z2 = z1 + 0.1 e: correlation rho^2 = 1 / 1.01, so TC = -0.5 log(1 - rho^2) = 2.31 nats
    true_tc = -0.5 * math.log(1 - 1 / 1.01)
    correlated = _train_discriminator(correlated=True)
    assert 0.5 * true_tc < correlated < 1.5 * true_tc
    assert abs(_train_discriminator(correlated=False)) < 0.15  # independent codes: TC = 0


def test_loss_and_discriminator_loss_by_hand():
    obj = _objective(gamma=3.0, scale=1.0)
    x = torch.tensor([[[1.0], [2.0]], [[-1.0], [0.5]], [[0.0], [-2.0]]])
    g = torch.Generator().manual_seed(5)
    out = obj(_Codes(), x, step=0, generator=torch.Generator().manual_seed(5))
    mu, logvar = x.flatten(1), torch.full((3, 2), -30.0)
    z = mu + math.exp(-15.0) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    recon = (0.5 * (x - z[:, :, None]).pow(2) + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
    with torch.no_grad():
        tc = obj.discriminator(z).mean()
    torch.testing.assert_close(out.terms["recon"], recon.mean())
    torch.testing.assert_close(out.terms["kl"], kl.sum(1).mean())
    torch.testing.assert_close(out.terms["tc"].detach(), tc)
    torch.testing.assert_close(out.loss.detach(), recon.mean() + kl.sum(1).mean() + 3.0 * tc)
    torch.testing.assert_close(out.kl_per_dim, kl.mean(0))

    # auxiliary loss: z drawn first, then the permutation, both from the generator
    aux = obj.auxiliary_loss(_Codes(), x, step=0, generator=g)
    g2 = torch.Generator().manual_seed(5)
    z = mu + math.exp(-15.0) * torch.randn(mu.shape, generator=g2)
    z_perm = permute_dims(z, g2)
    with torch.no_grad():
        d_q, d_perm = torch.sigmoid(obj.discriminator(z)), torch.sigmoid(obj.discriminator(z_perm))
    d_loss = 0.5 * (-torch.log(d_q).mean() - torch.log(1 - d_perm).mean())
    torch.testing.assert_close(aux.terms["d_loss"].detach(), d_loss)
    accuracy = 0.5 * ((d_q > 0.5).float().mean() + (d_perm < 0.5).float().mean())
    torch.testing.assert_close(aux.terms["d_accuracy"], accuracy)


def test_main_optimiser_never_moves_the_discriminator():
    cfg = ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8])
    model = ConvVAE(cfg)
    obj = _objective(latent_dim=3, n_mels=16, likelihood="gaussian_learned")
    aux_ids = {id(p) for p in obj.auxiliary_parameters()}
    assert aux_ids and not aux_ids & {id(p) for p in obj.main_parameters()}
    assert len(obj.main_parameters()) == 1  # the learned log-scale
    before = [p.detach().clone() for p in obj.auxiliary_parameters()]
    optim = torch.optim.AdamW(list(model.parameters()) + obj.main_parameters(), weight_decay=0.1)
    out = obj(model, torch.randn(4, 16, 13), step=0, generator=torch.Generator().manual_seed(0))
    optim.zero_grad()
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.auxiliary_parameters())
    optim.step()
    for old, new in zip(before, obj.auxiliary_parameters(), strict=True):
        assert torch.equal(old, new)
    optimizer = obj.make_auxiliary_optimizer()
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["betas"] == (0.5, 0.9)


def _tree(cache_dir, **train):
    tree = tiny_tree(cache_dir, **train)
    tree["objective"] = {"name": "factor_vae", "scale": 0.3, "disc_hidden": 32, "disc_layers": 2}
    return tree


def test_trains_through_the_trainer_and_logs_its_terms(tmp_path, cache_dir):
    summary = Trainer(recipe_from_dict(_tree(cache_dir, max_steps=5)), tmp_path / "f").fit()
    assert summary["steps"] == 5
    history = [json.loads(line) for line in (tmp_path / "f/metrics.jsonl").read_text().splitlines()]
    train = [h for h in history if h["split"] == "train"][-1]
    valid = [h for h in history if h["split"] == "valid"][-1]
    for key in ("loss", "recon", "kl", "tc", "aux_d_loss", "aux_d_accuracy"):
        assert math.isfinite(train[key]), key
    assert math.isfinite(valid["tc"]) and len(valid["kl_per_dim"]) == 16


def _state(path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), "pt") as fh:
        prefixes = ("model.", "objective.", "optim.", "aux_optim.")
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith(prefixes)}


def test_in_process_resume_equals_uninterrupted(tmp_path, cache_dir):
    tree = _tree(cache_dir, max_steps=8, checkpoint_every=1000, validate_every=4)
    recipe = recipe_from_dict(tree)
    Trainer(recipe, tmp_path / "full").fit()
    part = Trainer(recipe, tmp_path / "part")
    part.start_run_folder()
    for _ in range(3):
        part.train_step()
    part.save()
    Trainer(recipe, tmp_path / "part", resume=True).fit()
    full = _state(tmp_path / "full/checkpoints/last.safetensors")
    resumed = _state(tmp_path / "part/checkpoints/last.safetensors")
    assert full.keys() == resumed.keys()
    assert any(k.startswith("objective.discriminator.") for k in full)
    assert any(k.startswith("aux_optim.") for k in full)
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_recipe_validates():
    recipe = load_recipe(REPO / "recipes/factor_vae.yaml")
    config = recipe.objective_config()
    assert config.name == "factor_vae" and config.gamma == 100.0
