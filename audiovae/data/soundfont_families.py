"""General MIDI program -> NSynth instrument family and source, for labelling SoundFont renders.

NSynth has 11 families (bass, brass, flute, guitar, keyboard, mallet, organ, reed, string,
synth_lead, vocal) and 3 sources (acoustic: a recorded acoustic instrument; electronic: an
electric or electronic instrument; synthetic: a synthesiser). GM's 128 melodic programs map onto
them as below; programs with no NSynth counterpart (synth pads and effects, unpitched percussion,
sound effects, the orchestra hit) map to None and are not rendered. Choices a reader could dispute:
celesta, dulcimer, timpani, kalimba and steel drums are `mallet` (struck); accordions, harmonica,
bagpipe and shanai are `reed` (free or double reeds); harp is `string`; sitar, banjo, shamisen and
koto are `guitar` (plucked strings); choir and voice programs are `vocal`; synth strings and synth
brass keep their family with source `synthetic`.
"""

from __future__ import annotations

from typing import NamedTuple


class GMProgram(NamedTuple):
    """One GM program: its number (0-127), GM name, NSynth family and source (None: unmapped)."""

    program: int
    name: str
    family: str | None
    source: str | None


_A, _E, _S = "acoustic", "electronic", "synthetic"

# (GM name, family, source) in program order 0..127.
_TABLE: tuple[tuple[str, str | None, str | None], ...] = (
    # 0-7 piano
    ("Acoustic Grand Piano", "keyboard", _A),
    ("Bright Acoustic Piano", "keyboard", _A),
    ("Electric Grand Piano", "keyboard", _E),
    ("Honky-tonk Piano", "keyboard", _A),
    ("Electric Piano 1", "keyboard", _E),
    ("Electric Piano 2", "keyboard", _E),
    ("Harpsichord", "keyboard", _A),
    ("Clavinet", "keyboard", _E),
    # 8-15 chromatic percussion
    ("Celesta", "mallet", _A),
    ("Glockenspiel", "mallet", _A),
    ("Music Box", "mallet", _A),
    ("Vibraphone", "mallet", _A),
    ("Marimba", "mallet", _A),
    ("Xylophone", "mallet", _A),
    ("Tubular Bells", "mallet", _A),
    ("Dulcimer", "mallet", _A),
    # 16-23 organ
    ("Drawbar Organ", "organ", _E),
    ("Percussive Organ", "organ", _E),
    ("Rock Organ", "organ", _E),
    ("Church Organ", "organ", _A),
    ("Reed Organ", "organ", _A),
    ("Accordion", "reed", _A),
    ("Harmonica", "reed", _A),
    ("Tango Accordion", "reed", _A),
    # 24-31 guitar
    ("Acoustic Guitar (nylon)", "guitar", _A),
    ("Acoustic Guitar (steel)", "guitar", _A),
    ("Electric Guitar (jazz)", "guitar", _E),
    ("Electric Guitar (clean)", "guitar", _E),
    ("Electric Guitar (muted)", "guitar", _E),
    ("Overdriven Guitar", "guitar", _E),
    ("Distortion Guitar", "guitar", _E),
    ("Guitar Harmonics", "guitar", _E),
    # 32-39 bass
    ("Acoustic Bass", "bass", _A),
    ("Electric Bass (finger)", "bass", _E),
    ("Electric Bass (pick)", "bass", _E),
    ("Fretless Bass", "bass", _E),
    ("Slap Bass 1", "bass", _E),
    ("Slap Bass 2", "bass", _E),
    ("Synth Bass 1", "bass", _S),
    ("Synth Bass 2", "bass", _S),
    # 40-47 strings
    ("Violin", "string", _A),
    ("Viola", "string", _A),
    ("Cello", "string", _A),
    ("Contrabass", "string", _A),
    ("Tremolo Strings", "string", _A),
    ("Pizzicato Strings", "string", _A),
    ("Orchestral Harp", "string", _A),
    ("Timpani", "mallet", _A),
    # 48-55 ensemble
    ("String Ensemble 1", "string", _A),
    ("String Ensemble 2", "string", _A),
    ("Synth Strings 1", "string", _S),
    ("Synth Strings 2", "string", _S),
    ("Choir Aahs", "vocal", _A),
    ("Voice Oohs", "vocal", _A),
    ("Synth Voice", "vocal", _S),
    ("Orchestra Hit", None, None),
    # 56-63 brass
    ("Trumpet", "brass", _A),
    ("Trombone", "brass", _A),
    ("Tuba", "brass", _A),
    ("Muted Trumpet", "brass", _A),
    ("French Horn", "brass", _A),
    ("Brass Section", "brass", _A),
    ("Synth Brass 1", "brass", _S),
    ("Synth Brass 2", "brass", _S),
    # 64-71 reed
    ("Soprano Sax", "reed", _A),
    ("Alto Sax", "reed", _A),
    ("Tenor Sax", "reed", _A),
    ("Baritone Sax", "reed", _A),
    ("Oboe", "reed", _A),
    ("English Horn", "reed", _A),
    ("Bassoon", "reed", _A),
    ("Clarinet", "reed", _A),
    # 72-79 pipe
    ("Piccolo", "flute", _A),
    ("Flute", "flute", _A),
    ("Recorder", "flute", _A),
    ("Pan Flute", "flute", _A),
    ("Blown Bottle", "flute", _A),
    ("Shakuhachi", "flute", _A),
    ("Whistle", "flute", _A),
    ("Ocarina", "flute", _A),
    # 80-87 synth lead
    ("Lead 1 (square)", "synth_lead", _S),
    ("Lead 2 (sawtooth)", "synth_lead", _S),
    ("Lead 3 (calliope)", "synth_lead", _S),
    ("Lead 4 (chiff)", "synth_lead", _S),
    ("Lead 5 (charang)", "synth_lead", _S),
    ("Lead 6 (voice)", "synth_lead", _S),
    ("Lead 7 (fifths)", "synth_lead", _S),
    ("Lead 8 (bass + lead)", "synth_lead", _S),
    # 88-95 synth pad: no NSynth family
    ("Pad 1 (new age)", None, None),
    ("Pad 2 (warm)", None, None),
    ("Pad 3 (polysynth)", None, None),
    ("Pad 4 (choir)", None, None),
    ("Pad 5 (bowed)", None, None),
    ("Pad 6 (metallic)", None, None),
    ("Pad 7 (halo)", None, None),
    ("Pad 8 (sweep)", None, None),
    # 96-103 synth effects: no NSynth family
    ("FX 1 (rain)", None, None),
    ("FX 2 (soundtrack)", None, None),
    ("FX 3 (crystal)", None, None),
    ("FX 4 (atmosphere)", None, None),
    ("FX 5 (brightness)", None, None),
    ("FX 6 (goblins)", None, None),
    ("FX 7 (echoes)", None, None),
    ("FX 8 (sci-fi)", None, None),
    # 104-111 ethnic
    ("Sitar", "guitar", _A),
    ("Banjo", "guitar", _A),
    ("Shamisen", "guitar", _A),
    ("Koto", "guitar", _A),
    ("Kalimba", "mallet", _A),
    ("Bagpipe", "reed", _A),
    ("Fiddle", "string", _A),
    ("Shanai", "reed", _A),
    # 112-119 percussive: only the pitched ones
    ("Tinkle Bell", "mallet", _A),
    ("Agogo", None, None),
    ("Steel Drums", "mallet", _A),
    ("Woodblock", None, None),
    ("Taiko Drum", None, None),
    ("Melodic Tom", None, None),
    ("Synth Drum", None, None),
    ("Reverse Cymbal", None, None),
    # 120-127 sound effects: no NSynth family
    ("Guitar Fret Noise", None, None),
    ("Breath Noise", None, None),
    ("Seashore", None, None),
    ("Bird Tweet", None, None),
    ("Telephone Ring", None, None),
    ("Helicopter", None, None),
    ("Applause", None, None),
    ("Gunshot", None, None),
)

GM_PROGRAMS: tuple[GMProgram, ...] = tuple(GMProgram(i, *row) for i, row in enumerate(_TABLE))


def gm_program(program: int) -> GMProgram:
    """The table row of GM program `program` (0-127); ValueError outside that range."""
    if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
        raise ValueError(f"GM program must be an int in 0-127, got {program!r}")
    return GM_PROGRAMS[program]


def family_table_markdown() -> str:
    """The table as Markdown (program, GM name, family, source), for the README and --help."""
    lines = ["| program | GM name | NSynth family | source |", "|---|---|---|---|"]
    for row in GM_PROGRAMS:
        family, source = row.family or "(not rendered)", row.source or ""
        lines.append(f"| {row.program} | {row.name} | {family} | {source} |")
    return "\n".join(lines)
