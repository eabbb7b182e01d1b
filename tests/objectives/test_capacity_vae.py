"""Capacity-controlled beta-VAE: the C(step) schedule, the loss by hand, the C = 0 limit against
beta-VAE, a tiny end-to-end run and the shipped recipe."""

import json
import math

import pytest
import torch
from support import REPO, tiny_tree

from audiovae.models.conv import ConvVAE, ConvVAEConfig
from audiovae.objectives import get_objective
from audiovae.objectives.capacity_vae import capacity_at
from audiovae.recipe import load_recipe, recipe_from_dict
from audiovae.train.trainer import Trainer


@pytest.mark.parametrize(
    ("step", "c_start", "c_max", "c_steps", "expected"),
    [
        (0, 0.0, 25.0, 100, 0.0),
        (40, 0.0, 25.0, 100, 10.0),
        (99, 0.0, 25.0, 100, 24.75),
        (100, 0.0, 25.0, 100, 25.0),
        (10_000, 0.0, 25.0, 100, 25.0),  # held after the ramp
        (50, 5.0, 25.0, 200, 10.0),  # from a non-zero start
        (0, 5.0, 25.0, 0, 25.0),  # no ramp: c_max at once
    ],
)
def test_capacity_is_linear_then_held(step, c_start, c_max, c_steps, expected):
    assert capacity_at(step, c_start, c_max, c_steps) == pytest.approx(expected)
    cls = get_objective("capacity_vae")
    obj = cls(cls.Config(c_start=c_start, c_max=c_max, c_steps=c_steps), n_mels=2, dataset_size=4)
    assert obj.capacity(step) == pytest.approx(expected)


class _FixedModel(torch.nn.Module):
    """Known posterior and reconstruction, to compute the loss by hand."""

    def __init__(self, mu, logvar, x_hat):
        super().__init__()
        self.mu, self.logvar, self.x_hat = mu, logvar, x_hat

    def encode(self, x):
        return self.mu, self.logvar

    reparameterize = staticmethod(ConvVAE.reparameterize)

    def decode(self, z):
        return self.x_hat


def test_penalty_is_per_example_distance_to_capacity():
    cls = get_objective("capacity_vae")
    obj = cls(cls.Config(gamma=10.0, c_max=0.2, c_steps=0), n_mels=2, dataset_size=4)
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # per-example KL 0.5 and 0
    out = obj(_FixedModel(mu, torch.zeros(2, 2), torch.ones(2, 2, 3)), torch.zeros(2, 2, 3), step=7)
    recon = 6 * (0.5 + 0.5 * math.log(2 * math.pi))
    gap = (abs(0.5 - 0.2) + abs(0.0 - 0.2)) / 2  # not |mean KL - C| = 0.05
    assert out.terms["kl_gap"].item() == pytest.approx(gap)
    assert out.terms["capacity"].item() == pytest.approx(0.2)
    assert out.terms["kl"].item() == pytest.approx(0.25)
    assert out.loss.item() == pytest.approx(recon + 10.0 * gap)


def test_zero_capacity_is_beta_vae_with_beta_equal_gamma():
    torch.manual_seed(0)
    model = ConvVAE(ConvVAEConfig(n_mels=16, frames=13, latent_dim=3, channels=[4, 8]))
    x = torch.randn(4, 16, 13)
    cap_cls, beta_cls = get_objective("capacity_vae"), get_objective("beta_vae")
    cap = cap_cls(cap_cls.Config(gamma=4.0, c_max=0.0, scale=0.5), n_mels=16, dataset_size=4)
    ref = beta_cls(beta_cls.Config(beta=4.0, scale=0.5), n_mels=16, dataset_size=4)
    for step in (0, 1000):
        a = cap(model, x, step=step, generator=torch.Generator().manual_seed(step))
        b = ref(model, x, step=step, generator=torch.Generator().manual_seed(step))
        torch.testing.assert_close(a.loss, b.loss)  # KL >= 0, so |KL - 0| = KL
        for name in ("recon", "kl"):
            torch.testing.assert_close(a.terms[name], b.terms[name])


def test_trains_end_to_end_and_logs_capacity_next_to_kl(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=5)
    tree["objective"] = dict(name="capacity_vae", scale=0.3, gamma=50, c_max=5, c_steps=4)
    summary = Trainer(recipe_from_dict(tree), tmp_path / "run").fit()
    assert summary["steps"] == 5 and math.isfinite(summary["best_val"])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = {r["split"]: r for r in map(json.loads, lines)}
    for record in records.values():
        for name in ("loss", "recon", "kl", "capacity", "kl_gap"):
            assert math.isfinite(record[name]), (record["split"], name)
    assert records["train"]["capacity"] == pytest.approx(2.5)  # mean of C over steps 0..4
    assert records["valid"]["capacity"] == pytest.approx(5.0)  # at step 5, past the ramp


def test_recipe_validates_and_matches_the_synthetic_recipe():
    recipe = load_recipe(REPO / "recipes" / "capacity_vae.yaml").to_dict()
    synthetic = load_recipe(REPO / "recipes" / "synthetic.yaml").to_dict()
    assert recipe["objective"]["name"] == "capacity_vae"
    for section in ("data", "features", "model", "train"):
        assert recipe[section] == synthetic[section], section
