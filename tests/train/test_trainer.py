"""End to end: train, checkpoint, load, encode; the run folder; resume; divergence; schedules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from safetensors import safe_open
from support import REPO, tiny_tree

from audiovae.api import AudioVAE
from audiovae.errors import AudioVAEError, CheckpointError, TrainingDiverged
from audiovae.recipe import recipe_from_dict
from audiovae.train.trainer import Trainer


def test_run_folder_is_complete_and_self_describing(trained_run):
    out, summary = trained_run
    for name in ("recipe.yaml", "manifest.json", "metrics.jsonl", "reconstructions.png",
                 "checkpoints/last.safetensors", "checkpoints/best.safetensors"):  # fmt: skip
        assert (out / name).is_file(), name
    assert list((out / "logs").glob("events.out.tfevents.*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and "git" in manifest
    assert manifest["model"]["latent_dim"] == 16 and manifest["frontend"]["n_mels"] == 64
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["train"]["max_steps"] == 600 and recipe["objective"]["beta"] == 1.0
    assert summary["steps"] == 600


def test_training_learns(trained_run):
    out, summary = trained_run
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    valid = [h for h in history if h["split"] == "valid"]
    assert valid[-1]["loss"] < 0.5 * valid[0]["loss"]
    assert len(valid[-1]["kl_per_dim"]) == 16
    # best.safetensors is the validation with the lowest negative ELBO (train.select_best_on)
    best = min(valid, key=lambda v: v["recon"] + v["kl"])
    assert summary["best_val"] == pytest.approx(best["recon"] + best["kl"], rel=1e-9)
    assert summary["best_step"] == best["step"]


def test_load_encode_decode_and_embed(trained_run):
    out, _ = trained_run
    vae = AudioVAE.load(out)
    assert vae.latent_dim == 16 and vae.sample_rate == 16000
    audio = np.random.default_rng(0).standard_normal((3, vae.clip_samples)).astype(np.float32) * 0.1
    mu, logvar = vae.encode(audio, batch_size=2)
    assert mu.shape == logvar.shape == (3, 16)
    emb = vae.embed(audio)
    assert isinstance(emb, np.ndarray) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, mu.numpy(), rtol=1e-5, atol=1e-6)
    mu1, _ = vae.encode(audio[1])  # a single clip [samples]
    torch.testing.assert_close(mu1[0], mu[1], rtol=1e-4, atol=1e-5)
    logmel = vae.decode(mu)
    assert logmel.shape == (3, 64, 32) and torch.isfinite(logmel).all()
    # decode returns log-mels in the front end's units, not normalised ones
    assert logmel.min() > vae.frontend.log_floor_value - 1


def test_encode_accepts_paths(trained_run, tmp_path):
    from audiovae.audio.io import write_wav

    out, _ = trained_run
    vae = AudioVAE.load(out, checkpoint="last", device="cpu")
    wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(vae.clip_samples) / 16000)
    write_wav(tmp_path / "a.wav", wave, 16000, subtype="FLOAT")
    mu_path, _ = vae.encode([tmp_path / "a.wav"])
    mu_arr, _ = vae.encode(wave[None].astype(np.float32))
    torch.testing.assert_close(mu_path, mu_arr, rtol=1e-4, atol=1e-5)


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        AudioVAE.load(tmp_path)


def test_checkpoint_holds_the_whole_training_state(trained_run):
    out, _ = trained_run
    with safe_open(str(out / "checkpoints/last.safetensors"), "pt") as fh:
        keys = set(fh.keys())
        meta = json.loads(fh.metadata()["audiovae"])
    assert {"rng.torch", "rng.noise"} <= keys
    assert any(k.startswith("optim.") and k.endswith("exp_avg_sq") for k in keys)
    assert any(k.startswith("model.normalizer.") for k in keys)
    assert meta["step"] == 600 and meta["recipe"]["model"]["latent_dim"] == 16


def _params(path):
    with safe_open(str(path), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("model.")}


def test_in_process_resume_equals_uninterrupted(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=30, checkpoint_every=1000, validate_every=10)
    recipe = recipe_from_dict(tree)
    Trainer(recipe, tmp_path / "full").fit()
    part = Trainer(recipe, tmp_path / "part")
    part.start_run_folder()
    for _ in range(13):  # stop mid-epoch, between validations
        part.train_step()
    part.save()
    with pytest.raises(AudioVAEError, match="already holds a run"):
        Trainer(recipe, tmp_path / "part")
    Trainer(recipe, tmp_path / "part", resume=True).fit()
    full, resumed = (
        _params(tmp_path / "full/checkpoints/last.safetensors"),
        _params(tmp_path / "part/checkpoints/last.safetensors"),
    )
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_resume_refuses_a_changed_recipe(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=4)
    Trainer(recipe_from_dict(tree), tmp_path / "r").fit()
    tree["objective"]["beta"] = 4.0
    with pytest.raises(AudioVAEError, match=r"objective.beta: 1.0 -> 4.0"):
        Trainer(recipe_from_dict(tree), tmp_path / "r", resume=True)
    tree["objective"]["beta"] = 1.0
    tree["train"]["max_steps"] = 6  # extending the budget is allowed
    assert Trainer(recipe_from_dict(tree), tmp_path / "r", resume=True).fit()["steps"] == 6


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, cache_dir):
    """Kill the CLI training process with SIGKILL once its step-30 checkpoint is on disk;
    --resume must end where an uninterrupted run ends, bit for bit (CPU, same seed). The killed
    run's budget is out of reach (and its learning rate constant, so --resume may set the
    budget), so it is always killed mid-run, whenever the test gets to see the checkpoint."""
    tree = tiny_tree(cache_dir, max_steps=100_000, schedule="constant", checkpoint_every=10,
                     validate_every=40)  # fmt: skip
    recipe_path = tmp_path / "tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(tree))
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "audiovae", "train", str(recipe_path)]
    killed = subprocess.Popen(cmd + ["--out", str(tmp_path / "k")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    last = tmp_path / "k/checkpoints/last.safetensors"

    def saved_step() -> int:  # `last` is replaced atomically: absent or complete
        if not last.is_file():
            return 0
        with safe_open(str(last), "pt") as fh:
            return json.loads(fh.metadata()["audiovae"])["step"]

    deadline = time.monotonic() + 300
    while saved_step() < 30:
        assert killed.poll() is None, killed.stderr.read()
        assert time.monotonic() < deadline, "no step-30 checkpoint within 300 s"
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    step = saved_step()
    assert step >= 30 and step % 10 == 0
    end = step + 15  # past the next checkpoint and validation of an uninterrupted run
    done = subprocess.run(cmd + ["--out", str(tmp_path / "k"), "--resume", "--set",
                                 f"train.max_steps={end}"], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    tree["train"]["max_steps"] = end
    Trainer(recipe_from_dict(tree), tmp_path / "full").fit()
    full, resumed = _params(tmp_path / "full/checkpoints/last.safetensors"), _params(last)
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=30, checkpoint_every=5)
    trainer = Trainer(recipe_from_dict(tree), tmp_path / "nan")
    trainer.start_run_folder()
    for _ in range(5):
        trainer.train_step()
    trainer.save()
    with torch.no_grad():
        trainer.model.decoder.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite at step 5.*last good checkpoint"):
        trainer.fit()
    vae = AudioVAE.load(tmp_path / "nan", checkpoint="last")
    assert all(torch.isfinite(p).all() for p in vae.model.parameters())


def test_held_out_split_is_seeded_and_disjoint(trained_run, cache_dir):
    from audiovae.recipe import frontend_from_recipe
    from audiovae.train.build import prepare_data

    recipe = recipe_from_dict(tiny_tree(cache_dir))
    a = prepare_data(recipe, frontend_from_recipe(recipe), progress=False)
    b = prepare_data(recipe, frontend_from_recipe(recipe), progress=False)
    assert np.array_equal(a.valid_indices, b.valid_indices)
    assert not set(a.train_indices) & set(a.valid_indices)
    assert a.train_indices.size + a.valid_indices.size == len(a.train)
    assert a.valid_indices.size == round(0.1 * len(a.train))


def test_repo_root_is_importable():
    assert (REPO / "recipes" / "synthetic.yaml").is_file()


def test_latents_of_the_tiny_model_carry_pitch_and_family(trained_run, cache_dir):
    """A logistic regression on mu (random half / other half) beats chance by far."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audiovae.recipe import frontend_from_recipe
    from audiovae.train.build import prepare_data

    out, _ = trained_run
    recipe = recipe_from_dict(tiny_tree(cache_dir))
    data = prepare_data(recipe, frontend_from_recipe(recipe), progress=False)
    vae = AudioVAE.load(out)
    mu = vae.encode_logmel(data.train.batch(np.arange(len(data.train))))[0].numpy()
    perm = np.random.default_rng(0).permutation(len(mu))
    a, b = perm[: len(mu) // 2], perm[len(mu) // 2 :]
    for factor, floor in (("pitch", 0.6), ("instrument_family", 0.9)):
        y = np.array(data.train.labels[factor])
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(mu[a], y[a])
        accuracy = clf.score(mu[b], y[b])
        chance = 1 / len(set(y))
        assert accuracy >= floor, (factor, accuracy, chance)


def test_random_crop_training_windows_vary_and_resume_exactly(tmp_path, cache_dir):
    tree = tiny_tree(cache_dir, max_steps=12, checkpoint_every=1000, validate_every=6)
    tree["data"]["train_crop_seconds"] = 0.25  # 4000 samples: 16 of the 32 cached frames
    recipe = recipe_from_dict(tree)
    full = Trainer(recipe, tmp_path / "full")
    assert full.model_cfg.frames == 16
    clips = full.data.train.batch(full.batch_indices(0))
    a, b = full.batches.window(clips, 0), full.batches.window(clips, 1)
    assert a.shape[-1] == 16 and not torch.equal(a, b)  # other offsets at another step
    assert torch.equal(full.batches.window(clips), clips[..., :16])  # validation: the start window
    full.fit()
    part = Trainer(recipe, tmp_path / "part")
    part.start_run_folder()
    for _ in range(5):
        part.train_step()
    part.save()
    Trainer(recipe, tmp_path / "part", resume=True).fit()
    p_full = _params(tmp_path / "full/checkpoints/last.safetensors")
    p_part = _params(tmp_path / "part/checkpoints/last.safetensors")
    assert all(torch.equal(p_full[k], p_part[k]) for k in p_full)
    vae = AudioVAE.load(tmp_path / "full")
    assert vae.clip_samples == 4000 and vae.encode(np.zeros((1, 9000), np.float32))[0].shape == (
        1,
        16,
    )


def test_crop_longer_than_clip_is_rejected(cache_dir):
    from audiovae.errors import RecipeError

    tree = tiny_tree(cache_dir)
    tree["data"]["train_crop_seconds"] = 2.0
    with pytest.raises(RecipeError, match="train_crop_seconds .* must not exceed"):
        recipe_from_dict(tree)
