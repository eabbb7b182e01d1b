"""AudioVAE: the Python API over a trained run folder (load, encode, embed, decode)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from audiovae.audio.io import fit_length, load_audio
from audiovae.checkpoints import load_checkpoint
from audiovae.devices import resolve_device
from audiovae.errors import CheckpointError
from audiovae.features.logmel import LogMelFrontEnd
from audiovae.models.conv import ConvVAE
from audiovae.run_manifest import RunManifest

AudioInput = Sequence[str | Path] | np.ndarray | torch.Tensor


class AudioVAE:
    """A trained model with its front end: audio or log-mels in, latents out, and back.

    Example:
        >>> vae = AudioVAE.load("runs/demo")               # doctest: +SKIP
        >>> mu, logvar = vae.encode(["a.wav", "b.wav"])      # doctest: +SKIP
        >>> logmel = vae.decode(mu)                          # doctest: +SKIP
    """

    def __init__(
        self,
        model: ConvVAE,
        frontend: LogMelFrontEnd,
        clip_samples: int,
        meta: dict | None = None,
        device: str | torch.device = "cpu",
        run_dir: str | Path | None = None,
        manifest: RunManifest | None = None,
    ) -> None:
        self.device = torch.device(device)
        # the run folder the model was loaded from (None when built from parts)
        self.run_dir = Path(run_dir).resolve() if run_dir is not None else None
        self.model = model.to(self.device).eval()
        self.frontend = frontend.to(self.device)
        self.clip_samples = int(clip_samples)
        self.meta = meta or {}
        if manifest is None and "manifest" in self.meta:
            manifest = RunManifest.from_dict(self.meta["manifest"], "checkpoint metadata")
        # what the run recorded about the model (None for a model built from parts)
        self.manifest = manifest
        self._stages: dict = {}

    @classmethod
    def load(
        cls, run_dir: str | Path, checkpoint: str = "best", device: str | torch.device | None = None
    ) -> AudioVAE:
        """Load a run folder's `best` (lowest validation loss) or `last` weights; no pickle."""
        run_dir = Path(run_dir)
        if checkpoint not in ("best", "last"):
            raise ValueError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
        dev = resolve_device(str(device) if device is not None else "auto", setting="device")
        path = run_dir / "checkpoints" / f"{checkpoint}.safetensors"
        if not path.is_file():
            raise CheckpointError(
                f"{run_dir}: no {checkpoint} checkpoint at {path} (is it a run folder?)"
            )
        tensors, meta = load_checkpoint(path, prefix="model")
        if "manifest" not in meta:
            raise CheckpointError(f"{path}: its metadata holds no run manifest")
        manifest = RunManifest.from_dict(meta["manifest"], path)
        try:
            model = ConvVAE(manifest.model)
            frontend = LogMelFrontEnd(**manifest.frontend.model_dump())
            model.load_state_dict(tensors)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path}: incompatible model metadata or weights ({exc})"
            ) from None
        return cls(model, frontend, manifest.clip_samples, meta, dev, run_dir, manifest)

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    def waveforms(self, x: AudioInput) -> torch.Tensor:
        """Audio paths, or an array [batch, samples] / [samples] at the model's rate ->
        [batch, clip_samples] cropped from the start or zero-padded, as in training."""
        if isinstance(x, (str, Path)):
            x = [x]
        if isinstance(x, (list, tuple)):
            clips = [load_audio(p, self.sample_rate) for p in x]
            return torch.stack([fit_length(c, self.clip_samples) for c in clips])
        wave = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        if wave.ndim == 1:
            wave = wave.unsqueeze(0)
        if wave.ndim != 2:
            raise ValueError(
                f"expected audio [batch, samples] or [samples], got shape {tuple(wave.shape)}"
            )
        return fit_length(wave.float(), self.clip_samples)

    @torch.no_grad()
    def logmel(self, x: AudioInput) -> torch.Tensor:
        """Log-mels [batch, n_mels, frames] of audio, exactly as the model sees them before
        normalisation."""
        return self.frontend(self.waveforms(x).to(self.device))

    @property
    def conditions(self) -> dict[str, list[str]]:
        """Labels a conditional model needs (name -> known values); empty if unconditional."""
        return dict(self.model.cfg.conditions)

    def _condition(self, condition: dict | None, start: int, stop: int, batch: int):
        """Index tensors of the condition values of rows start:stop (a scalar applies to all)."""
        if not self.model.is_conditional:
            if condition:
                raise ValueError("this model is not conditional; drop `condition`")
            return None
        if condition is None:
            raise ValueError(
                f"this model is conditioned on {sorted(self.conditions)}: pass condition="
                f"{{{', '.join(f'{k!r}: value' for k in self.conditions)}}}"
            )
        rows = {}
        for name, value in condition.items():
            many = (
                isinstance(value, (list, tuple, np.ndarray, torch.Tensor)) and len(value) == batch
            )
            rows[name] = list(value)[start:stop] if many and batch > 1 else value
        return self.model.condition_indices(rows, stop - start)

    @torch.no_grad()
    def encode_logmel(
        self, logmel: torch.Tensor, batch_size: int = 64, condition: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) [batch, latent_dim] of log-mels [batch, n_mels, frames]. A conditional
        model needs `condition`: label -> one value, or one value per clip."""
        logmel = torch.as_tensor(logmel, dtype=torch.float32)
        n = logmel.shape[0]
        mus, logvars = [], []
        for start in range(0, n, batch_size):
            chunk = logmel[start : start + batch_size].to(self.device)
            cond = self._condition(condition, start, start + chunk.shape[0], n)
            mu, logvar = self.model.encode(self.model.normalizer.normalize(chunk), cond)
            mus.append(mu)
            logvars.append(logvar)
        return torch.cat(mus), torch.cat(logvars)

    @torch.no_grad()
    def encode(
        self, x: AudioInput, batch_size: int = 64, condition: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior (mu, logvar), each [batch, latent_dim], on the model's device. Paths are
        loaded a batch at a time; an array is cut to the model's window once."""
        mus, logvars = [], []
        items = list(x) if isinstance(x, (list, tuple)) else self.waveforms(x)
        n = len(items)
        for start in range(0, n, batch_size):
            lm = self.logmel(items[start : start + batch_size])
            cond = None
            if condition is not None:
                cond = {k: _rows(v, start, start + lm.shape[0], n) for k, v in condition.items()}
            mu, logvar = self.encode_logmel(lm, batch_size, cond)
            mus.append(mu)
            logvars.append(logvar)
        return torch.cat(mus), torch.cat(logvars)

    def embed(
        self, x: AudioInput, batch_size: int = 64, condition: dict | None = None
    ) -> np.ndarray:
        """Deterministic features for downstream use: the posterior mean (never a sample), as a
        float32 numpy array [batch, latent_dim]."""
        return self.encode(x, batch_size, condition)[0].float().cpu().numpy()

    def vocoder(self, n_iter: int | None = None, phase_init: str | None = None):
        """The vocoder-free mel -> audio stage (mel inversion + fast Griffin-Lim) for this model's
        front end; built once per setting and kept on the model's device."""
        from audiovae.phase.stage import MelToAudio

        key = (n_iter, phase_init)
        if key not in self._stages:
            kwargs = {
                k: v for k, v in (("n_iter", n_iter), ("phase_init", phase_init)) if v is not None
            }
            self._stages[key] = MelToAudio(self.frontend, **kwargs).to(self.device)
        return self._stages[key]

    @torch.no_grad()
    def to_audio(
        self,
        logmel: torch.Tensor,
        length: int | None = None,
        n_iter: int | None = None,
        phase_init: str | None = None,
        seed: int = 0,
    ) -> torch.Tensor:
        """Log-mels [batch, n_mels, frames] -> waveforms [batch, samples] at the model's rate
        (raw stage output: no gain applied; see audiovae.generate.gain.shared_gain)."""
        logmel = torch.as_tensor(logmel, dtype=torch.float32).to(self.device)
        if logmel.ndim == 2:
            logmel = logmel.unsqueeze(0)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        return self.vocoder(n_iter, phase_init)(logmel, length=length, generator=gen)

    def decode_audio(
        self, z: torch.Tensor | np.ndarray, condition: dict | None = None, **kwargs
    ) -> torch.Tensor:
        """Latents -> waveforms [batch, clip_samples]: `decode`, then `to_audio`."""
        return self.to_audio(
            self.decode(z, condition=condition),
            length=kwargs.pop("length", self.clip_samples),
            **kwargs,
        )

    @torch.no_grad()
    def decode(
        self, z: torch.Tensor | np.ndarray, batch_size: int = 64, condition: dict | None = None
    ) -> torch.Tensor:
        """Latents [batch, latent_dim] -> log-mels [batch, n_mels, frames] (denormalised). A
        conditional model needs `condition` (e.g. {"pitch": 60}: play these latents at pitch 60)."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"expected latents [batch, {self.latent_dim}], got shape {tuple(z.shape)}"
            )
        out = []
        for start in range(0, z.shape[0], batch_size):
            part = z[start : start + batch_size].to(self.device)
            cond = self._condition(condition, start, start + part.shape[0], z.shape[0])
            x_hat = self.model.decode(part, cond)
            out.append(self.model.normalizer.denormalize(x_hat))
        return torch.cat(out)

    # ------------------------------------------------------------------ named latent blocks
    @property
    def subspaces(self) -> dict[str, slice]:
        """Named blocks of z of a model trained with `model.subspaces` (name -> slice, in order,
        e.g. {"pitch": slice(0, 8), "timbre": slice(8, 32)}); empty for other models."""
        return dict(self.model.subspaces)

    def get_block(self, z: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
        """Block `name` of latents z [..., latent_dim] (ValueError naming the known blocks)."""
        from audiovae.models.subspaces import get_block

        return get_block(torch.as_tensor(z), self.subspaces, name)

    def set_block(
        self, z: torch.Tensor | np.ndarray, name: str, value: torch.Tensor | np.ndarray | float
    ) -> torch.Tensor:
        """A copy of z with block `name` set to `value` (e.g. another note's block: A's timbre
        with B's pitch is `set_block(z_a, "pitch", get_block(z_b, "pitch"))`)."""
        from audiovae.models.subspaces import set_block

        return set_block(torch.as_tensor(z), self.subspaces, name, value)

    def block_dims(self, name: str) -> list[int]:
        """Indices of z that make up block `name`."""
        if name not in self.subspaces:
            known = ", ".join(self.subspaces) or "none: this model has no sub-spaces"
            raise ValueError(f"no latent sub-space {name!r}; this model's sub-spaces: {known}")
        sl = self.subspaces[name]
        return list(range(sl.start, sl.stop))

    def label_eta_squared(self) -> dict[str, list[float]] | None:
        """Per-dimension eta^2 of each training label for these weights, as measured when
        training ended (run_dir/label_dims.json); None if the run folder has none for them."""
        import json

        path = self.run_dir / "label_dims.json" if self.run_dir is not None else None
        if path is None or not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text())["checkpoints"]
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{path}: unreadable ({exc})") from None
        step = self.meta.get("step")
        for entry in stored.values():
            if entry.get("step") == step:
                return entry["eta_squared"]
        return None

    def factor_dims(self, factor: str, k: int | None = None) -> list[int] | None:
        """The k dimensions whose variance `factor` explains most (eta^2 stored at training),
        best first; None when the run folder holds no measurement for these weights."""
        eta = self.label_eta_squared()
        if eta is None:
            return None
        if factor not in eta:
            raise ValueError(f"label {factor!r} was not measured; have: {', '.join(sorted(eta))}")
        order = [int(i) for i in np.argsort(-np.asarray(eta[factor]), kind="stable")]
        return order[:k] if k else order


def _rows(value, start: int, stop: int, n: int):
    """Rows start:stop of a per-clip condition value (a scalar is passed through)."""
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)) and len(value) == n:
        return list(value)[start:stop]
    return value
