"""FluidSynth, the reference SoundFont renderer, driven note by note through ctypes.

The library is found and opened by the `pyfluidsynth` binding (`pip install 'audiovae[soundfont]'`,
plus the system library: Debian `libfluidsynth3`, macOS `fluid-synth`). pyfluidsynth 1.4 wraps
neither float rendering (its s16 path dithers), nor adding one loaded SoundFont to several synths,
nor preset iteration, so those few C functions are declared here on the library it opened.

Determinism: one long-lived synth replaying notes is not deterministic (reused voices carry the
previous note's envelope and filter state), so every note gets a fresh synth that borrows the
SoundFont loaded once by a holder synth. Reverb and chorus are off.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiovae.errors import DataError

INSTALL_HINT = (
    "install the SoundFont renderer: pip install 'audiovae[soundfont]' and the FluidSynth "
    "library (Debian/Ubuntu: apt-get install libfluidsynth3; macOS: brew install fluid-synth)"
)
_LOG_LEVELS = (0, 1, 2, 3, 4)  # FLUID_PANIC, ERR, WARN, INFO, DBG


@dataclass(frozen=True)
class Preset:
    """One preset of a loaded SoundFont: MIDI bank, program (0-127) and its name."""

    bank: int
    program: int
    name: str


class _Library:
    """The C functions used, with their prototypes, on the library pyfluidsynth opened."""

    def __init__(self) -> None:
        try:
            import fluidsynth  # pyfluidsynth
        except ImportError as err:  # missing module, or the module cannot find libfluidsynth
            raise DataError(f"FluidSynth is not available ({err}); {INSTALL_HINT}") from None
        self.binding_version = str(getattr(fluidsynth, "api_version", "?"))
        lib = getattr(fluidsynth, "_fl", None)  # the CDLL pyfluidsynth loaded (its search)
        if lib is None:
            lib = ctypes.CDLL(fluidsynth.find_libfluidsynth())
        vp, ci, cd, ccp = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p

        def fn(name: str, restype: Any, *argtypes: Any) -> Callable:
            try:
                func = getattr(lib, name)
            except AttributeError:
                raise DataError(
                    f"the FluidSynth library lacks {name} (FluidSynth 2.x is needed); "
                    f"{INSTALL_HINT}"
                ) from None
            func.restype, func.argtypes = restype, list(argtypes)
            return func

        self.version = fn("fluid_version_str", ccp)
        self.new_settings = fn("new_fluid_settings", vp)
        self.delete_settings = fn("delete_fluid_settings", None, vp)
        self.setint = fn("fluid_settings_setint", ci, vp, ccp, ci)
        self.setnum = fn("fluid_settings_setnum", ci, vp, ccp, cd)
        self.new_synth = fn("new_fluid_synth", vp, vp)
        self.delete_synth = fn("delete_fluid_synth", None, vp)
        self.sfload = fn("fluid_synth_sfload", ci, vp, ccp, ci)
        self.get_sfont = fn("fluid_synth_get_sfont_by_id", vp, vp, ci)
        self.add_sfont = fn("fluid_synth_add_sfont", ci, vp, vp)
        self.remove_sfont = fn("fluid_synth_remove_sfont", ci, vp, vp)
        self.program_select = fn("fluid_synth_program_select", ci, vp, ci, ci, ci, ci)
        self.noteon = fn("fluid_synth_noteon", ci, vp, ci, ci, ci)
        self.noteoff = fn("fluid_synth_noteoff", ci, vp, ci, ci)
        self.active_voices = fn("fluid_synth_get_active_voice_count", ci, vp)
        self.write_float = fn("fluid_synth_write_float", ci, vp, ci, vp, ci, ci, vp, ci, ci)
        self.iteration_start = fn("fluid_sfont_iteration_start", None, vp)
        self.iteration_next = fn("fluid_sfont_iteration_next", vp, vp)
        self.preset_name = fn("fluid_preset_get_name", ccp, vp)
        self.preset_bank = fn("fluid_preset_get_banknum", ci, vp)
        self.preset_num = fn("fluid_preset_get_num", ci, vp)
        self.set_log_function = fn("fluid_set_log_function", vp, ci, vp, vp)
        # FluidSynth prints to stderr; keep its last error for our message, drop the rest.
        self.errors: list[str] = []
        self._log_callback = ctypes.CFUNCTYPE(None, ci, ccp, vp)(self._log)
        for level in _LOG_LEVELS:
            self.set_log_function(level, ctypes.cast(self._log_callback, vp), None)

    def _log(self, level: int, message: bytes | None, _data: Any) -> None:
        if level <= 1 and message:
            self.errors.append(message.decode("utf-8", "replace").strip())


_LIB: _Library | None = None


def library() -> _Library:
    """The FluidSynth library, opened once per process; DataError with an install hint if absent."""
    global _LIB
    if _LIB is None:
        _LIB = _Library()
    return _LIB


def fluidsynth_versions() -> dict[str, str]:
    """{"fluidsynth": library version, "pyfluidsynth": binding version}."""
    lib = library()
    return {"fluidsynth": lib.version().decode(), "pyfluidsynth": lib.binding_version}


class LoadedSoundFont:
    """A SoundFont loaded once (by a holder synth) and rendered note by note on fresh synths.

    render_rate is the synth's output rate; gain is FluidSynth's master gain (synth.gain).
    """

    def __init__(self, path: str | Path, render_rate: int, gain: float) -> None:
        self.path = Path(path)
        self.render_rate = int(render_rate)
        self.gain = float(gain)
        lib = self._lib = library()
        self._settings = lib.new_settings()
        lib.setint(self._settings, b"synth.reverb.active", 0)
        lib.setint(self._settings, b"synth.chorus.active", 0)
        lib.setint(self._settings, b"synth.lock-memory", 0)
        lib.setint(self._settings, b"synth.cpu-cores", 1)
        lib.setnum(self._settings, b"synth.sample-rate", float(self.render_rate))
        lib.setnum(self._settings, b"synth.gain", self.gain)
        self._holder = lib.new_synth(self._settings)
        if not self._holder:
            raise DataError("FluidSynth could not create a synthesiser")
        lib.errors.clear()
        sfid = lib.sfload(self._holder, str(self.path).encode(), 0)
        if sfid < 0:
            reason = lib.errors[0] if lib.errors else "unknown reason"  # the SF2 loader's own
            self.close()
            raise DataError(f"{self.path}: FluidSynth cannot load this SoundFont ({reason})")
        self._sfont = lib.get_sfont(self._holder, sfid)
        self.presets = self._list_presets()

    def _list_presets(self) -> list[Preset]:
        lib, presets = self._lib, []
        lib.iteration_start(self._sfont)
        while preset := lib.iteration_next(self._sfont):
            name = (lib.preset_name(preset) or b"").decode("latin-1").strip()
            presets.append(Preset(lib.preset_bank(preset), lib.preset_num(preset), name))
        return sorted(presets, key=lambda p: (p.bank, p.program))

    def render(
        self, bank: int, program: int, pitch: int, velocity: int, held: int, total: int
    ) -> np.ndarray | None:
        """One note as float32 [2, total] (left, right): key down for `held` samples, then up.

        None when the note starts no voice (pitch or velocity outside every zone of the preset).
        """
        lib = self._lib
        synth = lib.new_synth(self._settings)
        if not synth:
            raise DataError("FluidSynth could not create a synthesiser")
        sfid = lib.add_sfont(synth, self._sfont)
        try:
            if lib.program_select(synth, 0, sfid, bank, program) != 0:
                raise DataError(f"{self.path}: no preset bank {bank} program {program}")
            lib.noteon(synth, 0, pitch, velocity)
            if lib.active_voices(synth) == 0:
                return None
            out = np.zeros((2, total), dtype=np.float32)
            left, right = out[0].ctypes.data, out[1].ctypes.data
            held = min(held, total)
            lib.write_float(synth, held, left, 0, 1, right, 0, 1)
            lib.noteoff(synth, 0, pitch)
            if total > held:
                step = held * out.itemsize
                lib.write_float(synth, total - held, left + step, 0, 1, right + step, 0, 1)
            return out
        finally:
            lib.remove_sfont(synth, self._sfont)  # the holder owns it: never freed here
            lib.delete_synth(synth)

    def close(self) -> None:
        """Free the holder synth (and with it the SoundFont) and the settings."""
        if getattr(self, "_holder", None):
            self._lib.delete_synth(self._holder)
            self._holder = None
        if getattr(self, "_settings", None):
            self._lib.delete_settings(self._settings)
            self._settings = None
