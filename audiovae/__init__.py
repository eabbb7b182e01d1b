"""audiovae: disentangled latent spaces of sound (log-mel beta-VAEs and relatives)."""


def __getattr__(name: str):
    # Lazy, so `import audiovae` stays cheap and the CLI starts fast (importlib.metadata
    # alone costs ~0.1 s).
    if name == "AudioVAE":
        from audiovae.api import AudioVAE

        return AudioVAE
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("audiovae")
        except metadata.PackageNotFoundError:  # a source tree that is not installed
            return "0.0.0+unknown"
    raise AttributeError(name)


__all__ = ["AudioVAE", "__version__"]
