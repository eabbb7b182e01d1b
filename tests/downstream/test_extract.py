"""Latent feature extraction: schema, row order, labels, windows and pooling, bad files, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from audiovae.api import AudioVAE
from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, write_nsynth_folder
from audiovae.downstream.commands import extract_command
from audiovae.downstream.extract import extract_features, window_starts
from audiovae.downstream.features_file import load_features, output_format, save_features
from audiovae.errors import AudioVAEError, DataError

CLIP_SECONDS = 0.496  # the trained_run fixture's clip: 7936 samples at 16 kHz
NOTES = SynthConfig(
    pitches=(48, 53, 57),
    families=("guitar", "organ"),
    instruments_per_family=2,
    velocities=(100,),
    vibrato_depths=(0.0,),
    seconds=CLIP_SECONDS,
)


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    return write_nsynth_folder(tmp_path_factory.mktemp("notes"), NOTES, progress=False)


@pytest.fixture(scope="module")
def vae(trained_run):
    return AudioVAE.load(trained_run[0], device="cpu")


def _examples(folder) -> dict:
    return json.loads((folder / "examples.json").read_text())


def _tone(seconds: float, freq: float = 440.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_nsynth_rows_follow_note_str_order_and_carry_labels(trained_run, notes, tmp_path):
    feats = extract_features(trained_run[0], notes, cache_dir=tmp_path, progress=False)
    examples = _examples(notes)
    assert list(feats.name) == sorted(examples)
    assert feats.mu.dtype == np.float32 and feats.logvar.dtype == np.float32
    assert feats.mu.shape == feats.logvar.shape == (len(examples), 16)
    for key in ("pitch", "velocity", "instrument_str", "instrument_family_str", "vibrato"):
        assert list(feats.labels[key]) == [examples[n][key] for n in feats.name], key
    assert feats.labels["qualities"].shape == (len(examples), 10)
    assert feats.labels["qualities"].dtype.kind == "i"
    assert "qualities_str" in feats.dropped_labels  # ragged lists of strings: no plain array
    assert feats.source == str(notes.resolve()) and feats.model == str(trained_run[0].resolve())
    assert feats.skipped == [] and feats.start_seconds is None


def test_cached_and_direct_paths_agree_with_the_api(vae, notes, tmp_path):
    cached = extract_features(vae, notes, cache_dir=tmp_path, progress=False)
    direct = extract_features(vae, notes, use_cache=False, batch_size=5, progress=False)
    assert list(cached.name) == list(direct.name)
    np.testing.assert_allclose(cached.mu, direct.mu, atol=0.05)  # float16 log-mels in the cache
    paths = [notes / "audio" / f"{n}.wav" for n in direct.name]
    api_mu = np.asarray(torch.as_tensor(vae.embed(paths)).numpy())
    np.testing.assert_allclose(direct.mu, api_mu, atol=1e-5)


def test_npz_schema_loads_without_pickle(trained_run, notes, tmp_path):
    feats = extract_features(trained_run[0], notes, cache_dir=tmp_path, progress=False)
    path = save_features(feats, tmp_path / "out" / "feats.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert arrays["name"].dtype.kind == "U" and arrays["name"].shape == (len(feats),)
    assert arrays["mu"].dtype == np.float32 and arrays["logvar"].dtype == np.float32
    assert str(arrays["source"]) == str(notes.resolve())
    assert str(arrays["model"]) == str(trained_run[0].resolve())
    assert arrays["instrument_family_str"].dtype.kind == "U"
    assert arrays["qualities"].ndim == 2 and "qualities_str" not in arrays
    assert all(arrays[name].dtype != object for name in arrays)
    assert set(arrays["label_names"]) == set(feats.labels)
    back = load_features(path)
    assert np.array_equal(back.mu, feats.mu) and list(back.name) == list(feats.name)
    assert list(back.labels["pitch"]) == list(feats.labels["pitch"])


def test_csv_has_one_row_per_clip_with_latent_and_label_columns(trained_run, notes, tmp_path):
    feats = extract_features(trained_run[0], notes, cache_dir=tmp_path, progress=False)
    path = save_features(feats, tmp_path / "feats.csv")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["name", "mu_0"] and "logvar_15" in header and "pitch" in header
    assert len(lines) == len(feats) + 1
    back = load_features(path)
    np.testing.assert_array_equal(back.mu, feats.mu)  # 9 significant digits round-trip float32
    assert list(back.labels["pitch"]) == list(feats.labels["pitch"])
    assert back.source == feats.source


def test_parquet_round_trip_keeps_codes_labels_and_metadata(trained_run, notes, tmp_path):
    import pyarrow.parquet as pq

    feats = extract_features(trained_run[0], notes, cache_dir=tmp_path, progress=False)
    path = save_features(feats, tmp_path / "feats.parquet")
    table = pq.read_table(path)  # an ordinary parquet file, readable without audiovae
    assert table.num_rows == len(feats)
    assert {"name", "mu_0", "logvar_15", "pitch"} <= set(table.schema.names)
    np.testing.assert_array_equal(np.asarray(table.column("mu_3").to_pylist(), np.float32),
                                  feats.mu[:, 3])  # fmt: skip
    back = load_features(path)
    np.testing.assert_array_equal(back.name, feats.name)
    np.testing.assert_array_equal(back.mu, feats.mu)
    np.testing.assert_array_equal(back.logvar, feats.logvar)
    assert sorted(back.labels) == sorted(feats.labels)
    assert feats.labels["qualities"].ndim == 2  # a list label: written as columns, read back whole
    for key, values in feats.labels.items():
        np.testing.assert_array_equal(back.labels[key], values, err_msg=key)
    assert back.source == feats.source


def test_parquet_without_pyarrow_is_one_clear_error(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(AudioVAEError, match="pyarrow"):
            output_format(tmp_path / "f.parquet")
    else:
        assert output_format(tmp_path / "f.parquet") == "parquet"


def test_folder_list_file_and_single_file_order(vae, tmp_path):
    root = tmp_path / "sounds"
    for rel, freq in (("b/x.wav", 300), ("a/z.wav", 500), ("a/y.wav", 700)):
        write_wav(root / rel, _tone(0.3, freq), 16000)
    feats = extract_features(vae, root, cache_dir=tmp_path / "cache", progress=False)
    assert list(feats.name) == ["a/y.wav", "a/z.wav", "b/x.wav"]
    assert list(feats.labels["folder"]) == ["a", "a", "b"]
    listing = tmp_path / "list.txt"
    listing.write_text("# clips\nsounds/b/x.wav\n\nsounds/a/y.wav\n" + str(root / "a/z.wav") + "\n")
    listed = extract_features(vae, listing, use_cache=False, progress=False)
    assert list(listed.name) == ["sounds/b/x.wav", "sounds/a/y.wav", str(root / "a/z.wav")]
    by_name = dict(zip(feats.name, feats.mu, strict=True))
    np.testing.assert_allclose(listed.mu[0], by_name["b/x.wav"], atol=0.05)
    single = extract_features(vae, root / "a" / "z.wav", use_cache=False, progress=False)
    assert list(single.name) == ["z.wav"]
    np.testing.assert_allclose(single.mu[0], listed.mu[2], atol=1e-6)


@pytest.mark.parametrize("use_cache", [True, False])
def test_bad_file_is_reported_and_skipped(vae, tmp_path, use_cache):
    root = tmp_path / "sounds"
    for name in ("a.wav", "c.wav"):
        write_wav(root / name, _tone(0.3), 16000)
    (root / "b.wav").write_bytes(b"RIFF not really a wav file")
    feats = extract_features(
        vae, root, cache_dir=tmp_path / "cache", use_cache=use_cache, progress=False
    )
    assert list(feats.name) == ["a.wav", "c.wav"]
    assert [s["id"] for s in feats.skipped] == ["b.wav"]
    assert "b.wav" in feats.skipped[0]["reason"]


def test_window_starts_cover_the_clip():
    assert window_starts(100, 100, 50).tolist() == [0]
    assert window_starts(30, 100, 50).tolist() == [0]
    assert window_starts(200, 100, 50).tolist() == [0, 50, 100]
    assert window_starts(201, 100, 50).tolist() == [0, 50, 100, 150]  # last one zero-padded


def test_windows_and_pooling(vae, tmp_path):
    window = vae.clip_samples
    root = tmp_path / "long"
    rng = np.random.default_rng(0)
    long = np.concatenate([_tone(window / 16000, f) for f in (220, 440)])  # exactly 2 windows
    write_wav(root / "long.wav", long + 0.01 * rng.standard_normal(len(long)), 16000)
    write_wav(root / "short.wav", _tone(0.2, 330), 16000)
    (root / "bad.wav").write_bytes(b"junk")
    per_window = extract_features(vae, root, windows=True, progress=False)
    assert list(per_window.name) == ["long.wav"] * 3 + ["short.wav"]
    np.testing.assert_allclose(per_window.start_seconds, [0, window / 32000, window / 16000, 0])
    assert [s["id"] for s in per_window.skipped] == ["bad.wav"]
    first = np.asarray(torch.as_tensor(vae.embed(root / "long.wav")).numpy())
    np.testing.assert_allclose(per_window.mu[0], first[0], atol=1e-4)

    mean = extract_features(vae, root, pool="mean", progress=False)
    assert list(mean.name) == ["long.wav", "short.wav"] and mean.start_seconds is None
    np.testing.assert_allclose(mean.mu[0], per_window.mu[:3].mean(axis=0), rtol=1e-5, atol=1e-6)
    variance = np.exp(per_window.logvar[:3].astype(np.float64)).mean(axis=0)
    np.testing.assert_allclose(mean.logvar[0], np.log(variance), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean.mu[1], per_window.mu[3], atol=1e-6)

    largest = extract_features(vae, root, pool="max", hop_seconds=window / 32000, progress=False)
    np.testing.assert_allclose(largest.mu[0], per_window.mu[:3].max(axis=0), atol=1e-6)
    assert largest.pool == "max"


def test_bad_arguments_fail_where_they_enter(vae, tmp_path):
    with pytest.raises(ValueError, match="pool"):
        extract_features(vae, tmp_path, pool="median")
    with pytest.raises(ValueError, match="hop_seconds"):
        extract_features(vae, tmp_path, hop_seconds=0.1)
    with pytest.raises(DataError, match="not found"):
        extract_features(vae, tmp_path / "missing", progress=False)


def test_cli_writes_features_and_names_skipped_files(trained_run, tmp_path):
    root = tmp_path / "sounds"
    write_wav(root / "ok.wav", _tone(0.3), 16000)
    (root / "broken.wav").write_bytes(b"junk")
    out = tmp_path / "feats.npz"
    args = [str(trained_run[0]), str(root), "-o", str(out), "--cache-dir", str(tmp_path / "c")]
    result = CliRunner().invoke(extract_command, args)
    assert result.exit_code == 0, result.output
    assert "wrote 1 clips" in result.stdout
    assert "skipped 1 unreadable" in result.stderr and "broken.wav" in result.stderr
    with np.load(out, allow_pickle=False) as npz:
        assert list(npz["name"]) == ["ok.wav"]
    missing = CliRunner().invoke(extract_command, [str(tmp_path / "nope"), str(root), "-o", "x"])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ")
