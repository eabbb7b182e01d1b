"""audiovae: disentangled latent spaces of sound (log-mel beta-VAEs and relatives)."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("audiovae")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    # Lazy, so `import audiovae` stays cheap and the CLI starts fast.
    if name == "AudioVAE":
        from audiovae.api import AudioVAE

        return AudioVAE
    raise AttributeError(name)


__all__ = ["AudioVAE", "__version__"]
