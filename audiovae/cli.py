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
    from audiovae.train.recipe import load_recipe
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
    from audiovae.train.recipe import load_recipe
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
    failed = sum(1 for r in rows if r["status"] == "failed")
    click.echo(f"wrote {out}/sweep.csv, sweep.json, recon_vs_kl.png ({failed} failed)")


@main.group()
def data() -> None:
    """Data sets: write the synthetic notes."""


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
    from audiovae.train.recipe import load_recipe, recipe_from_dict

    r = load_recipe(recipe, overrides) if recipe else recipe_from_dict(_overrides_tree(overrides))
    cfg = synth_config(r.data)
    write_nsynth_folder(out, cfg)
    n = len(cfg.pitches) * len(cfg.families) * cfg.instruments_per_family
    n *= len(cfg.velocities) * len(cfg.vibrato_depths)
    click.echo(f"wrote {n} notes to {out}/examples.json and {out}/audio/")


def _overrides_tree(overrides: tuple[str, ...]) -> dict:
    from audiovae.train.recipe import apply_override

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
