"""The GM program -> NSynth family table: complete, valid names, the GM names where they belong."""

from __future__ import annotations

import pytest

from audiovae.data.nsynth import FAMILY_NAMES, SOURCE_NAMES
from audiovae.data.soundfont_families import GM_PROGRAMS, family_table_markdown, gm_program


def test_table_covers_every_program_with_valid_labels():
    assert [row.program for row in GM_PROGRAMS] == list(range(128))
    mapped = [row for row in GM_PROGRAMS if row.family is not None]
    assert {row.family for row in mapped} == set(FAMILY_NAMES)  # all 11 families reachable
    assert {row.source for row in mapped} <= set(SOURCE_NAMES)
    assert all(row.source is None for row in GM_PROGRAMS if row.family is None)
    assert len({row.name for row in GM_PROGRAMS}) == 128


@pytest.mark.parametrize(
    ("program", "name", "family", "source"),
    [
        (0, "Acoustic Grand Piano", "keyboard", "acoustic"),  # GM 1 in 1-based numbering
        (19, "Church Organ", "organ", "acoustic"),
        (33, "Electric Bass (finger)", "bass", "electronic"),
        (38, "Synth Bass 1", "bass", "synthetic"),
        (40, "Violin", "string", "acoustic"),
        (56, "Trumpet", "brass", "acoustic"),
        (71, "Clarinet", "reed", "acoustic"),
        (73, "Flute", "flute", "acoustic"),
        (80, "Lead 1 (square)", "synth_lead", "synthetic"),
        (52, "Choir Aahs", "vocal", "acoustic"),
        (88, "Pad 1 (new age)", None, None),
        (127, "Gunshot", None, None),
    ],
)
def test_gm_names_and_families(program, name, family, source):
    assert gm_program(program) == (program, name, family, source)


def test_bad_program_and_markdown():
    for bad in (-1, 128, 1.0, True):
        with pytest.raises(ValueError, match="0-127"):
            gm_program(bad)
    lines = family_table_markdown().splitlines()
    assert len(lines) == 130 and lines[2] == "| 0 | Acoustic Grand Piano | keyboard | acoustic |"
