"""Latents become sound: reconstruct, resynthesise, morph, traverse, sample, swap.

The operations are Python functions (`audiovae.generate.operations`, `audiovae.generate.swapping`)
returning log-mels and waveforms; the click commands in `commands.py` parse, call one and write
files. Names are imported on first use, so `import audiovae.generate.commands` stays light.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "reconstruct": "operations",
    "resynth": "operations",
    "morph": "operations",
    "traverse": "operations",
    "sample": "operations",
    "Reconstruction": "operations",
    "Decoded": "operations",
    "Morph": "operations",
    "Traversal": "operations",
    "swap": "swapping",
    "swap_dims": "swapping",
    "Swap": "swapping",
    "Renderer": "render",
    "write_group": "render",
    "write_morph": "render",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'audiovae.generate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"audiovae.generate.{_WHERE[name]}"), name)
