"""Click commands for generation: reconstruct, resynth, morph, traverse, sample, swap.

Each is a thin layer over AudioVAE and audiovae.generate; each prints where it wrote what.
WAVs are at the model's sample rate; outputs that belong together (one morph, one traversal grid,
one batch of samples) share one gain that only ever attenuates, so loudness differences survive
and nothing clips.
"""

from __future__ import annotations

from pathlib import Path

import click

from audiovae.cli_support import AUDIO_FILE, OUT_DIR, RUN_DIR
from audiovae.cli_support import user_errors as _user_errors
from audiovae.errors import AudioVAEError

MODEL = click.argument("model", type=RUN_DIR)
OUT = click.option("-o", "--out", "out", required=True, type=OUT_DIR,
                   help="Folder to write WAVs and PNGs into.")  # fmt: skip
ITERS = click.option("--iters", type=int, default=None,
                     help="Griffin-Lim iterations (default: the stage's default).")  # fmt: skip
PHASE = click.option("--phase-init", type=click.Choice(["pghi", "random"]), default=None,
                     help="Initial phase for Griffin-Lim (default pghi).")  # fmt: skip
DEVICE = click.option("--device", default=None, help="cpu, cuda, mps (default: auto).")
CONDITION = click.option(
    "--condition", "condition", multiple=True, metavar="LABEL=VALUE",
    help="Conditional models: decode at this value, e.g. pitch=60.",
)  # fmt: skip
INPUT_CONDITION = click.option("--input-condition", "input_condition", multiple=True,
                               metavar="LABEL=VALUE",
                               help="Conditional models: the label value of the input audio "
                               "(default: --condition).")  # fmt: skip


def generation_options(func):
    """The options every model-driven generation command shares, and one-line user errors."""
    for option in (_user_errors, INPUT_CONDITION, CONDITION, DEVICE, PHASE, ITERS, OUT):
        func = option(func)
    return func


def _conditions(vae, condition, input_condition, needs_input: bool = True):
    """(encode, decode) conditions from LABEL=VALUE options, checked against the model."""

    def parse(items):
        out = {}
        for item in items:
            if "=" not in item:
                raise AudioVAEError(f"condition {item!r}: expected LABEL=VALUE, e.g. pitch=60")
            key, value = item.split("=", 1)
            out[key.strip()] = value.strip()
        return out

    dec, enc = parse(condition), parse(input_condition)
    enc = enc or dec
    if not vae.conditions:
        if dec or enc:
            raise AudioVAEError("this model is not conditional; drop --condition")
        return None, None
    for name, values in vae.conditions.items():
        for given, flag in ((dec, "--condition"), (enc, "--input-condition")):
            if flag == "--input-condition" and not needs_input:
                continue
            if name not in given:
                known = ", ".join(values[:12])
                raise AudioVAEError(
                    f"this model is conditioned on {name!r}: pass {flag} {name}=VALUE "
                    f"(known: {known} ...)"
                )
            if given[name] not in values:
                known = ", ".join(values[:12])
                raise AudioVAEError(
                    f"{flag} {name}={given[name]}: not a value the model was trained on "
                    f"(known: {known} ...)"
                )
    return enc, dec


def _load(model: Path, device: str | None):
    from audiovae.api import AudioVAE

    return AudioVAE.load(model, device=device)


def _report(paths: list[Path]) -> None:
    for p in paths:
        click.echo(f"wrote {p}")


