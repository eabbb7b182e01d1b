"""`audiovae report`: a thin click command over audiovae.report.content.write_report."""

from __future__ import annotations

from pathlib import Path

import click

from audiovae.cli_support import RUN_DIR
from audiovae.cli_support import user_errors as _user_errors


@click.command()
@click.argument("run", type=RUN_DIR)
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=None,
              help="Play clips of this data (NSynth folder, audio folder, list of paths) instead "
                   "of the run's own held-out validation notes.")  # fmt: skip
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write (default: RUN/report.html).")  # fmt: skip
@click.option("--notes", type=click.IntRange(1, 12), default=4, show_default=True,
              help="Notes shown as input / Griffin-Lim ceiling / reconstruction.")  # fmt: skip
@click.option("--traverse-dims", type=click.IntRange(1, 12), default=4, show_default=True,
              help="Latent dimensions in the traversal grid (highest KL first).")  # fmt: skip
@click.option("--traverse-steps", type=click.IntRange(2, 9), default=5, show_default=True,
              help="Values per traversed dimension, evenly spaced over --range.")  # fmt: skip
@click.option("--range", "value_range", nargs=2, type=float, default=(-3.0, 3.0),
              show_default=True, help="Traversal values from .. to.")  # fmt: skip
@click.option("--morph-steps", type=click.IntRange(2, 9), default=5, show_default=True)
@click.option("--iters", type=click.IntRange(min=0), default=None,
              help="Griffin-Lim iterations (default: the stage's default).")  # fmt: skip
@click.option("--device", default=None, help="cpu, cuda, mps (default: auto).")
@_user_errors
def report(
    run, data, out, notes, traverse_dims, traverse_steps, value_range, morph_steps, iters, device
) -> None:  # fmt: skip
    """Write one self-contained HTML report of RUN, readable offline.

    It shows the recipe, data, steps, wall time and final losses; training curves; KL per latent
    dimension (collapsed ones marked); held-out notes as input, Griffin-Lim ceiling and
    reconstruction, each with a spectrogram and a player; a latent traversal grid and a morph,
    every cell playable; and `audiovae evaluate`'s metrics when RUN holds them. Images (PNG) and
    audio (Ogg Opus) are embedded as data URIs, so the one file is the whole report.

    Size budget: the default report stays under 5 MB. Measured: 0.4 MB for 0.5 s clips, 0.6 MB
    for 1 s clips; each further second of embedded audio adds about 7 KB (Opus at ~40 kbit/s,
    base64): 1.7 MB for 4 s clips.
    """
    import numpy as np

    from audiovae.report.content import SIZE_BUDGET_MB, write_report

    values = tuple(float(v) for v in np.linspace(value_range[0], value_range[1], traverse_steps))
    path = write_report(
        run, out, data, notes=notes, traverse_dims=traverse_dims, traverse_values=values,
        morph_steps=morph_steps, n_iter=iters, device=device,
    )  # fmt: skip
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1024:.0f} KB)")
    if size > SIZE_BUDGET_MB * 1024 * 1024:
        hint = "fewer --notes / --traverse-dims / --morph-steps make it smaller"
        click.echo(f"note: over the {SIZE_BUDGET_MB} MB budget of the defaults; {hint}", err=True)


COMMANDS = [report]
