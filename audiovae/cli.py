"""The `audiovae` command: thin click commands over the Python API.

Errors the user can fix (a recipe key, a missing folder, a corrupt file) are printed as one line
prefixed `error:` with exit status 2; nothing else is caught.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # measured 1.5x on a busy 2-core machine

import click  # noqa: E402

from audiovae.cli_support import user_errors as _user_errors  # noqa: E402
from audiovae.errors import AudioVAEError  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="audiovae")
@click.option("-v", "--verbose", is_flag=True, help="Log more detail.")
def main(verbose: bool) -> None:
    """audiovae: disentangled latent spaces of sound."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to write (weights, recipe, logs, plots).")  # fmt: skip
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set train.max_steps=100.")  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@_user_errors
def train(recipe: Path, out: Path, overrides: tuple[str, ...], resume: bool) -> None:
    """Train the model a RECIPE describes into the run folder --out."""
    from audiovae.recipe import load_recipe
    from audiovae.train.trainer import train as run_training

    summary = run_training(load_recipe(recipe, overrides), out, resume=resume)
    if summary["rank"] != 0:  # under torchrun, rank 0 reports for the job
        return
    val = summary["valid"]
    click.echo(
        f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; "
        f"validation loss {val['loss']:.4g} (recon {val['recon']:.4g}, KL {val['kl']:.3g}, "
        f"active dims {val['active_dims']})"
    )
    click.echo(f"wrote {out}/checkpoints/{{best,last}}.safetensors, recipe.yaml, manifest.json, "
               f"reconstructions.png, logs/ (tensorboard --logdir {out}/logs)")  # fmt: skip


@main.command()
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--grid", "grids", multiple=True, required=True, metavar="KEY=V1,V2",
              help="Values to sweep, e.g. objective.beta=1,4 (repeat for more).")  # fmt: skip
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Fixed override for every member.")  # fmt: skip
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Data to evaluate on (default for synthetic recipes: their notes, written "
                   "once into OUT/notes).")  # fmt: skip
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Members trained at once (threads are split between them).")  # fmt: skip
@click.option("--metric", default="mig", show_default=True, help="Ranking metric.")
@click.option("--iwae-clips", type=int, default=64, show_default=True)
@_user_errors
def sweep(recipe, grids, overrides, seeds, out, data, jobs, metric, iwae_clips) -> None:
    """Train every combination of --grid values x seeds from RECIPE, evaluate and rank them."""
    from audiovae.recipe import load_recipe
    from audiovae.train.sweep import run_sweep

    base = load_recipe(recipe, overrides)
    if data is None:
        from audiovae.data.synthetic import synthetic_notes_folder

        data = synthetic_notes_folder(base.data, out / "notes")
        if data is None:
            raise AudioVAEError("sweep: pass --data DIR (held-out clips to evaluate on)")
    rows = run_sweep(
        recipe, list(grids), out, data=data, sets=list(overrides), seeds=seeds, jobs=jobs,
        metric=metric, evaluate_kwargs={"iwae_clips": iwae_clips},
    )  # fmt: skip
    for row in rows:
        score = row.get(metric)
        text = f"{score:.3f}" if isinstance(score, float) else row.get("error", row["status"])
        click.echo(f"{row['member']:<60} {metric} {text}")
        if "metric_errors" in row:
            click.echo(f"{'':<60} failed metrics: {row['metric_errors']}")
    failed = sum(1 for r in rows if r["status"] == "failed")
    click.echo(f"wrote {out}/sweep.csv, sweep.json, recon_vs_kl.png ({failed} failed)")


@main.group()
def data() -> None:
    """Data sets: write the synthetic notes, or render notes from a SoundFont."""


