"""ReportContent -> one HTML page: inline CSS, no script, every image and sound a data URI.

Accessibility: one h1, an h2 per section and an h3 per note; a table of contents; native audio
controls (keyboard operable) each with an aria-label and a visible caption; meaningful alt text
on every image; tables with captions and header scopes. No local path is written: the run is
named by its folder's name, and recipe / manifest paths arrive redacted (run_info.redact_paths).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

import torch
import yaml

from audiovae.metrics.evaluate import ACTIVE_UNIT_THRESHOLD
from audiovae.report import figures
from audiovae.report.content import ReportContent
from audiovae.report.media import EncodedAudio, encode_audio, png_uri
from audiovae.report.sounds import Clip
from audiovae.run_manifest import RunManifest, RuntimeInfo

NOTE_LABELS = ("pitch", "velocity", "instrument_family_str", "vibrato")  # shown under a note's id

CSS = """
:root { --fg: #1b1b1f; --muted: #50545c; --accent: #0a58a8; --panel: #f4f5f7;
  --border: #d5d8de; --warn: #8a4500; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 8px; }
h1 { font-size: 1.75rem; margin: 16px 0 2px; }
h2 { font-size: 1.3rem; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--border); }
h3 { font-size: 1rem; margin: 18px 0 6px; }
p { margin: 6px 0 10px; max-width: 80ch; }
.lead { color: var(--muted); margin-top: 0; }
a { color: var(--accent); }
a:focus-visible, summary:focus-visible, audio:focus-visible {
  outline: 3px solid #f5a623; outline-offset: 2px; }
nav ul { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap;
  gap: 4px 18px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { font-size: .9em; background: var(--panel); padding: 1px 4px; border-radius: 3px; }
pre { background: var(--panel); padding: 12px 14px; border-radius: 6px; overflow-x: auto;
  font-size: .8rem; line-height: 1.35; }
details { margin: 10px 0; }
summary { cursor: pointer; color: var(--accent); }
.columns { display: grid; grid-template-columns: minmax(0, 1.15fr) minmax(0, 1fr); gap: 8px 40px;
  align-items: start; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 5px 16px;
  margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 4px 0 8px; }
caption { text-align: left; font-weight: 600; padding: 0 0 6px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--border); text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid var(--border); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0; }
img { display: block; max-width: 100%; height: auto; }
figure.plot { margin: 8px 0 12px; }
figure.plot img { border: 1px solid var(--border); border-radius: 4px; }
figcaption { color: var(--muted); font-size: .87rem; margin-top: 4px; }
.clip img { width: 100%; border-radius: 4px; }
.clip audio { display: block; width: 100%; height: 34px; margin-top: 6px; }
.clip figcaption { margin-top: 2px; }
.note { border: 1px solid var(--border); border-radius: 8px; padding: 4px 16px 14px;
  margin: 14px 0; }
.note h3 { margin: 10px 0 0; }
.note .labels { color: var(--muted); font-size: .87rem; margin: 0 0 8px; }
.note .clip img { aspect-ratio: 5 / 2; object-fit: fill; }
.triple { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; }
.scale { display: flex; align-items: center; gap: 14px; color: var(--muted); font-size: .87rem; }
.scale img { width: 300px; }
table.grid { width: 100%; table-layout: fixed; }
table.grid th, table.grid td { border: none; padding: 6px 5px; }
table.grid thead th { text-align: center; font-weight: 600; }
table.grid tbody th { width: 118px; font-weight: 600; }
table.grid tbody th span { display: block; font-weight: 400; color: var(--muted);
  font-size: .85rem; }
.collapsed { color: var(--warn); }
.strip { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; }
.joined { max-width: 560px; margin-top: 14px; }
.joined audio { display: block; width: 100%; height: 40px; }
footer { margin-top: 40px; padding-bottom: 28px; color: var(--muted); font-size: .85rem;
  border-top: 1px solid var(--border); padding-top: 10px; }
@media (max-width: 760px) {
  .columns, .triple { grid-template-columns: 1fr; }
  header, main, footer { padding: 0 12px; }
}
"""


def esc(value: Any) -> str:
    """Text for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: ints as they are, floats to `digits` significant figures."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"
    return str(value)


def duration(seconds: float | None) -> str:
    """12 s, 2 min 31 s, 1 h 05 min."""
    if seconds is None:
        return "not recorded (no TensorBoard events in logs/)"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class _Ids:
    """Unique element ids for labels and captions."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"


def audio_tag(wave: torch.Tensor, sample_rate: int, label: str,
              encoded: Future[EncodedAudio] | None = None) -> str:  # fmt: skip
    """A native <audio> player with one data: source, labelled for screen readers; its true
    duration is in data-seconds (the browser test compares it with what the player decodes).
    `encoded`: the wave's encoding already under way (see media.AudioEncoder)."""
    clip = encoded.result() if encoded is not None else encode_audio(wave, sample_rate)
    return (
        f'<audio controls preload="metadata" aria-label="{esc(label)}" '
        f'data-seconds="{clip.seconds:.4f}"><source src="{clip.uri}" type="{esc(clip.mime)}">'
        f"Your browser cannot play {esc(clip.mime.split(';')[0])}.</audio>"
    )


def img_tag(png: bytes, alt: str, width: int | None = None) -> str:
    """An <img> with its PNG inline and its alt text (never empty)."""
    if not alt.strip():
        raise ValueError("every image needs alt text")
    size = f' width="{width}"' if width else ""
    return f'<img src="{png_uri(png)}" alt="{esc(alt)}"{size}>'


def _scale(clips: Sequence[Clip]) -> tuple[float, float]:
    """One colour scale for a group of log-mels: from the quietest to the loudest value."""
    lo = min(float(c.logmel.min()) for c in clips)
    hi = max(float(c.logmel.max()) for c in clips)
    return lo, hi


def _scale_legend(vmin: float, vmax: float, what: str) -> str:
    alt = f"Colour scale of {what}: log mel power from {vmin:.1f} (dark) to {vmax:.1f} (bright)"
    return (
        f'<div class="scale">{img_tag(figures.colour_scale(vmin, vmax), alt)}'
        f"<span>Spectrograms: time runs left to right, low mel bands at the bottom; every "
        f"spectrogram of this section shares this colour scale.</span></div>"
    )


def _clip_figure(
    clip: Clip, scale: tuple[float, float], caption: str | None, alt: str, label: str,
    sample_rate: int, ids: _Ids,
) -> str:  # fmt: skip
    """A spectrogram thumbnail with its player and a visible caption (none in a table cell,
    whose row and column headers say what it is)."""
    png = figures.spectrogram_thumbnail(clip.logmel, *scale)
    media = f"{img_tag(png, alt)}{audio_tag(clip.wave, sample_rate, label, clip.audio)}"
    if caption is None:
        return f'<figure class="clip">{media}</figure>'
    cap = ids("cap")
    return (
        f'<figure class="clip" aria-labelledby="{cap}">{media}'
        f'<figcaption id="{cap}">{caption}</figcaption></figure>'
    )


def _note_labels(labels: dict[str, Any]) -> str:
    """A few of a note's labels as one line ("pitch 48 · velocity 50 · ...")."""
    parts = [
        f"{k.removesuffix('_str').replace('instrument_', '')} {labels[k]}"
        for k in NOTE_LABELS
        if k in labels and labels[k] is not None
    ]
    return " · ".join(parts)


def signed(value: float) -> str:
    """A traversal value: -3, -1.5, 0, +1.5, +3."""
    return "0" if value == 0 else f"{value:+.3g}"


# ------------------------------------------------------------------------------------ sections


def _objective_text(objective: dict[str, Any]) -> str:
    name = objective.get("name", "?")
    keys = ", ".join(f"{k} {v}" for k, v in objective.items() if k != "name" and v is not None)
    return f"<code>{esc(name)}</code>" + (f" ({esc(keys)})" if keys else "")


def _data_text(recipe: dict[str, Any], manifest: RunManifest | None) -> str:
    data = recipe.get("data", {})
    kind = data.get("kind", "?")
    summary = manifest.data if manifest is not None else None
    if kind == "synthetic" and not data.get("train"):
        s = data.get("synthetic", {})
        grid = [len(s.get("pitches", [])), len(s.get("families", [])),
                s.get("instruments_per_family", 0), len(s.get("velocities", [])),
                len(s.get("vibrato_depths", []))]  # fmt: skip
        total = math.prod(grid)
        what = (
            f"synthetic notes: {grid[0]} pitches &times; {grid[1]} families &times; {grid[2]} "
            f"instruments &times; {grid[3]} velocities &times; {grid[4]} vibrato depths = "
            f"{total:,} notes"
        )
    else:
        what = f"{esc(kind)}: <code>{esc(data.get('train'))}</code>"
        if data.get("valid"):
            what += f", validation <code>{esc(data['valid'])}</code>"
    if summary is not None and summary.train_clips is not None:
        what += (
            f"; {fmt(summary.train_clips)} training and {fmt(summary.valid_clips)} validation clips"
        )
        if summary.skipped:
            what += f" ({fmt(summary.skipped)} unreadable files skipped)"
    seconds = data.get("clip_seconds")
    if seconds:
        what += f"; {seconds} s clips at {fmt(data.get('sample_rate'))} Hz"
    return what


def _device_text(train: dict[str, Any], runtime: RuntimeInfo | None = None) -> str:
    device = train.get("device", "auto")
    text = f"<code>{esc(device)}</code>"
    if runtime is not None:  # recorded by the trainer since torchrun support
        ran = f"{runtime.device_name or runtime.device}"
        if runtime.world_size > 1:
            ran += f" x {runtime.world_size} processes"
        text += f": ran on {esc(ran)}, {esc(str(runtime.threads))} threads per process"
    elif device == "auto":
        text += " (CUDA, then MPS, then CPU; which one ran is not recorded in the run folder)"
    extra = [f"precision {train['precision']}"] if train.get("precision") else []
    if train.get("num_threads"):
        extra.append(f"{train['num_threads']} CPU threads")
    return text + (f"; {esc(', '.join(extra))}" if extra else "")


def _steps_text(c: ReportContent) -> str:
    train = c.run.recipe.get("train", {})
    planned = train.get("max_steps")
    text = f"{fmt(c.run.steps)}"
    if planned:
        text += f" of {fmt(planned)} planned"
    if train.get("batch_size"):
        text += f", batch {fmt(train['batch_size'])}"
    rate = c.run.examples_per_s()
    if rate:
        text += f", {fmt(round(rate))} examples/s (median)"
    if c.best_step is not None:
        chosen_by = "loss" if train.get("select_best_on") == "loss" else "recon + KL"
        text += f"; best validation {chosen_by} at step {fmt(c.best_step)} (the weights heard here)"
    return text


def _losses_table(c: ReportContent) -> str:
    train, valid = c.run.final("train"), c.run.final("valid")
    names = [n for n in c.run.term_names() if n in train or n in valid]
    if not names:
        return "<p>No losses were logged (metrics.jsonl is missing or empty).</p>"
    rows = "".join(
        f'<tr><th scope="row">{esc(n)}</th><td class="num">{fmt(train.get(n))}</td>'
        f'<td class="num">{fmt(valid.get(n))}</td></tr>'
        for n in names
    )
    return (
        "<table><caption>Final losses (per-example sums, nats)</caption><thead><tr>"
        '<th scope="col">term</th><th scope="col">train (last log)</th>'
        f'<th scope="col">validation (last)</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _run_section(c: ReportContent) -> str:
    run, recipe, manifest = c.run, c.run.recipe, c.run.manifest
    model = recipe.get("model", {})
    versions = manifest.versions if manifest is not None else {}
    git = manifest.git if manifest is not None else None
    facts = [
        ("Run", f"<code>{esc(run.name)}</code>"),
        ("Objective", _objective_text(recipe.get("objective", {}))),
        ("Data", _data_text(recipe, manifest)),
        ("Model", f"{c.latent_dim} latent dimensions, conv channels "
                  f"{esc(model.get('channels'))}; input {c.n_mels} mel bands &times; "
                  f"{c.clip_seconds:.3g} s"),
        ("Steps", _steps_text(c)),
        ("Wall time", esc(duration(run.wall_seconds))),
        ("Device", _device_text(recipe.get("train", {}), manifest and manifest.runtime)),
        ("Software", esc(", ".join(f"{k} {v}" for k, v in versions.items() if v))
         + (f"; commit <code>{esc(git.commit[:10])}</code>"
            + (" (uncommitted changes)" if git.dirty else "") if git else "")),
    ]  # fmt: skip
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    recipe_yaml = yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None, width=90)
    return (
        '<section id="run" aria-labelledby="run-h"><h2 id="run-h">The run</h2>'
        f'<div class="columns"><dl class="facts">{dl}</dl><div>{_losses_table(c)}</div></div>'
        "<details><summary>The full recipe (<code>recipe.yaml</code>, every default filled in)"
        f"</summary><pre><code>{esc(recipe_yaml)}</code></pre></details></section>"
    )


def _curves_section(c: ReportContent) -> str:
    head = '<section id="curves" aria-labelledby="curves-h"><h2 id="curves-h">Training curves</h2>'
    terms = c.run.term_names()
    if not c.run.history or not terms:
        return head + "<p>No training curves: metrics.jsonl is missing or empty.</p></section>"
    valid = c.run.final("valid")
    alt = (
        f"Line charts of {', '.join(terms)} against the training step, training in orange and "
        f"validation in blue, over {c.run.steps} steps"
        + (f"; final validation loss {fmt(valid['loss'])}" if "loss" in valid else "")
    )
    caption = (
        "Each panel is one logged term: <code>loss</code> (what the optimiser minimises), "
        "<code>recon</code> (negative log-likelihood of the log-mel), <code>kl</code> (KL to the "
        "prior, nats per example) and the objective's own terms. Training values are means "
        "over each logging interval; validation is the whole validation set."
    )
    return (
        head + f'<figure class="plot">{img_tag(figures.training_curves(c.run.history, terms), alt)}'
        f"<figcaption>{caption}</figcaption></figure></section>"
    )


def _kl_section(c: ReportContent) -> str:
    head = '<section id="kl" aria-labelledby="kl-h"><h2 id="kl-h">KL per latent dimension</h2>'
    kl = c.kl_per_dim
    if kl is None:
        return head + "<p>KL per dimension was not recorded for this run.</p></section>"
    order = sorted(range(len(kl)), key=lambda d: -kl[d])
    collapsed = [d for d in order if kl[d] < c.collapsed_kl]
    top, low = order[0], order[-1]
    alt = (
        f"Bar chart of the KL of each of the {len(kl)} latent dimensions, sorted from highest "
        f"(z{top}, {kl[top]:.2f} nats) to lowest (z{low}, {kl[low]:.3f} nats) on a log scale; "
        f"{len(collapsed)} collapsed below {c.collapsed_kl} nats"
    )
    summary = (
        f"{len(kl) - len(collapsed)} of {len(kl)} dimensions carry information; "
        + (
            f'<span class="collapsed">{len(collapsed)} collapsed</span> '
            f"({', '.join(f'z{d}' for d in collapsed)})"
            if collapsed
            else "none collapsed"
        )
        + f". Collapsed: mean KL below {c.collapsed_kl} nats (grey, hatched): such a dimension "
        f"decodes to the same sound whatever its value, as <code>audiovae traverse</code> marks "
        f"it. KL from the {esc(c.kl_source)}; total {sum(kl):.1f} nats."
    )
    rows = "".join(
        f'<tr><th scope="row">z{d}</th><td class="num">{kl[d]:.4f}</td>'
        f"<td>{'collapsed' if kl[d] < c.collapsed_kl else 'active'}</td></tr>"
        for d in order
    )
    table = (
        "<details><summary>The values as a table</summary><table><caption>KL per dimension, "
        'sorted</caption><thead><tr><th scope="col">dimension</th><th scope="col">KL (nats)'
        f'</th><th scope="col">state</th></tr></thead><tbody>{rows}</tbody></table></details>'
    )
    png = figures.kl_per_dimension(kl, c.collapsed_kl)
    return (
        head + f'<figure class="plot">{img_tag(png, alt)}<figcaption>{summary}</figcaption>'
        f"</figure>{table}</section>"
    )


def _notes_section(c: ReportContent, ids: _Ids) -> str:
    title = "Held-out notes" if c.choice.held_out else "Notes"
    out = [
        f'<section id="notes" aria-labelledby="notes-h"><h2 id="notes-h">{title}: input, '
        "Griffin-Lim ceiling, reconstruction</h2>",
        f"<p>{esc(c.choice.source)}. For each: the <strong>input</strong> as recorded; the "
        "<strong>Griffin-Lim ceiling</strong>, its true log-mel through the vocoder-free "
        "mel-to-audio stage with no model (what <code>audiovae resynth</code> does: the best any "
        "model can sound here); and the <strong>reconstruction</strong>, the decoded posterior "
        f"mean through the same stage ({c.griffin_lim_iters} Griffin-Lim iterations). The three "
        "share one gain, so their loudness compares.</p>",
    ]
    clips = [clip for s in c.notes for clip in (s.input, s.ceiling, s.reconstruction)]
    scale = _scale(clips)
    out.append(_scale_legend(*scale, "the notes"))
    for s in c.notes:
        labels = _note_labels(s.note.labels)
        parts = []
        for clip, what, long in (
            (s.input, "Input", "the input"),
            (s.ceiling, "Griffin-Lim ceiling", "the Griffin-Lim ceiling (true log-mel, no model)"),
            (s.reconstruction, "Reconstruction", "the model's reconstruction"),
        ):
            parts.append(_clip_figure(
                clip, scale, what, f"Log-mel spectrogram of {long} of note {s.note.id}",
                f"{what} of note {s.note.id}", c.sample_rate, ids,
            ))  # fmt: skip
        out.append(
            f'<article class="note"><h3>{esc(s.note.id)}</h3>'
            + (f'<p class="labels">{esc(labels)}</p>' if labels else "")
            + f'<div class="triple">{"".join(parts)}</div></article>'
        )
    return "".join(out) + "</section>"


def _traversal_section(c: ReportContent, ids: _Ids) -> str:
    t = c.traversal
    out = [
        '<section id="traversal" aria-labelledby="traversal-h"><h2 id="traversal-h">'
        "Latent traversal</h2>",
        f"<p>Each row sets one latent dimension to the value at the top of its column and keeps "
        f"every other dimension at the posterior mean of note <code>{esc(t.center)}</code>. "
        + (
            "Rows are the dimensions of highest KL (most informative first)"
            if t.kl is not None
            else "KL per dimension is unknown, so rows are the first dimensions"
        )
        + f"; collapsed ones (KL below {c.collapsed_kl} nats) are marked. Every cell plays its "
        "sound; the grid shares one gain.</p>",
    ]
    scale = _scale([cell for row in t.cells for cell in row])
    out.append(_scale_legend(*scale, "the traversal"))
    head = "".join(f'<th scope="col">z = {signed(v)}</th>' for v in t.values)
    rows = []
    for r, dim in enumerate(t.dims):
        kl = f"KL {t.kl[r]:.2f} nats" if t.kl is not None else ""
        state = '<span class="collapsed">collapsed</span>' if t.collapsed[r] else ""
        cells = []
        for value, cell in zip(t.values, t.cells[r], strict=True):
            cells.append("<td>" + _clip_figure(
                cell, scale, None, f"Log-mel spectrogram decoded with z{dim} = {signed(value)}",
                f"Traversal: z{dim} set to {signed(value)}", c.sample_rate, ids,
            ) + "</td>")  # fmt: skip
        rows.append(f'<tr><th scope="row">z{dim}<span>{kl}</span>{state}</th>{"".join(cells)}</tr>')
    out.append(
        f'<table class="grid"><caption>Traversal around note {esc(t.center)}: rows are latent '
        f'dimensions, columns the values they are set to</caption><thead><tr><th scope="col">'
        f"dimension</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return "".join(out) + "</section>"


def _morph_section(c: ReportContent, ids: _Ids) -> str:
    m = c.morph
    head = '<section id="morph" aria-labelledby="morph-h"><h2 id="morph-h">Morph</h2>'
    if m is None:
        return head + "<p>A morph needs two notes; this report has one.</p></section>"
    out = [
        head,
        f"<p>From note <code>{esc(m.a)}</code> to note <code>{esc(m.b)}</code>: the posterior "
        "means interpolated on a straight line (as <code>audiovae morph</code>), each step "
        "decoded and played through the mel-to-audio stage. The steps share one gain.</p>",
    ]
    scale = _scale(m.steps)
    out.append(_scale_legend(*scale, "the morph"))
    figs = []
    for t, clip in zip(m.fractions, m.steps, strict=True):
        end = " (A)" if t == 0 else " (B)" if t == 1 else ""
        figs.append(_clip_figure(
            clip, scale, f"{t:.2f} of the way{end}",
            f"Log-mel spectrogram of the morph step {t:.2f} of the way from {m.a} to {m.b}",
            f"Morph step {t:.2f}{end}", c.sample_rate, ids,
        ))  # fmt: skip
    out.append(f'<div class="strip">{"".join(figs)}</div>')
    cap = ids("cap")
    label = f"All morph steps from {m.a} to {m.b} in a row"
    out.append(
        f'<figure class="joined" aria-labelledby="{cap}">'
        f'{audio_tag(m.joined, c.sample_rate, label, m.joined_audio)}<figcaption id="{cap}">All '
        f"{len(m.steps)} steps in a row, {m.crossfade_seconds * 1000:.0f} ms crossfades"
        "</figcaption></figure>"
    )
    return "".join(out) + "</section>"


EVALUATE_ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("clips", ("clips",)),
    ("log-mel L1", ("reconstruction", "logmel_l1")),
    ("log-mel MSE", ("reconstruction", "logmel_mse")),
    ("spectral convergence (after Griffin-Lim)", ("spectral_convergence", "mean")),
    ("KL total (nats)", ("kl_total",)),
    (f"active units (Cov of mu > {ACTIVE_UNIT_THRESHOLD})", ("active_units",)),
    ("log p(x), IWAE (nats per clip)", ("log_px", "mean")),
    ("MIG", ("disentanglement", "mig")),
    ("SAP", ("disentanglement", "sap")),
    ("DCI disentanglement", ("disentanglement", "dci", "disentanglement")),
    ("DCI completeness", ("disentanglement", "dci", "completeness")),
    ("DCI informativeness", ("disentanglement", "dci", "informativeness")),
    ("FactorVAE score", ("disentanglement", "factor_vae_score")),
    ("beta-VAE score", ("disentanglement", "beta_vae_score")),
]
"""(label, key path into evaluate's JSON) of each row of the metrics table."""


def _lookup(tree: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _metrics_section(c: ReportContent) -> str:
    head = (
        '<section id="metrics" aria-labelledby="metrics-h"><h2 id="metrics-h">'
        "Evaluation metrics</h2>"
    )
    evals = c.run.evaluations
    if not evals:
        return head + (
            "<p>This run folder holds no evaluation yet. <code>audiovae evaluate RUN DATA</code> "
            "writes <code>RUN/evaluate-DATA.json</code>, and the next report shows it here.</p>"
            "</section>"
        )
    names = [name.removeprefix("evaluate-").removesuffix(".json") for name, _ in evals]
    cols = "".join(f'<th scope="col">on {esc(n)}</th>' for n in names)
    rows = []
    for label, path in EVALUATE_ROWS:
        values = [_lookup(result, path) for _, result in evals]
        if all(v is None for v in values):
            continue
        cells = "".join(f'<td class="num">{fmt(v)}</td>' for v in values)
        rows.append(f'<tr><th scope="row">{esc(label)}</th>{cells}</tr>')
    factors = [", ".join(_lookup(r, ("disentanglement", "factors")) or []) for _, r in evals]
    if any(factors):
        cells = "".join(f"<td>{esc(f) or '–'}</td>" for f in factors)
        rows.append(f'<tr><th scope="row">factors</th>{cells}</tr>')
    files = ", ".join(f"<code>{esc(name)}</code>" for name, _ in evals)
    return head + (
        f"<p>From {files}, written by <code>audiovae evaluate</code> (its estimator choices are in "
        "the JSON).</p><table><caption>Metrics of the best checkpoint</caption><thead><tr>"
        f'<th scope="col">metric</th>{cols}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "</section>"
    )


def render_page(c: ReportContent) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    from audiovae.report.listening import listening_html

    ids = _Ids()
    sections = [
        _run_section(c),
        _curves_section(c),
        _kl_section(c),
        _notes_section(c, ids),
        _traversal_section(c, ids),
        _morph_section(c, ids),
        _metrics_section(c),
        listening_html(c.listening, c.sample_rate),
    ]
    toc = [("run", "The run"), ("curves", "Training curves"), ("kl", "KL per dimension"),
           ("notes", "Notes"), ("traversal", "Traversal"), ("morph", "Morph"),
           ("metrics", "Evaluation metrics"), ("listening", "Listening test")]  # fmt: skip
    nav = "".join(f'<li><a href="#{key}">{text}</a></li>' for key, text in toc)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = (c.run.manifest.trained_with if c.run.manifest is not None else None) or ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>audiovae report: {esc(c.run.name)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<header><h1>Run report: {esc(c.run.name)}</h1>"
        f'<p class="lead">A {esc(c.run.recipe.get("objective", {}).get("name", "VAE"))} model of '
        f"log-mel spectrograms, {c.latent_dim} latent dimensions. One self-contained file: "
        "every image and sound is embedded, so it reads offline.</p>"
        f'<nav aria-label="Sections"><ul>{nav}</ul></nav></header>\n<main>\n'
        + "\n".join(sections)
        + f"\n</main>\n<footer>Written {stamp} by <code>audiovae report</code>"
        + (f" (audiovae {esc(version)} trained this run)" if version else "")
        + ". Sounds: Griffin-Lim from decoded log-mels, no neural vocoder.</footer>\n"
        "</body>\n</html>\n"
    )