@click.command()
@MODEL
@click.argument("audio", nargs=-1, required=True, type=AUDIO_FILE)
@generation_options
def reconstruct(model, audio, out, iters, phase_init, device, condition, input_condition) -> None:
    """Encode, decode and re-synthesise AUDIO files through MODEL (long files in windows)."""
    from audiovae.generate.render import load_input, reconstruct_logmel, write_group
    from audiovae.plots import plot_reconstructions

    vae = _load(model, device)
    enc, dec = _conditions(vae, condition, input_condition)
    written = []
    for path in audio:
        wave = load_input(vae, path)
        lm_in, lm_out = reconstruct_logmel(vae, wave, enc, dec)
        n = wave.shape[-1]
        y = vae.to_audio(
            lm_out, length=max(n, vae.clip_samples), n_iter=iters, phase_init=phase_init
        )
        y = y[..., :n]
        files, _ = write_group(y.cpu(), [out / f"{path.stem}.reconstruction.wav"], vae.sample_rate)
        png_path = out / f"{path.stem}.reconstruction.png"
        png = plot_reconstructions(lm_in[None].cpu(), lm_out[None].cpu(), png_path,
                                   titles=[path.name], frontend=vae.frontend)  # fmt: skip
        written += files + [png]
    _report(written)


@click.command()
@click.argument("audio", nargs=-1, required=True, type=AUDIO_FILE)
@OUT
@click.option("--recipe", type=AUDIO_FILE, default=None,
              help="Take the front end from this recipe (no data needed).")  # fmt: skip
@click.option("--model", type=RUN_DIR, default=None,
              help="Take the front end from this run folder.")  # fmt: skip
@ITERS
@PHASE
@_user_errors
def resynth(audio, out, recipe, model, iters, phase_init) -> None:
    """Front end + Griffin-Lim with no model in between: the ceiling of the vocoder-free stage."""
    import torch

    from audiovae.audio.io import load_audio
    from audiovae.generate.render import write_group
    from audiovae.generate.windows import windowed_logmel
    from audiovae.phase.stage import MelToAudio
    from audiovae.plots import plot_reconstructions

    if (recipe is None) == (model is None):
        raise AudioVAEError("resynth: give exactly one of --recipe or --model")
    if model is not None:
        vae = _load(model, "cpu")
        frontend, clip = vae.frontend, vae.clip_samples
    else:
        from audiovae.train.recipe import load_recipe
        from audiovae.train.trainer import frontend_from_recipe

        r = load_recipe(recipe)
        frontend, clip = frontend_from_recipe(r), r.data.clip_samples
    kwargs = {k: v for k, v in (("n_iter", iters), ("phase_init", phase_init)) if v}
    stage = MelToAudio(frontend, **kwargs)
    written = []
    for path in audio:
        wave = load_audio(path, frontend.sample_rate)
        lm = windowed_logmel(wave, clip, frontend, lambda x: x)
        n = wave.shape[-1]
        y = stage(lm[None], length=max(n, clip), generator=torch.Generator().manual_seed(0))[
            ..., :n
        ]
        files, _ = write_group(y, [out / f"{path.stem}.resynth.wav"], frontend.sample_rate)
        lm_back = frontend(y)
        png = plot_reconstructions(lm[None], lm_back, out / f"{path.stem}.resynth.png",
                                   titles=[path.name], frontend=frontend)  # fmt: skip
        written += files + [png]
    _report(written)


@click.command()
@MODEL
@click.argument("a", type=AUDIO_FILE)
@click.argument("b", type=AUDIO_FILE)
@click.option("--steps", type=click.IntRange(min=2), default=7, show_default=True)
@click.option(
    "--path",
    "path_kind",
    type=click.Choice(["linear", "slerp"]),
    default="linear",
    show_default=True,
)
@click.option(
    "--crossfade",
    type=float,
    default=0.05,
    show_default=True,
    help="Seconds between steps in all.wav.",
)
@generation_options
def morph(
    model, a, b, steps, path_kind, crossfade, out, iters, phase_init, device, condition,
    input_condition,
) -> None:  # fmt: skip
    """Interpolate the latents of A and B: a WAV per step, all steps in a row, a PNG strip."""
    from audiovae.generate.render import morph as render_morph
    from audiovae.generate.render import write_morph
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    enc, dec = _conditions(vae, condition, input_condition)
    logmels, waves = render_morph(
        vae, a, b, steps, path_kind, enc, dec, n_iter=iters, phase_init=phase_init
    )
    files = write_morph(waves, out, vae.sample_rate, crossfade)
    cols = [f"{i / (steps - 1):.2f}" for i in range(steps)]
    files.append(plot_spectrogram_grid(logmels[None].cpu(), out / "morph.png", col_labels=cols,
                                       title=f"{a.name} -> {b.name} ({path_kind})"))  # fmt: skip
    _report(files)


