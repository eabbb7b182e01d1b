"""`audiovae evaluate`: a thin click command over audiovae.metrics.evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import click

from audiovae.cli_support import RUN_DIR
from audiovae.cli_support import user_errors as _user_errors


def _mig_bins(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    if value == "values":
        return value
    try:
        bins = int(value)
    except ValueError:
        bins = 0
    if bins < 2:
        raise click.BadParameter(f'expected an integer >= 2 or "values", got {value!r}')
    return bins


@click.command()
@click.argument("model", type=RUN_DIR)
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON file to write (default: DATA-named file beside the model).")  # fmt: skip
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True
)
@click.option("--iwae-clips", type=int, default=256, show_default=True,
              help="Clips for the log p(x) estimate (0: skip).")  # fmt: skip
@click.option("--iwae-k", type=int, default=100, show_default=True, help="Importance samples.")
@click.option("--audio-clips", type=int, default=32, show_default=True,
              help="Clips for spectral convergence after Griffin-Lim (0: skip).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--factor", "factors", multiple=True,
              help="Labels to score as factors (default: every discrete label).")  # fmt: skip
@click.option("--listen-pairs", type=int, default=48, show_default=True,
              help="Note pairs of the listening swap test (0: skip).")  # fmt: skip
@click.option("--mig-bins", default="20", show_default=True, callback=_mig_bins,
              help='Equal-width bins per code dimension for MIG, or "values": as many as each '
                   "factor has values (20 bins cap a 24-valued factor at 0.94).")  # fmt: skip
@click.option("--dci-estimator", type=click.Choice(["random_forest", "gradient_boosting"]),
              default="random_forest", show_default=True,
              help="DCI importances from a random forest, or from gradient boosting "
                   "(disentanglement_lib's estimator; slower).")  # fmt: skip
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--device", default=None, help="cpu, cuda, mps (default: auto).")
@_user_errors
def evaluate(model, data, out, checkpoint, iwae_clips, iwae_k, audio_clips, seed, factors,
             mig_bins, dci_estimator, listen_pairs, cache_dir, device) -> None:  # fmt: skip
    """Reconstruction, KL, active units, log p(x) and disentanglement of MODEL on DATA."""
    from audiovae.metrics.evaluate import evaluate as run
    from audiovae.metrics.listening import listening_lines

    out = out or model / f"evaluate-{Path(data).resolve().name}.json"
    result = run(
        model, data, checkpoint=checkpoint, iwae_clips=iwae_clips, iwae_k=iwae_k,
        audio_clips=audio_clips, seed=seed, factors=list(factors) or None, cache_dir=cache_dir,
        device=device, mig_bins=mig_bins, dci_estimator=dci_estimator,
        listen_pairs=listen_pairs, examples_dir=out.with_suffix(".swaps"),
    )  # fmt: skip
    out.write_text(json.dumps(result, indent=1))
    rec = result["reconstruction"]
    click.echo(f"{'clips':<22} {result['clips']}")
    click.echo(f"{'log-mel L1 / MSE':<22} {rec['logmel_l1']:.4f} / {rec['logmel_mse']:.4f}")
    sc = result["spectral_convergence"]
    if "mean" in sc:
        click.echo(f"{'spectral convergence':<22} {sc['mean']:.4f} ({sc['clips']} clips)")
    click.echo(f"{'KL total (nats)':<22} {result['kl_total']:.2f}")
    click.echo(f"{'active units':<22} {result['active_units']} of {len(result['kl_per_dim'])}")
    lp = result["log_px"]
    if "mean" in lp:
        click.echo(
            f"{'log p(x) IWAE':<22} {lp['mean']:.1f} nats (k {lp['k']}, {lp['clips']} clips)"
        )
    dis = result["disentanglement"]
    if "factors" in dis:
        click.echo(f"{'factors':<22} {', '.join(dis['factors'])}")
        for key in ("mig", "sap", "factor_vae_score", "beta_vae_score"):
            if key in dis:
                click.echo(f"{key:<22} {dis[key]:.3f}")
        for key, value in dis.get("dci", {}).items():
            click.echo(f"{'dci ' + key:<22} {value:.3f}")
        for key, error in dis.get("errors", {}).items():
            click.echo(f"{key:<22} failed: {error}")
    for line in listening_lines(result["listening"]):
        click.echo(line)
    click.echo(f"wrote {out}")


@click.command()
@click.argument("results", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the rows (mean, sd, n per column) as JSON.")  # fmt: skip
@_user_errors
def compare(results, out) -> None:
    """Mean ± sd over seeds of `audiovae evaluate` RESULTS, one row per model (files named
    NAME-SEED.eval.json, or RUN/evaluate-*.json in run folders NAME-SEED) as a Markdown table."""
    from audiovae.metrics.summary import group_files, markdown_table, read_results, summarise

    groups = read_results(results)
    for name, paths in group_files(results).items():
        click.echo(f"{name}: {', '.join(str(p) for p in paths)}", err=True)
    rows = summarise(groups)
    click.echo(markdown_table(rows))
    if out is not None:
        out.write_text(json.dumps(rows, indent=1))
        click.echo(f"wrote {out}")


COMMANDS = [evaluate, compare]
