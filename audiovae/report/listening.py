"""The report's listening-test section: `audiovae evaluate`'s swap test (pitch by pYIN, family by a
classifier, leakage probes) as a table, and its example swaps as players.

The numbers come from each evaluate JSON's "listening" section; the example WAVs from the folder
evaluate wrote beside that JSON (`evaluate-DATA.swaps/`). No model runs here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class ListeningView:
    """One evaluation's listening section and its example swaps (waveforms A, B, swap)."""

    name: str
    section: dict[str, Any]
    swaps: list[dict[str, Any]] = field(default_factory=list)


def gather_listening(
    run_dir: str | Path, evaluations: list[tuple[str, dict[str, Any]]], sample_rate: int
) -> list[ListeningView]:
    """The listening sections of the run's evaluations, with their example WAVs read back
    (missing or unreadable files are left out; the numbers still show)."""
    from audiovae.audio.io import load_audio

    views = []
    for name, result in evaluations:
        section = result.get("listening")
        if not isinstance(section, dict) or "swap" not in section:
            continue
        listed = (section.get("examples") or {}).get("swaps", [])
        folder = Path(run_dir) / Path(name).with_suffix(".swaps").name
        swaps = []
        for ex in listed:
            try:
                waves = {
                    k: load_audio(folder / ex["files"][k], sample_rate) for k in ("a", "b", "swap")
                }
            except Exception:  # a deleted or foreign file: show the numbers without this swap
                continue
            swaps.append({**ex, "waves": waves})
        views.append(ListeningView(name.removeprefix("evaluate-").removesuffix(".json"), section,
                                   swaps))  # fmt: skip
    return views


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.0f}%"


def _cents(value: Any) -> str:
    return "unvoiced" if value is None else f"{float(value):.0f}"


def _table(view: ListeningView, esc) -> str:
    s = view.section
    rows = []
    for label, row in (("swap (A's timbre, B's pitch dims)", s["swap"]),
                       ("ceiling: B resynthesised, no model", s["ceiling"])):  # fmt: skip
        rows.append(
            f'<tr><th scope="row">{esc(label)}</th><td class="num">{_pct(row["within_50_cents"])}'
            f'</td><td class="num">{_cents(row["median_abs_cents"])}</td>'
            f'<td class="num">{row["unvoiced"]}</td><td class="num">{_pct(row["family_kept"])}'
            f'</td><td class="num">{_pct(row["family_took_b"])}</td>'
            f'<td class="num">{_pct(row.get("instrument_kept"))}</td>'
            f'<td class="num">{_pct(row.get("instrument_took_b"))}</td></tr>'
        )
    return (
        f"<table><caption>Listening test on {esc(view.name)}: {s['pairs']} pairs of held-out "
        'instruments</caption><thead><tr><th scope="col">row</th>'
        '<th scope="col">within &plusmn;50 cents of B</th><th scope="col">median |cents|</th>'
        '<th scope="col">unvoiced</th><th scope="col">family kept (A&rsquo;s)</th>'
        '<th scope="col">took B&rsquo;s family</th><th scope="col">instrument kept (A&rsquo;s)'
        '</th><th scope="col">took B&rsquo;s instrument</th></tr></thead>'
        f"<tbody>{''.join(rows)}"
        "</tbody></table>"
    )


def _facts(view: ListeningView, esc) -> str:
    s = view.section
    items = [
        f"Pitch dimensions: {esc(s.get('pitch_dims'))} ({esc(s.get('pitch_dims_chosen_by'))})."
    ]
    clf = s.get("family_classifier")
    if clf:
        items.append(
            f"Family classifier ({esc(clf['model'])} on {esc(clf['features'])}): "
            f"{_pct(clf['heldout_accuracy'])} on real notes of held-out instruments "
            f"(chance {_pct(clf['chance'])})."
        )
    swap = s.get("swap") or {}
    if swap.get("instrument_chance") is not None:
        items.append(
            "Instrument heard: the held-out instrument of the nearest real note at B&rsquo;s pitch "
            "(standardised band statistics of the log-mel), over "
            f"{swap['instrument_pairs']} pairs; chance {_pct(swap['instrument_chance'])}. Its "
            "ceiling plays A&rsquo;s own real note at B&rsquo;s pitch through the stage."
        )
    for key, what in (("pitch_from_timbre", "Pitch read from the timbre dimensions"),
                      ("family_from_pitch", "Family read from the pitch dimensions")):  # fmt: skip
        probe = (s.get("leakage") or {}).get(key)
        if probe:
            items.append(
                f"{what} by a linear probe: {_pct(probe['accuracy'])} (chance "
                f"{_pct(probe['chance'])}, {probe['dims']} dimensions)."
            )
    held = (s.get("split") or {}).get("held_out") or []
    if held:
        items.append(f"Held-out instruments: {esc(', '.join(held))}.")
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _players(view: ListeningView, sample_rate: int, esc, audio_tag) -> str:
    if not view.swaps:
        return ""
    rows = []
    for i, ex in enumerate(view.swaps, 1):
        cells = []
        for key, what in (("a", "A"), ("b", "B"), ("swap", "swap")):
            label = f"Swap {i}: {what} ({ex['a'] if key == 'a' else ex['b']})"
            wave = ex["waves"][key]
            cells.append(f"<td>{audio_tag(torch.as_tensor(wave), sample_rate, label)}</td>")
        head = (
            f"{i}: pitch {ex['pitch_a']:g} &rarr; {ex['pitch_b']:g}<span>"
            f"{_cents(ex.get('cents'))} cents from B</span>"
        )
        rows.append(f'<tr><th scope="row">{head}</th>{"".join(cells)}</tr>')
    return (
        f'<table class="grid"><caption>Example swaps on {esc(view.name)}: A, B, and A decoded with '
        "B&rsquo;s pitch dimensions (one gain per row)</caption><thead><tr>"
        '<th scope="col">pair</th><th scope="col">A (timbre)</th><th scope="col">B (pitch)</th>'
        f'<th scope="col">swap</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def listening_html(views: list[ListeningView], sample_rate: int) -> str:
    """The whole section (an h2 with id "listening")."""
    from audiovae.report.page import audio_tag, esc

    head = (
        '<section id="listening" aria-labelledby="listening-h"><h2 id="listening-h">'
        "Listening test: pitch and timbre swaps</h2>"
    )
    if not views:
        return head + (
            "<p>No listening test yet: <code>audiovae evaluate RUN DATA</code> on labelled notes "
            "(pitch and instrument) runs it, and the next report shows it here.</p></section>"
        )
    intro = (
        "<p>Pairs (A, B) of notes from different held-out instruments at different pitches: A is "
        "decoded with B&rsquo;s pitch dimensions and played through the Griffin-Lim stage. pYIN "
        "reads the note each output plays (a hit within &plusmn;50 cents of B&rsquo;s pitch); "
        "a classifier of instrument family, trained on real notes only, says whose family it "
        "carries, and the nearest real note at B&rsquo;s pitch among the held-out instruments "
        "whose instrument. The ceiling row plays B through the same stage with no model (for "
        "the instrument columns: A&rsquo;s own note at B&rsquo;s pitch): the best a swap can "
        "score here.</p>"
    )
    parts = [head, intro]
    for view in views:
        parts += [_table(view, esc), _facts(view, esc), _players(view, sample_rate, esc, audio_tag)]
    return "".join(parts) + "</section>"