def _parse_dims(text: str, latent_dim: int) -> list[int] | None:
    if text == "all":
        return None
    try:
        dims = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise AudioVAEError(f"--dims {text!r}: expected 'all' or a comma list like 0,3,5") from None
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad or not dims:
        raise AudioVAEError(f"--dims {text!r}: dimensions must be in 0..{latent_dim - 1}")
    return dims


@click.command()
@MODEL
@click.option("--input", "input_path", type=AUDIO_FILE, default=None,
              help="Traverse around this sound's mu (default: the prior mean, 0).")  # fmt: skip
@click.option("--dims", default="all", show_default=True, help="'all' or a comma list, e.g. 0,3,5.")
@click.option("--range", "value_range", nargs=2, type=float, default=(-3.0, 3.0), show_default=True)
@click.option("--steps", type=click.IntRange(min=2), default=7, show_default=True)
@generation_options
def traverse(
    model, input_path, dims, value_range, steps, out, iters, phase_init, device, condition,
    input_condition,
) -> None:  # fmt: skip
    """Vary one latent dimension at a time; dimensions ordered by KL, collapsed ones marked."""
    import torch

    from audiovae.generate.latents import COLLAPSED_KL, kl_order, traversal_grid
    from audiovae.generate.render import encode_first_window, write_group
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    kl = vae.meta.get("valid_kl_per_dim")
    if kl:
        order, collapsed = kl_order(kl)
    else:  # a run saved before KL per dimension was recorded: keep index order, mark nothing
        order, collapsed = list(range(vae.latent_dim)), [False] * vae.latent_dim
    chosen = _parse_dims(dims, vae.latent_dim)
    if chosen is not None:
        keep = set(chosen)
        pairs = [(d, c) for d, c in zip(order, collapsed, strict=True) if d in keep]
        order, collapsed = [d for d, _ in pairs], [c for _, c in pairs]
    enc, dec = _conditions(vae, condition, input_condition, needs_input=input_path is not None)
    center = (
        encode_first_window(vae, input_path, enc) if input_path else torch.zeros(vae.latent_dim)
    )
    values = torch.linspace(value_range[0], value_range[1], steps)
    grid = traversal_grid(center.cpu(), order, values)
    logmels = vae.decode(grid.flatten(0, 1), condition=dec).cpu()
    waves = vae.to_audio(
        logmels, length=vae.clip_samples, n_iter=iters, phase_init=phase_init
    ).cpu()
    names = [out / f"dim{d:02d}_{c:02d}.wav" for d in order for c in range(steps)]
    files, _ = write_group(waves, names, vae.sample_rate)
    rows = [f"z{d}" + (f" KL {kl[d]:.2f}" if kl else "") + (" (collapsed)" if col else "")
            for d, col in zip(order, collapsed, strict=True)]  # fmt: skip
    cols = [f"{v:+.2f}" for v in values.tolist()]
    title = f"rows by KL; collapsed: KL < {COLLAPSED_KL} nats" if kl else "KL unknown: index order"
    grid_lm = logmels.view(len(order), steps, *logmels.shape[1:])
    files.append(plot_spectrogram_grid(grid_lm, out / "traverse.png", rows, cols, title=title))
    _report(files)


