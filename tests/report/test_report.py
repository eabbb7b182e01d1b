"""`audiovae report` on the session's small trained run: a valid, self-contained HTML file whose
notes are the trainer's held-out clips, that Chromium opens with every image and sound decoded;
and a one-line error for a folder without a checkpoint."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import html5lib
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from audiovae.cli import main
from audiovae.report.content import SIZE_BUDGET_MB
from audiovae.report.heldout import data_notes, spread
from audiovae.report.media import encode_audio
from audiovae.report.run_info import redact_paths

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")
EVALUATION = {
    "model": "/somewhere/private/tiny",
    "checkpoint": "best",
    "data": "/somewhere/private/notes",
    "clips": 192,
    "reconstruction": {"logmel_l1": 0.61, "logmel_mse": 0.73},
    "kl_total": 56.7,
    "active_units": 15,
    "spectral_convergence": {"mean": 0.2345, "clips": 32},
    "log_px": {"skipped": True},
    "disentanglement": {"factors": ["instrument", "pitch"], "mig": 0.0571,
                        "dci": {"disentanglement": 0.071, "completeness": 0.08,
                                "informativeness": 0.8}},
    "listening": {
        "pairs": 24, "pitch_dims": [1, 4], "pitch_dims_chosen_by": "eta squared",
        "split": {"held_out": ["guitar_synthetic_001", "reed_synthetic_001"]},
        "swap": {"within_50_cents": 0.4167, "median_abs_cents": 61.0, "unvoiced": 2,
                 "family_kept": 0.875, "family_took_b": 0.1458},
        "ceiling": {"within_50_cents": 0.9583, "median_abs_cents": 3.0, "unvoiced": 0,
                    "family_kept": 0.9167, "family_took_b": None},
        "family_classifier": {"model": "logistic", "features": "pooled log-mel",
                              "heldout_accuracy": 0.8125, "chance": 0.25},
        "leakage": {"pitch_from_timbre": {"accuracy": 0.333, "chance": 0.0833, "dims": 14}},
        "examples": {"folder": "evaluate-notes.swaps", "swaps": [
            {"a": "n1", "b": "n2", "pitch_a": 48, "pitch_b": 55, "cents": 12.0,
             "files": {"a": "s0_a.wav", "b": "s0_b.wav", "swap": "s0_s.wav"}},
            {"a": "n3", "b": "n4", "pitch_a": 50, "pitch_b": 57, "cents": None,
             "files": {"a": "s1_a.wav", "b": "s1_b.wav", "swap": "s1_s.wav"}}]},
    },
}  # fmt: skip
"""The shape of `audiovae evaluate`'s JSON (with made-up values and paths that must not leak)."""


@pytest.fixture(scope="module")
def report(trained_run, tmp_path_factory) -> tuple[Path, Path, str]:
    """(run copy, report path, CLI output) of the default report of a copy of the trained run
    that also holds an evaluate JSON; 4 Griffin-Lim iterations keep it fast."""
    run = tmp_path_factory.mktemp("report-run") / "tiny"
    shutil.copytree(trained_run[0], run, ignore=shutil.ignore_patterns("report.html"))
    (run / "evaluate-notes.json").write_text(json.dumps(EVALUATION))
    swaps = run / "evaluate-notes.swaps"  # the listening test's example WAVs, as evaluate writes
    swaps.mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(8000) / 16000)
    for ex in EVALUATION["listening"]["examples"]["swaps"]:
        for name in ex["files"].values():
            sf.write(swaps / name, tone, 16000)
    out = run / "report.html"
    res = CliRunner().invoke(main, ["report", str(run), "-o", str(out), "--iters", "4"])
    assert res.exit_code == 0, res.output
    return run, out, res.output


def _tree(text: str):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(text)  # strict: any parse error raises


def test_report_is_valid_self_contained_html(report, tmp_path_factory):
    run, out, output = report
    text = out.read_text(encoding="utf-8")
    size = out.stat().st_size
    assert f"wrote {out}" in output and size < SIZE_BUDGET_MB * 1024 * 1024
    root = _tree(text)
    assert root.tag == "html" and root.get("lang") == "en"
    assert len(root.findall(".//h1")) == 1 and len(root.findall(".//h2")) == 8
    images = root.findall(".//img")
    assert len(images) >= 4 + 4 * 3 + 4 * 5 + 5
    for img in images:
        assert img.get("src", "").startswith("data:image/png;base64,")
        assert len((img.get("alt") or "").strip()) > 10, img.get("alt")
    audios = root.findall(".//audio")
    assert len(audios) == 4 * 3 + 4 * 5 + 5 + 1 + 2 * 3  # notes, traversal, morph, swaps
    for audio in audios:
        sources = [audio.get("src")] + [s.get("src") for s in audio.findall("source")]
        assert any(s and s.startswith("data:audio/") for s in sources)
        assert audio.get("controls") is not None and audio.get("aria-label")
        assert float(audio.get("data-seconds")) > 0
    # no external asset, no script, no local path (outside the base64 payloads)
    assert not root.findall(".//script") and not root.findall(".//link")
    for element in root.iter():
        href = element.get("href")
        assert href is None or href.startswith("#"), href
    prose = DATA_URI.sub("data:", text)
    for private in (str(run.parent), str(tmp_path_factory.getbasetemp()), str(Path.home()),
                    "/somewhere/private", str(Path.cwd())):  # fmt: skip
        assert private not in prose, private


