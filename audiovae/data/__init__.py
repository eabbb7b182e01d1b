"""Data sources (NSynth jsonwav, audio folders, synthetic notes) -> ClipSets of clips and labels."""
