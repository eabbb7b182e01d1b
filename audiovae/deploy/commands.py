"""`audiovae export`: a thin click command over audiovae.deploy.export_run."""

from __future__ import annotations

import time
from pathlib import Path

import click

from audiovae.cli_support import OUT_DIR, RUN_DIR
from audiovae.cli_support import user_errors as _user_errors

FORMAT_NAMES = ("torchscript", "onnx")  # deploy.formats.FORMATS, spelled out: it imports torch


@click.command("export")
@click.argument("model", type=RUN_DIR)
@click.option(
    "--format",
    "fmt",
    required=True,
    metavar="|".join(FORMAT_NAMES),
    help="torchscript (needs only torch to load) or onnx (needs onnxruntime; install "
    "audiovae[export] to write it).",
)
@click.option(
    "-o", "--out", "out", required=True, type=OUT_DIR, help="Folder to write the files into."
)
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
)
@_user_errors
def export_command(model: Path, fmt: str, out: Path, checkpoint: str) -> None:
    """Write the MODEL run folder's encoder and decoder as standalone files.

    encoder_audio (waveform of the model's clip length -> mu), encoder_logmel (log-mel -> mu)
    and decoder (z -> log-mel), each with a free batch axis, plus manifest.json with the
    front-end settings, tensor names and shapes. Each file is checked against the model.
    """
    from audiovae.deploy.exporter import export_run

    start = time.perf_counter()
    manifest = export_run(model, out, fmt, checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    for name, graph in manifest["graphs"].items():
        path = out / graph["file"]
        diff = manifest["checks"][f"{name}_max_abs_diff"]
        click.echo(
            f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB; max |diff| vs model {diff:.2g})"
        )
    click.echo(f"wrote {out / 'manifest.json'} ({seconds:.1f} s)")


COMMANDS = [export_command]