def test_report_content_is_the_runs(report, trained_run):
    from audiovae.features.training_data import build_training_data
    from audiovae.recipe import frontend_from_recipe, load_recipe

    run, out, _ = report
    root = _tree(out.read_text(encoding="utf-8"))
    sections = {s.get("id"): s for s in root.iter("section")}
    recipe = load_recipe(run / "recipe.yaml")
    split = build_training_data(recipe, frontend_from_recipe(recipe), progress=False)
    held_out = {split.valid.ids[i] for i in split.valid_indices}
    training = {split.train.ids[i] for i in split.train_indices}
    notes = [h3.text for h3 in sections["notes"].iter("h3")]
    assert len(notes) == 4 and set(notes) <= held_out and not set(notes) & training
    kl_rows = sections["kl"].findall(".//tbody/tr")
    assert len(kl_rows) == 16  # the tiny model's latent_dim
    metrics = "".join(sections["metrics"].itertext())
    assert "0.2345" in metrics and "0.0571" in metrics and "instrument, pitch" in metrics
    listening = " ".join("".join(sections["listening"].itertext()).split())
    for text in ("42%", "61", "96%", "88%", "15%", "81%", "guitar_synthetic_001", "unvoiced"):
        assert text in listening, text
    assert len(sections["listening"].findall(".//audio")) == 6
    run_text = " ".join("".join(sections["run"].itertext()).split())
    assert "beta_vae" in run_text and "600 of 600 planned" in run_text
    assert "173 training and 19 validation clips" in run_text


def test_report_opens_in_chromium(report, tmp_path):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package `chromium` "
                    "(`make test` does: apt-get install -y chromium)")  # fmt: skip
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the `playwright` package is missing: pip install -e '.[dev]'")
    _, out, _ = report
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url[:40]))
            page.goto(out.resolve().as_uri(), wait_until="load")
            players = page.evaluate(
                """() => Promise.all([...document.querySelectorAll('audio')].map(a =>
                   Promise.race([
                     new Promise(done => {
                       const report = () => done({duration: a.duration, error: a.error &&
                         a.error.code, expected: parseFloat(a.dataset.seconds)});
                       if (a.readyState >= 1) report();
                       a.addEventListener('loadedmetadata', report);
                       a.addEventListener('error', report, true);
                       if (a.preload === 'none') a.load();
                     }),
                     new Promise(done => setTimeout(() => done({timeout: true}), 15000)),
                   ])))"""
            )
            images = page.evaluate(
                "() => [...document.images].map(i => i.complete && i.naturalWidth > 0)"
            )
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    if os.environ.get("AUDIOVAE_SCREENSHOT_DIR"):
        keep = Path(os.environ["AUDIOVAE_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / "report.png")
    assert not errors, errors
    assert all(u.startswith(("data:", "file:")) for u in requests), requests
    assert images and all(images)
    assert len(players) == 4 * 3 + 4 * 5 + 5 + 1 + 6  # + the listening section's 3 example swaps
    for player in players:
        assert "timeout" not in player and player["error"] is None, player
        assert abs(player["duration"] - player["expected"]) < 0.05, player
    assert shot.stat().st_size > 10_000


def test_report_of_a_folder_without_checkpoint_is_one_line(tmp_path):
    run = tmp_path / "not-trained"
    run.mkdir()
    (run / "recipe.yaml").write_text("data: {kind: synthetic}\n")
    res = CliRunner().invoke(main, ["report", str(run)])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(run) in lines[0]
    assert not (run / "report.html").exists()


def test_encode_audio_compact_and_falls_back_by_rate():
    t = torch.arange(16000) / 16000
    note = 0.5 * torch.sin(2 * torch.pi * 220 * t) * torch.exp(-3 * t)
    clip = encode_audio(note, 16000)
    assert clip.mime.startswith("audio/ogg") and clip.size < 16000 * 2 // 4
    assert clip.seconds == pytest.approx(1.0)
    odd = encode_audio(note[:11025], 11025)  # not an Opus rate
    assert odd.mime.startswith(('audio/ogg; codecs="vorbis"', "audio/wav"))
    with pytest.raises(ValueError):
        encode_audio(torch.zeros(0), 16000)


def test_redact_paths_and_spread():
    tree = {"a": "/home/me/data/notes", "b": ["~/x/y", "relative/z", 3], "c": "C:\\data\\n"}
    assert redact_paths(tree) == {"a": ".../notes", "b": [".../y", "relative/z", 3],
                                  "c": ".../" + Path("C:\\data\\n").name}  # fmt: skip
    assert spread(19, 4).tolist() == [0, 6, 12, 18] and spread(2, 4).tolist() == [0, 1]


def test_data_notes_from_a_folder(tmp_path):
    for i, f0 in enumerate((220, 330, 440)):
        t = np.arange(12000) / 16000
        sf.write(tmp_path / f"n{i}.wav", 0.3 * np.sin(2 * np.pi * f0 * t), 16000)
    choice = data_notes(tmp_path, 2, 16000, 7936)
    assert [n.id for n in choice.notes] == ["n0.wav", "n2.wav"] and not choice.held_out
    assert all(n.wave.shape == (7936,) for n in choice.notes)
    assert str(tmp_path.parent) not in choice.source
