"""`audiovae export`: the written files run without audiovae and match the Python API."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from audiovae import AudioVAE
from audiovae.cli import main
from audiovae.deploy import export_model
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.models.conv import ConvVAE, ConvVAEConfig

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:FutureWarning")

FORMATS = ("torchscript", "onnx")
BATCHES = (1, 3)

# Runs in a fresh interpreter: -I -S (no site: the editable install's hook never runs), a cwd
# outside the repository, and only site-packages added, so `import audiovae` must fail.
STANDALONE = r"""
import json, sys
sys.path.append(sys.argv[1])
try:
    import audiovae
except ImportError:
    pass
else:
    raise SystemExit(f"audiovae is importable from {audiovae.__file__}")
import numpy as np

folder, data = sys.argv[2], sys.argv[3]
manifest = json.load(open(f"{folder}/manifest.json"))
if manifest["format"] == "torchscript":
    import torch

    def run(path, inputs, output):
        graph = torch.jit.load(path)
        with torch.no_grad():
            return graph(*(torch.from_numpy(x) for _, x in inputs)).numpy()
else:
    import onnxruntime

    def run(path, inputs, output):
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return session.run([output], dict(inputs))[0]

for name, graph in manifest["graphs"].items():
    for batch in (1, 3):
        inputs = [(t["name"], np.load(f"{data}/{name}.{t['name']}.b{batch}.npy"))
                  for t in graph["inputs"]]
        out = run(f"{folder}/{graph['file']}", inputs, graph["outputs"][0]["name"])
        np.save(f"{data}/{name}.out.b{batch}.npy", out)
