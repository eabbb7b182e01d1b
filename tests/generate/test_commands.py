"""Generation commands on the session's small trained model: files, rates, lengths, no clipping,
morph endpoints, traversal ordering, and a morph that moves the pitch."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from audiovae.api import AudioVAE
from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, note_table, render_note
from audiovae.cli import main
from audiovae.generate.latents import interpolate


def _note(path, family="guitar", pitch=48, seconds=0.496, instrument=0):
    cfg = SynthConfig(pitches=(pitch,), families=(family,), instruments_per_family=instrument + 1,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=seconds)  # fmt: skip
    record = [r for r in note_table(cfg) if r["instrument_str"].endswith(f"{instrument:03d}")][0]
    return write_wav(path, render_note(record, cfg), 16000, subtype="FLOAT")


def _check_wavs(folder, pattern, n, length=None):
    files = sorted(folder.glob(pattern))
    assert len(files) == n, [f.name for f in files]
    for f in files:
        data, sr = sf.read(f)
        assert sr == 16000 and np.isfinite(data).all()
        assert np.abs(data).max() <= 0.9 + 1e-3
        if length is not None:
            assert data.shape[0] == length
    return files


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    d = tmp_path_factory.mktemp("notes")
    return (
        _note(d / "a.wav", pitch=48),
        _note(d / "b.wav", pitch=59),
        _note(d / "long.wav", family="organ", pitch=55, seconds=1.3),
    )


def test_morph_writes_steps_all_and_png(trained_run, notes, tmp_path):
    run, _ = trained_run
    a, b, _ = notes
    args = ["morph", str(run), str(a), str(b), "--steps", "4", "--path", "slerp",
            "-o", str(tmp_path), "--iters", "8"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    vae = AudioVAE.load(run)
    _check_wavs(tmp_path, "morph_0*.wav", 4, length=vae.clip_samples)
    assert (tmp_path / "morph_all.wav").is_file() and (tmp_path / "morph.png").is_file()
    assert f"wrote {tmp_path / 'morph.png'}" in res.output


def test_morph_endpoints_decode_to_the_reconstructions(trained_run, notes):
    vae = AudioVAE.load(trained_run[0])
    a, b, _ = notes
    mu = vae.encode([a, b])[0]
    z = interpolate(mu[0], mu[1], 5)
    path = vae.decode(z)
    torch.testing.assert_close(path[0], vae.decode(mu[:1])[0])
    torch.testing.assert_close(path[-1], vae.decode(mu[1:])[0])


def test_morph_an_octave_moves_f0_from_a_toward_b(trained_run, notes):
    vae = AudioVAE.load(trained_run[0])
    a, b, _ = notes
    mu = vae.encode([a, b])[0]
    steps = 6
    audio = vae.decode_audio(interpolate(mu[0], mu[1], steps)).numpy()
    f0 = []
    for y in audio:
        track = librosa.yin(y[: vae.clip_samples // 2], fmin=80, fmax=600, sr=16000,
                            frame_length=1024)  # fmt: skip
        f0.append(float(np.median(track)))
    f_a, f_b = librosa.midi_to_hz(48), librosa.midi_to_hz(59)
    assert abs(np.log2(f0[0] / f_a)) < abs(np.log2(f0[0] / f_b))
    assert abs(np.log2(f0[-1] / f_b)) < abs(np.log2(f0[-1] / f_a))
    rising = np.mean(np.diff(np.log2(f0)) >= -0.01)
    assert rising >= 0.6, f0


def test_traverse_grid_is_ordered_by_kl(trained_run, tmp_path):
    run, _ = trained_run
    res = CliRunner().invoke(main, ["traverse", str(run), "--dims", "0,3,5", "--steps", "3",
                                    "-o", str(tmp_path), "--iters", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    files = _check_wavs(tmp_path, "dim*.wav", 9)
    kl = AudioVAE.load(run).meta["valid_kl_per_dim"]
    dims_in_order = list(dict.fromkeys(int(f.name[3:5]) for f in files))
    assert sorted(dims_in_order) == [0, 3, 5]
    written_order = [
        int(line.split("dim")[1][:2]) for line in res.output.splitlines() if "dim" in line
    ]
    expected = sorted([0, 3, 5], key=lambda d: -kl[d])
    assert list(dict.fromkeys(written_order)) == expected
    assert (tmp_path / "traverse.png").is_file()


def test_reconstruct_long_file_and_resynth(trained_run, notes, tmp_path):
    run, _ = trained_run
    _, _, long = notes
    runner = CliRunner()
    res = runner.invoke(
        main, ["reconstruct", str(run), str(long), "-o", str(tmp_path), "--iters", "8"]
    )
    assert res.exit_code == 0, res.output
    n = sf.info(long).frames
    _check_wavs(tmp_path, "*.reconstruction.wav", 1, length=n)
    res = runner.invoke(main, ["resynth", str(long), "--model", str(run), "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    (rs,) = _check_wavs(tmp_path, "*.resynth.wav", 1, length=n)
    assert (tmp_path / "long.resynth.png").is_file()
    # the stage alone keeps the spectrum: resynthesis is close to the input in log-mel terms
    vae = AudioVAE.load(run)
    x, _ = sf.read(long)
    y, _ = sf.read(rs)
    lm_x, lm_y = vae.frontend(torch.tensor(x).float()), vae.frontend(torch.tensor(y).float())
    loud = lm_x > lm_x.max() - 6
    assert (lm_x - lm_y)[loud].abs().median() < 1.0


def test_sample_and_swap(trained_run, notes, tmp_path):
    run, _ = trained_run
    a, b, _ = notes
    runner = CliRunner()
    res = runner.invoke(main, ["sample", str(run), "-n", "3", "--temperature", "0.5",
                               "-o", str(tmp_path), "--iters", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    _check_wavs(tmp_path, "sample_*.wav", 3)
    res = runner.invoke(
        main, ["swap", str(run), str(a), str(b), "-o", str(tmp_path), "--iters", "4"]
    )
    assert res.exit_code == 0, res.output
    assert "took dimensions [" in res.output
    _check_wavs(tmp_path, "swap*.wav", 3)
    res = runner.invoke(
        main, ["swap", str(run), str(a), str(b), "--dims", "0,99", "-o", str(tmp_path)]
    )
    assert res.exit_code == 2 and "dimensions must be in 0..15" in res.output


def test_resynth_needs_exactly_one_source(notes, tmp_path):
    a, _, _ = notes
    res = CliRunner().invoke(main, ["resynth", str(a), "-o", str(tmp_path)])
    assert res.exit_code == 2 and "exactly one of --recipe or --model" in res.output


def test_manifest_kept_valid_kl(trained_run):
    meta = AudioVAE.load(trained_run[0]).meta
    assert len(meta["valid_kl_per_dim"]) == 16
    assert json.dumps(meta)
