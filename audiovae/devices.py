"""Which torch device to run on: `auto` picks the best one here, a named one must exist.

Shared by the inference API (`AudioVAE.load(device=...)`) and training (`train.device`); each
names its own setting in the error, so the message points at what the user typed.
"""

from __future__ import annotations

import torch

from audiovae.errors import AudioVAEError


class DeviceError(AudioVAEError):
    """A device name that is not a device, or one this machine does not have."""


def resolve_device(
    name: str = "auto", setting: str = "device", error: type[AudioVAEError] = DeviceError
) -> torch.device:
    """`auto` -> cuda, else mps, else cpu; an explicit name must be available. `setting` is what
    the error calls the value (e.g. `train.device`), `error` the AudioVAEError it raises."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise error(f"{setting}: {name!r} is not a device (auto, cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise error(f"{setting} is {name!r} but CUDA is not available here; use auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise error(f"{setting} is {name!r} but MPS is not available here; use auto or cpu")
    return device
