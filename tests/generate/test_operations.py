"""The generation functions of audiovae.generate against the model's own encode / decode, done
by hand here: latents, grids, swaps and batching."""

from __future__ import annotations

import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from audiovae.api import AudioVAE
from audiovae.audio.io import fit_length, load_audio, write_wav
from audiovae.audio.synth import SynthConfig, note_table, render_note
from audiovae.cli import main
from audiovae.generate import Renderer, morph, reconstruct, resynth, sample, swap, traverse


def _note(path, pitch, seconds=0.496):
    cfg = SynthConfig(pitches=(pitch,), families=("guitar",), instruments_per_family=1,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=seconds)  # fmt: skip
    return write_wav(path, render_note(note_table(cfg)[0], cfg), 16000, subtype="FLOAT")


@pytest.fixture(scope="module")
def vae(trained_run):
    return AudioVAE.load(trained_run[0], device="cpu")


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    d = tmp_path_factory.mktemp("op-notes")
    return _note(d / "a.wav", 48), _note(d / "b.wav", 59), _note(d / "long.wav", 55, 1.3)


def _mu(vae, path):
    wave = fit_length(load_audio(path, vae.sample_rate), vae.clip_samples)
    return vae.encode(wave[None])[0][0].cpu()


def test_morph_steps_are_the_decoded_line_between_the_two_means(vae, notes):
    a, b, _ = notes
    m = morph(vae, a, b, steps=4, n_iter=2)
    z_a, z_b = _mu(vae, a), _mu(vae, b)
    expected = torch.stack([z_a + t * (z_b - z_a) for t in (0, 1 / 3, 2 / 3, 1)])
    torch.testing.assert_close(m.z, expected)
    torch.testing.assert_close(m.logmels, vae.decode(expected).cpu())
    assert m.waves.shape == (4, vae.clip_samples) and m.fractions == [0, 1 / 3, 2 / 3, 1]


def test_traverse_rows_move_one_dimension_each(vae):
    t = traverse(vae, dims=[2, 5], values=[-1.0, 2.0], n_iter=2)
    kl = vae.meta["valid_kl_per_dim"]
    assert t.dims == sorted([2, 5], key=lambda d: -kl[d])
    for r, d in enumerate(t.dims):
        for c, v in enumerate((-1.0, 2.0)):
            z = torch.zeros(vae.latent_dim)
            z[d] = v
            torch.testing.assert_close(t.logmels[r, c], vae.decode(z)[0].cpu())
    assert t.waves.shape == (2, 2, vae.clip_samples)


def test_traverse_without_kl_keeps_index_order(vae):
    t = traverse(vae, rows=3, values=[0.0, 1.0], kl_per_dim=[0.0] * 3, n_iter=1)  # wrong length
    assert t.dims == [0, 1, 2] and t.kl is None and t.title == "KL unknown: index order"


def test_swap_takes_the_given_dims_from_b(vae, notes):
    a, b, _ = notes
    s = swap(vae, a, b, dims=[1, 4], n_iter=2)
    z_a, z_b = _mu(vae, a), _mu(vae, b)
    z = z_a.clone()
    z[[1, 4]] = z_b[[1, 4]]
    torch.testing.assert_close(s.z, torch.stack([z_a, z_b, z]))
    assert s.dims == [1, 4] and s.factor is None and s.waves.shape == (3, vae.clip_samples)


def test_swap_default_takes_half_the_latent_by_factor(vae, notes):
    a, b, _ = notes
    s = swap(vae, a, b, n_iter=1)
    assert s.factor == "pitch" and len(s.dims) == vae.latent_dim // 2


def test_sample_decodes_the_seeded_prior_draws(vae):
    s = sample(vae, 3, temperature=0.5, seed=7, n_iter=1)
    z = 0.5 * torch.randn(3, vae.latent_dim, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(s.z, z)
    torch.testing.assert_close(s.logmels, vae.decode(z).cpu())


def test_reconstruct_many_files_as_one_batch_matches_one_by_one(vae, notes):
    a, b, long = notes
    together = reconstruct(vae, [a, long, b], n_iter=4)
    for path, r in zip((a, long, b), together, strict=True):
        (alone,) = reconstruct(vae, [path], n_iter=4)
        assert r.wave.shape == (sf.info(path).frames,)
        torch.testing.assert_close(r.logmel, alone.logmel, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(r.wave, alone.wave, atol=1e-4, rtol=1e-3)


def test_reconstruct_of_one_window_is_decode_of_its_mean(vae, notes):
    a, _, _ = notes
    (r,) = reconstruct(vae, [load_audio(a, vae.sample_rate)], n_iter=1)
    wave = fit_length(load_audio(a, vae.sample_rate), vae.clip_samples)
    torch.testing.assert_close(r.input_logmel, vae.frontend(wave))
    torch.testing.assert_close(r.logmel, vae.decode(vae.encode(wave[None])[0])[0].cpu())


def test_resynth_of_a_bare_front_end_and_renderer_batches(vae, notes):
    a, b, _ = notes
    stage = vae.vocoder(n_iter=3)
    calls = []

    class Counting:
        window = stage.window

        def __call__(self, logmel, **kwargs):
            calls.append(logmel.shape[0])
            return stage(logmel, **kwargs)

    render = Renderer(Counting(), batch=32)
    out = resynth(vae.frontend, [a, b], clip_samples=vae.clip_samples, render=render)
    assert calls == [2]  # both files in one call of the stage
    wave = fit_length(load_audio(a, vae.sample_rate), vae.clip_samples)
    torch.testing.assert_close(out[0].logmel, vae.frontend(wave))


def test_iters_zero_is_zero_iterations_not_the_default(vae, trained_run, notes, tmp_path):
    """`n_iter=0` / `--iters 0` was dropped by an `if v` and ran 32 iterations."""
    assert vae.vocoder(n_iter=0).n_iter == 0
    a, _, _ = notes
    runner = CliRunner()
    outs = []
    for iters in ("0", "32"):
        d = tmp_path / iters
        res = runner.invoke(main, ["resynth", str(a), "--model", str(trained_run[0]), "-o", str(d),
                                   "--iters", iters, "--no-png"])  # fmt: skip
        assert res.exit_code == 0, res.output
        outs.append(sf.read(d / "a.resynth.wav")[0])
    assert abs(outs[0] - outs[1]).max() > 1e-3


def test_no_png_writes_only_wavs(trained_run, notes, tmp_path):
    a, b, _ = notes
    res = CliRunner().invoke(main, ["morph", str(trained_run[0]), str(a), str(b), "--steps", "2",
                                    "--iters", "1", "--no-png", "-o", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "morph_all.wav").is_file()


def test_swap_help_states_the_default_k_the_code_takes():
    res = CliRunner().invoke(main, ["swap", "--help"])
    text = " ".join(res.output.split())
    assert "half of the latent" in text and "quarter" not in text
