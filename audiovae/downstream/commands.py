"""`audiovae extract` and `audiovae probe`: thin click commands over audiovae.downstream."""

from __future__ import annotations

from pathlib import Path

import click

from audiovae.cli_support import user_errors as _user_errors

MAX_LISTED = 10  # skipped files named on stderr; the rest are counted


@click.command("extract")
@click.argument("model", type=click.Path(file_okay=False, path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Features file to write (.npz, .csv or .parquet).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npz", "csv", "parquet"]),
    default=None,
    help="Output format (default: from the file's suffix, else npz).",
)
@click.option(
    "--windows", is_flag=True, help="One row per window of the model's length over each whole file."
)
@click.option(
    "--pool",
    type=click.Choice(["mean", "max"]),
    default=None,
    help="One row per clip: mu pooled over its windows (implies windows).",
)
@click.option(
    "--hop-seconds",
    type=float,
    default=None,
    help="Hop between windows (default: half the model's window).",
)
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
)
@click.option(
    "--device", default=None, help="cpu, cuda or mps (default: cuda, then mps, then cpu)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Feature cache folder (default: $AUDIOVAE_CACHE or ~/.cache/audiovae).",
)
@click.option("--no-cache", is_flag=True, help="Decode the audio without the feature cache.")
@_user_errors
def extract_command(
    model: Path,
    data: Path,
    out: Path,
    fmt: str | None,
    windows: bool,
    pool: str | None,
    hop_seconds: float | None,
    checkpoint: str,
    device: str | None,
    batch_size: int,
    cache_dir: Path | None,
    no_cache: bool,
) -> None:
    """Write mu, log-variance and labels of every clip of DATA, encoded by the MODEL run folder.

    DATA is an NSynth-format folder (examples.json + audio/), a folder of audio files, a text
    file with one audio path per line (relative to the text file's folder), or one audio file.
    Rows follow DATA's order (sorted note_str, sorted paths, or the list's order). With --pool,
    logvar is log of the windows' mean variance (mean) or that of the max's window (max).
    """
    from audiovae.downstream.extract import extract

    if hop_seconds is not None and not (windows or pool):
        raise click.UsageError("--hop-seconds needs --windows or --pool")
    if hop_seconds is not None and hop_seconds <= 0:
        raise click.BadParameter(f"must be positive, got {hop_seconds}", param_hint="--hop-seconds")
    feats = extract(
        model,
        data,
        out,
        fmt=fmt,
        windows=windows,
        pool=pool,
        hop_seconds=hop_seconds,
        batch_size=batch_size,
        cache_dir=cache_dir,
        use_cache=not no_cache,
        checkpoint=checkpoint,
        device=device,
    )
    if feats.skipped:
        click.echo(f"skipped {len(feats.skipped)} unreadable file(s):", err=True)
        for item in feats.skipped[:MAX_LISTED]:
            click.echo(f"  {item['reason']}", err=True)
        if len(feats.skipped) > MAX_LISTED:
            click.echo(f"  ... and {len(feats.skipped) - MAX_LISTED} more", err=True)
    if feats.dropped_labels:
        click.echo(
            f"labels left out (not storable as plain arrays): {', '.join(feats.dropped_labels)}",
            err=True,
        )
    rows = "windows" if feats.start_seconds is not None else "clips"
    click.echo(
        f"wrote {len(feats)} {rows} x {feats.latent_dim} latents"
        f"{f' ({pool}-pooled windows)' if pool else ''} and {len(feats.labels)} labels to {out}"
    )


@click.command("probe")
@click.argument("features", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--target",
    "targets",
    multiple=True,
    required=True,
    help="Label to predict; repeat for several (e.g. --target pitch).",
)
@click.option(
    "--classifier", type=click.Choice(["logistic", "mlp"]), default="logistic", show_default=True
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for probe.json and the PNGs (default: the features file's folder).",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Data of the raw log-mel baseline (default: the folder the features record).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--test-size",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.25,
    show_default=True,
    help="Share of instruments (or notes) held out.",
)
@click.option(
    "--group",
    default=None,
    help="Label whose values never straddle train and test (default: instrument_str).",
)
@click.option(
    "--split",
    type=click.Choice(["instruments", "notes"]),
    default="instruments",
    show_default=True,
    help="instruments: held-out instruments (notes for the instrument target); notes: every "
    "target on a stratified random split of notes.",
)
@click.option("--no-baseline", is_flag=True, help="Skip the PCA-of-raw-log-mels baseline.")
@click.option("--no-plots", is_flag=True, help="Write probe.json only.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Feature cache folder of the baseline's log-mels.",
)
@_user_errors
def probe_command(
    features: Path,
    targets: tuple[str, ...],
    classifier: str,
    out: Path | None,
    data: Path | None,
    seed: int,
    test_size: float,
    group: str | None,
    split: str,
    no_baseline: bool,
    no_plots: bool,
    cache_dir: Path | None,
) -> None:
    """Score classifiers on the latents of FEATURES against chance and a raw log-mel baseline."""
    from audiovae.downstream.probe import format_table, probe

    report = probe(
        features,
        list(targets),
        classifier=classifier,
        out_dir=out,
        data=data,
        seed=seed,
        test_size=test_size,
        group=group,
        split=split,
        baseline=not no_baseline,
        plots=not no_plots,
        cache_dir=cache_dir,
    )
    click.echo(format_table(report))
    folder = out if out is not None else features.parent
    click.echo(f"wrote {', '.join(report['files'])} to {folder}")


COMMANDS = (extract_command, probe_command)