@click.command()
@MODEL
@click.option("-n", "count", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@generation_options
def sample(
    model, count, temperature, seed, out, iters, phase_init, device, condition, input_condition
) -> None:  # fmt: skip
    """Decode N draws from the prior N(0, temperature^2 I)."""
    from audiovae.generate.latents import sample_prior
    from audiovae.generate.render import write_group
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    _, dec = _conditions(vae, condition, input_condition, needs_input=False)
    z = sample_prior(count, vae.latent_dim, temperature, seed)
    logmels = vae.decode(z, condition=dec).cpu()
    waves = vae.to_audio(
        logmels, length=vae.clip_samples, n_iter=iters, phase_init=phase_init
    ).cpu()
    files, _ = write_group(
        waves, [out / f"sample_{i:03d}.wav" for i in range(count)], vae.sample_rate
    )
    files.append(plot_spectrogram_grid(logmels[None], out / "samples.png",
                                       col_labels=[str(i) for i in range(count)],
                                       title=f"prior samples, T={temperature}"))  # fmt: skip
    _report(files)


@click.command()
@MODEL
@click.argument("a", type=AUDIO_FILE)
@click.argument("b", type=AUDIO_FILE)
@click.option("--dims", default=None, help="Dimensions to take from B (default: those that best "
              "predict pitch on the model's training notes).")  # fmt: skip
@click.option(
    "--factor", default="pitch", show_default=True, help="Label whose dims are swapped by default."
)
@click.option(
    "--k",
    "k",
    type=int,
    default=None,
    help="How many factor dims (default: a quarter of the latent).",
)
@generation_options
def swap(
    model, a, b, dims, factor, k, out, iters, phase_init, device, condition, input_condition
) -> None:  # fmt: skip
    """Decode A's latent with some dimensions taken from B: A's timbre at B's pitch."""
    import torch

    from audiovae.generate.latents import swap as swap_latents
    from audiovae.generate.render import encode_first_window, write_group
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    chosen = _parse_dims(dims, vae.latent_dim) if dims else factor_dims_of(vae, factor, k)
    enc, dec = _conditions(vae, condition, input_condition)
    z_a, z_b = encode_first_window(vae, a, enc), encode_first_window(vae, b, enc)
    z = torch.stack([z_a, z_b, swap_latents(z_a, z_b, chosen)])
    logmels = vae.decode(z, condition=dec).cpu()
    waves = vae.to_audio(
        logmels, length=vae.clip_samples, n_iter=iters, phase_init=phase_init
    ).cpu()
    names = [out / "swap_a.wav", out / "swap_b.wav", out / "swap.wav"]
    files, _ = write_group(waves, names, vae.sample_rate)
    files.append(plot_spectrogram_grid(logmels[None], out / "swap.png",
                                       col_labels=["A", "B", f"A, B's dims {chosen}"]))  # fmt: skip
    click.echo(f"took dimensions {chosen} from {b.name}")
    _report(files)


def factor_dims_of(vae, factor: str, k: int | None, max_clips: int = 4096) -> list[int]:
    """Dimensions that best explain `factor`, from the model's own training notes (its cache)."""
    import numpy as np

    from audiovae.features.cache import FeatureCache
    from audiovae.generate.latents import factor_dims

    try:  # measured when training ended, kept in the run folder: no cache needed
        stored = vae.factor_dims(factor, k or max(1, vae.latent_dim // 2))
    except ValueError as exc:
        raise AudioVAEError(str(exc)) from None
    if stored is not None:
        return stored
    cache_path = vae.meta.get("manifest", {}).get("data", {}).get("train_cache")
    if not cache_path or not (Path(cache_path) / "meta.json").is_file():
        raise AudioVAEError(
            f"the training feature cache of this model is gone ({cache_path}); pass --dims, "
            "or rebuild it by training the same recipe"
        )
    cache = FeatureCache.open(Path(cache_path))
    if factor not in cache.labels:
        raise AudioVAEError(
            f"label {factor!r} not in the training data; have: {sorted(cache.labels)}"
        )
    idx = np.random.default_rng(0).permutation(len(cache))[:max_clips]
    from audiovae.export.extract import clip_condition

    cond = clip_condition(vae, cache.labels, idx, cache_path)
    mu = vae.encode_logmel(cache.batch(idx), condition=cond)[0].cpu().numpy()
    labels = np.array([str(cache.labels[factor][i]) for i in idx])
    return factor_dims(mu, labels, k or max(1, vae.latent_dim // 2))


COMMANDS = [reconstruct, resynth, morph, traverse, sample, swap]
