"""swap / morph / traverse acting on named latent blocks, through the Python API and the CLI."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from support import tiny_tree

from audiovae.api import AudioVAE
from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, note_table, render_note
from audiovae.cli import main
from audiovae.generate.operations import morph, traverse
from audiovae.generate.render import first_windows
from audiovae.generate.swapping import swap
from audiovae.recipe import recipe_from_dict
from audiovae.train.trainer import Trainer


@pytest.fixture(scope="module")
def block_run(tmp_path_factory, cache_dir):
    """A few steps of a pitch / timbre sub-space model (the mechanics need no good model)."""
    tree = tiny_tree(cache_dir, max_steps=4, validate_every=4)
    tree["model"] = {"subspaces": {"pitch": 4, "timbre": 12}, "channels": [16, 32, 64]}
    tree["objective"] = {"name": "subspace_vae", "scale": 0.3,
                         "supervise": {"pitch": "pitch", "timbre": "instrument"}}  # fmt: skip
    out = tmp_path_factory.mktemp("blocks") / "run"
    Trainer(recipe_from_dict(tree), out).fit()
    return out


@pytest.fixture(scope="module")
def two_notes(tmp_path_factory):
    d = tmp_path_factory.mktemp("block-notes")
    cfg = SynthConfig(pitches=(48, 57), families=("guitar",), instruments_per_family=1,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=0.496)  # fmt: skip
    return tuple(write_wav(d / f"{n}.wav", render_note(r, cfg), 16000, subtype="FLOAT")
                 for n, r in zip("ab", note_table(cfg), strict=True))  # fmt: skip


def _mu(vae, a, b):
    return vae.encode(first_windows(vae, [a, b]))[0].cpu()


def test_swap_takes_a_named_block(block_run, two_notes):
    vae = AudioVAE.load(block_run, device="cpu")
    a, b = two_notes
    z = _mu(vae, a, b)
    s = swap(vae, a, b, take="pitch", n_iter=2)
    assert s.dims == [0, 1, 2, 3] and s.block == "pitch" and s.labels[2] == "A, B's pitch block"
    torch.testing.assert_close(s.z[2].cpu(), vae.set_block(z[0], "pitch", z[1, :4]))
    by_factor = swap(vae, a, b, factor="instrument", n_iter=2)  # the block tied to the label
    assert by_factor.block == "timbre" and by_factor.dims == list(range(4, 16))


def test_morph_moves_one_block_and_traverse_stays_in_it(block_run, two_notes):
    vae = AudioVAE.load(block_run, device="cpu")
    a, b = two_notes
    z = _mu(vae, a, b)
    m = morph(vae, a, b, 3, subspace="timbre", n_iter=2)
    path = m.z.cpu()
    assert torch.equal(path[:, :4], z[0, :4].expand(3, 4))  # pitch kept: A's
    torch.testing.assert_close(path[0, 4:], z[0, 4:])
    torch.testing.assert_close(path[2, 4:], z[1, 4:])
    torch.testing.assert_close(path[1, 4:], (z[0, 4:] + z[1, 4:]) / 2)
    t = traverse(vae, subspace="pitch", values=[-1.0, 1.0], n_iter=2)
    assert sorted(t.dims) == [0, 1, 2, 3]


def test_cli_block_options_and_their_errors(block_run, two_notes, tmp_path):
    a, b = two_notes
    runner = CliRunner()
    res = runner.invoke(main, ["swap", str(block_run), str(a), str(b), "--take", "pitch",
                               "--iters", "2", "-o", str(tmp_path / "s")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "took the pitch block, dimensions [0, 1, 2, 3]" in res.output
    res = runner.invoke(main, ["morph", str(block_run), str(a), str(b), "--subspace", "timbre",
                               "--steps", "2", "--iters", "2", "-o", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["traverse", str(block_run), "--subspace", "timbre", "--steps", "2",
                               "--iters", "2", "-o", str(tmp_path / "t")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "t").glob("dim*.wav"))) == 12 * 2
    res = runner.invoke(main, ["swap", str(block_run), str(a), str(b), "--take", "loudness",
                               "-o", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 2
    assert "--take 'loudness': this model's latent sub-spaces: pitch, timbre" in res.output
    res = runner.invoke(main, ["swap", str(block_run), str(a), str(b), "--take", "pitch",
                               "--dims", "0", "-o", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 2 and "not both" in res.output
