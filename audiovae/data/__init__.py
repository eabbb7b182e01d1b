"""Data sources (NSynth jsonwav, audio folders, synthetic notes, SoundFont renders) -> ClipSets."""
