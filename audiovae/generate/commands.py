"""Click commands for generation: reconstruct, resynth, morph, traverse, sample, swap.

Each parses its arguments, calls one function of audiovae.generate and writes files; each prints
where it wrote what.
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
NO_PNG = click.option("--no-png", "no_png", is_flag=True,
                      help="Write only the WAVs (for batch jobs).")  # fmt: skip
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
    for option in (_user_errors, INPUT_CONDITION, CONDITION, DEVICE, PHASE, ITERS, NO_PNG, OUT):
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
def reconstruct(model, audio, out, no_png, iters, phase_init, device, condition,
                input_condition) -> None:  # fmt: skip
    """Encode, decode and re-synthesise AUDIO files through MODEL (long files in windows)."""
    from audiovae.generate.operations import reconstruct as run
    from audiovae.generate.render import Renderer, render_writing_behind, write_group
    from audiovae.plots import plot_reconstructions

    vae = _load(model, device)
    enc, dec = _conditions(vae, condition, input_condition)
    render = Renderer.of(vae, iters, phase_init)

    def write(path: Path, r) -> list[Path]:
        files = write_group(r.wave[None], [out / f"{path.stem}.reconstruction.wav"],
                            vae.sample_rate)[0]  # fmt: skip
        if not no_png:
            files.append(plot_reconstructions(
                r.input_logmel[None], r.logmel[None], out / f"{path.stem}.reconstruction.png",
                titles=[path.name], frontend=vae.frontend))  # fmt: skip
        return files

    def make(paths: list[Path]):
        return run(vae, paths, condition=enc, decode_condition=dec, render=render)

    _report(render_writing_behind(list(audio), _chunk(render), make, write))


def _chunk(render) -> int:
    """Files per chunk of a command that writes while it renders: a batch per worker (two files
    per CPU worker: a batch of 4-s notes, see Renderer)."""
    return (render.batch or 2) * render.workers


@click.command()
@click.argument("audio", nargs=-1, required=True, type=AUDIO_FILE)
@OUT
@click.option("--recipe", type=AUDIO_FILE, default=None,
              help="Take the front end from this recipe (no data needed).")  # fmt: skip
@click.option("--model", type=RUN_DIR, default=None,
              help="Take the front end from this run folder.")  # fmt: skip
@ITERS
@PHASE
@NO_PNG
@_user_errors
def resynth(audio, out, recipe, model, iters, phase_init, no_png) -> None:
    """Front end + Griffin-Lim with no model in between: the ceiling of the vocoder-free stage."""
    from audiovae.generate.operations import resynth as run
    from audiovae.generate.render import Renderer, render_writing_behind, write_group
    from audiovae.phase.stage import MelToAudio
    from audiovae.plots import plot_reconstructions

    if (recipe is None) == (model is None):
        raise AudioVAEError("resynth: give exactly one of --recipe or --model")
    if model is not None:
        vae = _load(model, "cpu")
        frontend, clip = vae.frontend, vae.clip_samples
    else:
        from audiovae.recipe import frontend_from_recipe, load_recipe

        r = load_recipe(recipe)
        frontend, clip = frontend_from_recipe(r), r.data.clip_samples
    options = {k: v for k, v in (("n_iter", iters), ("phase_init", phase_init)) if v is not None}
    render = Renderer(MelToAudio(frontend, **options).to(frontend.window.device))

    def write(path: Path, r) -> list[Path]:
        files = write_group(r.wave[None], [out / f"{path.stem}.resynth.wav"],
                            frontend.sample_rate)[0]  # fmt: skip
        if not no_png:
            files.append(plot_reconstructions(
                r.logmel[None], frontend(r.wave[None]), out / f"{path.stem}.resynth.png",
                titles=[path.name], frontend=frontend))  # fmt: skip
        return files

    def make(paths: list[Path]):
        return run(frontend, paths, clip_samples=clip, render=render)

    _report(render_writing_behind(list(audio), _chunk(render), make, write))


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
@click.option(
    "--subspace",
    default=None,
    metavar="NAME",
    help="Morph only this named latent block (e.g. timbre); the rest stays A's.",
)
@generation_options
def morph(
    model, a, b, steps, path_kind, crossfade, subspace, out, no_png, iters, phase_init, device,
    condition, input_condition,
) -> None:  # fmt: skip
    """Interpolate the latents of A and B: a WAV per step, all steps in a row, a PNG strip."""
    from audiovae.generate.operations import morph as run
    from audiovae.generate.render import write_morph
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    _check_block(vae, subspace, "--subspace")
    enc, dec = _conditions(vae, condition, input_condition)
    m = run(vae, a, b, steps, path_kind, subspace=subspace, condition=enc, decode_condition=dec,
            n_iter=iters, phase_init=phase_init)  # fmt: skip
    files = write_morph(m.waves, out, vae.sample_rate, crossfade)
    if not no_png:
        cols = [f"{f:.2f}" for f in m.fractions]
        title = f"{a.name} -> {b.name} ({path_kind}" + (f", {subspace} only)" if subspace else ")")
        files.append(plot_spectrogram_grid(m.logmels[None], out / "morph.png", col_labels=cols,
                                           title=title))  # fmt: skip
    _report(files)


def _check_block(vae, name: str | None, option: str) -> None:
    """A one-line error unless `name` is None or one of the model's named latent sub-spaces."""
    if name is not None and name not in vae.subspaces:
        known = ", ".join(vae.subspaces) or "none: it was trained without model.subspaces"
        raise AudioVAEError(f"{option} {name!r}: this model's latent sub-spaces: {known}")


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
@click.option("--subspace", default=None, metavar="NAME",
              help="Only the dimensions of this named latent block (e.g. timbre).")  # fmt: skip