@data.command("synth")
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write examples.json and audio/*.wav into.")  # fmt: skip
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Take the notes from this recipe's data section (default: the built-in "
                   "defaults, identical to recipes/synthetic.yaml).")  # fmt: skip
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, e.g. --set data.synthetic.seed=1.")  # fmt: skip
@_user_errors
def data_synth(out: Path, recipe: Path | None, overrides: tuple[str, ...]) -> None:
    """Write the synthetic notes as an NSynth-format folder (examples.json + audio/)."""
    from audiovae.audio.synth import write_nsynth_folder
    from audiovae.data.sources import synth_config
    from audiovae.recipe import load_recipe, recipe_from_dict

    r = load_recipe(recipe, overrides) if recipe else recipe_from_dict(_overrides_tree(overrides))
    cfg = synth_config(r.data)
    write_nsynth_folder(out, cfg)
    n = len(cfg.pitches) * len(cfg.families) * cfg.instruments_per_family
    n *= len(cfg.velocities) * len(cfg.vibrato_depths)
    click.echo(f"wrote {n} notes to {out}/examples.json and {out}/audio/")


@data.command("soundfont")
@click.argument("soundfont", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write examples.json, audio/*.wav, render_info.json and "
                   "checksums.sha256 into (must be empty unless --force).")  # fmt: skip
@click.option("--programs", default=None, metavar="LIST",
              help="GM programs to render, e.g. 0-7,24,40-47 (default: every preset of the bank "
                   "whose program has an NSynth family).")  # fmt: skip
@click.option("--families", default=None, metavar="LIST",
              help="Only these NSynth families, e.g. keyboard,guitar,string.")  # fmt: skip
@click.option("--pitches", default="21-108:1", show_default=True, metavar="A-B:STEP",
              help="MIDI pitches (N, A-B or A-B:STEP, comma-separated).")  # fmt: skip
@click.option("--velocities", default="25,50,75,100,127", show_default=True, metavar="LIST",
              help="MIDI velocities.")  # fmt: skip
@click.option("--seconds", type=float, default=4.0, show_default=True, help="Length of each note.")
@click.option("--release", type=float, default=1.0, show_default=True,
              help="Seconds after the key is released (held for SECONDS - RELEASE).")  # fmt: skip
@click.option("--sample-rate", type=int, default=16000, show_default=True, help="Output rate (Hz).")
@click.option("--gain", type=float, default=1.0, show_default=True,
              help="FluidSynth's master gain (clipped notes are reported).")  # fmt: skip
@click.option("--bank", type=click.IntRange(0, 128), default=0, show_default=True,
              help="MIDI bank of the presets (128: drum kits, which have no pitch).")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes rendering at once (identical outputs for any count).")  # fmt: skip
@click.option("--force", is_flag=True, help="Render into a non-empty --out folder.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted render in --out (same SOUNDFONT, options).")  # fmt: skip
@_user_errors
def data_soundfont(soundfont: Path, out: Path, programs, families, pitches, velocities, seconds,
                   release, sample_rate, gain, bank, workers, force, resume) -> None:  # fmt: skip
    """Render NSynth-format notes (one per preset x pitch x velocity) from a SOUNDFONT (.sf2/.sf3)
    with FluidSynth; labels from the General MIDI program (audiovae/data/soundfont_families.py)."""
    from audiovae.data.soundfont import RenderSettings, parse_int_list, render_soundfont

    settings = RenderSettings(
        pitches=parse_int_list(pitches, "--pitches"),
        velocities=parse_int_list(velocities, "--velocities", low=1),
        programs=parse_int_list(programs, "--programs") if programs else (),
        families=tuple(f.strip() for f in families.split(",") if f.strip()) if families else (),
        seconds=seconds, release=release, sample_rate=sample_rate, gain=gain, bank=bank,
    )  # fmt: skip
    s = render_soundfont(soundfont, out, settings, workers=workers, force=force, resume=resume)
    if s.resumed:
        click.echo(f"resumed: {s.resumed} notes were already rendered")
    per_note = 1000 * s.seconds / max(1, s.notes + len(s.dropped))
    click.echo(f"wrote {s.notes} notes of {len(s.instruments)} instruments to {out}/examples.json "
               f"and {out}/audio/ in {s.seconds:.1f} s ({per_note:.1f} ms per note, "
               f"{workers} worker(s)); render_info.json, checksums.sha256")  # fmt: skip
    if s.dropped:
        reasons: dict[str, int] = {}
        for d in s.dropped:
            reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
        text = "; ".join(f"{n} {why}" for why, n in reasons.items())
        click.echo(f"dropped {len(s.dropped)} notes: {text} (listed in render_info.json)")
    if s.unmapped_presets:
        click.echo(f"skipped {len(s.unmapped_presets)} presets with no NSynth family: "
                   f"{', '.join(s.unmapped_presets)}")  # fmt: skip
    if s.clipped:
        click.echo(f"warning: {len(s.clipped)} notes clipped at full scale (try a lower --gain)")
    if s.removed_stale:
        click.echo(f"removed {s.removed_stale} WAVs of an earlier render from {out}/audio/")


def _overrides_tree(overrides: tuple[str, ...]) -> dict:
    from audiovae.recipe import apply_override

    tree: dict = {}
    for assignment in overrides:
        apply_override(tree, assignment)
    return tree


def _add_commands() -> None:
    """Register the commands that live beside the modules they drive."""
    from audiovae.deploy.commands import COMMANDS as DEPLOY
    from audiovae.downstream.commands import COMMANDS as DOWNSTREAM
    from audiovae.generate.commands import COMMANDS as GENERATE
    from audiovae.metrics.commands import COMMANDS as METRICS
    from audiovae.report.commands import COMMANDS as REPORT

    for command in (*GENERATE, *DOWNSTREAM, *METRICS, *REPORT, *DEPLOY):
        main.add_command(command)


_add_commands()

if __name__ == "__main__":
    main()
