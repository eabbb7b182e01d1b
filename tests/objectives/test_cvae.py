"""Conditional VAE: the condition reaches encoder and decoder, travels through the API and the
CLI, and changing it at fixed z moves the decoded pitch."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from support import tiny_tree

from audiovae.api import AudioVAE
from audiovae.cli import main
from audiovae.models.conv import ConditionedVAE, ConvVAE, ConvVAEConfig, condition_vocabulary
from audiovae.objectives import get_objective
from audiovae.recipe import recipe_from_dict
from audiovae.train.trainer import Trainer


def test_vocabulary_is_numeric_order_of_strings():
    assert condition_vocabulary([60, 48, 60.0, 50]) == ["48", "50", "60"]
    assert condition_vocabulary(["b", "a"]) == ["a", "b"]


def test_condition_changes_the_decoder_output_and_is_required():
    cfg = ConvVAEConfig(n_mels=16, frames=16, latent_dim=3, channels=[4, 8],
                        conditions={"pitch": ["48", "60"]})  # fmt: skip
    model = ConvVAE(cfg)
    z = torch.zeros(2, 3)
    low = model.decode(z, model.condition_indices({"pitch": 48}, 2))
    high = model.decode(z, model.condition_indices({"pitch": [60, 60]}, 2))
    assert not torch.allclose(low, high)
    with pytest.raises(ValueError, match="conditioned on"):
        model.decode(z)
    with pytest.raises(ValueError, match="value '61' was not in the training data"):
        model.condition_indices({"pitch": 61}, 2)
    bound = model.bind(model.condition_indices({"pitch": 60}, 2))
    torch.testing.assert_close(bound.decode(z), high)


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=400)
    tree["objective"] = {"name": "cvae", "condition": ["pitch"], "scale": 0.3}
    out = tmp_path_factory.mktemp("cvae") / "run"
    Trainer(recipe_from_dict(tree), out).fit()
    return out


def test_changing_the_condition_at_fixed_z_moves_the_decoded_pitch(cvae_run):
    vae = AudioVAE.load(cvae_run)
    assert vae.conditions["pitch"] == [str(p) for p in range(48, 60)]
    z = torch.zeros(2, vae.latent_dim)
    audio = vae.decode_audio(z, condition={"pitch": [48, 59]}).numpy()
    f0 = [float(np.median(librosa.yin(y[: vae.clip_samples // 2], fmin=80, fmax=600, sr=16000,
                                       frame_length=1024))) for y in audio]  # fmt: skip
    semitones = 12 * np.log2(f0[1] / f0[0])
    assert 6 < semitones < 16, f0  # 11 semitones asked for


def test_api_needs_the_condition_and_reads_it_per_clip(cvae_run):
    vae = AudioVAE.load(cvae_run)
    audio = np.random.default_rng(0).standard_normal((3, vae.clip_samples)).astype(np.float32) * 0.1
    with pytest.raises(ValueError, match="conditioned on"):
        vae.encode(audio)
    mu_all, _ = vae.encode(audio, condition={"pitch": [48, 50, 52]}, batch_size=2)
    mu_one, _ = vae.encode(audio[1:2], condition={"pitch": 50})
    torch.testing.assert_close(mu_all[1], mu_one[0], rtol=1e-4, atol=1e-5)


def test_cli_sample_takes_a_condition(cvae_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["sample", str(cvae_run), "-n", "2", "--iters", "2",
                               "--condition", "pitch=55", "-o", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("sample_*.wav"))) == 2
    res = runner.invoke(main, ["sample", str(cvae_run), "-o", str(tmp_path)])
    assert (
        res.exit_code == 2 and "conditioned on 'pitch': pass --condition pitch=VALUE" in res.output
    )
    res = runner.invoke(
        main, ["sample", str(cvae_run), "--condition", "pitch=99", "-o", str(tmp_path)]
    )
    assert res.exit_code == 2 and "not a value the model was trained on" in res.output


class _TableModel(torch.nn.Module):
    """A conditional 'model' with known outputs per condition value, to compute the loss by hand:
    q(z|x,c) = N(MU[c], exp(LOGVAR[c])), and the decoder returns X_HAT[c] whatever z is."""

    MU = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    LOGVAR = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    X_HAT = torch.stack([torch.ones(2, 3), 2 * torch.ones(2, 3)])

    reparameterize = staticmethod(ConvVAE.reparameterize)

    def encode(self, x, condition):
        c = condition["pitch"]
        return self.MU[c], self.LOGVAR[c]

    def decode(self, z, condition):
        return self.X_HAT[condition["pitch"]] + 0 * z[:, :1, None]


def test_cvae_loss_by_hand():
    """Gaussian NLL (scale 0.5) summed per example + beta 2 * KL summed per example, averaged
    over the batch, with the condition (values 0 and 1) reaching the encoder and the decoder."""
    cls = get_objective("cvae")
    obj = cls(cls.Config(beta=2.0, scale=0.5, condition=["pitch"]), n_mels=2, dataset_size=10)
    model = ConditionedVAE(_TableModel(), {"pitch": torch.tensor([0, 1])})
    out = obj(model, torch.zeros(2, 2, 3), step=0, generator=torch.Generator().manual_seed(0))
    const = math.log(0.5) + 0.5 * math.log(2 * math.pi)  # log sigma + log sqrt(2 pi)
    recon = (6 * (1 / (2 * 0.25) + const) + 6 * (4 / (2 * 0.25) + const)) / 2
    kl_0 = 0.5 * (1.0**2)  # mu (1, 0), unit variance
    kl_1 = 0.5 * ((2.0 - math.log(2.0) - 1.0) + 2.0**2)  # var 2 in dim 0, mu 2 in dim 1
    assert out.terms["recon"].item() == pytest.approx(recon, rel=1e-6)
    assert out.terms["kl"].item() == pytest.approx((kl_0 + kl_1) / 2, rel=1e-6)
    assert out.loss.item() == pytest.approx(recon + 2.0 * (kl_0 + kl_1) / 2, rel=1e-6)
    torch.testing.assert_close(
        out.kl_per_dim, torch.tensor([(0.5 + 0.5 * (1 - math.log(2))) / 2, 2.0 / 2])
    )
