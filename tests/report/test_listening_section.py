"""The report's listening section without a model: evaluate's JSON and WAVs in, valid HTML out."""

from __future__ import annotations

import html5lib
import numpy as np
import soundfile as sf

from audiovae.report.listening import gather_listening, listening_html

ROW = {"within_50_cents": 0.4167, "median_abs_cents": 61.0, "unvoiced": 2, "family_kept": 0.875,
       "family_took_b": 0.1458}  # fmt: skip
SECTION = {
    "pairs": 24, "pitch_dims": [1, 4], "pitch_dims_chosen_by": "eta squared",
    "split": {"held_out": ["reed_synthetic_001"]}, "swap": ROW,
    "ceiling": {**ROW, "within_50_cents": 0.9583, "family_took_b": None},
    "leakage": {"family_from_pitch": {"accuracy": 0.5, "chance": 0.25, "dims": 2}},
    "examples": {"swaps": [{"a": "n1", "b": "n2", "pitch_a": 48, "pitch_b": 55, "cents": None,
                            "files": {"a": "a.wav", "b": "b.wav", "swap": "s.wav"}}]},
}  # fmt: skip


def test_gather_and_render_the_listening_section(tmp_path):
    (tmp_path / "evaluate-notes.swaps").mkdir()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(4000) / 16000)
    for name in ("a.wav", "b.wav", "s.wav"):
        sf.write(tmp_path / "evaluate-notes.swaps" / name, tone, 16000)
    evaluations = [("evaluate-notes.json", {"listening": SECTION}),
                   ("evaluate-other.json", {"listening": {"skipped": True}})]  # fmt: skip
    views = gather_listening(tmp_path, evaluations, 16000)
    assert len(views) == 1 and views[0].name == "notes" and len(views[0].swaps) == 1
    np.testing.assert_allclose(views[0].swaps[0]["waves"]["b"].numpy(), tone, atol=1e-4)
    head = "<!DOCTYPE html><html lang=en><head><title>t</title></head><body>"
    page = f"{head}{listening_html(views, 16000)}</body></html>"
    root = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)
    text = " ".join("".join(root.itertext()).split())
    for part in ("42%", "61", "96%", "88%", "15%", "unvoiced", "50% (chance 25%, 2 dimensions)"):
        assert part in text, part
    assert len(root.findall(".//audio")) == 3 and all(
        a.get("aria-label") for a in root.iter("audio")
    )
    (tmp_path / "evaluate-notes.swaps" / "s.wav").unlink()  # a missing WAV: numbers, no players
    assert gather_listening(tmp_path, evaluations, 16000)[0].swaps == []
    assert "No listening test yet" in listening_html([], 16000)
