"""Everything a report shows, gathered from a run folder and its model (`gather`), and the one
call that writes the HTML file (`write_report`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from audiovae.api import AudioVAE
from audiovae.generate.latents import COLLAPSED_KL
from audiovae.report.heldout import NoteChoice, data_notes, validation_notes
from audiovae.report.listening import ListeningView, gather_listening
from audiovae.report.media import AudioEncoder
from audiovae.report.run_info import RunInfo, read_run
from audiovae.report.sounds import Morph, NoteSounds, Traversal, morph, note_sounds, report_renderer
from audiovae.report.sounds import traversal as traverse

SIZE_BUDGET_MB = 5  # the default report (4 notes, 4 x 5 traversal, 5-step morph) stays below


@dataclass
class ReportContent:
    """The facts, figures' data and sounds of one report, before any HTML."""

    run: RunInfo
    sample_rate: int
    clip_seconds: float
    n_mels: int
    f_max: float
    latent_dim: int
    griffin_lim_iters: int
    best_step: int | None
    kl_per_dim: list[float] | None
    kl_source: str
    collapsed_kl: float
    choice: NoteChoice
    notes: list[NoteSounds]
    traversal: Traversal
    morph: Morph | None
    listening: list[ListeningView] = field(default_factory=list)


def _kl_per_dim(vae: AudioVAE, run: RunInfo) -> tuple[list[float] | None, str]:
    """Validation KL per dimension: the best checkpoint's (what `traverse` ranks by), else the
    last validation record of metrics.jsonl."""
    kl = vae.meta.get("valid_kl_per_dim")
    if kl and len(kl) == vae.latent_dim:
        return [float(v) for v in kl], f"validation set, best checkpoint (step {vae.meta['step']})"
    for record in reversed(run.records("valid")):
        values = record.get("kl_per_dim") or []
        if len(values) == vae.latent_dim:
            return [float(v) for v in values], f"validation set, step {record['step']}"
    return None, "not recorded"


def gather(
    run_dir: str | Path,
    data: str | Path | None = None,
    *,
    notes: int = 4,
    traverse_dims: int = 4,
    traverse_values: tuple[float, ...] = (-3.0, -1.5, 0.0, 1.5, 3.0),
    morph_steps: int = 5,
    n_iter: int | None = None,
    device: str | None = None,
    progress: bool = True,
) -> ReportContent:
    """Read the run, choose the notes (the trainer's validation clips, or `data`'s), and render
    every sound of the report through the model (see audiovae.report.sounds)."""
    from audiovae.recipe import load_recipe

    run_dir = Path(run_dir)
    if notes < 1 or traverse_dims < 1 or morph_steps < 2 or len(traverse_values) < 2:
        raise ValueError(
            f"need notes >= 1, traverse_dims >= 1, morph_steps >= 2 and 2+ traverse values, got "
            f"{notes}, {traverse_dims}, {morph_steps}, {len(traverse_values)}"
        )
    run = read_run(run_dir)  # first: a folder without a checkpoint fails here, in one line
    vae = AudioVAE.load(run_dir, device=device)
    if data is None:
        choice = validation_notes(load_recipe(run_dir / "recipe.yaml"), notes, vae.clip_samples,
                                  progress=progress, run_dir=run_dir)  # fmt: skip
    else:
        choice = data_notes(data, notes, vae.sample_rate, vae.clip_samples)
    kl, kl_source = _kl_per_dim(vae, run)
    rows = min(traverse_dims, vae.latent_dim)
    has_morph = len(choice.notes) >= 2
    total = 2 * len(choice.notes) + rows * len(traverse_values) + morph_steps * has_morph
    render = report_renderer(vae, n_iter, total, progress)
    encoder = AudioEncoder(vae.sample_rate)  # each group's clips encode while the next renders
    try:
        sounds = note_sounds(vae, choice.notes, render, encoder)
        grid = traverse(vae, choice.notes[0], kl, rows, list(traverse_values), render, encoder)
        strip = None
        if has_morph:
            strip = morph(vae, choice.notes[0], choice.notes[-1], morph_steps, render,
                          encoder=encoder)  # fmt: skip
    finally:
        render.close()
        encoder.close()  # queued clips still finish; the page waits for each as it needs it
    fe = vae.frontend
    return ReportContent(
        run=run,
        sample_rate=vae.sample_rate,
        clip_seconds=vae.clip_samples / vae.sample_rate,
        n_mels=fe.n_mels,
        f_max=float(fe.config()["f_max"]),
        latent_dim=vae.latent_dim,
        griffin_lim_iters=vae.vocoder(n_iter).n_iter,
        best_step=vae.meta.get("step"),
        kl_per_dim=kl,
        kl_source=kl_source,
        collapsed_kl=COLLAPSED_KL,
        choice=choice,
        notes=sounds,
        traversal=grid,
        morph=strip,
        listening=gather_listening(run_dir, run.evaluations, vae.sample_rate),
    )


def write_report(
    run_dir: str | Path, out: str | Path | None = None, data: str | Path | None = None, **kwargs
) -> Path:
    """Write the run's report (default RUN/report.html) and return its path; `kwargs` go to
    `gather` (notes, traverse_dims, traverse_values, morph_steps, n_iter, device, progress)."""
    from audiovae.report.page import render_page

    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    html = render_page(gather(run_dir, data, **kwargs))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