print("torch" in sys.modules)
"""


def _notes(vae: AudioVAE, batch: int, seed: int) -> np.ndarray:
    """Noisy harmonic notes [batch, clip_samples], float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(vae.clip_samples) / vae.sample_rate
    f0 = rng.uniform(100, 800, (batch, 1))
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3)) * np.exp(-3 * t)
    return (0.3 * wave + 0.01 * rng.standard_normal(wave.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def vae(trained_run) -> AudioVAE:
    return AudioVAE.load(trained_run[0], device="cpu")


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory) -> dict[str, Path]:
    """The tiny run exported once per format through the CLI."""
    folders = {}
    for fmt in FORMATS:
        out = tmp_path_factory.mktemp(f"export-{fmt}")
        res = CliRunner().invoke(
            main, ["export", str(trained_run[0]), "--format", fmt, "-o", str(out)]
        )
        assert res.exit_code == 0, res.output
        assert res.output.count("wrote") == 4
        folders[fmt] = out
    return folders


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_run_without_audiovae_and_match_the_api(fmt, exported, vae, tmp_path):
    expected = {}
    for batch in BATCHES:
        audio = _notes(vae, batch, seed=batch)
        logmel = vae.logmel(audio).numpy()
        z = np.random.default_rng(batch).standard_normal((batch, vae.latent_dim)).astype("f4")
        feeds = {"encoder_audio.audio": audio, "encoder_logmel.logmel": logmel, "decoder.z": z}
        for key, value in feeds.items():
            np.save(tmp_path / f"{key}.b{batch}.npy", value)
        expected[("encoder_audio", batch)] = vae.encode(audio)[0].numpy()
        expected[("encoder_logmel", batch)] = vae.encode_logmel(logmel)[0].numpy()
        expected[("decoder", batch)] = vae.decode(z).numpy()

    script = tmp_path / "standalone.py"
    script.write_text(STANDALONE)
    site = sysconfig.get_paths()["purelib"]
    cmd = [sys.executable, "-I", "-S", str(script), site, str(exported[fmt]), str(tmp_path)]
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ("True" if fmt == "torchscript" else "False")  # onnx: no torch

    for (name, batch), want in expected.items():
        got = np.load(tmp_path / f"{name}.out.b{batch}.npy")
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{name} b{batch}")


def test_manifest_describes_the_model(exported, vae, trained_run):
    run = trained_run[0]
    for fmt, folder in exported.items():
        m = json.loads((folder / "manifest.json").read_text())
        assert m["format"] == fmt
        assert (m["sample_rate"], m["clip_samples"]) == (vae.sample_rate, vae.clip_samples)
        fe = vae.frontend
        assert (m["n_fft"], m["hop_length"], m["n_mels"]) == (fe.n_fft, fe.hop_length, fe.n_mels)
        assert m["frames"] == fe.num_frames(vae.clip_samples) == vae.model.cfg.frames
        assert m["latent_dim"] == vae.latent_dim and m["frontend"] == fe.config()
        assert m["conditions"] == {}
        digest = hashlib.sha256((run / "checkpoints/best.safetensors").read_bytes()).hexdigest()
        assert m["model"]["checkpoint_sha256"] == digest
        assert m["model"]["run"] == run.name and m["model"]["objective"] == "beta_vae"
        assert m["audiovae_version"] and m["model"]["step"] == vae.meta["step"]
        graphs = m["graphs"]
        suffix = {"torchscript": ".pt", "onnx": ".onnx"}[fmt]
        assert {n: g["file"] for n, g in graphs.items()} == {
            n: n + suffix for n in ("encoder_audio", "encoder_logmel", "decoder")
        }
        shapes = {(n, t["name"]): t["shape"] for n, g in graphs.items() for t in g["inputs"]}
        assert shapes == {
            ("encoder_audio", "audio"): ["batch", vae.clip_samples],
            ("encoder_logmel", "logmel"): ["batch", fe.n_mels, m["frames"]],
            ("decoder", "z"): ["batch", vae.latent_dim],
        }
        assert graphs["decoder"]["outputs"][0]["shape"] == ["batch", fe.n_mels, m["frames"]]
        assert graphs["encoder_audio"]["outputs"][0]["name"] == "mu"
        assert all(value < 1e-4 for value in m["checks"].values())


def test_torchscript_rejects_a_wrong_clip_length(exported, vae):
    graph = torch.jit.load(str(exported["torchscript"] / "encoder_audio.pt"))
    with pytest.raises(Exception, match="expected shape"):
        graph(torch.zeros(2, vae.clip_samples - 1))


def test_conditional_model_takes_the_condition_as_an_integer_input(tmp_path):
    fe = LogMelFrontEnd(sample_rate=8000, n_fft=256, hop_length=64, n_mels=16)
    cfg = ConvVAEConfig(n_mels=16, frames=17, latent_dim=4, channels=[8, 8],
                        conditions={"pitch": ["60", "62", "64"], "family": ["a", "b"]})  # fmt: skip
    torch.manual_seed(0)
    model = ConvVAE(cfg)
    model.normalizer.set_statistics(torch.randn(16) - 4, torch.rand(16) + 0.5)
    vae = AudioVAE(model, fe, clip_samples=1024, device="cpu")
    m = export_model(vae, tmp_path, "torchscript")
    assert m["conditions"] == cfg.conditions
    assert m["graphs"]["decoder"]["inputs"][1]["shape"] == ["batch", 2]

    z = torch.randn(3, 4)
    index = torch.tensor([[0, 1], [2, 0], [1, 1]])
    want = vae.decode(z, condition={"pitch": ["60", "64", "62"], "family": ["b", "a", "b"]})
    got = torch.jit.load(str(tmp_path / "decoder.pt"))(z, index)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    audio = torch.from_numpy(_notes(vae, 3, seed=0))
    want = vae.encode(audio, condition={"pitch": ["60", "64", "62"], "family": ["b", "a", "b"]})
    got = torch.jit.load(str(tmp_path / "encoder_audio.pt"))(audio, index)
    torch.testing.assert_close(got, want[0], rtol=1e-4, atol=1e-4)


def _one_line_error(args: list[str]) -> str:
    res = CliRunner().invoke(main, ["export", *args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def test_bad_input_is_one_line_with_status_2(tmp_path, monkeypatch):
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    out = str(tmp_path / "out")
    assert "no best checkpoint" in _one_line_error([str(empty), "--format", "onnx", "-o", out])
    line = _one_line_error([str(empty), "--format", "tflite", "-o", out])
    assert "'tflite'" in line and "torchscript, onnx" in line
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    line = _one_line_error([str(empty), "--format", "onnx", "-o", out])
    assert "'onnxruntime'" in line and "audiovae[export]" in line
    assert not (tmp_path / "out").exists()