@click.option("--range", "value_range", nargs=2, type=float, default=(-3.0, 3.0), show_default=True)
@click.option("--steps", type=click.IntRange(min=2), default=7, show_default=True)
@generation_options
def traverse(
    model, input_path, dims, subspace, value_range, steps, out, no_png, iters, phase_init, device,
    condition, input_condition,
) -> None:  # fmt: skip
    """Vary one latent dimension at a time; dimensions ordered by KL, collapsed ones marked."""
    import torch

    from audiovae.generate.operations import traverse as run
    from audiovae.generate.render import write_group
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    chosen = _parse_dims(dims, vae.latent_dim)
    _check_block(vae, subspace, "--subspace")
    if subspace is not None and chosen is not None:
        raise AudioVAEError("give --dims or --subspace, not both")
    enc, dec = _conditions(vae, condition, input_condition, needs_input=input_path is not None)
    values = torch.linspace(value_range[0], value_range[1], steps).tolist()
    t = run(vae, input_path, dims=chosen, subspace=subspace, values=values, condition=enc,
            decode_condition=dec, n_iter=iters, phase_init=phase_init)  # fmt: skip
    names = [out / f"dim{d:02d}_{c:02d}.wav" for d in t.dims for c in range(steps)]
    files, _ = write_group(t.waves.flatten(0, 1), names, vae.sample_rate)
    if not no_png:
        cols = [f"{v:+.2f}" for v in t.values]
        files.append(plot_spectrogram_grid(t.logmels, out / "traverse.png", t.row_labels, cols,
                                           title=t.title))  # fmt: skip
    _report(files)


@click.command()
@MODEL
@click.option("-n", "count", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@generation_options
def sample(
    model, count, temperature, seed, out, no_png, iters, phase_init, device, condition,
    input_condition,
) -> None:  # fmt: skip
    """Decode N draws from the prior N(0, temperature^2 I)."""
    from audiovae.generate.operations import sample as run
    from audiovae.generate.render import write_group
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    _, dec = _conditions(vae, condition, input_condition, needs_input=False)
    s = run(vae, count, temperature=temperature, seed=seed, condition=dec, n_iter=iters,
            phase_init=phase_init)  # fmt: skip
    files, _ = write_group(
        s.waves, [out / f"sample_{i:03d}.wav" for i in range(count)], vae.sample_rate
    )
    if not no_png:
        files.append(plot_spectrogram_grid(s.logmels[None], out / "samples.png",
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
    type=click.IntRange(min=1),
    default=None,
    help="How many factor dims (default: half of the latent).",
)
@click.option("--take", default=None, metavar="NAME",
              help="Take this named latent block from B (e.g. pitch: A's timbre at B's pitch); "
              "default on a model with sub-spaces: the block tied to --factor.")  # fmt: skip
@generation_options
def swap(
    model, a, b, dims, factor, k, take, out, no_png, iters, phase_init, device, condition,
    input_condition,
) -> None:  # fmt: skip
    """Decode A's latent with some dimensions taken from B: A's timbre at B's pitch."""
    from audiovae.generate.render import write_group
    from audiovae.generate.swapping import swap as run
    from audiovae.plots import plot_spectrogram_grid

    vae = _load(model, device)
    chosen = _parse_dims(dims, vae.latent_dim) if dims else None
    _check_block(vae, take, "--take")
    if take is not None and chosen is not None:
        raise AudioVAEError("give --dims or --take, not both")
    enc, dec = _conditions(vae, condition, input_condition)
    s = run(vae, a, b, dims=chosen, factor=factor, k=k, take=take, condition=enc,
            decode_condition=dec, n_iter=iters, phase_init=phase_init)  # fmt: skip
    names = [out / "swap_a.wav", out / "swap_b.wav", out / "swap.wav"]
    files, _ = write_group(s.waves, names, vae.sample_rate)
    if not no_png:
        files.append(plot_spectrogram_grid(s.logmels[None], out / "swap.png", col_labels=s.labels))
    what = f"the {s.block} block, dimensions {s.dims}" if s.block else f"dimensions {s.dims}"
    click.echo(f"took {what} from {b.name}")
    _report(files)


COMMANDS = [reconstruct, resynth, morph, traverse, sample, swap]
