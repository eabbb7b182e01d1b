"""The CLI through click's CliRunner: train, data synth, and one-line errors."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner
from support import REPO, tiny_tree

from audiovae.cli import main

TINY_SYNTH = [
    "--set", "data.synthetic.pitches=[60, 64]",
    "--set", "data.synthetic.families=[guitar, organ]",
    "--set", "data.synthetic.instruments_per_family=2",
    "--set", "data.synthetic.velocities=[100]",
    "--set", "data.synthetic.vibrato_depths=[0.0]",
    "--set", "data.clip_seconds=0.5",
]  # fmt: skip


def test_data_synth_writes_an_nsynth_folder(tmp_path):
    result = CliRunner().invoke(main, ["data", "synth", "-o", str(tmp_path / "notes"), *TINY_SYNTH])
    assert result.exit_code == 0, result.output
    assert "wrote 8 notes" in result.output
    examples = json.loads((tmp_path / "notes/examples.json").read_text())
    assert len(examples) == 8
    assert all((tmp_path / "notes/audio" / f"{k}.wav").is_file() for k in examples)


def test_train_on_nsynth_format_folders_via_set(tmp_path, cache_dir):
    runner = CliRunner()
    for split, seed in (("train", 0), ("valid", 1)):
        res = runner.invoke(main, ["data", "synth", "-o", str(tmp_path / split), *TINY_SYNTH,
                                   "--set", f"data.synthetic.seed={seed}"])  # fmt: skip
        assert res.exit_code == 0, res.output
    args = [
        "train", str(REPO / "recipes/nsynth.yaml"), "--out", str(tmp_path / "run"),
        "--set", f"data.train={tmp_path / 'train'}", "--set", f"data.valid={tmp_path / 'valid'}",
        "--set", "data.clip_seconds=0.5", "--set", "data.min_seconds=0.1",
        "--set", "features.n_mels=32", "--set", f"features.cache_dir={cache_dir}",
        "--set", "model.channels=[8, 16]", "--set", "model.latent_dim=4",
        "--set", "train.max_steps=3", "--set", "train.batch_size=4",
        "--set", "train.progress=false",
        "--set", "train.device=cpu",
    ]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "trained 3 steps" in result.output
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["data"]["train_clips"] == 8 and manifest["data"]["valid_clips"] == 8
    assert (tmp_path / "run/checkpoints/best.safetensors").is_file()


def test_nsynth_recipe_without_data_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["train", str(REPO / "recipes/nsynth.yaml"), "--out", "runs/x"]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "data/nsynth/nsynth-train" in lines[0] and "audiovae data synth" in lines[0]
    assert not (tmp_path / "runs/x/checkpoints").exists()


def test_recipe_errors_are_one_line(tmp_path):
    args = ["train", str(REPO / "recipes/synthetic.yaml"), "--out", str(tmp_path / "r"),
            "--set", "model.latnt_dim=3"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {REPO / 'recipes/synthetic.yaml'}: unknown key 'model.latnt_dim'; "
        "valid keys here: latent_dim, channels, kernel_size, groups, activation, subspaces"
    ]


def test_train_then_resume_and_refuse_overwrite(tmp_path, cache_dir):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_tree(cache_dir, max_steps=4)))
    runner = CliRunner()
    out = str(tmp_path / "run")
    first = runner.invoke(main, ["train", str(recipe), "--out", out])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["train", str(recipe), "--out", out])
    assert again.exit_code == 2 and "already holds a run; pass --resume" in again.output
    more = runner.invoke(main, ["train", str(recipe), "--out", out, "--resume",
                                "--set", "train.max_steps=6"])  # fmt: skip
    assert more.exit_code == 0, more.output
    assert "trained 6 steps" in more.output


def test_default_recipe_pointed_at_a_folder_reads_it(tmp_path, cache_dir):
    runner = CliRunner()
    res = runner.invoke(main, ["data", "synth", "-o", str(tmp_path / "notes"), *TINY_SYNTH])
    assert res.exit_code == 0, res.output
    args = [
        "train", str(REPO / "recipes/synthetic.yaml"), "--out", str(tmp_path / "run"),
        "--set", f"data.train={tmp_path / 'notes'}", "--set", "data.clip_seconds=0.5",
        "--set", f"features.cache_dir={cache_dir}", "--set", "model.channels=[8, 16]",
        "--set", "train.max_steps=2", "--set", "train.batch_size=4",
        "--set", "train.progress=false",
    ]  # fmt: skip
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["data"]["train_source"] == "notes" and manifest["data"]["train_clips"] == 7
    args[3] = str(tmp_path / "run2")
    res = runner.invoke(main, [*args[:4], "--set", f"data.train={tmp_path / 'nope'}"])
    assert res.exit_code == 2 and "data folder not found" in res.output


def test_resuming_a_finished_run_reports_and_changes_nothing(tmp_path, cache_dir):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_tree(cache_dir, max_steps=3)))
    runner = CliRunner()
    out = str(tmp_path / "run")
    assert runner.invoke(main, ["train", str(recipe), "--out", out]).exit_code == 0
    again = runner.invoke(main, ["train", str(recipe), "--out", out, "--resume"])
    assert again.exit_code == 0, again.output
    assert "trained 3 steps" in again.output and "validation loss" in again.output
