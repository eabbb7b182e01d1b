"""RunManifest: the typed run manifest the trainer writes and the inference side reads; old run
folders (manifests without the newer keys) still load; a wrong type is one line naming file and
key."""

from __future__ import annotations

import json

import pytest
import torch

from audiovae.errors import AudioVAEError
from audiovae.models.conv import ConvVAEConfig
from audiovae.run_manifest import ManifestError, RunManifest

# manifest.json as the first audiovae wrote it (before pairs, label_vocab, runtime, conditions and
# sub-spaces were recorded), written out by hand
OLD_MANIFEST = {
    "model": {"n_mels": 64, "frames": 31, "latent_dim": 16, "channels": [16, 32, 64],
              "kernel_size": 4, "groups": 8, "activation": "silu"},
    "frontend": {"sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "n_mels": 64,
                 "f_min": 0.0, "f_max": None, "mel_scale": "slaney", "norm": "slaney",
                 "log_floor": 1e-05},
    "clip_samples": 7936,
    "objective": {"name": "beta_vae", "beta": 1.0, "scale": 0.3},
    "data": {"train_source": "synthetic", "train_clips": 346, "valid_source": "synthetic",
             "valid_clips": 38, "train_cache": "/somewhere/cache/abc", "skipped": 0},
    "label_names": ["family", "instrument", "pitch", "velocity"],
    "versions": {"python": "3.11.9", "audiovae": "0.1.0", "torch": "2.5.1"},
    "git": {"commit": "48994eb0123456789", "dirty": False},
}  # fmt: skip


def test_an_old_manifest_loads_with_defaults_for_the_newer_keys(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(OLD_MANIFEST))
    m = RunManifest.read(tmp_path)
    assert m.model == ConvVAEConfig(n_mels=64, frames=31, latent_dim=16, channels=[16, 32, 64])
    assert m.model.conditions == {} and m.model.subspaces == {}
    assert m.frontend.hop_length == 256 and m.clip_samples == 7936
    assert m.objective_name == "beta_vae" and m.trained_with == "0.1.0"
    assert m.data.train_clips == 346 and m.data.train_cache == "/somewhere/cache/abc"
    assert m.git.commit.startswith("48994eb") and not m.git.dirty
    assert m.runtime is None and m.pairs is None and m.label_vocab == {}


def test_keys_a_newer_version_adds_are_ignored(tmp_path):
    tree = OLD_MANIFEST | {"something_new": {"x": 1}}
    assert RunManifest.from_dict(tree) == RunManifest.from_dict(OLD_MANIFEST)


