"""`resynth --recipe`: the front end taken from a recipe, with no model and no run folder; the
command loads nothing from the training package."""

from __future__ import annotations

import subprocess
import sys

import soundfile as sf
from support import REPO

from audiovae.audio.io import write_wav
from audiovae.audio.synth import SynthConfig, note_table, render_note


def test_resynth_from_a_recipe_writes_the_note_and_never_imports_train(tmp_path):
    cfg = SynthConfig(pitches=(57,), families=("reed",), instruments_per_family=1,
                      velocities=(100,), vibrato_depths=(0.0,), seconds=0.5)  # fmt: skip
    note = write_wav(tmp_path / "a.wav", render_note(note_table(cfg)[0], cfg), 16000)
    code = (
        "import sys\n"
        "from audiovae.cli import main\n"
        f"args = ['resynth', {str(note)!r}, '--recipe', {str(REPO / 'recipes/synthetic.yaml')!r},"
        f" '--iters', '4', '--no-png', '-o', {str(tmp_path / 'out')!r}]\n"
        "try:\n    main(args)\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('audiovae.train')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    data, sr = sf.read(tmp_path / "out" / "a.resynth.wav")
    assert sr == 16000 and data.shape[0] == sf.info(note).frames