@pytest.mark.parametrize(
    "change,key",
    [
        ({"clip_samples": "long"}, "'clip_samples'"),
        ({"runtime": {"world_size": "two"}}, "'runtime.world_size'"),
        ({"data": {"train_clips": [1, 2]}}, "'data.train_clips'"),
        ({"frontend": {"sample_rate": 16000}}, "'frontend.n_fft'"),  # missing
        ({"model": "conv"}, "'model'"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_file_and_the_key(tmp_path, change, key):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(OLD_MANIFEST | change))
    with pytest.raises(ManifestError) as err:
        RunManifest.read(tmp_path)
    message = str(err.value)
    assert isinstance(err.value, AudioVAEError)
    assert message.startswith(f"{path}: manifest key {key}") and "\n" not in message


def test_not_json_or_not_a_mapping_or_missing(tmp_path):
    with pytest.raises(ManifestError, match="no run manifest here"):
        RunManifest.read(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ManifestError, match="is list, not a mapping"):
        RunManifest.read(tmp_path)
    (tmp_path / "manifest.json").write_text("{cut sho")
    with pytest.raises(ManifestError, match="not readable JSON"):
        RunManifest.read(tmp_path / "manifest.json")


def test_written_and_read_back_unchanged(tmp_path):
    m = RunManifest.from_dict(OLD_MANIFEST)
    m.write(tmp_path)
    assert RunManifest.read(tmp_path) == m
    assert json.loads((tmp_path / "manifest.json").read_text()) == m.to_dict()


def test_the_trainer_writes_the_typed_manifest_into_the_folder_and_checkpoints(trained_run):
    from audiovae.checkpoints import read_metadata

    run, _ = trained_run
    on_disk = json.loads((run / "manifest.json").read_text())
    m = RunManifest.read(run)
    assert on_disk == m.to_dict()  # every key the trainer writes is a typed field
    assert m.model.latent_dim == 16 and m.frontend.n_mels == 64 and m.clip_samples == 7936
    assert m.runtime.device == "cpu" and m.runtime.world_size == 1
    assert m.data.train_clips + m.data.valid_clips == 12 * 4 * 2 * 2  # the tiny recipe
    for name in ("best", "last"):
        meta = read_metadata(run / "checkpoints" / f"{name}.safetensors")
        assert RunManifest.from_dict(meta["manifest"]) == m


def _rewrite_manifest(src, dst, manifest):
    """A copy of checkpoint `src` at `dst` whose metadata holds `manifest` instead."""
    from audiovae.checkpoints import load_checkpoint
    from audiovae.train.checkpoint import save_checkpoint

    tensors, meta = load_checkpoint(src)
    save_checkpoint(dst, tensors, meta | {"manifest": manifest})


def test_a_run_folder_with_an_old_manifest_still_loads(trained_run, tmp_path):
    from audiovae.api import AudioVAE

    run, _ = trained_run
    new = json.loads((run / "manifest.json").read_text())
    old = {k: new[k] for k in OLD_MANIFEST}  # only the keys the first version wrote
    old["model"] = {k: new["model"][k] for k in OLD_MANIFEST["model"]}
    _rewrite_manifest(run / "checkpoints/best.safetensors",
                      tmp_path / "checkpoints/best.safetensors", old)  # fmt: skip
    vae, ref = AudioVAE.load(tmp_path, device="cpu"), AudioVAE.load(run, device="cpu")
    assert vae.manifest.runtime is None and vae.manifest.model == ref.manifest.model
    x = torch.randn(2, 7936) * 0.1
    assert torch.equal(vae.encode(x)[0], ref.encode(x)[0])


def test_a_checkpoint_with_a_wrongly_typed_manifest_names_the_file_and_key(trained_run, tmp_path):
    from audiovae.api import AudioVAE

    run, _ = trained_run
    bad = json.loads((run / "manifest.json").read_text()) | {"clip_samples": "whole"}
    path = tmp_path / "checkpoints/best.safetensors"
    _rewrite_manifest(run / "checkpoints/best.safetensors", path, bad)
    with pytest.raises(ManifestError, match=rf"^{path}: manifest key 'clip_samples'"):
        AudioVAE.load(tmp_path, device="cpu")


def test_the_report_reads_an_old_run_folder_with_paths_redacted(tmp_path):
    from audiovae.report.page import _data_text, _device_text
    from audiovae.report.run_info import read_run

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.safetensors").write_bytes(b"")  # read_run only looks
    (tmp_path / "recipe.yaml").write_text("data: {kind: synthetic}\ntrain: {device: auto}\n")
    (tmp_path / "manifest.json").write_text(json.dumps(OLD_MANIFEST))
    run = read_run(tmp_path)
    assert run.manifest.data.train_cache == ".../abc"  # the report never shows local paths
    assert "346 training and 38 validation clips" in _data_text(run.recipe, run.manifest)
    assert "not recorded" in _device_text(run.recipe["train"], run.manifest.runtime)
    (tmp_path / "manifest.json").write_text(json.dumps(OLD_MANIFEST | {"label_names": "pitch"}))
    with pytest.raises(ManifestError, match=r"manifest.json: manifest key 'label_names'"):
        read_run(tmp_path)
